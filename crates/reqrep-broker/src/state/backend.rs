//! The backend: messages from workers, their registration, their replies,
//! and settling the requests of a worker that is lost.

use std::time::{Duration, Instant};

use reqrep_core::{Code, Command, Frame, Message, Ready, Reply, Status, decode};
use tracing::{debug, info, warn};

use super::clock::elapsed;
use super::entries::{Entry, WorkerId};
use super::incoming::{PlainReply, plain_reply};
use super::payload::Payload;
use super::worker::Worker;
use super::{Action, BrokerState, Outbound, RESERVED_PREFIX, Route, SLACK, boxed, slot};

/// A worker's message: decoded, or (a plain REPLY) only scanned.
enum FromWorker {
    Message(Message),
    Reply(PlainReply, Vec<Frame>),
}

/// A REPLY on its way to the client.
enum ReplyIn {
    /// Decoded field by field.
    Decoded(Reply),
    /// Scanned; its header goes on as it came, `route` cut off.
    Plain(PlainReply),
}

impl BrokerState {
    /// Handles a message received on the backend: `frames` as the ROUTER
    /// delivered them (the worker's routing id first). Without an
    /// authenticated identity: see [`Self::on_worker_from`].
    pub fn on_worker(&mut self, now: Instant, frames: Vec<Frame>) {
        self.on_worker_from(now, frames, None);
    }

    /// [`Self::on_worker`] for a message that came with `user`, the
    /// connection's authenticated `User-Id` (the Z85 text of its CURVE
    /// key), checked against the access policy when one is set.
    pub fn on_worker_from(&mut self, now: Instant, frames: Vec<Frame>, user: Option<&str>) {
        let Some(worker_id) = frames.first().and_then(|f| Route::single(f)) else {
            self.stats.malformed_worker += 1;
            return;
        };
        let incoming = match plain_reply(&frames, &self.config.limits) {
            Some(reply) => {
                let mut frames = frames;
                let payload = frames.split_off(2);
                FromWorker::Reply(reply, payload)
            }
            None => match decode(frames, &self.config.limits) {
                Ok(d) if d.route.len() == 1 => FromWorker::Message(d.message),
                Ok(_) => {
                    return self.worker_violation(now, worker_id, "routing frames from a worker");
                }
                Err(err) => {
                    debug!(worker = %worker_id, reason = err.reason(), cause = %err, "malformed worker message");
                    return self.worker_violation(now, worker_id, &err.to_string());
                }
            },
        };
        let registered = self.worker_ids.get(&worker_id).copied();
        if registered.is_some()
            && let Some(status) = self.worker_denial(now, &worker_id, Some(user))
        {
            // Revoked (or another identity on its routing id): it is lost,
            // and whatever it sent is not taken.
            return self.refuse_worker(now, worker_id, status);
        }
        let Some((wid, worker)) =
            registered.and_then(|wid| Some((wid, slot(&mut self.workers, wid.index())?)))
        else {
            let command = match incoming {
                FromWorker::Message(message) => Some(message.command),
                FromWorker::Reply(..) => None,
            };
            return match command {
                Some(Command::Ready(ready)) => self.register(now, worker_id, ready, user),
                Some(Command::Disconnect(_)) => {}
                _ if self.access.is_on()
                    && user
                        .is_none_or(|u| self.policy().is_some_and(|p| p.identity(u).is_none())) =>
                {
                    // A worker removed for its identity (counted then) that
                    // did not get the DISCONNECT: not "send READY" again.
                    let status = Status::new(
                        Code::PermissionDenied,
                        "this key is not in the access policy",
                    );
                    self.send_worker(now, worker_id, Message::disconnect(Some(status)));
                }
                other => {
                    // Typically a worker the broker dropped: make it re-register.
                    let kind = other.map_or(reqrep_core::Kind::Reply, |c| c.kind());
                    debug!(worker = %worker_id, kind = %kind, "message from unregistered worker");
                    let status = Status::invalid_argument("not registered: send READY");
                    self.send_worker(now, worker_id, Message::disconnect(Some(status)));
                }
            };
        };
        worker.expiry = now + worker.heartbeat * self.config.liveness;
        let message = match incoming {
            FromWorker::Reply(reply, payload) => {
                return self.on_reply(now, wid, &worker_id, ReplyIn::Plain(reply), payload);
            }
            FromWorker::Message(message) => message,
        };
        match message.command {
            Command::Reply(reply) => self.on_reply(
                now,
                wid,
                &worker_id,
                ReplyIn::Decoded(reply),
                message.payload,
            ),
            Command::Heartbeat => {}
            Command::Disconnect(_) => {
                info!(worker = %worker_id, "worker disconnected");
                self.remove_worker(now, &worker_id, "worker disconnected");
            }
            Command::Ready(ready) => self.update_credits(now, wid, worker_id, ready),
            other => {
                let what = format!(
                    "unexpected command {} from a registered worker",
                    other.kind()
                );
                self.worker_violation(now, worker_id, &what);
            }
        }
    }

