//! The client process of a deployed-shape run and what it reports: the
//! JSON summary `reqrep bench --json` writes, which the raw client role
//! writes too, turned into a [`Sample`] with every process's CPU time.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::BenchError;
use crate::latency::Latencies;
use crate::process::{Process, Watch};
use crate::sample::Sample;

/// The fields of a client's JSON summary that a sample needs (`reqrep
/// bench --json` writes more).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ClientSummary {
    /// Requests sent.
    pub(crate) requests: u64,
    /// Correct replies.
    pub(crate) ok: u64,
    /// Failed requests by status code name.
    #[serde(default)]
    pub(crate) errors: BTreeMap<String, u64>,
    /// From the first request to the last reply.
    pub(crate) elapsed_s: f64,
    /// `p50`, `p99`, `p99.9` (and more), in microseconds.
    pub(crate) latency_us: BTreeMap<String, f64>,
}

impl ClientSummary {
    /// The summary of `requests` sent, with `latencies` of the correct
    /// replies, over `elapsed`.
    pub(crate) fn new(requests: u64, latencies: &Latencies, elapsed: Duration) -> Self {
        let p = latencies.percentiles();
        let latency_us = p.map_or_else(BTreeMap::new, |p| {
            [("p50", p.p50_us), ("p99", p.p99_us), ("p99.9", p.p999_us)]
                .into_iter()
                .map(|(name, v)| (name.to_owned(), v))
                .collect()
        });
        let ok = latencies.len();
        let mut errors = BTreeMap::new();
        if requests > ok {
            errors.insert("NO_REPLY".to_owned(), requests - ok);
        }
        Self {
            requests,
            ok,
            errors,
            elapsed_s: elapsed.as_secs_f64(),
            latency_us,
        }
    }

    /// A sample of this summary with `cpu` spent by all processes.
    fn sample(&self, cpu: Duration) -> Sample {
        let per = |total: f64| {
            if self.ok > 0 {
                total / self.ok as f64
            } else {
                f64::NAN
            }
        };
        let latency = |name: &str| self.latency_us.get(name).copied().unwrap_or(f64::NAN);
        Sample {
            requests: self.ok,
            errors: self.errors.values().sum(),
            elapsed_s: self.elapsed_s,
            throughput_rps: if self.elapsed_s > 0.0 {
                self.ok as f64 / self.elapsed_s
            } else {
                f64::NAN
            },
            p50_us: latency("p50"),
            p99_us: latency("p99"),
            p999_us: latency("p99.9"),
            cpu_us_per_request: per(cpu.as_secs_f64() * 1e6),
        }
    }
}

/// Runs the client `command` to the end (within `bound`), which writes its
/// summary to `json`; returns the sample, with the CPU time of the client
/// and of `others` (broker, workers) over the client's life.
///
/// # Errors
/// A client that fails, runs past `bound` or writes no summary; one of
/// `others` that exits meanwhile.
pub(crate) fn measure(
    name: &str,
    command: &mut Command,
    json: &Path,
    others: &mut [Process],
    bound: Duration,
) -> Result<Sample, BenchError> {
    let _ = std::fs::remove_file(json);
    let others_cpu = |others: &[Process]| -> Result<Duration, BenchError> {
        others.iter().map(Process::cpu).sum()
    };
    let before = others_cpu(others)?;
    let client = Process::spawn(name, command, Watch::Nothing)?;
    let (status, client_cpu) = client.wait_within(bound)?;
    let after = others_cpu(others)?;
    for other in others.iter_mut() {
        other.check_running()?;
    }
    if !status.success() {
        return Err(BenchError::Process(format!("{name} failed: {status}")));
    }
    let text = std::fs::read_to_string(json)
        .map_err(|e| BenchError::Process(format!("{name} summary {}: {e}", json.display())))?;
    let summary: ClientSummary = serde_json::from_str(&text)
        .map_err(|e| BenchError::Process(format!("{name} summary {}: {e}", json.display())))?;
    Ok(summary.sample(client_cpu + after.saturating_sub(before)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reqrep_bench_summary_reads_as_a_sample() {
        let text = r#"{"brokers":["tcp://127.0.0.1:1"],"service":"echo","clients":1,
            "in_flight":128,"payload_bytes":64,"idempotent":false,"interrupted":false,
            "requests":1000,"ok":1000,"errors":{},"elapsed_s":0.5,"throughput_rps":2000.0,
            "latency_us":{"p50":100,"p90":150,"p99":300,"p99.9":500,"max":900}}"#;
        let summary: ClientSummary = serde_json::from_str(text).unwrap();
        let s = summary.sample(Duration::from_millis(50));
        assert_eq!((s.requests, s.errors), (1000, 0));
        assert!((s.throughput_rps - 2000.0).abs() < 1e-9);
        assert!((s.cpu_us_per_request - 50.0).abs() < 1e-9);
        assert_eq!((s.p50_us, s.p99_us, s.p999_us), (100.0, 300.0, 500.0));
    }

    #[test]
    fn missing_replies_are_errors_and_the_summary_round_trips() {
        let mut latencies = Latencies::new();
        for _ in 0..9 {
            latencies.record(Duration::from_micros(40));
        }
        let summary = ClientSummary::new(10, &latencies, Duration::from_secs(1));
        assert_eq!(summary.errors.get("NO_REPLY"), Some(&1));
        let back: ClientSummary =
            serde_json::from_str(&serde_json::to_string(&summary).unwrap()).unwrap();
        assert_eq!(back, summary);
        assert_eq!(back.sample(Duration::ZERO).errors, 1);
    }
}
