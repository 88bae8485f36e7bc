//! The broker as a socket-free state machine.
//!
//! [`BrokerState`] is driven by events, each with the current instant:
//! [`BrokerState::on_client`] and [`BrokerState::on_worker`] take the raw
//! frames a ROUTER received, [`BrokerState::on_tick`] fires timers. Each
//! returns nothing; the messages to send are queued as [`Action`]s and taken
//! with [`BrokerState::poll_action`]. No sockets, no clock: the driver owns
//! those, and tests drive whole conversations with a fake clock.
//!
//! Memory: a queued request costs one slab slot (about 110 B: the request
//! header field by field, see `entries::Entry`), 4 B in the key index, 16 B
//! in the deadline heap, 8 B in its service's queue, and its payload copied
//! out of libzmq's receive buffers (see `payload`). Tables and queues are
//! shrunk once a burst is over (`compact`), and the driver is told how much
//! was given back ([`BrokerState::take_released_memory`]).

mod cache;
mod entries;
mod payload;
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
    Metadata, Ready, Reply, Request, Status, decode, pb,
};
use tracing::{debug, info, warn};

pub use route::Route;

use crate::config::BrokerConfig;
use crate::stats::{GlobalMetrics, Stats};
use cache::ReplyCache;
use entries::{Entries, Entry, EntryId, WorkerId};
use payload::Payload;
use service::Service;
use worker::Worker;

pub use reqrep_core::{DISCOVERY_SERVICE, RESERVED_PREFIX};

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

/// Hash maps with a fast, randomly seeded hasher (keys come from peers, so
/// the seed matters; SipHash was a measurable share of the hot path).
pub(crate) type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// A service's slot in [`BrokerState`]'s service table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ServiceId(u32);

impl ServiceId {
    fn index(self) -> usize {
        self.0 as usize
    }
}

/// An instant as nanoseconds from the broker's epoch: half the size of an
/// `Instant`, and exact for 292 years either side of the epoch.
type Tick = i64;

/// Converts between instants and [`Tick`]s.
#[derive(Debug, Clone, Copy)]
struct Clock {
    epoch: Instant,
}

impl Clock {
    fn tick(self, at: Instant) -> Tick {
        match at.checked_duration_since(self.epoch) {
            Some(after) => i64::try_from(after.as_nanos()).unwrap_or(i64::MAX),
            None => {
                i64::try_from(self.epoch.duration_since(at).as_nanos()).map_or(i64::MIN, |n| -n)
            }
        }
    }

    fn instant(self, tick: Tick) -> Instant {
        let offset = Duration::from_nanos(tick.unsigned_abs());
        let at = if tick >= 0 {
            self.epoch.checked_add(offset)
        } else {
            self.epoch.checked_sub(offset)
        };
        at.unwrap_or(self.epoch)
    }
}

/// The time from `earlier` to `later`; zero when `later` is not later.
fn elapsed(later: Tick, earlier: Tick) -> Duration {
    Duration::from_nanos(u64::try_from(later.saturating_sub(earlier)).unwrap_or(0))
}

/// Shrinking a table or queue is worth it above this many unused slots.
const SLACK: usize = 1024;

/// The broker's whole state: services, workers, requests, timers.
pub struct BrokerState {
    config: StateConfig,
    clock: Clock,
    /// Services by slot; a slot is reused once its service is forgotten.
    services: Vec<Option<Service>>,
    service_ids: HashMap<String, ServiceId>,
    /// Registered workers by slot; a slot is reused once its worker leaves.
    workers: Vec<Option<Worker>>,
    worker_ids: HashMap<Route, WorkerId>,
    entries: Entries,
    /// Request deadlines, earliest first. Those of requests that have left
    /// linger until they come up or [`Self::compact`] drops them.
    deadlines: BinaryHeap<Reverse<(Tick, EntryId)>>,
    cache: ReplyCache,
    actions: VecDeque<Action>,
    /// Earliest instant a worker timer (heartbeat or expiry) may be due.
    next_worker_timer: Option<Instant>,
    draining: bool,
    /// Bytes of table capacity given back since the driver last asked.
    released: usize,
    stats: Stats,
    metrics: GlobalMetrics,
}

