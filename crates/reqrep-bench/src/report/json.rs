//! The JSON file: every sample of every row, the medians, the ratios, the
//! memory probe and the targets.

use serde::Serialize;

use super::{Report, Target};
use crate::deployed::DeployedReport;
use crate::memory::MemoryReport;
use crate::runner::{Metric, Peer, Row, SideResult};
use crate::sample::Sample;
use crate::scale_out::ScaleOutReport;
use crate::scenario::Scenario;
use crate::security::{Mode, SecurityReport};

#[derive(Serialize)]
struct Medians {
    throughput_rps: Option<f64>,
    p50_us: Option<f64>,
    p99_us: Option<f64>,
    p999_us: Option<f64>,
    cpu_us_per_request: Option<f64>,
}

#[derive(Serialize)]
struct SideJson<'a> {
    samples: &'a [Sample],
    failures: &'a [String],
    median: Medians,
}

#[derive(Serialize)]
struct Ratios {
    throughput: Option<f64>,
    p50: Option<f64>,
    p99: Option<f64>,
    p999: Option<f64>,
    cpu: Option<f64>,
}

impl Ratios {
    /// Every metric's ratio, as `ratio` gives it.
    fn of(ratio: impl Fn(Metric) -> Option<f64>) -> Self {
        Self {
            throughput: ratio(Metric::Throughput),
            p50: ratio(Metric::P50),
            p99: ratio(Metric::P99),
            p999: ratio(Metric::P999),
            cpu: ratio(Metric::Cpu),
        }
    }
}

#[derive(Serialize)]
struct RowJson<'a> {
    label: String,
    scenario: Scenario,
    reqrep: SideJson<'a>,
    raw: SideJson<'a>,
    ratio_reqrep_over_raw: Ratios,
    /// Absent where NATS has no such shape.
    #[serde(skip_serializing_if = "Option::is_none")]
    nats: Option<NatsJson<'a>>,
}

#[derive(Serialize)]
struct NatsJson<'a> {
    /// `None` when measured.
    not_measured: Option<&'a str>,
    runs: Option<SideJson<'a>>,
    ratio_reqrep_over_nats: Option<Ratios>,
}

#[derive(Serialize)]
struct MemoryJson<'a> {
    #[serde(flatten)]
    report: &'a MemoryReport,
    bytes_per_request_beyond_payload: f64,
    residual_bytes: i64,
    residual_share: f64,
}

#[derive(Serialize)]
struct ReportJson<'a> {
    machine: &'a crate::machine::Machine,
    command: &'a str,
    regenerate: &'a str,
    quick: bool,
    pairs: u32,
    lockstep_requests: u64,
    pipelined_requests: u64,
    reqrep_worker: crate::WorkerKind,
    elapsed_s: f64,
    rows: Vec<RowJson<'a>>,
    memory: Option<MemoryJson<'a>>,
    memory_error: Option<&'a str>,
    security: Option<SecurityJson<'a>>,
    security_error: Option<&'a str>,
    several_brokers: Option<Vec<BrokersJson<'a>>>,
    /// A row with no NATS peer.
    deployed: Option<RowJson<'a>>,
    deployed_error: Option<&'a str>,
    targets: &'a [Target],
}

fn deployed(d: &DeployedReport) -> RowJson<'_> {
    RowJson {
        label: d.scenario.to_string(),
        scenario: d.scenario,
        reqrep: side(&d.reqrep),
        raw: side(&d.raw),
        ratio_reqrep_over_raw: Ratios::of(|m| d.ratio(m)),
        nats: None,
    }
}

#[derive(Serialize)]
struct BrokersJson<'a> {
    brokers: usize,
    label: String,
    #[serde(flatten)]
    runs: SideJson<'a>,
    throughput_over_one_broker: Option<f64>,
    cpu_over_one_broker: Option<f64>,
}

fn several_brokers(s: &ScaleOutReport) -> Vec<BrokersJson<'_>> {
    s.rows
        .iter()
        .map(|(brokers, runs)| BrokersJson {
            brokers: *brokers,
            label: s.scenario.to_string(),
            runs: side(runs),
            throughput_over_one_broker: s.versus_one(*brokers, Metric::Throughput),
            cpu_over_one_broker: s.versus_one(*brokers, Metric::Cpu),
        })
        .collect()
}

