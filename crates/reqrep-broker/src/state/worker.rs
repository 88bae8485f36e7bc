//! A registered worker.

use std::time::{Duration, Instant};

use reqrep_core::Ready;

use super::entries::EntryId;
use super::{Route, ServiceId};

/// One worker's credits, liveness and in-flight requests.
pub(super) struct Worker {
    /// Its routing id on the backend.
    pub(super) route: Route,
    pub(super) service: ServiceId,
    /// Credits announced in READY.
    pub(super) credits: u32,
    /// Credits not in use.
    pub(super) free: u32,
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
    pub(super) abandoned: u32,
}

impl Worker {
    pub(super) fn new(
        now: Instant,
        route: Route,
        service: ServiceId,
        ready: &Ready,
        heartbeat: Duration,
        liveness: u32,
    ) -> Self {
        Self {
            route,
            service,
            credits: ready.credits,
            free: ready.credits,
            heartbeat,
            expiry: now + heartbeat * liveness,
            next_heartbeat: now + heartbeat,
            in_flight: Vec::new(),
            abandoned: 0,
        }
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