/// The occupied slot `index` of a table of slots.
fn slot<T>(slots: &mut [Option<T>], index: usize) -> Option<&mut T> {
    slots.get_mut(index).and_then(Option::as_mut)
}

/// Metadata as an entry keeps it: boxed, and only when there is some.
fn boxed(metadata: Metadata) -> Option<Box<Metadata>> {
    (!metadata.is_empty()).then(|| Box::new(metadata))
}

impl BrokerState {
    /// An empty broker.
    pub fn new(config: StateConfig) -> Self {
        let cache = ReplyCache::new(config.reply_cache_size, config.reply_cache_ttl);
        Self {
            config,
            clock: Clock {
                epoch: Instant::now(),
            },
            services: Vec::new(),
            service_ids: HashMap::default(),
            workers: Vec::new(),
            worker_ids: HashMap::default(),
            entries: Entries::new(),
            deadlines: BinaryHeap::new(),
            cache,
            actions: VecDeque::new(),
            next_worker_timer: None,
            draining: false,
            released: 0,
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

    /// Bytes of table and queue capacity given back to the allocator since
    /// the last call (after a burst: see [`Self::on_tick`]). The driver uses
    /// it to decide when to ask the allocator to return memory to the OS.
    pub fn take_released_memory(&mut self) -> usize {
        std::mem::take(&mut self.released)
    }

    /// When [`Self::on_tick`] must next run; `None` when no timer is set.
    pub fn next_timeout(&self) -> Option<Instant> {
        let deadline = self
            .deadlines
            .peek()
            .map(|Reverse((at, _))| self.clock.instant(*at));
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
        self.entries.iter().filter(|(_, e)| !e.is_queued()).count()
    }

    /// Registered workers.
    pub fn worker_count(&self) -> usize {
        self.worker_ids.len()
    }

    /// Whether a drain has started.
    pub fn is_draining(&self) -> bool {
        self.draining
    }

    // ---- clients ---------------------------------------------------------

    /// Handles a message received on the frontend: `frames` as the ROUTER
    /// delivered them (routing frames first).
    pub fn on_client(&mut self, now: Instant, frames: Vec<Frame>) {
        let (reply_route, packed) = error_route(&frames);
        let decoded = match decode(frames, &self.config.limits) {
            Ok(decoded) => decoded,
            Err(err) => return self.malformed_client(reply_route, &err),
        };
        let route = match reply_route {
            // The same leading frames (as when the client sent a delimiter):
            // the same route, already packed.
            Some(route) if decoded.route.len() == packed => route,
            reply_route => match Route::from_frames(decoded.route.iter().map(|f| &f[..])) {
                Some(route) => route,
                None => return self.malformed_client(reply_route, &DecodeError::NoHeader),
            },
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

    fn on_request(&mut self, now: Instant, route: Route, request: Request, payload: Vec<Frame>) {
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
        let hash = self.entries.hash(&route, &request.id);
        if self.entries.find(hash, &route, &request.id).is_some() {
            self.stats.duplicates += 1;
            self.metrics.duplicates.increment(1);
            debug!("duplicate of a request in flight, absorbed");
            return;
        }
        let mut route = route;
        if !self.cache.is_empty() {
            let key = (route, request.id);
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
            route = key.0;
        }
        if self.draining {
            return self.reject(
                route,
                &request,
                Status::unavailable("broker is shutting down"),
            );
        }
        let sid = match self.service_ids.get(request.service.as_str()) {
            Some(&sid) => sid,
            None => {
                if self.service_ids.len() >= self.config.max_services {
                    let status = Status::resource_exhausted(format!(
                        "too many services (limit {})",
                        self.config.max_services
                    ));
                    return self.reject(route, &request, status);
                }
                self.add_service(&request.service)
            }
        };
        let Some(service) = slot(&mut self.services, sid.index()) else {
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
        let deadline = self.clock.tick(deadline.instant());
        let received = self.clock.tick(now);
        let Request {
            id,
            service: name,
            attempt,
            idempotent,
            fail_fast,
            metadata,
            ..
        } = request;
        let mut entry = Entry {
            route,
            id,
            received,
            deadline,
            payload: Payload::none(),
            metadata: None,
            service: sid,
            attempt,
            worker: None,
            idempotent,
            fail_fast,
            retriable: false,
        };
        // Nothing waits before it and a worker is free: straight on, with
        // the frames as received and the header's own strings.
        let direct = service.queued == 0 && !service.available.is_empty();
        if direct {
            entry.retriable = idempotent && attempt < self.config.max_attempts;
            if entry.retriable {
                entry.payload = Payload::copy_of(&payload);
                entry.metadata = boxed(metadata.clone());
            }
        }
        let client = direct.then(|| entry.route.to_vecs());
        service.held += 1;
        let id_in = self.entries.insert(hash, entry);
        self.deadlines.push(Reverse((deadline, id_in)));
        if let Some(client) = client
            && let Some((wid, worker)) = take_worker(&mut self.workers, service, now, id_in)
            && let Some(entry) = self.entries.get_mut(id_in)
        {
            entry.worker = Some(wid);
            let forwarded = Request {
                id,
                service: name,
                timeout: Some(elapsed(deadline, received).max(Duration::from_millis(1))),
                attempt,
                idempotent,
                fail_fast,
                metadata,
                route: client,
            };
            debug!(correlation_id = %id, worker = %worker, "dispatched");
            self.actions.push_back(Action::ToWorker {
                worker,
                message: Message::request(forwarded, payload),
            });
            return;
        }
        if let Some(entry) = self.entries.get_mut(id_in) {
            entry.payload = Payload::keep(payload);
            entry.metadata = boxed(metadata);
            entry.retriable = false;
        }
        service.enqueue_back(id_in);
        self.dispatch(now, sid);
    }

    /// A new, empty service in the first free slot.
    fn add_service(&mut self, name: &str) -> ServiceId {
        let index = self
            .services
            .iter()
            .position(Option::is_none)
            .unwrap_or(self.services.len());
        if index == self.services.len() {
            self.services.push(None);
        }
        self.services[index] = Some(Service::new(name));
        let sid = ServiceId(u32::try_from(index).unwrap_or(u32::MAX));
        self.service_ids.insert(name.to_owned(), sid);
        sid
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
            .iter()
            .flatten()
            .filter(|s| only.is_none_or(|name| s.name == name))
            .map(|s| pb::ServiceInfo {
                name: s.name.clone(),
                workers: to_u32(s.workers),
                free_credits: s
                    .available
                    .iter()
                    .filter_map(|w| self.workers.get(w.index()).and_then(Option::as_ref))
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
        if let Some(&sid) = self.service_ids.get(request.service.as_str())
            && let Some(service) = slot(&mut self.services, sid.index())
        {
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

    /// Sends queued requests of `sid` to workers with free credits, least
    /// recently used first, until one of the two runs out.
    fn dispatch(&mut self, now: Instant, sid: ServiceId) {
        let Some(svc) = slot(&mut self.services, sid.index()) else {
            return;
        };
        let now_tick = self.clock.tick(now);
        while svc.queued > 0 && !svc.available.is_empty() {
            let Some(id) = svc.queue.pop_front() else {
                break;
            };
            let Some(entry) = self.entries.get_mut(id) else {
                continue;
            };
            if !entry.is_queued() {
                continue;
            }
            if now_tick >= entry.deadline {
                // Left for `expire_requests`, which answers it and counts it down.
                continue;
            }
            let Some((wid, worker)) = take_worker(&mut self.workers, svc, now, id) else {
                svc.queue.push_front(id);
                break;
            };
            svc.queued -= 1;
            entry.worker = Some(wid);
            entry.retriable = entry.idempotent && entry.attempt < self.config.max_attempts;
            let (payload, metadata) = if entry.retriable {
                let metadata = entry.metadata.as_deref().cloned().unwrap_or_default();
                (entry.payload.to_frames(), metadata)
            } else {
                let metadata = entry.metadata.take().map(|m| *m).unwrap_or_default();
                (entry.payload.take(), metadata)
            };
            let forwarded = Request {
                id: entry.id,
                service: svc.name.clone(),
                timeout: Some(elapsed(entry.deadline, now_tick).max(Duration::from_millis(1))),
                attempt: entry.attempt,
                idempotent: entry.idempotent,
                fail_fast: entry.fail_fast,
                metadata,
                route: entry.route.to_vecs(),
            };
            debug!(correlation_id = %entry.id, worker = %worker, "dispatched");
            self.actions.push_back(Action::ToWorker {
                worker,
                message: Message::request(forwarded, payload),
            });
        }
        svc.compact_queue(&self.entries);
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
        let registered = self.worker_ids.get(&worker_id).copied();
        let Some((wid, worker)) =
            registered.and_then(|wid| Some((wid, slot(&mut self.workers, wid.index())?)))
        else {
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
            Command::Reply(reply) => self.on_reply(now, wid, &worker_id, reply, message.payload),
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
        if self.worker_ids.contains_key(&worker_id) {
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
        let sid = match self.service_ids.get(ready.service.as_str()) {
            Some(&sid) => sid,
            None => {
                if self.service_ids.len() >= self.config.max_services {
                    return self.worker_violation(now, worker_id, "too many services");
                }
                self.add_service(&ready.service)
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
        );
        let due = worker.next_due();
        self.next_worker_timer = Some(self.next_worker_timer.map_or(due, |t| t.min(due)));
        info!(worker = %worker_id, service = %ready.service, credits = ready.credits, heartbeat_ms = heartbeat.as_millis() as u64, "worker ready");
        if index == self.workers.len() {
            self.workers.push(None);
        }
        self.workers[index] = Some(worker);
        self.worker_ids.insert(worker_id, wid);
        if let Some(service) = slot(&mut self.services, sid.index()) {
            service.workers += 1;
            service.available.push_back(wid);
            service.metrics.workers.set(service.workers as f64);
        }
        self.dispatch(now, sid);
    }

    fn on_reply(
        &mut self,
        now: Instant,
        wid: WorkerId,
        worker_id: &Route,
        reply: Reply,
        payload: Vec<Frame>,
    ) {
        let entries = &self.entries;
        let matched = Route::from_frames(reply.route.iter().map(Vec::as_slice))
            .and_then(|route| {
                let hash = entries.hash(&route, &reply.id);
                Some((entries.find(hash, &route, &reply.id)?, hash))
            })
            .filter(|(id, _)| entries.get(*id).is_some_and(|e| e.worker == Some(wid)));
        let Some((id, hash)) = matched else {
            let Some(worker) = slot(&mut self.workers, wid.index()) else {
                return;
            };
            if worker.abandoned > 0 {
                // The late answer to a request already answered at its deadline.
                worker.abandoned -= 1;
                self.stats.late_replies += 1;
                let service = worker.service;
                self.return_credit(wid);
                self.dispatch(now, service);
            } else {
                self.stats.stale_replies += 1;
                self.metrics.stale_replies.increment(1);
                debug!(worker = %worker_id, correlation_id = %reply.id, "stale reply dropped");
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
        if let Some(service) = slot(&mut self.services, entry.service.index()) {
            service.in_flight = service.in_flight.saturating_sub(1);
            service.metrics.outcome(reply.status.code);
            service
                .metrics
                .duration
                .record(elapsed(self.clock.tick(now), entry.received));
        }
        self.stats.replies += 1;
        let forwarded = Reply {
            id: reply.id,
            status: reply.status,
            metadata: reply.metadata,
            route: Vec::new(),
        };
        if entry.idempotent {
            self.cache.insert(
                now,
                (entry.route.clone(), entry.id),
                forwarded.clone(),
                &payload,
            );
        }
        debug!(correlation_id = %reply.id, code = %forwarded.status.code, "reply forwarded");
        let Entry { route, service, .. } = entry;
        self.actions.push_back(Action::ToClient {
            route,
            message: Message::reply(forwarded, payload),
        });
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
        if worker.free >= worker.credits {
            return;
        }
        worker.free += 1;
        if worker.free == 1
            && let Some(service) = slot(&mut self.services, worker.service.index())
        {
            service.available.push_back(wid);
        }
    }

    fn send_worker(&mut self, now: Instant, worker_id: Route, message: Message) {
        if let Some(&wid) = self.worker_ids.get(&worker_id)
            && let Some(worker) = slot(&mut self.workers, wid.index())
        {
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
        let Some(wid) = self.worker_ids.remove(worker_id) else {
            return;
        };
        let Some(worker) = self.workers.get_mut(wid.index()).and_then(Option::take) else {
            return;
        };
        while matches!(self.workers.last(), Some(None)) {
            self.workers.pop();
        }
        if let Some(service) = slot(&mut self.services, worker.service.index()) {
            service.workers = service.workers.saturating_sub(1);
            service.available.retain(|w| *w != wid);
            service.metrics.workers.set(service.workers as f64);
        }
        let now_tick = self.clock.tick(now);
        for id in worker.in_flight {
            let Some(entry) = self.entries.get_mut(id) else {
                continue;
            };
            let service = slot(&mut self.services, entry.service.index());
            if let Some(service) = service {
                service.in_flight = service.in_flight.saturating_sub(1);
                if entry.retriable && now_tick < entry.deadline && !self.draining {
                    entry.attempt += 1;
                    entry.worker = None;
                    entry.retriable = false;
                    self.stats.redispatched += 1;
                    self.metrics.redispatched.increment(1);
                    debug!(correlation_id = %entry.id, attempt = entry.attempt, "re-dispatching after worker loss");
                    service.enqueue_front(id);
                    continue;
                }
            }
            if let Some(entry) = self.remove_entry(id) {
                let status = Status::unavailable(format!("worker lost mid-request: {why}"));
                if let Some(service) = slot(&mut self.services, entry.service.index()) {
                    service.metrics.outcome(Code::Unavailable);
                    service
                        .metrics
                        .duration
                        .record(elapsed(now_tick, entry.received));
                }
                self.reply_error_counted(entry.route, entry.id, status);
            }
        }
        self.dispatch(now, worker.service);
    }

    /// Removes an entry, releasing its hold on its service.
    fn remove_entry(&mut self, id: EntryId) -> Option<Entry> {
        let entry = self.entries.remove(id)?;
        self.release(&entry);
        Some(entry)
    }

    /// Releases a removed entry's hold on its service.
    fn release(&mut self, entry: &Entry) {
        if let Some(service) = slot(&mut self.services, entry.service.index()) {
            service.held = service.held.saturating_sub(1);
        }
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
                    if let Some(service) = slot(&mut self.services, entry.service.index()) {
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
    fn compact(&mut self) {
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
        for service in self.services.iter_mut().flatten() {
            if service.queue.capacity() > 4 * service.queue.len() + SLACK {
                let before = service.queue.capacity();
                service.queue.shrink_to_fit();
                freed += (before - service.queue.capacity()) * size_of::<EntryId>();
            }
        }
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
            let waited = elapsed(now_tick, entry.received).as_millis();
            let message = match entry.worker {
                None => {
                    self.stats.expired_in_queue += 1;
                    if let Some(service) = slot(&mut self.services, entry.service.index()) {
                        service.queued = service.queued.saturating_sub(1);
                        service.metrics.queue_depth.set(service.queued as f64);
                    }
                    format!("expired after {waited} ms waiting for a worker")
                }
                Some(wid) => {
                    self.stats.expired_in_flight += 1;
                    if let Some(worker) = slot(&mut self.workers, wid.index()) {
                        worker.forget(id);
                        worker.abandoned += 1;
                    }
                    if let Some(service) = slot(&mut self.services, entry.service.index()) {
                        service.in_flight = service.in_flight.saturating_sub(1);
                    }
                    format!("no reply from the worker within {waited} ms")
                }
            };
            if let Some(service) = slot(&mut self.services, entry.service.index()) {
                service.metrics.outcome(Code::DeadlineExceeded);
                service
                    .metrics
                    .duration
                    .record(elapsed(now_tick, entry.received));
            }
            self.reply_error_counted(entry.route, entry.id, Status::deadline_exceeded(message));
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
        for held in &mut self.services {
            let Some(s) = held else {
                continue;
            };
            if s.workers > 0 || s.queued > 0 || s.in_flight > 0 || s.held > 0 {
                continue;
            }
            s.metrics.queue_depth.set(0.0);
            s.metrics.workers.set(0.0);
            self.service_ids.remove(s.name.as_str());
            *held = None;
        }
        while matches!(self.services.last(), Some(None)) {
            self.services.pop();
        }
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
            .filter(|(_, e)| e.is_queued())
            .map(|(id, _)| id)
            .collect();
        for id in queued {
            if let Some(entry) = self.remove_entry(id) {
                if let Some(service) = slot(&mut self.services, entry.service.index()) {
                    service.queued = service.queued.saturating_sub(1);
                    service.metrics.outcome(Code::Unavailable);
                }
                let status = Status::unavailable("broker is shutting down");
                self.reply_error_counted(entry.route, entry.id, status);
            }
        }
        for service in self.services.iter_mut().flatten() {
            service.queue.clear();
            service.metrics.queue_depth.set(0.0);
        }
    }

    /// Ends a drain: every request still held is answered `UNAVAILABLE` and
    /// every worker is sent DISCONNECT.
    pub fn finish_drain(&mut self, now: Instant) {
        self.begin_drain(now);
        let ids: Vec<EntryId> = self.entries.iter().map(|(id, _)| id).collect();
        for id in ids {
            if let Some(entry) = self.remove_entry(id) {
                if let Some(service) = slot(&mut self.services, entry.service.index()) {
                    service.metrics.outcome(Code::Unavailable);
                }
                let status = Status::unavailable("broker shut down before the worker replied");
                self.reply_error_counted(entry.route, entry.id, status);
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
                message: Message::disconnect(Some(status)),
            });
        }
        self.workers.clear();
        self.worker_ids.clear();
        for service in self.services.iter_mut().flatten() {
            service.workers = 0;
            service.in_flight = 0;
            service.available.clear();
            service.metrics.workers.set(0.0);
        }
    }
}

/// Takes a credit from the least recently used available worker of
/// `service` for entry `id`, keeping the worker available while it has
/// credits left. Returns it and its route.
fn take_worker(
    workers: &mut [Option<Worker>],
    service: &mut Service,
    now: Instant,
    id: EntryId,
) -> Option<(WorkerId, Route)> {
    while let Some(wid) = service.available.pop_front() {
        let Some(worker) = slot(workers, wid.index()) else {
            continue;
        };
        worker.free = worker.free.saturating_sub(1);
        if worker.free > 0 {
            service.available.push_back(wid);
        }
        worker.in_flight.push(id);
        worker.next_heartbeat = now + worker.heartbeat;
        service.in_flight += 1;
        return Some((wid, worker.route.clone()));
    }
    None
}

/// Where to answer a message that failed to decode: its routing frames if a
/// delimiter is visible, else the first frame (the ROUTER's peer id). Also
/// how many leading frames that route packs.
fn error_route(frames: &[Frame]) -> (Option<Route>, usize) {
    let delimiter = frames
        .iter()
        .take(MAX_ROUTE_FRAMES + 1)
        .position(|f| f.is_empty());
    match delimiter {
        Some(0) | None => (frames.first().and_then(|f| Route::single(f)), 1),
        Some(n) => (
            Route::from_frames(frames[..=n].iter().map(|f| &f[..])),
            n + 1,
        ),
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
