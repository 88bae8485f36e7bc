//! Graceful shutdown: a drain refuses new work, answers what is queued,
//! lets in-flight requests finish, and at its end answers the rest and
//! disconnects every worker.

use std::time::Instant;

use reqrep_core::{Code, Message, Status};
use tracing::info;

use super::entries::EntryId;
use super::service::Service;
use super::{Action, BrokerState, Route};

impl BrokerState {
    /// Starts a drain: new requests are refused with `UNAVAILABLE`, queued
    /// ones are answered `UNAVAILABLE` at once, in-flight ones may finish.
    pub fn begin_drain(&mut self, _now: Instant) {
        if self.draining {
            return;
        }
        self.draining = true;
        info!(
            in_flight = self.in_flight(),
            queued = self.pending() - self.in_flight(),
            "draining"
        );
        let queued: Vec<EntryId> = self
            .entries
            .iter()
            .filter(|(_, e)| e.is_queued())
            .map(|(id, _)| id)
            .collect();
        for id in queued {
            if let Some(entry) = self.remove_entry(id) {
                if let Some(service) = self.services.get_mut(entry.service) {
                    service.dequeue();
                    service.outcome(Code::Unavailable, None);
                }
                let status = Status::unavailable("broker is shutting down");
                self.reply_error(entry.route, entry.id, status);
            }
        }
        self.services.for_each_mut(Service::clear_queue);
    }

    /// Ends a drain: every request still held is answered `UNAVAILABLE` and
    /// every worker is sent DISCONNECT.
    pub fn finish_drain(&mut self, now: Instant) {
        self.begin_drain(now);
        let ids: Vec<EntryId> = self.entries.iter().map(|(id, _)| id).collect();
        for id in ids {
            if let Some(entry) = self.remove_entry(id) {
                if let Some(service) = self.services.get_mut(entry.service) {
                    service.outcome(Code::Unavailable, None);
                }
                let status = Status::unavailable("broker shut down before the worker replied");
                self.reply_error(entry.route, entry.id, status);
            }
        }
        let workers: Vec<Route> = self
            .workers
            .iter()
            .flatten()
            .map(|w| w.route.clone())
            .collect();
        for id in workers {
            let status = Status::unavailable("broker is shutting down");
            self.actions.push_back(Action::ToWorker {
                worker: id,
                message: Message::disconnect(Some(status)).into(),
            });
        }
        self.workers.clear();
        self.worker_ids.clear();
        self.services.for_each_mut(Service::clear_workers);
    }
}
