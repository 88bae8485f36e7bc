//! The broker as a socket-free state machine.
//!
//! [`BrokerState`] is driven by events, each with the current instant:
//! [`BrokerState::on_client`] and [`BrokerState::on_worker`] take the raw
//! frames a ROUTER received ([`BrokerState::on_client_from`] and
//! [`BrokerState::on_worker_from`] also the peer's authenticated `User-Id`,
//! checked against the access policy of [`BrokerState::set_policy`]),
//! [`BrokerState::on_tick`] fires timers. Each
//! returns nothing; the messages to send are queued as [`Action`]s and taken
//! with [`BrokerState::poll_action`]. No sockets, no clock: the driver owns
//! those, and tests drive whole conversations with a fake clock.
//!
//! The state only counts: [`BrokerState::stats`] and, per service,
//! [`BrokerState::report`] (outcomes, gauges, latency samples); the driver
//! exports them as metrics.
//!
//! One file per job: `access` (authorization by the access policy),
//! `frontend` (client messages and admission),
//! `dispatch` (the one path a request takes to a worker), `backend`
//! (worker messages, registration, replies, worker loss), `timers`,
//! `drain`, `discovery`; `service`, `worker`, `entries`, `cache`, `payload`,
//! `route` and `clock` hold the types they work on.
//!
//! Memory: a queued request costs one slab slot (about 110 B: the request
//! header field by field, see `entries::Entry`), 4 B in the key index, 16 B
//! in the deadline heap, 8 B in its service's queue, and its payload copied
//! out of libzmq's receive buffers (see `payload`). Tables and queues are
//! shrunk once a burst is over (`compact`), and the driver is told how much
//! was given back ([`BrokerState::take_released_memory`]).

mod access;
mod backend;
mod cache;
mod clock;
mod discovery;
mod dispatch;
mod drain;
mod entries;
mod frontend;
mod incoming;
mod outbound;
mod payload;
mod route;
mod service;
mod timers;
mod worker;

#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

use reqrep_core::{CorrelationId, Limits, Message, Metadata, Reply, Status};

pub use access::{MAX_DENIED_SERVICES, OTHER_SERVICES};
pub use outbound::Outbound;
pub use route::Route;
pub use service::ServiceReport;

use crate::config::BrokerConfig;
use crate::stats::Stats;
use access::Authorization;
use cache::ReplyCache;
#[cfg(test)]
use clock::elapsed;
use clock::{Clock, Tick};
use entries::{Entries, EntryId, WorkerId};
use service::Services;
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
        message: Outbound,
    },
    /// Send `message` to `worker` on the backend.
    ToWorker {
        /// The worker's routing id.
        worker: Route,
        /// The message.
        message: Outbound,
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

/// Shrinking a table or queue is worth it above this many unused slots.
const SLACK: usize = 1024;

/// The broker's whole state: services, workers, requests, timers.
pub struct BrokerState {
    config: StateConfig,
    clock: Clock,
    services: Services,
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
    /// The access policy and its refusals.
    access: Authorization,
}

impl BrokerState {
    /// An empty broker; `now` is the current instant (the clock's epoch).
    pub fn new(config: StateConfig, now: Instant) -> Self {
        let cache = ReplyCache::new(config.reply_cache_size, config.reply_cache_ttl);
        Self {
            config,
            clock: Clock::new(now),
            services: Services::default(),
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
            access: Authorization::default(),
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

    /// Hands `f` each service whose counts changed since the last call
    /// (forgotten services once more, with [`ServiceReport::gone`]), and
    /// forgets the latency samples reported. The driver calls it after
    /// every event, before sending what the event produced, so exported
    /// metrics never lag the replies clients see.
    pub fn report(&mut self, f: impl FnMut(ServiceReport<'_>)) {
        self.services.report(f);
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
}

/// The occupied slot `index` of a table of slots.
fn slot<T>(slots: &mut [Option<T>], index: usize) -> Option<&mut T> {
    slots.get_mut(index).and_then(Option::as_mut)
}

/// Metadata as an entry keeps it: boxed, and only when there is some.
fn boxed(metadata: Metadata) -> Option<Box<Metadata>> {
    (!metadata.is_empty()).then(|| Box::new(metadata))
}

/// The nil UUID: the correlation id of an error reply to a message whose own
/// id could not be read (section 2.7 of the protocol).
fn nil_id() -> CorrelationId {
    CorrelationId::from([0u8; 16])
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl BrokerState {
    /// Answers `id` at `route` with a broker-generated error.
    fn reply_error(&mut self, route: Route, id: CorrelationId, status: Status) {
        tracing::debug!(code = %status.code, message = %status.message, "error reply");
        self.stats.errors += 1;
        let message = Message::reply(Reply::new(id, status), Vec::new()).into();
        self.actions.push_back(Action::ToClient { route, message });
    }
}