    fn worker_violation(&mut self, now: Instant, worker_id: Route, what: &str) {
        self.stats.malformed_worker += 1;
        warn!(worker = %worker_id, cause = what, "worker protocol violation; disconnecting it");
        let status = Status::invalid_argument(what);
        self.send_worker(now, worker_id.clone(), Message::disconnect(Some(status)));
        if self.worker_ids.contains_key(&worker_id) {
            self.remove_worker(now, &worker_id, "protocol violation");
        }
    }

    fn register(&mut self, now: Instant, worker_id: Route, ready: Ready, user: Option<&str>) {
        if self.draining {
            let status = Status::unavailable("broker is shutting down");
            return self.send_worker(now, worker_id, Message::disconnect(Some(status)));
        }
        if ready.service.starts_with(RESERVED_PREFIX) {
            return self.worker_violation(
                now,
                worker_id,
                "service names starting with reqrep. are reserved",
            );
        }
        if let Some(status) = self.serve_denial(now, user, &ready.service) {
            return self.send_worker(now, worker_id, Message::disconnect(Some(status)));
        }
        let sid = match self.services.find(&ready.service) {
            Some(sid) => sid,
            None => {
                if self.services.len() >= self.config.max_services {
                    return self.worker_violation(now, worker_id, "too many services");
                }
                self.services.add(&ready.service)
            }
        };
        let index = self
            .workers
            .iter()
            .position(Option::is_none)
            .unwrap_or(self.workers.len());
        let Some(wid) = WorkerId::from_index(index) else {
            return self.worker_violation(now, worker_id, "too many workers");
        };
        let heartbeat = ready
            .heartbeat
            .unwrap_or(self.config.heartbeat)
            .max(Duration::from_millis(1));
        let worker = Worker::new(
            now,
            worker_id.clone(),
            sid,
            &ready,
            heartbeat,
            self.config.liveness,
            user.filter(|_| self.access.is_on()),
        );
        let due = worker.next_due();
        self.next_worker_timer = Some(self.next_worker_timer.map_or(due, |t| t.min(due)));
        info!(worker = %worker_id, service = %ready.service, credits = ready.credits, heartbeat_ms = heartbeat.as_millis() as u64, "worker ready");
        if index == self.workers.len() {
            self.workers.push(None);
        }
        self.workers[index] = Some(worker);
        self.worker_ids.insert(worker_id, wid);
        if let Some(service) = self.services.get_mut(sid) {
            service.add_worker(wid);
        }
        self.dispatch(now, sid);
    }