#[derive(Serialize)]
struct ModeJson<'a> {
    mode: Mode,
    label: &'static str,
    #[serde(flatten)]
    runs: SideJson<'a>,
    throughput_over_plaintext: Option<f64>,
    throughput_over_curve: Option<f64>,
}

#[derive(Serialize)]
struct SecurityJson<'a> {
    label: String,
    scenario: Scenario,
    modes: Vec<ModeJson<'a>>,
}

fn security(s: &SecurityReport) -> SecurityJson<'_> {
    SecurityJson {
        label: s.scenario.to_string(),
        scenario: s.scenario,
        modes: s
            .modes
            .iter()
            .map(|m| ModeJson {
                mode: m.mode,
                label: m.mode.label(),
                runs: side(&m.runs),
                throughput_over_plaintext: s.ratio(m.mode, Mode::Plaintext, Metric::Throughput),
                throughput_over_curve: s.ratio(m.mode, Mode::Curve, Metric::Throughput),
            })
            .collect(),
    }
}

fn side(s: &SideResult) -> SideJson<'_> {
    SideJson {
        samples: &s.samples,
        failures: &s.failures,
        median: Medians {
            throughput_rps: s.median(Metric::Throughput),
            p50_us: s.median(Metric::P50),
            p99_us: s.median(Metric::P99),
            p999_us: s.median(Metric::P999),
            cpu_us_per_request: s.median(Metric::Cpu),
        },
    }
}

fn row(r: &Row) -> RowJson<'_> {
    RowJson {
        label: r.scenario.to_string(),
        scenario: r.scenario,
        reqrep: side(&r.reqrep),
        raw: side(&r.raw),
        ratio_reqrep_over_raw: Ratios::of(|m| r.ratio(m)),
        nats: match &r.nats {
            Peer::NotApplicable => None,
            Peer::NotMeasured(why) => Some(NatsJson {
                not_measured: Some(why),
                runs: None,
                ratio_reqrep_over_nats: None,
            }),
            Peer::Measured(runs) => Some(NatsJson {
                not_measured: None,
                runs: Some(side(runs)),
                ratio_reqrep_over_nats: Some(Ratios::of(|m| r.nats_ratio(m))),
            }),
        },
    }
}

/// The report as pretty JSON (non-finite numbers become `null`).
pub(crate) fn to_json(report: &Report) -> String {
    let (memory, memory_error) = match &report.memory {
        Some(Ok(m)) => (
            Some(MemoryJson {
                report: m,
                bytes_per_request_beyond_payload: m.bytes_per_request_beyond_payload(),
                residual_bytes: m.residual_bytes(),
                residual_share: m.residual_share(),
            }),
            None,
        ),
        Some(Err(e)) => (None, Some(e.as_str())),
        None => (None, None),
    };
    let (security_json, security_error) = match &report.security {
        Some(Ok(s)) => (Some(security(s)), None),
        Some(Err(e)) => (None, Some(e.as_str())),
        None => (None, None),
    };
    let json = ReportJson {
        machine: &report.machine,
        command: &report.command,
        regenerate: super::document::COMMAND,
        quick: report.quick,
        pairs: report.pairs,
        lockstep_requests: report.budget.lockstep_requests,
        pipelined_requests: report.budget.pipelined_requests,
        reqrep_worker: report.worker_kind,
        elapsed_s: report.elapsed_s,
        rows: report.rows.iter().map(row).collect(),
        memory,
        memory_error,
        security: security_json,
        security_error,
        several_brokers: report.scale_out.as_ref().map(several_brokers),
        deployed: report
            .deployed
            .as_ref()
            .and_then(|d| d.as_ref().ok())
            .map(deployed),
        deployed_error: report
            .deployed
            .as_ref()
            .and_then(|d| d.as_ref().err())
            .map(String::as_str),
        targets: &report.targets,
    };
    serde_json::to_string_pretty(&json).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
