//! The brokers of a client with several frontends, without sockets or
//! clocks: which broker each attempt goes to, and the liveness check that
//! judges a broker dead (docs/PROTOCOL.md, "Several brokers").
//!
//! The driver reports traffic ([`BrokerSet::heard`]) and calls
//! [`BrokerSet::tick`] regularly with its clock; the set answers which
//! brokers to ping and which have just died or come back. Attempts take a
//! broker from [`BrokerSet::first`] or [`BrokerSet::retry`] and hold it
//! with [`BrokerSet::begin`] / [`BrokerSet::end`], which the spreading
//! (least in flight) counts.

use std::time::{Duration, Instant};

/// What [`BrokerSet::tick`] asks the driver to do or know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// Send this broker a HEARTBEAT: nothing was heard from it for a
    /// heartbeat interval (and it was not pinged within one).
    Ping(usize),
    /// This broker has been silent for `liveness` intervals: judged dead.
    /// Its attempts in flight are lost.
    Died(usize),
}

/// Where the next attempt of a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// To this broker.
    Broker(usize),
    /// Nowhere: the request is not idempotent and the broker that has it
    /// is judged dead; another broker could run it a second time.
    Lost(usize),
}

/// One broker as the client sees it.
#[derive(Debug, Clone)]
struct Peer {
    /// When traffic was last heard from it (or when the set started).
    heard: Instant,
    /// When it was last pinged, since it was last heard.
    pinged: Option<Instant>,
    alive: bool,
    /// Attempts sent to it and not ended.
    in_flight: usize,
}

/// The brokers of one client: liveness and spreading.
#[derive(Debug, Clone)]
pub(crate) struct BrokerSet {
    heartbeat: Duration,
    liveness: u32,
    peers: Vec<Peer>,
    /// Where the search for the least loaded broker starts: rotates, so that
    /// ties are broken round-robin.
    cursor: usize,
}

impl BrokerSet {
    /// `count` brokers (at least one), all presumed alive at `now`.
    pub(crate) fn new(count: usize, heartbeat: Duration, liveness: u32, now: Instant) -> Self {
        let peer = Peer {
            heard: now,
            pinged: None,
            alive: true,
            in_flight: 0,
        };
        Self {
            heartbeat: heartbeat.max(Duration::from_millis(1)),
            liveness: liveness.max(1),
            peers: vec![peer; count.max(1)],
            cursor: 0,
        }
    }

    /// How many brokers.
    pub(crate) fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether broker `i` is currently judged alive.
    pub(crate) fn is_alive(&self, i: usize) -> bool {
        self.peers.get(i).is_some_and(|p| p.alive)
    }

    /// Something (a reply, a HEARTBEAT, an error) came from broker `i` at
    /// `now`: it is alive. Whether it had been judged dead.
    pub(crate) fn heard(&mut self, i: usize, now: Instant) -> bool {
        let Some(peer) = self.peers.get_mut(i) else {
            return false;
        };
        peer.heard = peer.heard.max(now);
        peer.pinged = None;
        !std::mem::replace(&mut peer.alive, true)
    }

    /// The liveness check at `now`: brokers to ping, brokers just judged
    /// dead. A dead broker is still pinged (every interval), so that it is
    /// found alive again as soon as it answers.
    pub(crate) fn tick(&mut self, now: Instant) -> Vec<Change> {
        let dead_after = self.heartbeat.saturating_mul(self.liveness);
        let mut changes = Vec::new();
        for (i, peer) in self.peers.iter_mut().enumerate() {
            let silent = now.saturating_duration_since(peer.heard);
            if peer.alive && silent >= dead_after {
                peer.alive = false;
                changes.push(Change::Died(i));
            }
            let due = peer
                .pinged
                .is_none_or(|at| now.saturating_duration_since(at) >= self.heartbeat);
            if silent >= self.heartbeat && due {
                peer.pinged = Some(now);
                changes.push(Change::Ping(i));
            }
        }
        changes
    }

    /// The broker for a request's first attempt: the live one with the
    /// fewest attempts in flight, ties broken round-robin; when none is
    /// alive, the same choice among all (one may be back by now).
    pub(crate) fn first(&mut self) -> usize {
        self.least_loaded(None)
    }

    /// The broker for the next attempt of a request whose last attempt went
    /// to `last`. An idempotent request goes to another live broker when
    /// there is one (else `last` if it is alive, else any); any other
    /// request stays on `last`, whose duplicate detection and reply cache
    /// keep a retry from running twice, and is [`Target::Lost`] once `last`
    /// is judged dead (while another broker is alive).
    pub(crate) fn retry(&mut self, last: usize, idempotent: bool) -> Target {
        let others_alive = (0..self.len()).any(|i| i != last && self.is_alive(i));
        if idempotent {
            return Target::Broker(if others_alive {
                self.least_loaded(Some(last))
            } else {
                last
            });
        }
        if self.is_alive(last) || !others_alive {
            Target::Broker(last)
        } else {
            Target::Lost(last)
        }
    }

    /// An attempt was sent to broker `i`.
    pub(crate) fn begin(&mut self, i: usize) {
        if let Some(peer) = self.peers.get_mut(i) {
            peer.in_flight += 1;
        }
    }

    /// An attempt sent to broker `i` ended, however.
    pub(crate) fn end(&mut self, i: usize) {
        if let Some(peer) = self.peers.get_mut(i) {
            peer.in_flight = peer.in_flight.saturating_sub(1);
        }
    }

    /// The live broker (other than `avoid`) with the fewest attempts in
    /// flight, searching from the cursor; among all brokers when no such
    /// live one exists.
    fn least_loaded(&mut self, avoid: Option<usize>) -> usize {
        let n = self.len();
        let order = (0..n).map(|k| (self.cursor + k) % n);
        let live = order
            .clone()
            .filter(|&i| Some(i) != avoid && self.peers[i].alive)
            .min_by_key(|&i| self.peers[i].in_flight);
        let chosen = live
            .or_else(|| order.min_by_key(|&i| self.peers[i].in_flight))
            .unwrap_or(0);
        self.cursor = (chosen + 1) % n;
        chosen
    }
}

#[cfg(test)]
#[path = "brokers_tests.rs"]
mod tests;