    /// READY again from registered worker `wid`: for its own service it
    /// sets its credits (requests already dispatched stay; none is
    /// dispatched while it holds as many as its credits) and is echoed back
    /// as the confirmation that every request dispatched under the old
    /// count has been sent before it; for another service it is a protocol
    /// violation.
    fn update_credits(&mut self, now: Instant, wid: WorkerId, worker_id: Route, ready: Ready) {
        let Some(worker) = slot(&mut self.workers, wid.index()) else {
            return;
        };
        let sid = worker.service;
        let same = self
            .services
            .get(sid)
            .is_some_and(|service| service.name() == ready.service);
        if !same {
            return self.worker_violation(
                now,
                worker_id,
                "READY for another service from a registered worker",
            );
        }
        let before = worker.credits();
        let available = worker.set_credits(ready.credits);
        let credits = worker.credits();
        if let Some(service) = self.services.get_mut(sid) {
            if available {
                service.available.push_back(wid);
            } else if worker.free() == 0 {
                service.available.retain(|w| *w != wid);
            }
        }
        info!(worker = %worker_id, service = %ready.service, from = before, to = credits, "worker credits changed");
        let echo = Message::ready(ready.service, credits, ready.heartbeat);
        self.send_worker(now, worker_id, echo);
        self.dispatch(now, sid);
    }

    fn on_reply(
        &mut self,
        now: Instant,
        wid: WorkerId,
        worker_id: &Route,
        reply: ReplyIn,
        payload: Vec<Frame>,
    ) {
        let (reply_id, route) = match &reply {
            ReplyIn::Decoded(r) => (r.id, Route::from_frames(r.route.iter().map(Vec::as_slice))),
            ReplyIn::Plain(p) => (p.id, p.route.clone()),
        };
        let entries = &self.entries;
        let matched = route
            .and_then(|route| {
                let hash = entries.hash(&route, &reply_id);
                Some((entries.find(hash, &route, &reply_id)?, hash))
            })
            .filter(|(id, _)| entries.get(*id).is_some_and(|e| e.worker == Some(wid)));
        let Some((id, hash)) = matched else {
            let Some(worker) = slot(&mut self.workers, wid.index()) else {
                return;
            };
            if worker.take_abandoned() {
                // The late answer to a request already answered at its deadline.
                self.stats.late_replies += 1;
                let service = worker.service;
                self.return_credit(wid);
                self.dispatch(now, service);
            } else {
                self.stats.stale_replies += 1;
                debug!(worker = %worker_id, correlation_id = %reply_id, "stale reply dropped");
            }
            return;
        };
        let Some(entry) = self.entries.remove_hashed(id, hash) else {
            return;
        };
        self.release(&entry);
        if let Some(worker) = slot(&mut self.workers, wid.index()) {
            worker.forget(id);
        }
        self.return_credit(wid);
        let took = elapsed(self.clock.tick(now), entry.received);
        let code = match &reply {
            ReplyIn::Decoded(r) => r.status.code,
            ReplyIn::Plain(_) => Code::Ok,
        };
        if let Some(service) = self.services.get_mut(entry.service) {
            service.finished();
            service.outcome(code, Some(took));
        }
        self.stats.replies += 1;
        let (forwarded, header) = match reply {
            ReplyIn::Decoded(r) => (
                Reply {
                    route: Vec::new(),
                    ..r
                },
                None,
            ),
            // OK with no metadata: a scan reads nothing else.
            ReplyIn::Plain(p) => (Reply::new(p.id, Status::ok()), Some(p.header)),
        };
        if entry.idempotent {
            self.cache.insert(
                now,
                (entry.route.clone(), entry.id),
                forwarded.clone(),
                &payload,
            );
        }
        debug!(correlation_id = %reply_id, code = %code, "reply forwarded");
        let Entry { route, service, .. } = entry;
        let message = match header {
            Some(header) => Outbound::Encoded { header, payload },
            None => Message::reply(forwarded, payload).into(),
        };
        self.actions.push_back(Action::ToClient { route, message });
        self.dispatch(now, service);
        if self.entries.is_empty()
            && (self.entries.capacity() > SLACK || self.deadlines.capacity() > SLACK)
        {
            // A burst is over: give its memory back now, not at the next tick.
            self.compact();
        }
    }

