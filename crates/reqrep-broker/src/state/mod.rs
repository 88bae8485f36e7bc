//! The broker as a socket-free state machine.
//!
//! [`BrokerState`] is driven by events, each with the current instant:
//! [`BrokerState::on_client`] and [`BrokerState::on_worker`] take the raw
//! frames a ROUTER received, [`BrokerState::on_tick`] fires timers. Each
//! returns nothing; the messages to send are queued as [`Action`]s and taken
//! with [`BrokerState::poll_action`]. No sockets, no clock: the driver owns
//! those, and tests drive whole conversations with a fake clock.

mod cache;
mod route;
mod service;
mod worker;

#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

use prost::Message as _;
use reqrep_core::{
    Code, Command, CorrelationId, Deadline, DecodeError, Frame, Limits, MAX_ROUTE_FRAMES, Message,
    Ready, Reply, Request, Status, decode, pb,
};
use tracing::{debug, info, warn};

pub use route::Route;

use crate::config::BrokerConfig;
use crate::stats::{GlobalMetrics, Stats};
use cache::ReplyCache;
use service::Service;
use worker::Worker;

/// Name of the built-in discovery service.
pub const DISCOVERY_SERVICE: &str = "reqrep.services";
/// Service names with this prefix are reserved for the broker.
pub const RESERVED_PREFIX: &str = "reqrep.";

/// A message the driver must send.
#[derive(Debug)]
pub enum Action {
    /// Send `message` to the client at `route` on the frontend.
    ToClient {
        /// The client's routing frames.
        route: Route,
        /// The message (always a REPLY).
        message: Message,
    },
    /// Send `message` to `worker` on the backend.
    ToWorker {
        /// The worker's routing id.
        worker: Route,
        /// The message.
        message: Message,
    },
}

/// The settings the state machine uses (a subset of [`BrokerConfig`]).
#[derive(Debug, Clone)]
pub struct StateConfig {
    /// Heartbeat interval for workers that announce none.
    pub heartbeat: Duration,
    /// Missed intervals before a worker is dead.
    pub liveness: u32,
    /// Deadline for requests that carry no timeout.
    pub default_timeout: Duration,
    /// Bound of each service's queue.
    pub max_queue: usize,
    /// Attempts per idempotent request.
    pub max_attempts: u32,
    /// Reply cache capacity.
    pub reply_cache_size: usize,
    /// Reply cache entry lifetime.
    pub reply_cache_ttl: Duration,
    /// Most services at once.
    pub max_services: usize,
    /// Decoding limits.
    pub limits: Limits,
}

impl From<&BrokerConfig> for StateConfig {
    fn from(c: &BrokerConfig) -> Self {
        Self {
            heartbeat: c.heartbeat,
            liveness: c.liveness.max(1),
            default_timeout: c.default_timeout,
            max_queue: c.max_queue,
            max_attempts: c.max_attempts.max(1),
            reply_cache_size: c.reply_cache_size,
            reply_cache_ttl: c.reply_cache_ttl,
            max_services: c.max_services,
            limits: c.limits(),
        }
    }
}

impl Default for StateConfig {
    fn default() -> Self {
        Self::from(&BrokerConfig::default())
    }
}

type RequestKey = (Route, CorrelationId);

/// Hash maps with a fast, randomly seeded hasher (keys come from peers, so
/// the seed matters; SipHash was a measurable share of the hot path).
pub(crate) type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
type EntryId = u64;

/// Where a request is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Place {
    /// In its service's queue.
    Queued,
    /// Dispatched to this worker.
    InFlight(Route),
}

/// One request the broker holds.
struct Entry {
    key: RequestKey,
    /// The header as received (its `route` is empty; the key holds the route).
    request: Request,
    /// The payload while queued; while in flight, a copy kept for
    /// re-dispatch when the request is retriable, else empty.
    payload: Vec<Frame>,
    /// Whether a re-dispatch is possible (payload copy kept).
    retriable: bool,
    received: Instant,
    deadline: Deadline,
    place: Place,
}

