//! A named service: its workers with free credits and its request queue.

use std::collections::VecDeque;

use crate::stats::ServiceMetrics;

use super::entries::{Entries, Entry, EntryId, WorkerId};

/// One service's dispatch state.
pub(super) struct Service {
    pub(super) name: String,
    /// Registered workers.
    pub(super) workers: usize,
    /// Workers with at least one free credit, least recently used first.
    pub(super) available: VecDeque<WorkerId>,
    /// Queued request ids, oldest first. May hold ids of requests that have
    /// since expired or left; `queued` counts the live ones.
    pub(super) queue: VecDeque<EntryId>,
    /// Live requests in `queue`.
    pub(super) queued: usize,
    /// Requests dispatched and not yet answered.
    pub(super) in_flight: usize,
    /// Entries naming this service, whatever their state: the service is not
    /// forgotten (its slot reused) while any is held.
    pub(super) held: usize,
    pub(super) metrics: ServiceMetrics,
}

impl Service {
    pub(super) fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            workers: 0,
            available: VecDeque::new(),
            queue: VecDeque::new(),
            queued: 0,
            in_flight: 0,
            held: 0,
            metrics: ServiceMetrics::new(name),
        }
    }

    pub(super) fn enqueue_back(&mut self, id: EntryId) {
        self.queue.push_back(id);
        self.queued += 1;
        self.metrics.queue_depth.set(self.queued as f64);
    }

    /// Puts a re-dispatched request first in line.
    pub(super) fn enqueue_front(&mut self, id: EntryId) {
        self.queue.push_front(id);
        self.queued += 1;
        self.metrics.queue_depth.set(self.queued as f64);
    }

    /// Drops ids of requests no longer queued once they outnumber live ones,
    /// so expired requests never pile up behind a stalled queue.
    pub(super) fn compact_queue(&mut self, entries: &Entries) {
        if self.queue.len() > 64 && self.queue.len() > 2 * self.queued {
            self.queue
                .retain(|id| entries.get(*id).is_some_and(Entry::is_queued));
        }
    }
}
