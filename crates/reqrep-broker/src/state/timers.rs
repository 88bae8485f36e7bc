//! Timers: request deadlines, worker heartbeats and expiry, reply cache
//! expiry, idle services, and giving memory back after a burst.

use std::cmp::Reverse;
use std::time::Instant;

use reqrep_core::{Code, Message, Status};
use tracing::warn;

use super::clock::{Tick, elapsed};
use super::entries::EntryId;
use super::{Action, BrokerState, SLACK, slot};

impl BrokerState {
    /// Fires every timer due at `now`: request deadlines, worker heartbeats
    /// and expiries, reply cache expiry, idle service cleanup; then gives
    /// back the memory of a burst that is over.
    pub fn on_tick(&mut self, now: Instant) {
        self.expire_requests(now);
        if self.next_worker_timer.is_some_and(|t| t <= now) {
            self.worker_timers(now);
        }
        self.cache.evict(now);
        self.compact();
    }

    /// Gives memory back after a burst: tables and queues keep their peak
    /// capacity, and the deadline heap keeps the entries of answered
    /// requests until their deadlines pass, so each is trimmed once mostly
    /// empty. Each check is O(1); the O(n) trims run only when they free
    /// most of a table. What was freed is counted for
    /// [`Self::take_released_memory`].
    pub(super) fn compact(&mut self) {
        let live = self.entries.len();
        let mut freed = 0;
        if self.deadlines.len() > 2 * live + SLACK {
            let entries = &self.entries;
            self.deadlines
                .retain(|Reverse((at, id))| entries.get(*id).is_some_and(|e| e.deadline == *at));
        }
        if self.deadlines.capacity() > 4 * self.deadlines.len() + SLACK {
            let before = self.deadlines.capacity();
            self.deadlines.shrink_to_fit();
            freed += (before - self.deadlines.capacity()) * size_of::<Reverse<(Tick, EntryId)>>();
        }
        freed += self.entries.shrink(SLACK);
        freed += self.services.shrink_queues(SLACK);
        if self.actions.capacity() > 4 * self.actions.len() + SLACK {
            let before = self.actions.capacity();
            self.actions.shrink_to_fit();
            freed += (before - self.actions.capacity()) * size_of::<Action>();
        }
        freed += self.cache.shrink(SLACK);
        self.released += freed;
    }

    fn expire_requests(&mut self, now: Instant) {
        let now_tick = self.clock.tick(now);
        while let Some(&Reverse((at, id))) = self.deadlines.peek() {
            if at > now_tick {
                break;
            }
            self.deadlines.pop();
            if self.entries.get(id).is_none_or(|e| e.deadline != at) {
                continue;
            }
            let Some(entry) = self.remove_entry(id) else {
                continue;
            };
            let waited = elapsed(now_tick, entry.received);
            let Some(service) = self.services.get_mut(entry.service) else {
                continue;
            };
            service.outcome(Code::DeadlineExceeded, Some(waited));
            let waited = waited.as_millis();
            let message = match entry.worker {
                None => {
                    self.stats.expired_in_queue += 1;
                    service.dequeue();
                    format!("expired after {waited} ms waiting for a worker")
                }
                Some(wid) => {
                    self.stats.expired_in_flight += 1;
                    service.finished();
                    if let Some(worker) = slot(&mut self.workers, wid.index()) {
                        worker.abandon(id);
                    }
                    format!("no reply from the worker within {waited} ms")
                }
            };
            self.reply_error(entry.route, entry.id, Status::deadline_exceeded(message));
        }
    }

    fn worker_timers(&mut self, now: Instant) {
        let mut expired = Vec::new();
        let mut beats = Vec::new();
        let mut next: Option<Instant> = None;
        for worker in self.workers.iter_mut().flatten() {
            if worker.expiry <= now {
                expired.push(worker.route.clone());
                continue;
            }
            if worker.next_heartbeat <= now {
                beats.push(worker.route.clone());
                worker.next_heartbeat = now + worker.heartbeat;
            }
            let due = worker.next_due();
            next = Some(next.map_or(due, |n| n.min(due)));
        }
        self.next_worker_timer = next;
        for id in beats {
            self.actions.push_back(Action::ToWorker {
                worker: id,
                message: Message::heartbeat().into(),
            });
        }
        for id in expired {
            self.stats.workers_expired += 1;
            warn!(worker = %id, "worker expired: no heartbeat");
            self.remove_worker(now, &id, "worker expired");
            // Cheap, and a worker that is only half alive learns to
            // re-register instead of waiting for its own liveness timer.
            let status = Status::unavailable("no heartbeat within the liveness interval");
            self.actions.push_back(Action::ToWorker {
                worker: id,
                message: Message::disconnect(Some(status)).into(),
            });
        }
        self.services.remove_idle();
    }
}