    /// Gives `wid` one credit back, making it available (at the back:
    /// least recently used order) if it had none.
    fn return_credit(&mut self, wid: WorkerId) {
        let Some(worker) = slot(&mut self.workers, wid.index()) else {
            return;
        };
        if worker.return_credit()
            && let Some(service) = self.services.get_mut(worker.service)
        {
            service.available.push_back(wid);
        }
    }

    pub(super) fn send_worker(&mut self, now: Instant, worker_id: Route, message: Message) {
        if let Some(&wid) = self.worker_ids.get(&worker_id)
            && let Some(worker) = slot(&mut self.workers, wid.index())
        {
            worker.next_heartbeat = now + worker.heartbeat;
        }
        self.actions.push_back(Action::ToWorker {
            worker: worker_id,
            message: message.into(),
        });
    }

    /// Removes a worker and settles its requests: re-dispatch when retriable,
    /// otherwise `UNAVAILABLE` at once.
    pub(super) fn remove_worker(&mut self, now: Instant, worker_id: &Route, why: &str) {
        let Some(wid) = self.worker_ids.remove(worker_id) else {
            return;
        };
        let Some(worker) = self.workers.get_mut(wid.index()).and_then(Option::take) else {
            return;
        };
        while matches!(self.workers.last(), Some(None)) {
            self.workers.pop();
        }
        if let Some(service) = self.services.get_mut(worker.service) {
            service.remove_worker(wid);
        }
        let now_tick = self.clock.tick(now);
        for id in worker.in_flight {
            let Some(entry) = self.entries.get_mut(id) else {
                continue;
            };
            if let Some(service) = self.services.get_mut(entry.service) {
                service.finished();
                if entry.retriable && now_tick < entry.deadline && !self.draining {
                    entry.attempt += 1;
                    entry.worker = None;
                    entry.retriable = false;
                    self.stats.redispatched += 1;
                    debug!(correlation_id = %entry.id, attempt = entry.attempt, "re-dispatching after worker loss");
                    service.enqueue_front(id);
                    continue;
                }
            }
            if let Some(entry) = self.remove_entry(id) {
                let status = Status::unavailable(format!("worker lost mid-request: {why}"));
                if let Some(service) = self.services.get_mut(entry.service) {
                    service.outcome(Code::Unavailable, Some(elapsed(now_tick, entry.received)));
                }
                self.reply_error(entry.route, entry.id, status);
            }
        }
        self.dispatch(now, worker.service);
    }

    /// The driver could not deliver to a worker (gone, or at its high-water
    /// mark): treat it as lost. `undelivered` is the message that failed to
    /// go out. When it is a REQUEST, that request never reached the worker,
    /// so it goes back to the head of its queue with its attempt unchanged,
    /// whatever its idempotency.
    pub fn on_worker_unreachable(
        &mut self,
        now: Instant,
        worker_id: &Route,
        undelivered: Option<Outbound>,
    ) {
        self.stats.unroutable += 1;
        self.stats.unroutable_worker += 1;
        warn!(worker = %worker_id, "worker unreachable; removing it");
        if let Some(Message {
            command: Command::Request(request),
            payload,
        }) = undelivered.and_then(|o| o.into_message().ok())
            && let Some(&wid) = self.worker_ids.get(worker_id)
            && let Some(worker) = slot(&mut self.workers, wid.index())
        {
            let entries = &mut self.entries;
            let found = worker
                .in_flight
                .iter()
                .position(|id| entries.get(*id).is_some_and(|e| e.id == request.id));
            if let Some(pos) = found {
                let id = worker.in_flight.swap_remove(pos);
                if let Some(entry) = entries.get_mut(id) {
                    entry.worker = None;
                    entry.payload = Payload::keep(payload);
                    entry.metadata = boxed(request.metadata);
                    if let Some(service) = self.services.get_mut(entry.service) {
                        service.finished();
                        service.enqueue_front(id);
                    }
                }
            }
        }
        self.remove_worker(now, worker_id, "worker unreachable");
    }
}
