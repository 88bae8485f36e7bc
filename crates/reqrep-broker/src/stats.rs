//! What the broker counts, and how it reaches the metrics registry.
//!
//! The state machine only counts ([`Stats`], and per service the counts of
//! a [`ServiceReport`]); [`Exporter`], owned by the driver, mirrors them
//! into Prometheus metric handles after every event. Handles are created
//! once (globally, and per service when the service first appears), so
//! exporting only bumps atomics: no label formatting, no registry lookups,
//! no locks.

use std::collections::HashMap;

use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};
use reqrep_core::Code;

use crate::access::{AuthCounts, AuthFailure, Side};
use crate::state::{BrokerState, ServiceReport};

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
/// Messages refused by the access policy, by side (`frontend`, `backend`)
/// and service.
pub const PERMISSION_DENIED_TOTAL: &str = "reqrep_broker_permission_denied_total";
/// Refused handshakes, by side and reason (`unknown_key`, `mechanism`,
/// `malformed`, `handshake`).
pub const AUTH_FAILURES_TOTAL: &str = "reqrep_broker_auth_failures_total";

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
    /// Of those, replies to clients.
    pub unroutable_client: u64,
    /// Of those, messages to workers.
    pub unroutable_worker: u64,
    /// Client messages refused by the access policy.
    pub permission_denied_frontend: u64,
    /// Worker messages refused by the access policy (refused READYs,
    /// registered workers disconnected).
    pub permission_denied_backend: u64,
}

/// Reads one [`Stats`] field.
type Field = fn(&Stats) -> u64;

/// Broker-wide counters and the [`Stats`] field each mirrors.
struct GlobalMetrics {
    counters: Vec<(Counter, Field)>,
}

impl GlobalMetrics {
    fn new() -> Self {
        let counters: Vec<(Counter, Field)> = vec![
            (counter!(MALFORMED_TOTAL, "side" => "client"), |s| {
                s.malformed_client
            }),
            (counter!(MALFORMED_TOTAL, "side" => "worker"), |s| {
                s.malformed_worker
            }),
            (counter!(WORKER_EXPIRED_TOTAL), |s| s.workers_expired),
            (counter!(STALE_REPLIES_TOTAL), |s| s.stale_replies),
            (counter!(DUPLICATES_TOTAL), |s| s.duplicates),
            (counter!(REDISPATCHED_TOTAL), |s| s.redispatched),
            (counter!(REPLY_CACHE_HITS_TOTAL), |s| s.cache_hits),
            (counter!(UNROUTABLE_TOTAL, "side" => "client"), |s| {
                s.unroutable_client
            }),
            (counter!(UNROUTABLE_TOTAL, "side" => "worker"), |s| {
                s.unroutable_worker
            }),
        ];
        Self { counters }
    }

    /// Adds what changed from `last` to `now`.
    fn export(&self, last: &Stats, now: &Stats) {
        for (counter, field) in &self.counters {
            let delta = field(now).saturating_sub(field(last));
            if delta > 0 {
                counter.increment(delta);
            }
        }
    }
}

/// One service's metric handles and the counts already exported;
/// outcome counters are created on first use.
struct ServiceMetrics {
    service: String,
    outcomes: [Option<Counter>; Code::ALL.len()],
    exported: [u64; Code::ALL.len()],
    duration: Histogram,
    queue_depth: Gauge,
    workers: Gauge,
}

impl ServiceMetrics {
    fn new(service: &str) -> Self {
        let label = service.to_owned();
        Self {
            service: label.clone(),
            outcomes: Default::default(),
            exported: [0; Code::ALL.len()],
            duration: histogram!(REQUEST_DURATION_SECONDS, "service" => label.clone()),
            queue_depth: gauge!(QUEUE_DEPTH, "service" => label.clone()),
            workers: gauge!(WORKERS, "service" => label),
        }
    }

    fn export(&mut self, report: &ServiceReport<'_>) {
        for (code, (&now, exported)) in report.outcomes.iter().zip(&mut self.exported).enumerate() {
            if now > *exported {
                let code = Code::ALL[code];
                self.outcomes[code as usize]
                    .get_or_insert_with(|| {
                        counter!(REQUESTS_TOTAL, "service" => self.service.clone(), "outcome" => code.label())
                    })
                    .increment(now - *exported);
                *exported = now;
            }
        }
        for took in report.latencies {
            self.duration.record(*took);
        }
        self.queue_depth.set(report.queued as f64);
        self.workers.set(report.workers as f64);
    }
}

/// Mirrors a [`BrokerState`]'s counts into the metrics registry: the
/// driver calls [`Exporter::export`] after every event.
pub struct Exporter {
    global: GlobalMetrics,
    last: Stats,
    /// By service slot, with the name it had when its handles were made.
    services: Vec<Option<ServiceMetrics>>,
    /// Refusals by side and service: the handle and the count exported.
    denied: HashMap<(Side, String), (Counter, u64)>,
    /// Refused handshakes: handles made on first use, and what was exported.
    auth: Vec<((Side, AuthFailure), Counter)>,
    auth_last: AuthCounts,
}

impl Exporter {
    /// An exporter whose handles bind to the recorder installed now.
    pub fn new() -> Self {
        Self {
            global: GlobalMetrics::new(),
            last: Stats::default(),
            services: Vec::new(),
            denied: HashMap::new(),
            auth: Vec::new(),
            auth_last: AuthCounts::default(),
        }
    }

