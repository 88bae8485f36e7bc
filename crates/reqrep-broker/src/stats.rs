//! What the broker counts: plain counters for tests and the discovery
//! service, and the Prometheus metric handles they mirror.
//!
//! Metric handles are created once (globally, and per service when the
//! service first appears), so the hot path only bumps atomics: no label
//! formatting, no registry lookups, no locks.

use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};
use reqrep_core::Code;

/// Requests by service and outcome (lower-case status code name).
pub const REQUESTS_TOTAL: &str = "reqrep_broker_requests_total";
/// Seconds from a request's receipt to its reply, by service.
pub const REQUEST_DURATION_SECONDS: &str = "reqrep_broker_request_duration_seconds";
/// Requests waiting in a service's queue.
pub const QUEUE_DEPTH: &str = "reqrep_broker_queue_depth";
/// Workers registered for a service.
pub const WORKERS: &str = "reqrep_broker_workers";
/// Malformed messages, by side (`client` or `worker`).
pub const MALFORMED_TOTAL: &str = "reqrep_broker_malformed_total";
/// Workers removed after missing heartbeats.
pub const WORKER_EXPIRED_TOTAL: &str = "reqrep_broker_worker_expired_total";
/// Worker replies dropped: unknown, already answered, or from the wrong worker.
pub const STALE_REPLIES_TOTAL: &str = "reqrep_broker_stale_replies_total";
/// Requests dropped because the same (client, correlation id) was in flight.
pub const DUPLICATES_TOTAL: &str = "reqrep_broker_duplicates_total";
/// Idempotent requests re-dispatched after their worker was lost.
pub const REDISPATCHED_TOTAL: &str = "reqrep_broker_redispatched_total";
/// Retries answered from the reply cache.
pub const REPLY_CACHE_HITS_TOTAL: &str = "reqrep_broker_reply_cache_hits_total";
/// Sends that failed because the peer was gone or full, by side.
pub const UNROUTABLE_TOTAL: &str = "reqrep_broker_unroutable_total";

/// Plain counters of everything the broker did; cheap to copy and compare.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Valid requests received from clients.
    pub requests: u64,
    /// Worker replies forwarded to clients.
    pub replies: u64,
    /// Error replies the broker generated itself.
    pub errors: u64,
    /// Malformed messages from clients.
    pub malformed_client: u64,
    /// Malformed messages or unexpected commands from workers.
    pub malformed_worker: u64,
    /// Requests expired while queued.
    pub expired_in_queue: u64,
    /// Requests answered at their deadline while a worker held them.
    pub expired_in_flight: u64,
    /// Workers removed after missing heartbeats.
    pub workers_expired: u64,
    /// Idempotent requests re-dispatched after worker loss.
    pub redispatched: u64,
    /// Duplicate requests absorbed.
    pub duplicates: u64,
    /// Retries answered from the reply cache.
    pub cache_hits: u64,
    /// Worker replies dropped as unknown, already answered or misdirected.
    pub stale_replies: u64,
    /// Late worker replies to requests already answered at their deadline.
    pub late_replies: u64,
    /// Sends that failed because the peer was gone or full.
    pub unroutable: u64,
}

/// Broker-wide metric handles.
pub(crate) struct GlobalMetrics {
    pub(crate) malformed_client: Counter,
    pub(crate) malformed_worker: Counter,
    pub(crate) worker_expired: Counter,
    pub(crate) stale_replies: Counter,
    pub(crate) duplicates: Counter,
    pub(crate) redispatched: Counter,
    pub(crate) cache_hits: Counter,
    pub(crate) unroutable_client: Counter,
    pub(crate) unroutable_worker: Counter,
}

impl GlobalMetrics {
    pub(crate) fn new() -> Self {
        Self {
            malformed_client: counter!(MALFORMED_TOTAL, "side" => "client"),
            malformed_worker: counter!(MALFORMED_TOTAL, "side" => "worker"),
            worker_expired: counter!(WORKER_EXPIRED_TOTAL),
            stale_replies: counter!(STALE_REPLIES_TOTAL),
            duplicates: counter!(DUPLICATES_TOTAL),
            redispatched: counter!(REDISPATCHED_TOTAL),
            cache_hits: counter!(REPLY_CACHE_HITS_TOTAL),
            unroutable_client: counter!(UNROUTABLE_TOTAL, "side" => "client"),
            unroutable_worker: counter!(UNROUTABLE_TOTAL, "side" => "worker"),
        }
    }
}

/// One service's metric handles; outcome counters are created on first use.
pub(crate) struct ServiceMetrics {
    service: String,
    outcomes: [Option<Counter>; Code::ALL.len()],
    pub(crate) duration: Histogram,
    pub(crate) queue_depth: Gauge,
    pub(crate) workers: Gauge,
}

impl ServiceMetrics {
    pub(crate) fn new(service: &str) -> Self {
        let label = service.to_owned();
        Self {
            service: label.clone(),
            outcomes: Default::default(),
            duration: histogram!(REQUEST_DURATION_SECONDS, "service" => label.clone()),
            queue_depth: gauge!(QUEUE_DEPTH, "service" => label.clone()),
            workers: gauge!(WORKERS, "service" => label),
        }
    }

    /// Counts one finished request with `code`.
    pub(crate) fn outcome(&mut self, code: Code) {
        let slot = &mut self.outcomes[code as usize];
        slot.get_or_insert_with(|| {
            counter!(REQUESTS_TOTAL, "service" => self.service.clone(), "outcome" => code.label())
        })
        .increment(1);
    }
}