/// The broker's whole state: services, workers, requests, timers.
pub struct BrokerState {
    config: StateConfig,
    services: HashMap<String, Service>,
    workers: HashMap<Route, Worker>,
    entries: HashMap<EntryId, Entry>,
    by_key: HashMap<RequestKey, EntryId>,
    deadlines: BinaryHeap<Reverse<(Instant, EntryId)>>,
    next_id: EntryId,
    cache: ReplyCache,
    actions: VecDeque<Action>,
    /// Earliest instant a worker timer (heartbeat or expiry) may be due.
    next_worker_timer: Option<Instant>,
    draining: bool,
    stats: Stats,
    metrics: GlobalMetrics,
}

impl BrokerState {
    /// An empty broker.
    pub fn new(config: StateConfig) -> Self {
        let cache = ReplyCache::new(config.reply_cache_size, config.reply_cache_ttl);
        Self {
            config,
            services: HashMap::default(),
            workers: HashMap::default(),
            entries: HashMap::default(),
            by_key: HashMap::default(),
            deadlines: BinaryHeap::new(),
            next_id: 0,
            cache,
            actions: VecDeque::new(),
            next_worker_timer: None,
            draining: false,
            stats: Stats::default(),
            metrics: GlobalMetrics::new(),
        }
    }

    /// The next action to perform, if any.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Counters of everything done so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// When [`Self::on_tick`] must next run; `None` when no timer is set.
    pub fn next_timeout(&self) -> Option<Instant> {
        let deadline = self.deadlines.peek().map(|Reverse((at, _))| *at);
        match (deadline, self.next_worker_timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Requests held (queued or in flight).
    pub fn pending(&self) -> usize {
        self.entries.len()
    }

    /// Requests dispatched to workers and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.entries
            .values()
            .filter(|e| matches!(e.place, Place::InFlight(_)))
            .count()
    }

    /// Registered workers.
    pub fn worker_count(&self) -> usize {
        self.workers.len()
    }

    /// Whether a drain has started.
    pub fn is_draining(&self) -> bool {
        self.draining
    }

    // ---- clients ---------------------------------------------------------

    /// Handles a message received on the frontend: `frames` as the ROUTER
    /// delivered them (routing frames first).
    pub fn on_client(&mut self, now: Instant, frames: Vec<Frame>) {
        let reply_route = error_route(&frames);
        let decoded = match decode(frames, &self.config.limits) {
            Ok(decoded) => decoded,
            Err(err) => return self.malformed_client(reply_route, &err),
        };
        let Some(route) = Route::from_frames(decoded.route.iter().map(|f| &f[..])) else {
            return self.malformed_client(reply_route, &DecodeError::NoHeader);
        };
        match decoded.message.command {
            Command::Request(request) => {
                self.on_request(now, route, request, decoded.message.payload)
            }
            other => {
                self.stats.malformed_client += 1;
                self.metrics.malformed_client.increment(1);
                let id = other.correlation_id().unwrap_or_else(nil_id);
                let status = Status::invalid_argument(format!(
                    "unexpected command {} from a client",
                    other.kind()
                ));
                self.reply_error(route, id, status);
            }
        }
    }

    fn malformed_client(&mut self, route: Option<Route>, err: &DecodeError) {
        self.stats.malformed_client += 1;
        self.metrics.malformed_client.increment(1);
        debug!(reason = err.reason(), cause = %err, "malformed client message");
        if let Some(route) = route {
            self.reply_error(route, nil_id(), err.to_status());
        }
    }

    fn on_request(
        &mut self,
        now: Instant,
        route: Route,
        mut request: Request,
        payload: Vec<Frame>,
    ) {
        let span = tracing::debug_span!("request", correlation_id = %request.id, service = %request.service);
        let _entered = span.enter();
        self.stats.requests += 1;
        if request.service.is_empty() {
            return self.reject(
                route,
                &request,
                Status::invalid_argument("service is empty"),
            );
        }
        if request.service.starts_with(RESERVED_PREFIX) {
            return self.builtin(route, &request, payload);
        }
        let key = (route, request.id);
        if self.by_key.contains_key(&key) {
            self.stats.duplicates += 1;
            self.metrics.duplicates.increment(1);
            debug!("duplicate of a request in flight, absorbed");
            return;
        }
        if let Some((reply, payload)) = self.cache.get(now, &key) {
            self.stats.cache_hits += 1;
            self.metrics.cache_hits.increment(1);
            debug!("answered from the reply cache");
            self.actions.push_back(Action::ToClient {
                route: key.0,
                message: Message::reply(reply, payload),
            });
            return;
        }
        let (route, _) = key;
        if self.draining {
            return self.reject(
                route,
                &request,
                Status::unavailable("broker is shutting down"),
            );
        }
        if !self.services.contains_key(&request.service) {
            if self.services.len() >= self.config.max_services {
                let status = Status::resource_exhausted(format!(
                    "too many services (limit {})",
                    self.config.max_services
                ));
                return self.reject(route, &request, status);
            }
            self.services
                .insert(request.service.clone(), Service::new(&request.service));
        }
        let Some(service) = self.services.get_mut(&request.service) else {
            return;
        };
        if service.workers == 0 && request.fail_fast {
            let status =
                Status::unavailable(format!("no worker for service {:?}", request.service));
            service.metrics.outcome(Code::Unavailable);
            return self.reply_error_counted(route, request.id, status);
        }
        if service.queued >= self.config.max_queue {
            let status = Status::resource_exhausted(format!(
                "queue of service {:?} is full ({} requests)",
                request.service, self.config.max_queue
            ));
            service.metrics.outcome(Code::ResourceExhausted);
            return self.reply_error_counted(route, request.id, status);
        }
        let deadline = Deadline::after(now, request.timeout.unwrap_or(self.config.default_timeout));
        request.route.clear();
        let id = self.next_id;
        self.next_id += 1;
        let key = (route, request.id);
        self.by_key.insert(key.clone(), id);
        self.deadlines.push(Reverse((deadline.instant(), id)));
        service.enqueue_back(id);
        let name = request.service.clone();
        self.entries.insert(
            id,
            Entry {
                key,
                request,
                payload,
                retriable: false,
                received: now,
                deadline,
                place: Place::Queued,
            },
        );
        self.dispatch(now, &name);
    }

    /// Answers a request for a built-in service.
    fn builtin(&mut self, route: Route, request: &Request, payload: Vec<Frame>) {
        if request.service != DISCOVERY_SERVICE {
            let status = Status::not_found(format!("no built-in service {:?}", request.service));
            return self.reject(route, request, status);
        }
        let wanted = match payload.as_slice() {
            [] => None,
            [frame] if frame.is_empty() => None,
            [frame] => match std::str::from_utf8(frame) {
                Ok(name) => Some(name.to_owned()),
                Err(_) => {
                    let status = Status::invalid_argument("service name is not UTF-8");
                    return self.reject(route, request, status);
                }
            },
            _ => {
                let status = Status::invalid_argument("discovery takes at most one frame");
                return self.reject(route, request, status);
            }
        };
        let list = self.service_list(wanted.as_deref());
        if let Some(name) = wanted
            && list.services.is_empty()
        {
            return self.reject(
                route,
                request,
                Status::not_found(format!("no service {name:?}")),
            );
        }
        let reply = Reply::new(request.id, Status::ok());
        let frame = Frame::from(list.encode_to_vec());
        self.actions.push_back(Action::ToClient {
            route,
            message: Message::reply(reply, vec![frame]),
        });
    }

    /// The discovery list: every service (or just `only`), sorted by name.
    pub fn service_list(&self, only: Option<&str>) -> pb::ServiceList {
        let mut services: Vec<pb::ServiceInfo> = self
            .services
            .values()
            .filter(|s| only.is_none_or(|name| s.name == name))
            .map(|s| pb::ServiceInfo {
                name: s.name.clone(),
                workers: to_u32(s.workers),
                free_credits: s
                    .available
                    .iter()
                    .filter_map(|w| self.workers.get(w))
                    .map(|w| w.free)
                    .sum(),
                queue_depth: to_u32(s.queued),
                in_flight: to_u32(s.in_flight),
            })
            .collect();
        services.sort_by(|a, b| a.name.cmp(&b.name));
        pb::ServiceList { services }
    }

    /// Answers a request with a broker-generated error, counting it.
    fn reject(&mut self, route: Route, request: &Request, status: Status) {
        if let Some(service) = self.services.get_mut(&request.service) {
            service.metrics.outcome(status.code);
        }
        self.reply_error_counted(route, request.id, status);
    }

    fn reply_error_counted(&mut self, route: Route, id: CorrelationId, status: Status) {
        debug!(code = %status.code, message = %status.message, "error reply");
        self.reply_error(route, id, status);
    }

    fn reply_error(&mut self, route: Route, id: CorrelationId, status: Status) {
        self.stats.errors += 1;
        let message = Message::reply(Reply::new(id, status), Vec::new());
        self.actions.push_back(Action::ToClient { route, message });
    }

    // ---- dispatch --------------------------------------------------------

    /// Sends queued requests of `service` to workers with free credits, least
    /// recently used first, until one of the two runs out.
    fn dispatch(&mut self, now: Instant, service: &str) {
        let Some(svc) = self.services.get_mut(service) else {
            return;
        };
        while svc.queued > 0 && !svc.available.is_empty() {
            let Some(id) = svc.queue.pop_front() else {
                break;
            };
            let Some(entry) = self.entries.get_mut(&id) else {
                continue;
            };
            if entry.place != Place::Queued {
                continue;
            }
            if entry.deadline.is_expired(now) {
                // Left for `expire_requests`, which answers it and counts it down.
                continue;
            }
            svc.queued -= 1;
            let Some(worker_id) = svc.available.pop_front() else {
                break;
            };
            let Some(worker) = self.workers.get_mut(&worker_id) else {
                continue;
            };
            worker.free -= 1;
            if worker.free > 0 {
                svc.available.push_back(worker_id.clone());
            }
            worker.in_flight.push(id);
            worker.next_heartbeat = now + worker.heartbeat;
            svc.in_flight += 1;

            let attempts_left = entry.request.attempt < self.config.max_attempts;
            entry.retriable = entry.request.idempotent && attempts_left;
            let payload = if entry.retriable {
                entry.payload.iter().map(|f| Frame::from(&f[..])).collect()
            } else {
                std::mem::take(&mut entry.payload)
            };
            let mut forwarded = entry.request.clone();
            forwarded.route = entry.key.0.to_vecs();
            forwarded.timeout = Some(entry.deadline.remaining(now).max(Duration::from_millis(1)));
            entry.place = Place::InFlight(worker_id.clone());
            debug!(correlation_id = %entry.request.id, worker = %worker_id, "dispatched");
            self.actions.push_back(Action::ToWorker {
                worker: worker_id,
                message: Message::request(forwarded, payload),
            });
        }
        svc.compact_queue(&self.entries, |e: &Entry| e.place == Place::Queued);
        svc.metrics.queue_depth.set(svc.queued as f64);
    }

    // ---- workers ---------------------------------------------------------

    /// Handles a message received on the backend: `frames` as the ROUTER
    /// delivered them (the worker's routing id first).
    pub fn on_worker(&mut self, now: Instant, frames: Vec<Frame>) {
        let Some(worker_id) = frames.first().and_then(|f| Route::single(f)) else {
            self.stats.malformed_worker += 1;
            self.metrics.malformed_worker.increment(1);
            return;
        };
        let decoded = match decode(frames, &self.config.limits) {
            Ok(d) if d.route.len() == 1 => d,
            Ok(_) => return self.worker_violation(now, worker_id, "routing frames from a worker"),
            Err(err) => {
                debug!(worker = %worker_id, reason = err.reason(), cause = %err, "malformed worker message");
                return self.worker_violation(now, worker_id, &err.to_string());
            }
        };
        let message = decoded.message;
        let Some(worker) = self.workers.get_mut(&worker_id) else {
            return match message.command {
                Command::Ready(ready) => self.register(now, worker_id, ready),
                Command::Disconnect(_) => {}
                other => {
                    // Typically a worker the broker dropped: make it re-register.
                    debug!(worker = %worker_id, kind = %other.kind(), "message from unregistered worker");
                    let status = Status::invalid_argument("not registered: send READY");
                    self.send_worker(now, worker_id, Message::disconnect(Some(status)));
                }
            };
        };
        worker.expiry = now + worker.heartbeat * self.config.liveness;
        match message.command {
            Command::Reply(reply) => self.on_reply(now, worker_id, reply, message.payload),
            Command::Heartbeat => {}
            Command::Disconnect(_) => {
                info!(worker = %worker_id, "worker disconnected");
                self.remove_worker(now, &worker_id, "worker disconnected");
            }
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
        self.metrics.malformed_worker.increment(1);
        warn!(worker = %worker_id, cause = what, "worker protocol violation; disconnecting it");
        let status = Status::invalid_argument(what);
        self.send_worker(now, worker_id.clone(), Message::disconnect(Some(status)));
        if self.workers.contains_key(&worker_id) {
            self.remove_worker(now, &worker_id, "protocol violation");
        }
    }

    fn register(&mut self, now: Instant, worker_id: Route, ready: Ready) {
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
        if !self.services.contains_key(&ready.service) {
            if self.services.len() >= self.config.max_services {
                return self.worker_violation(now, worker_id, "too many services");
            }
            self.services
                .insert(ready.service.clone(), Service::new(&ready.service));
        }
        let heartbeat = ready
            .heartbeat
            .unwrap_or(self.config.heartbeat)
            .max(Duration::from_millis(1));
        let worker = Worker::new(now, &ready, heartbeat, self.config.liveness);
        let due = worker.next_due();
        self.next_worker_timer = Some(self.next_worker_timer.map_or(due, |t| t.min(due)));
        info!(worker = %worker_id, service = %ready.service, credits = ready.credits, heartbeat_ms = heartbeat.as_millis() as u64, "worker ready");
        self.workers.insert(worker_id.clone(), worker);
        if let Some(service) = self.services.get_mut(&ready.service) {
            service.workers += 1;
            service.available.push_back(worker_id);
            service.metrics.workers.set(service.workers as f64);
        }
        self.dispatch(now, &ready.service);
    }

    fn on_reply(&mut self, now: Instant, worker_id: Route, reply: Reply, payload: Vec<Frame>) {
        let matched = Route::from_frames(reply.route.iter().map(Vec::as_slice))
            .map(|route| (route, reply.id))
            .and_then(|key| self.by_key.get(&key).copied())
            .filter(|id| {
                self.entries
                    .get(id)
                    .is_some_and(|e| matches!(&e.place, Place::InFlight(w) if *w == worker_id))
            });
        let Some(id) = matched else {
            let Some(worker) = self.workers.get_mut(&worker_id) else {
                return;
            };
            if worker.abandoned > 0 {
                // The late answer to a request already answered at its deadline.
                worker.abandoned -= 1;
                self.stats.late_replies += 1;
                let service = worker.service.clone();
                self.return_credit(&worker_id);
                self.dispatch(now, &service);
            } else {
                self.stats.stale_replies += 1;
                self.metrics.stale_replies.increment(1);
                debug!(worker = %worker_id, correlation_id = %reply.id, "stale reply dropped");
            }
            return;
        };
        let Some(entry) = self.remove_entry(id) else {
            return;
        };
        if let Some(worker) = self.workers.get_mut(&worker_id) {
            worker.in_flight.retain(|x| *x != id);
        }
        self.return_credit(&worker_id);
        if let Some(service) = self.services.get_mut(&entry.request.service) {
            service.in_flight = service.in_flight.saturating_sub(1);
            service.metrics.outcome(reply.status.code);
            service
                .metrics
                .duration
                .record(now.saturating_duration_since(entry.received));
        }
        self.stats.replies += 1;
        let forwarded = Reply {
            id: reply.id,
            status: reply.status,
            metadata: reply.metadata,
            route: Vec::new(),
        };
        if entry.request.idempotent {
            self.cache
                .insert(now, entry.key.clone(), forwarded.clone(), &payload);
        }
        debug!(correlation_id = %reply.id, code = %forwarded.status.code, "reply forwarded");
        let Entry {
            key: (route, _),
            request,
            ..
        } = entry;
        self.actions.push_back(Action::ToClient {
            route,
            message: Message::reply(forwarded, payload),
        });
        self.dispatch(now, &request.service);
        if self.entries.is_empty() {
            // The burst is over: give its memory back now, not at the next tick.
            self.compact();
        }
    }

    /// Gives `worker_id` one credit back, making it available (at the back:
    /// least recently used order) if it had none.
    fn return_credit(&mut self, worker_id: &Route) {
        let Some(worker) = self.workers.get_mut(worker_id) else {
            return;
        };
        if worker.free >= worker.credits {
            return;
        }
        worker.free += 1;
        if worker.free == 1
            && let Some(service) = self.services.get_mut(&worker.service)
        {
            service.available.push_back(worker_id.clone());
        }
    }

    fn send_worker(&mut self, now: Instant, worker_id: Route, message: Message) {
        if let Some(worker) = self.workers.get_mut(&worker_id) {
            worker.next_heartbeat = now + worker.heartbeat;
        }
        self.actions.push_back(Action::ToWorker {
            worker: worker_id,
            message,
        });
    }

    /// Removes a worker and settles its requests: re-dispatch when retriable,
    /// otherwise `UNAVAILABLE` at once.
    fn remove_worker(&mut self, now: Instant, worker_id: &Route, why: &str) {
        let Some(worker) = self.workers.remove(worker_id) else {
            return;
        };
        if let Some(service) = self.services.get_mut(&worker.service) {
            service.workers = service.workers.saturating_sub(1);
            service.available.retain(|w| w != worker_id);
            service.metrics.workers.set(service.workers as f64);
        }
        for id in worker.in_flight {
            let Some(entry) = self.entries.get_mut(&id) else {
                continue;
            };
            if let Some(service) = self.services.get_mut(&entry.request.service) {
                service.in_flight = service.in_flight.saturating_sub(1);
            }
            if entry.retriable && !entry.deadline.is_expired(now) && !self.draining {
                entry.request.attempt += 1;
                entry.place = Place::Queued;
                entry.retriable = false;
                self.stats.redispatched += 1;
                self.metrics.redispatched.increment(1);
                debug!(correlation_id = %entry.request.id, attempt = entry.request.attempt, "re-dispatching after worker loss");
                if let Some(service) = self.services.get_mut(&entry.request.service) {
                    service.enqueue_front(id);
                }
            } else if let Some(entry) = self.remove_entry(id) {
                let status = Status::unavailable(format!("worker lost mid-request: {why}"));
                if let Some(service) = self.services.get_mut(&entry.request.service) {
                    service.metrics.outcome(Code::Unavailable);
                    service
                        .metrics
                        .duration
                        .record(now.saturating_duration_since(entry.received));
                }
                self.reply_error_counted(entry.key.0, entry.key.1, status);
            }
        }
        self.dispatch(now, &worker.service);
    }

    fn remove_entry(&mut self, id: EntryId) -> Option<Entry> {
        let entry = self.entries.remove(&id)?;
        self.by_key.remove(&entry.key);
        Some(entry)
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
        undelivered: Option<Message>,
    ) {
        self.stats.unroutable += 1;
        self.metrics.unroutable_worker.increment(1);
        warn!(worker = %worker_id, "worker unreachable; removing it");
        if let Some(Message {
            command: Command::Request(request),
            payload,
        }) = undelivered
            && let Some(worker) = self.workers.get_mut(worker_id)
        {
            let entries = &mut self.entries;
            let found = worker
                .in_flight
                .iter()
                .position(|id| entries.get(id).is_some_and(|e| e.request.id == request.id));
            if let Some(pos) = found {
                let id = worker.in_flight.swap_remove(pos);
                if let Some(entry) = entries.get_mut(&id) {
                    entry.place = Place::Queued;
                    entry.payload = payload;
                    if let Some(service) = self.services.get_mut(&entry.request.service) {
                        service.in_flight = service.in_flight.saturating_sub(1);
                        service.enqueue_front(id);
                    }
                }
            }
        }
        self.remove_worker(now, worker_id, "worker unreachable");
    }

    /// The driver could not deliver a reply to a client (gone or full).
    pub fn on_client_unreachable(&mut self, route: &Route) {
        self.stats.unroutable += 1;
        self.metrics.unroutable_client.increment(1);
        debug!(client = %route, "client unreachable; reply dropped");
    }

    // ---- timers ----------------------------------------------------------

    /// Fires every timer due at `now`: request deadlines, worker heartbeats
    /// and expiries, reply cache expiry, idle service cleanup.
    pub fn on_tick(&mut self, now: Instant) {
        self.expire_requests(now);
        if self.next_worker_timer.is_some_and(|t| t <= now) {
            self.worker_timers(now);
        }
        self.cache.evict(now);
        self.compact();
    }

    /// Gives memory back after a burst: tables keep their peak capacity and
    /// the deadline heap keeps the entries of answered requests until their
    /// deadlines pass, so both are trimmed once they are mostly empty. Each
    /// check is O(1); the O(n) trims run only when they free most of a table.
    fn compact(&mut self) {
        const SLACK: usize = 1024;
        let live = self.entries.len();
        if self.deadlines.len() > 2 * live + SLACK {
            let entries = &self.entries;
            self.deadlines.retain(|Reverse((at, id))| {
                entries.get(id).is_some_and(|e| e.deadline.instant() == *at)
            });
            self.deadlines.shrink_to_fit();
        }
        if self.entries.capacity() > 4 * live + SLACK {
            self.entries.shrink_to_fit();
            self.by_key.shrink_to_fit();
        }
        for service in self.services.values_mut() {
            if service.queue.capacity() > 4 * service.queue.len() + SLACK {
                service.queue.shrink_to_fit();
            }
        }
        if self.actions.capacity() > SLACK && self.actions.is_empty() {
            self.actions.shrink_to_fit();
        }
    }

    fn expire_requests(&mut self, now: Instant) {
        while let Some(&Reverse((at, id))) = self.deadlines.peek() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            let due = self
                .entries
                .get(&id)
                .is_some_and(|e| e.deadline.instant() == at);
            if !due {
                continue;
            }
            let Some(entry) = self.remove_entry(id) else {
                continue;
            };
            let waited = now.saturating_duration_since(entry.received).as_millis();
            let message = match &entry.place {
                Place::Queued => {
                    self.stats.expired_in_queue += 1;
                    if let Some(service) = self.services.get_mut(&entry.request.service) {
                        service.queued = service.queued.saturating_sub(1);
                        service.metrics.queue_depth.set(service.queued as f64);
                    }
                    format!("expired after {waited} ms waiting for a worker")
                }
                Place::InFlight(worker_id) => {
                    self.stats.expired_in_flight += 1;
                    if let Some(worker) = self.workers.get_mut(worker_id) {
                        worker.in_flight.retain(|x| *x != id);
                        worker.abandoned += 1;
                    }
                    if let Some(service) = self.services.get_mut(&entry.request.service) {
                        service.in_flight = service.in_flight.saturating_sub(1);
                    }
                    format!("no reply from the worker within {waited} ms")
                }
            };
            if let Some(service) = self.services.get_mut(&entry.request.service) {
                service.metrics.outcome(Code::DeadlineExceeded);
                service
                    .metrics
                    .duration
                    .record(now.saturating_duration_since(entry.received));
            }
            self.reply_error_counted(entry.key.0, entry.key.1, Status::deadline_exceeded(message));
        }
    }

    fn worker_timers(&mut self, now: Instant) {
        let mut expired = Vec::new();
        let mut beats = Vec::new();
        let mut next: Option<Instant> = None;
        for (id, worker) in &mut self.workers {
            if worker.expiry <= now {
                expired.push(id.clone());
                continue;
            }
            if worker.next_heartbeat <= now {
                beats.push(id.clone());
                worker.next_heartbeat = now + worker.heartbeat;
            }
            let due = worker.next_due();
            next = Some(next.map_or(due, |n| n.min(due)));
        }
        self.next_worker_timer = next;
        for id in beats {
            self.actions.push_back(Action::ToWorker {
                worker: id,
                message: Message::heartbeat(),
            });
        }
        for id in expired {
            self.stats.workers_expired += 1;
            self.metrics.worker_expired.increment(1);
            warn!(worker = %id, "worker expired: no heartbeat");
            self.remove_worker(now, &id, "worker expired");
        }
        self.remove_idle_services();
    }

    fn remove_idle_services(&mut self) {
        self.services.retain(|_, s| {
            let keep = s.workers > 0 || s.queued > 0 || s.in_flight > 0;
            if !keep {
                s.metrics.queue_depth.set(0.0);
                s.metrics.workers.set(0.0);
            }
            keep
        });
    }

    // ---- shutdown --------------------------------------------------------

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
            .filter(|(_, e)| e.place == Place::Queued)
            .map(|(id, _)| *id)
            .collect();
        for id in queued {
            if let Some(entry) = self.remove_entry(id) {
                if let Some(service) = self.services.get_mut(&entry.request.service) {
                    service.queued = service.queued.saturating_sub(1);
                    service.metrics.outcome(Code::Unavailable);
                }
                let status = Status::unavailable("broker is shutting down");
                self.reply_error_counted(entry.key.0, entry.key.1, status);
            }
        }
        for service in self.services.values_mut() {
            service.queue.clear();
            service.metrics.queue_depth.set(0.0);
        }
    }