    /// Exports the refused handshakes counted since the last call.
    pub fn export_auth(&mut self, counts: &AuthCounts) {
        if *counts == self.auth_last {
            return;
        }
        for side in Side::ALL {
            for reason in AuthFailure::ALL {
                let delta = counts
                    .get(side, reason)
                    .saturating_sub(self.auth_last.get(side, reason));
                if delta == 0 {
                    continue;
                }
                let found = self.auth.iter().position(|(k, _)| *k == (side, reason));
                let index = found.unwrap_or_else(|| {
                    let handle = counter!(AUTH_FAILURES_TOTAL, "side" => side.label(), "reason" => reason.label());
                    self.auth.push(((side, reason), handle));
                    self.auth.len() - 1
                });
                self.auth[index].1.increment(delta);
            }
        }
        self.auth_last = *counts;
    }

    /// Exports what `state` counted since the last call.
    pub fn export(&mut self, state: &mut BrokerState) {
        let stats = state.stats();
        if stats != self.last {
            self.global.export(&self.last, &stats);
            self.last = stats;
        }
        let denied = &mut self.denied;
        state.report_denied(|side, service, total| {
            let (handle, exported) = denied
                .entry((side, service.to_owned()))
                .or_insert_with(|| {
                    let handle = counter!(PERMISSION_DENIED_TOTAL, "side" => side.label(), "service" => service.to_owned());
                    (handle, 0)
                });
            if total > *exported {
                handle.increment(total - *exported);
                *exported = total;
            }
        });
        let services = &mut self.services;
        state.report(|report| {
            if services.len() <= report.slot {
                services.resize_with(report.slot + 1, || None);
            }
            let held = &mut services[report.slot];
            if held.as_ref().is_none_or(|m| m.service != report.name) {
                *held = Some(ServiceMetrics::new(report.name));
            }
            if let Some(metrics) = held {
                metrics.export(&report);
            }
            if report.gone {
                *held = None;
            }
        });
    }
}

impl Default for Exporter {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use metrics_exporter_prometheus::PrometheusBuilder;
    use reqrep_core::{CorrelationId, Frame, Message, Request};

    use super::*;
    use crate::state::StateConfig;

    #[test]
    fn exported_metrics_follow_the_state_counts_once_each() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let now = Instant::now();
        let mut state = BrokerState::new(StateConfig::default(), now);
        let mut exporter = metrics::with_local_recorder(&recorder, Exporter::new);
        let mut export = |state: &mut BrokerState| {
            metrics::with_local_recorder(&recorder, || exporter.export(state));
            while state.poll_action().is_some() {}
        };

        let ready = Message::ready("echo", 1, Some(Duration::from_secs(1)));
        state.on_worker(now, ready.encode_routed([Frame::from("w1")]));
        let request = Request::new(CorrelationId::new(), "nobody").fail_fast(true);
        let mut frames = vec![Frame::from("c1")];
        frames.extend(Message::request(request, vec![]).encode());
        state.on_client(now, frames);
        state.on_client(now, vec![Frame::from("c1"), Frame::from("garbage")]);
        export(&mut state);
        export(&mut state);

        let body = handle.render();
        for needle in [
            "reqrep_broker_requests_total{service=\"nobody\",outcome=\"unavailable\"} 1",
            "reqrep_broker_malformed_total{side=\"client\"} 1",
            "reqrep_broker_workers{service=\"echo\"} 1",
            "reqrep_broker_queue_depth{service=\"echo\"} 0",
        ] {
            assert!(body.contains(needle), "lacks {needle}:\n{body}");
        }
    }

    #[test]
    fn refusals_are_exported_by_side_with_their_service_or_reason() {
        use std::sync::Arc;

        use crate::access::policy::tests::key;
        use crate::access::{AccessPolicy, Identity};

        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let now = Instant::now();
        let mut state = BrokerState::new(StateConfig::default(), now);
        let policy = AccessPolicy::new(vec![Identity {
            name: "web".into(),
            key: key(1),
            call: vec!["orders".parse().unwrap()],
            serve: vec![],
        }])
        .unwrap();
        state.set_policy(now, Some(Arc::new(policy)));
        let mut exporter = metrics::with_local_recorder(&recorder, Exporter::new);
        let user = key(1).to_z85();
        for _ in 0..2 {
            let mut frames = vec![Frame::from("c1")];
            let request = Request::new(CorrelationId::new(), "billing");
            frames.extend(Message::request(request, vec![]).encode());
            state.on_client_from(now, frames, Some(&user));
        }
        let ready = Message::ready("orders", 1, None);
        state.on_worker_from(now, ready.encode_routed([Frame::from("w1")]), Some(&user));
        let mut auth = AuthCounts::default();
        auth.add(Side::Frontend, AuthFailure::UnknownKey);
        auth.add(Side::Backend, AuthFailure::Handshake);
        for _ in 0..2 {
            metrics::with_local_recorder(&recorder, || {
                exporter.export(&mut state);
                exporter.export_auth(&auth);
            });
        }
        auth.add(Side::Frontend, AuthFailure::UnknownKey);
        metrics::with_local_recorder(&recorder, || exporter.export_auth(&auth));

        let body = handle.render();
        for needle in [
            "reqrep_broker_permission_denied_total{side=\"frontend\",service=\"billing\"} 2",
            "reqrep_broker_permission_denied_total{side=\"backend\",service=\"orders\"} 1",
            "reqrep_broker_auth_failures_total{side=\"frontend\",reason=\"unknown_key\"} 2",
            "reqrep_broker_auth_failures_total{side=\"backend\",reason=\"handshake\"} 1",
        ] {
            assert!(body.contains(needle), "lacks {needle}:\n{body}");
        }
        assert_eq!(state.stats().permission_denied_frontend, 2);
    }
}
