//! Services: each one's workers with free credits, its request queue and
//! its counts, and the table that holds them and tracks which changed since
//! the driver last exported them.
//!
//! A service's counts change only through its methods, and a count that
//! would go below zero is a bug in the caller: it trips a debug assertion
//! (and saturates in release builds rather than wrap).

use std::collections::VecDeque;
use std::time::Duration;

use reqrep_core::Code;

use super::entries::{Entries, Entry, EntryId, WorkerId};
use super::{HashMap, ServiceId};

/// Latency samples one service keeps between two reports, at most. The
/// driver reports after every event, so only one event that answers more
/// requests than this at once (a mass expiry) loses samples; their outcomes
/// are still counted.
const MAX_SAMPLES: usize = 64 * 1024;

/// One service's dispatch state.
pub(super) struct Service {
    name: String,
    /// Registered workers.
    workers: usize,
    /// Workers with at least one free credit, least recently used first.
    pub(super) available: VecDeque<WorkerId>,
    /// Queued request ids, oldest first. May hold ids of requests that have
    /// since expired or left; `queued` counts the live ones.
    pub(super) queue: VecDeque<EntryId>,
    /// Live requests in `queue`.
    queued: usize,
    /// Requests dispatched and not yet answered.
    in_flight: usize,
    /// Entries naming this service, whatever their state: the service is not
    /// forgotten (its slot reused) while any is held.
    held: usize,
    /// Finished requests by outcome, since the service appeared.
    outcomes: [u64; Code::ALL.len()],
    /// Receipt-to-answer times not yet reported.
    latencies: Vec<Duration>,
    /// Whether it is listed in [`Services::dirty`].
    dirty: bool,
}

/// Lowers a count, which must be positive.
fn decrement(count: &mut usize, what: &str) {
    debug_assert!(*count > 0, "{what} count would go below zero");
    *count = count.saturating_sub(1);
}

impl Service {
    fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            workers: 0,
            available: VecDeque::new(),
            queue: VecDeque::new(),
            queued: 0,
            in_flight: 0,
            held: 0,
            outcomes: [0; Code::ALL.len()],
            latencies: Vec::new(),
            dirty: false,
        }
    }

    pub(super) fn name(&self) -> &str {
        &self.name
    }

    pub(super) fn workers(&self) -> usize {
        self.workers
    }

    pub(super) fn queued(&self) -> usize {
        self.queued
    }

    pub(super) fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Whether nothing refers to it any more: no worker, no request.
    fn is_idle(&self) -> bool {
        self.workers == 0 && self.queued == 0 && self.in_flight == 0 && self.held == 0
    }

    /// A worker registered for it and is available.
    pub(super) fn add_worker(&mut self, wid: WorkerId) {
        self.workers += 1;
        self.available.push_back(wid);
    }

    /// A worker left: it is no longer available.
    pub(super) fn remove_worker(&mut self, wid: WorkerId) {
        decrement(&mut self.workers, "worker");
        self.available.retain(|w| *w != wid);
    }

    /// Every worker is gone at once (the end of a drain).
    pub(super) fn clear_workers(&mut self) {
        self.workers = 0;
        self.in_flight = 0;
        self.available.clear();
    }

    /// A new entry names this service.
    pub(super) fn hold(&mut self) {
        self.held += 1;
    }

    /// An entry naming this service was removed.
    pub(super) fn release(&mut self) {
        decrement(&mut self.held, "held request");
    }

    pub(super) fn enqueue_back(&mut self, id: EntryId) {
        self.queue.push_back(id);
        self.queued += 1;
    }

    /// Puts a re-dispatched request first in line.
    pub(super) fn enqueue_front(&mut self, id: EntryId) {
        self.queue.push_front(id);
        self.queued += 1;
    }

    /// A queued request left the queue without being dispatched (expired,
    /// or answered by a drain). Its id may stay in `queue`, where it is
    /// skipped.
    pub(super) fn dequeue(&mut self) {
        decrement(&mut self.queued, "queued request");
    }

    /// Forgets every queued id (a drain answered them all).
    pub(super) fn clear_queue(&mut self) {
        self.queue.clear();
        self.queued = 0;
    }

    /// A request went out to a worker.
    pub(super) fn dispatched(&mut self) {
        self.in_flight += 1;
    }

    /// A dispatched request is no longer at its worker (answered, expired,
    /// lost or sent back to the queue).
    pub(super) fn finished(&mut self) {
        decrement(&mut self.in_flight, "in-flight request");
    }

    /// Counts one request answered with `code` after `took`, or with no
    /// latency sample when `took` is `None` (answered before admission).
    pub(super) fn outcome(&mut self, code: Code, took: Option<Duration>) {
        self.outcomes[code as usize] += 1;
        if let Some(took) = took
            && self.latencies.len() < MAX_SAMPLES
        {
            self.latencies.push(took);
        }
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

/// What one service did since the last report, for export as metrics.
#[derive(Debug)]
#[non_exhaustive]
pub struct ServiceReport<'a> {
    /// The service's table slot: the same slot and name are the same
    /// service; a slot may later hold a service of another name.
    pub slot: usize,
    /// The service name.
    pub name: &'a str,
    /// Requests finished since the service appeared, by [`Code`] (indexed
    /// by wire value, as in [`Code::ALL`]).
    pub outcomes: &'a [u64; Code::ALL.len()],
    /// Requests queued now.
    pub queued: usize,
    /// Workers registered now.
    pub workers: usize,
    /// Receipt-to-answer times of requests finished since the last report.
    pub latencies: &'a [Duration],
    /// The service was forgotten (no worker, no request left): this is its
    /// last report.
    pub gone: bool,
}

