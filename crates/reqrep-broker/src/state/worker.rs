//! A registered worker: its credits, liveness timers and requests held.

use std::time::{Duration, Instant};

use reqrep_core::Ready;

use super::entries::EntryId;
use super::{Route, ServiceId};

/// One worker's credits, liveness and in-flight requests.
pub(super) struct Worker {
    /// Its routing id on the backend.
    pub(super) route: Route,
    pub(super) service: ServiceId,
    /// Credits announced in its latest READY.
    credits: u32,
    /// Requests it holds that took a credit (dispatched and not answered,
    /// or answered at their deadline and owing a late reply). Above
    /// `credits` only after a READY lowered them.
    busy: u32,
    /// Heartbeat interval (announced, or the broker's default).
    pub(super) heartbeat: Duration,
    /// When the worker is dead unless it sends something first.
    pub(super) expiry: Instant,
    /// When the broker must send a HEARTBEAT unless it sends something first.
    pub(super) next_heartbeat: Instant,
    /// Requests dispatched to it and not yet answered.
    pub(super) in_flight: Vec<EntryId>,
    /// Requests answered at their deadline while it held them: their late
    /// replies still return a credit each.
    abandoned: u32,
    /// The authenticated `User-Id` it registered with (under an access
    /// policy): every later message must carry the same.
    pub(super) user: Option<Box<str>>,
}

impl Worker {
    pub(super) fn new(
        now: Instant,
        route: Route,
        service: ServiceId,
        ready: &Ready,
        heartbeat: Duration,
        liveness: u32,
        user: Option<&str>,
    ) -> Self {
        Self {
            route,
            service,
            credits: ready.credits,
            busy: 0,
            heartbeat,
            expiry: now + heartbeat * liveness,
            next_heartbeat: now + heartbeat,
            in_flight: Vec::new(),
            abandoned: 0,
            user: user.map(Box::from),
        }
    }

    /// Credits not in use.
    pub(super) fn free(&self) -> u32 {
        self.credits.saturating_sub(self.busy)
    }

    /// Credits announced in its latest READY.
    pub(super) fn credits(&self) -> u32 {
        self.credits
    }

    /// Sets its credits to `credits` (a READY again from the registered
    /// worker): requests already dispatched stay, and none is dispatched
    /// while it holds as many as its credits. Returns whether it became
    /// available (it had no free credit and now has one).
    pub(super) fn set_credits(&mut self, credits: u32) -> bool {
        let was_free = self.free() > 0;
        self.credits = credits.max(1);
        !was_free && self.free() > 0
    }

    /// Takes a credit for request `id`; returns whether one is left.
    pub(super) fn take_credit(&mut self, id: EntryId, now: Instant) -> bool {
        debug_assert!(self.free() > 0, "credit taken from a worker with none free");
        self.busy += 1;
        self.in_flight.push(id);
        self.next_heartbeat = now + self.heartbeat;
        self.free() > 0
    }

    /// Gives a credit back; returns whether the worker just became
    /// available again (it had none free). A credit it never lent is a bug.
    pub(super) fn return_credit(&mut self) -> bool {
        debug_assert!(self.busy > 0, "credit returned twice");
        if self.busy == 0 {
            return false;
        }
        self.busy -= 1;
        self.free() == 1
    }

    /// Request `id` was answered at its deadline while the worker held it:
    /// its credit comes back with the late reply.
    pub(super) fn abandon(&mut self, id: EntryId) {
        self.forget(id);
        self.abandoned += 1;
    }

    /// Takes one late reply to an abandoned request; `false` when none is
    /// owed (the reply is stale).
    pub(super) fn take_abandoned(&mut self) -> bool {
        let owed = self.abandoned > 0;
        self.abandoned = self.abandoned.saturating_sub(u32::from(owed));
        owed
    }

    /// The earlier of its two timers.
    pub(super) fn next_due(&self) -> Instant {
        self.expiry.min(self.next_heartbeat)
    }

    /// Forgets `id`, keeping the others in order.
    pub(super) fn forget(&mut self, id: EntryId) {
        if let Some(pos) = self.in_flight.iter().position(|x| *x == id) {
            self.in_flight.remove(pos);
        }
    }
}
