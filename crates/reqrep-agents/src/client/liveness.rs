//! The liveness driver of an async client with several brokers: a task
//! that feeds the [`BrokerSet`] the traffic each broker's I/O task saw and
//! tokio's clock, sends the HEARTBEATs it asks for, and tells the attempts
//! in flight on a broker judged dead (docs/PROTOCOL.md, "Several brokers").

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use metrics::counter;
use reqrep_core::{CorrelationId, Message};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, warn};

use super::async_io::Outgoing;
use super::brokers::{BrokerSet, Change};

/// Brokers a client with several judged dead by its liveness check.
pub(crate) const BROKERS_DEAD_TOTAL: &str = "reqrep_agents_brokers_dead_total";

/// The set, shared by the driver and the attempts that pick brokers.
pub(super) type SharedSet = Arc<Mutex<BrokerSet>>;

/// Locks the set; a panic elsewhere while holding it leaves it usable.
pub(super) fn lock(set: &SharedSet) -> std::sync::MutexGuard<'_, BrokerSet> {
    set.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One broker as the driver sees it.
pub(super) struct Watched {
    /// Its frontend, for the logs.
    pub(super) endpoint: String,
    /// Its I/O task's queue, for HEARTBEATs.
    pub(super) commands: mpsc::Sender<Outgoing>,
    /// Messages its I/O task received so far.
    pub(super) heard: Arc<AtomicU64>,
    /// Bumped each time it is judged dead.
    pub(super) deaths: watch::Sender<u64>,
}

/// The liveness task's state.
pub(super) struct Watchdog {
    set: SharedSet,
    brokers: Vec<Watched>,
    /// `heard` as last read, per broker.
    seen: Vec<u64>,
    /// How often the task looks.
    tick: Duration,
    /// Completes once every client handle is gone.
    closed: oneshot::Receiver<()>,
}

impl Watchdog {
    /// A driver for `set` over `brokers` (in the set's order), looking four
    /// times per heartbeat interval.
    pub(super) fn new(
        set: SharedSet,
        brokers: Vec<Watched>,
        heartbeat: Duration,
        closed: oneshot::Receiver<()>,
    ) -> Self {
        Self {
            set,
            seen: vec![0; brokers.len()],
            brokers,
            tick: (heartbeat / 4).max(Duration::from_millis(1)),
            closed,
        }
    }

    /// Runs until every client handle is gone.
    pub(super) async fn run(mut self) {
        loop {
            tokio::select! {
                biased;
                _ = &mut self.closed => return,
                () = tokio::time::sleep(self.tick) => {}
            }
            self.check(tokio::time::Instant::now().into_std());
        }
    }

    /// One look at `now`.
    fn check(&mut self, now: Instant) {
        let changes = {
            let mut set = lock(&self.set);
            for (i, broker) in self.brokers.iter().enumerate() {
                let heard = broker.heard.load(Ordering::Relaxed);
                if heard != self.seen[i] {
                    self.seen[i] = heard;
                    if set.heard(i, now) {
                        debug!(broker = %broker.endpoint, "broker heard from again: alive");
                    }
                }
            }
            set.tick(now)
        };
        for change in changes {
            match change {
                Change::Ping(i) => {
                    let ping = Outgoing {
                        id: CorrelationId::new(),
                        frames: Message::heartbeat().encode(),
                        reply: None,
                    };
                    // A full queue means requests are waiting to go there:
                    // their replies, or the silence, will tell.
                    let _ = self.brokers[i].commands.try_send(ping);
                }
                Change::Died(i) => {
                    let broker = &self.brokers[i];
                    warn!(broker = %broker.endpoint, "broker silent for the liveness interval: judged dead");
                    broker.deaths.send_modify(|deaths| *deaths += 1);
                    counter!(BROKERS_DEAD_TOTAL).increment(1);
                }
            }
        }
    }
}