    /// Ends a drain: every request still held is answered `UNAVAILABLE` and
    /// every worker is sent DISCONNECT.
    pub fn finish_drain(&mut self, now: Instant) {
        self.begin_drain(now);
        let ids: Vec<EntryId> = self.entries.keys().copied().collect();
        for id in ids {
            if let Some(entry) = self.remove_entry(id) {
                if let Some(service) = self.services.get_mut(&entry.request.service) {
                    service.metrics.outcome(Code::Unavailable);
                }
                let status = Status::unavailable("broker shut down before the worker replied");
                self.reply_error_counted(entry.key.0, entry.key.1, status);
            }
        }
        let workers: Vec<Route> = self.workers.keys().cloned().collect();
        for id in workers {
            let status = Status::unavailable("broker is shutting down");
            self.actions.push_back(Action::ToWorker {
                worker: id,
                message: Message::disconnect(Some(status)),
            });
        }
        self.workers.clear();
        for service in self.services.values_mut() {
            service.workers = 0;
            service.in_flight = 0;
            service.available.clear();
            service.metrics.workers.set(0.0);
        }
    }
}

/// Where to answer a message that failed to decode: its routing frames if a
/// delimiter is visible, else the first frame (the ROUTER's peer id).
fn error_route(frames: &[Frame]) -> Option<Route> {
    let delimiter = frames
        .iter()
        .take(MAX_ROUTE_FRAMES + 1)
        .position(|f| f.is_empty());
    match delimiter {
        Some(0) | None => frames.first().and_then(|f| Route::single(f)),
        Some(n) => Route::from_frames(frames[..=n].iter().map(|f| &f[..])),
    }
}

/// The nil UUID: the correlation id of an error reply to a message whose own
/// id could not be read.
fn nil_id() -> CorrelationId {
    CorrelationId::from([0u8; 16])
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
