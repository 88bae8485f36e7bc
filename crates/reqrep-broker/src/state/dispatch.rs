//! Dispatch: the one path a request takes to a worker, whether straight
//! from admission (nothing queued, a worker free) or from its service's
//! queue, and the bookkeeping of entries leaving the table.

use std::time::{Duration, Instant};

use reqrep_core::{Frame, Message, Metadata, Request, RequestHeader};
use tracing::debug;

use super::clock::elapsed;
use super::entries::{Entry, EntryId, WorkerId};
use super::{Action, BrokerState, Outbound, Route, ServiceId, boxed, slot};

/// A request dispatched the moment it arrives: the header's own strings and
/// the frames as received, moved on without a copy.
pub(super) struct Fresh {
    pub(super) service: String,
    pub(super) metadata: Metadata,
    pub(super) payload: Vec<Frame>,
}

impl BrokerState {
    /// Takes a credit from the least recently used available worker of
    /// service `sid` for entry `id`, keeping the worker available while it
    /// has credits left. Returns it and its route.
    pub(super) fn take_worker(
        &mut self,
        sid: ServiceId,
        now: Instant,
        id: EntryId,
    ) -> Option<(WorkerId, Route)> {
        let service = self.services.get_mut(sid)?;
        while let Some(wid) = service.available.pop_front() {
            let Some(worker) = slot(&mut self.workers, wid.index()) else {
                continue;
            };
            if worker.take_credit(id, now) {
                service.available.push_back(wid);
            }
            service.dispatched();
            return Some((wid, worker.route.clone()));
        }
        None
    }

    /// Sends entry `id` to worker `wid` (at `worker`), which has taken a
    /// credit for it. With `fresh`, the request has just arrived and is sent
    /// as received (a copy kept when it may be re-dispatched); without, its
    /// kept payload and metadata go (moved out unless it may be again).
    pub(super) fn forward(
        &mut self,
        now: Instant,
        id: EntryId,
        wid: WorkerId,
        worker: Route,
        fresh: Option<Fresh>,
    ) {
        let now_tick = self.clock.tick(now);
        let max_attempts = self.config.max_attempts;
        let Some(entry) = self.entries.get_mut(id) else {
            return;
        };
        entry.worker = Some(wid);
        entry.retriable = entry.idempotent && entry.attempt < max_attempts;
        let (service, metadata, payload) = match fresh {
            Some(Fresh {
                service,
                metadata,
                payload,
            }) => {
                if entry.retriable {
                    entry.payload = super::payload::Payload::copy_of(&payload);
                    entry.metadata = boxed(metadata.clone());
                }
                (Some(service), metadata, payload)
            }
            None if entry.retriable => {
                let metadata = entry.metadata.as_deref().cloned().unwrap_or_default();
                (None, metadata, entry.payload.to_frames())
            }
            None => {
                let metadata = entry.metadata.take().map(|m| *m).unwrap_or_default();
                (None, metadata, entry.payload.take())
            }
        };
        let name = match &service {
            Some(name) => name.as_str(),
            None => self.services.get(entry.service).map_or("", |s| s.name()),
        };
        debug!(correlation_id = %entry.id, worker = %worker, "dispatched");
        let message = if metadata.is_empty() {
            // Nearly every request: the header written straight from the
            // entry, as the encoder would write `forwarded_request`'s.
            let header = RequestHeader {
                id: &entry.id,
                service: name,
                timeout: budget_left(entry, now_tick),
                attempt: entry.attempt,
                idempotent: entry.idempotent,
                fail_fast: entry.fail_fast,
                route: entry.route.frames(),
            }
            .encode();
            Outbound::Encoded { header, payload }
        } else {
            let name = name.to_owned();
            Message::request(forwarded_request(entry, name, metadata, now_tick), payload).into()
        };
        self.actions.push_back(Action::ToWorker { worker, message });
    }

    /// Sends queued requests of `sid` to workers with free credits, least
    /// recently used first, until one of the two runs out.
    pub(super) fn dispatch(&mut self, now: Instant, sid: ServiceId) {
        let now_tick = self.clock.tick(now);
        loop {
            let Some(service) = self.services.get_mut(sid) else {
                return;
            };
            if service.queued() == 0 || service.available.is_empty() {
                break;
            }
            let Some(id) = service.queue.pop_front() else {
                break;
            };
            let Some(entry) = self.entries.get(id) else {
                continue;
            };
            if !entry.is_queued() || now_tick >= entry.deadline {
                // Gone, or left for `expire_requests`, which answers it and
                // counts it down.
                continue;
            }
            let Some((wid, worker)) = self.take_worker(sid, now, id) else {
                if let Some(service) = self.services.get_mut(sid) {
                    service.queue.push_front(id);
                }
                break;
            };
            if let Some(service) = self.services.get_mut(sid) {
                service.dequeue();
            }
            self.forward(now, id, wid, worker, None);
        }
        if let Some(service) = self.services.get_mut(sid) {
            service.compact_queue(&self.entries);
        }
    }

    /// Removes an entry, releasing its hold on its service.
    pub(super) fn remove_entry(&mut self, id: EntryId) -> Option<Entry> {
        let entry = self.entries.remove(id)?;
        self.release(&entry);
        Some(entry)
    }

    /// Releases a removed entry's hold on its service.
    pub(super) fn release(&mut self, entry: &Entry) {
        if let Some(service) = self.services.get_mut(entry.service) {
            service.release();
        }
    }
}

/// The REQUEST header a worker gets for `entry`: the client's fields, the
/// budget left at `now_tick`, and the client's route to echo.
fn forwarded_request(
    entry: &Entry,
    service: String,
    metadata: Metadata,
    now_tick: super::Tick,
) -> Request {
    Request {
        id: entry.id,
        service,
        timeout: Some(budget_left(entry, now_tick)),
        attempt: entry.attempt,
        idempotent: entry.idempotent,
        fail_fast: entry.fail_fast,
        metadata,
        route: entry.route.to_vecs(),
    }
}

/// The time `entry` has left at `now_tick`, as the worker is told it: never
/// less than a millisecond (0 would read as "no timeout").
fn budget_left(entry: &Entry, now_tick: super::Tick) -> Duration {
    elapsed(entry.deadline, now_tick).max(Duration::from_millis(1))
}