/// A forgotten service, kept for its last report.
struct Gone {
    slot: usize,
    service: Service,
}

/// The service table: services by slot (a slot is reused once its service
/// is forgotten) and by name, and which of them changed since the last
/// [`Services::report`]. Mutable access marks a service changed.
#[derive(Default)]
pub(super) struct Services {
    slots: Vec<Option<Service>>,
    ids: HashMap<String, ServiceId>,
    /// Services that may have changed since the last report (possibly
    /// listed twice, or forgotten since).
    dirty: Vec<ServiceId>,
    gone: Vec<Gone>,
}

impl Services {
    /// The service named `name`, if known.
    pub(super) fn find(&self, name: &str) -> Option<ServiceId> {
        self.ids.get(name).copied()
    }

    /// Services known.
    pub(super) fn len(&self) -> usize {
        self.ids.len()
    }

    /// A new, empty service in the first free slot.
    pub(super) fn add(&mut self, name: &str) -> ServiceId {
        let index = self
            .slots
            .iter()
            .position(Option::is_none)
            .unwrap_or(self.slots.len());
        if index == self.slots.len() {
            self.slots.push(None);
        }
        self.slots[index] = Some(Service::new(name));
        let sid = ServiceId(u32::try_from(index).unwrap_or(u32::MAX));
        self.ids.insert(name.to_owned(), sid);
        self.get_mut(sid);
        sid
    }

    pub(super) fn get(&self, sid: ServiceId) -> Option<&Service> {
        self.slots.get(sid.index()).and_then(Option::as_ref)
    }

    /// The service in slot `sid`, marked changed.
    pub(super) fn get_mut(&mut self, sid: ServiceId) -> Option<&mut Service> {
        let service = self.slots.get_mut(sid.index()).and_then(Option::as_mut)?;
        if !service.dirty {
            service.dirty = true;
            self.dirty.push(sid);
        }
        Some(service)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &Service> {
        self.slots.iter().flatten()
    }

    /// Every service, marked changed.
    pub(super) fn for_each_mut(&mut self, mut f: impl FnMut(&mut Service)) {
        for index in 0..self.slots.len() {
            let sid = ServiceId(u32::try_from(index).unwrap_or(u32::MAX));
            if let Some(service) = self.get_mut(sid) {
                f(service);
            }
        }
    }

    /// Shrinks each queue that is mostly unused capacity; returns the bytes
    /// given back. Not a change worth reporting.
    pub(super) fn shrink_queues(&mut self, slack: usize) -> usize {
        let mut freed = 0;
        for service in self.slots.iter_mut().flatten() {
            if service.queue.capacity() > 4 * service.queue.len() + slack {
                let before = service.queue.capacity();
                service.queue.shrink_to_fit();
                freed += (before - service.queue.capacity()) * size_of::<EntryId>();
            }
        }
        freed
    }

    /// Forgets every service that no worker and no request refers to.
    pub(super) fn remove_idle(&mut self) {
        for (slot, held) in self.slots.iter_mut().enumerate() {
            if held.as_ref().is_none_or(|s| !s.is_idle()) {
                continue;
            }
            if let Some(service) = held.take() {
                self.ids.remove(service.name.as_str());
                self.gone.push(Gone { slot, service });
            }
        }
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
    }

    /// Hands `f` every service changed since the last call, forgotten ones
    /// first (with `gone` set), then clears their latency samples.
    pub(super) fn report(&mut self, mut f: impl FnMut(ServiceReport<'_>)) {
        for Gone { slot, service } in self.gone.drain(..) {
            f(ServiceReport {
                slot,
                name: &service.name,
                outcomes: &service.outcomes,
                queued: 0,
                workers: 0,
                latencies: &service.latencies,
                gone: true,
            });
        }
        for sid in self.dirty.drain(..) {
            let Some(service) = self.slots.get_mut(sid.index()).and_then(Option::as_mut) else {
                continue;
            };
            if !service.dirty {
                continue;
            }
            service.dirty = false;
            f(ServiceReport {
                slot: sid.index(),
                name: &service.name,
                outcomes: &service.outcomes,
                queued: service.queued,
                workers: service.workers,
                latencies: &service.latencies,
                gone: false,
            });
            service.latencies.clear();
            if service.latencies.capacity() > 1024 {
                service.latencies = Vec::new();
            }
        }
    }
}
