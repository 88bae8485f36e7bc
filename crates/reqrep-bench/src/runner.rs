//! Runs every row as alternating reqrep / raw pairs and keeps the samples.

use std::time::{Duration, Instant};

use crate::args::ProfileSide;
use crate::nats::{self, Availability};
use crate::plan::Budget;
use crate::sample::Sample;
use crate::scenario::{Scenario, Side};
use crate::stats::{median, ratio};
use crate::{WorkerKind, raw, stack};

/// Pause between runs, so sockets and threads of the last one are gone.
const SETTLE: Duration = Duration::from_millis(100);

/// Samples and failures of one side of a row.
#[derive(Debug, Clone, Default)]
pub(crate) struct SideResult {
    /// One per successful run.
    pub(crate) samples: Vec<Sample>,
    /// One message per failed run.
    pub(crate) failures: Vec<String>,
}

/// A reported quantity of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Metric {
    /// Replies per second.
    Throughput,
    /// Median latency.
    P50,
    /// 99th percentile latency.
    P99,
    /// 99.9th percentile latency.
    P999,
    /// CPU per request.
    Cpu,
}

impl Metric {
    fn of(self, s: &Sample) -> f64 {
        match self {
            Self::Throughput => s.throughput_rps,
            Self::P50 => s.p50_us,
            Self::P99 => s.p99_us,
            Self::P999 => s.p999_us,
            Self::Cpu => s.cpu_us_per_request,
        }
    }
}

impl SideResult {
    /// The median of `metric` over the samples.
    pub(crate) fn median(&self, metric: Metric) -> Option<f64> {
        let values: Vec<f64> = self.samples.iter().map(|s| metric.of(s)).collect();
        median(&values)
    }

    /// Failed requests over all samples.
    pub(crate) fn errors(&self) -> u64 {
        self.samples.iter().map(|s| s.errors).sum()
    }
}

/// A peer system's side of a row.
#[derive(Debug, Clone)]
pub(crate) enum Peer {
    /// The peer has no such shape (NATS has no brokerless path).
    NotApplicable,
    /// The peer could not be measured in this run, and why.
    NotMeasured(String),
    /// The peer's runs.
    Measured(SideResult),
}

impl Peer {
    /// The runs, when measured.
    pub(crate) fn runs(&self) -> Option<&SideResult> {
        match self {
            Self::Measured(runs) => Some(runs),
            Self::NotApplicable | Self::NotMeasured(_) => None,
        }
    }
}

/// One row: both sides of a scenario, and NATS where it has the shape.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    /// What was measured.
    pub(crate) scenario: Scenario,
    /// reqrep's runs.
    pub(crate) reqrep: SideResult,
    /// The raw baseline's runs.
    pub(crate) raw: SideResult,
    /// NATS request-reply's runs.
    pub(crate) nats: Peer,
}

impl Row {
    /// `median(reqrep) / median(raw)` of `metric`.
    pub(crate) fn ratio(&self, metric: Metric) -> Option<f64> {
        ratio(self.reqrep.median(metric), self.raw.median(metric))
    }

    /// `median(reqrep) / median(NATS)` of `metric`, when NATS was measured.
    pub(crate) fn nats_ratio(&self, metric: Metric) -> Option<f64> {
        ratio(
            self.reqrep.median(metric),
            self.nats.runs().and_then(|n| n.median(metric)),
        )
    }

    /// Whether both sides have at least one sample.
    pub(crate) fn complete(&self) -> bool {
        !self.reqrep.samples.is_empty() && !self.raw.samples.is_empty()
    }
}

/// Measures every scenario `pairs` times per side, alternating reqrep, raw
/// and (where the row has its shape and the server is there) NATS,
/// reporting progress on stderr.
pub(crate) fn measure(
    scenarios: &[Scenario],
    budget: &Budget,
    pairs: u32,
    kind: WorkerKind,
    only: Option<ProfileSide>,
    peer: &Availability,
) -> Vec<Row> {
    let mut rows = Vec::new();
    for (i, scenario) in scenarios.iter().enumerate() {
        let spec = budget.spec(*scenario);
        let with_nats = nats::applies(scenario);
        let mut nats_runs = SideResult::default();
        let mut row = Row {
            scenario: *scenario,
            reqrep: SideResult::default(),
            raw: SideResult::default(),
            nats: match (with_nats, peer) {
                (false, _) => Peer::NotApplicable,
                (true, Availability::Missing(why)) => Peer::NotMeasured(why.clone()),
                (true, Availability::Server(_)) => Peer::NotMeasured("not run".to_owned()),
            },
        };
        for pair in 1..=pairs {
            for side in [Side::Reqrep, Side::Raw, Side::Nats] {
                let wanted = match (only, side) {
                    (_, Side::Nats) if !with_nats || peer.server().is_none() => false,
                    (None, _) => true,
                    (Some(only), side) => only.side() == side,
                };
                if !wanted {
                    continue;
                }
                let started = Instant::now();
                let outcome = match (side, peer.server()) {
                    (Side::Reqrep, _) => stack::run(&spec, kind),
                    (Side::Raw, _) => raw::run(&spec),
                    (Side::Nats, Some(server)) => nats::run(&spec, server),
                    (Side::Nats, None) => continue,
                };
                let result = match side {
                    Side::Reqrep => &mut row.reqrep,
                    Side::Raw => &mut row.raw,
                    Side::Nats => &mut nats_runs,
                };
                let took = started.elapsed().as_secs_f64();
                let label = side.label();
                match outcome {
                    Ok(sample) => {
                        eprintln!(
                            "[{}/{}] {scenario} | pair {pair}/{pairs} {label:6} | {:>9.0} req/s  p50 {:>8.1} us  p99 {:>8.1} us  cpu {:>6.1} us/req  ({took:.1} s)",
                            i + 1,
                            scenarios.len(),
                            sample.throughput_rps,
                            sample.p50_us,
                            sample.p99_us,
                            sample.cpu_us_per_request,
                        );
                        result.samples.push(sample);
                    }
                    Err(e) => {
                        eprintln!(
                            "[{}/{}] {scenario} | pair {pair}/{pairs} {label:6} | FAILED: {e}",
                            i + 1,
                            scenarios.len()
                        );
                        result.failures.push(e.to_string());
                    }
                }
                std::thread::sleep(SETTLE);
            }
        }
        if with_nats && (!nats_runs.samples.is_empty() || !nats_runs.failures.is_empty()) {
            row.nats = Peer::Measured(nats_runs);
        }
        rows.push(row);
    }
    rows
}
