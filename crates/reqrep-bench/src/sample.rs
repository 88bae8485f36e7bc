//! One measured run: throughput, latency percentiles and CPU per request.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::latency::Latencies;
use crate::usage;

/// What one run (one side of one row, one repetition) measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Sample {
    /// Requests answered correctly in the measured phase.
    pub(crate) requests: u64,
    /// Requests that failed (error reply, timeout, wrong payload).
    pub(crate) errors: u64,
    /// Length of the measured phase.
    pub(crate) elapsed_s: f64,
    /// Correct replies per second.
    pub(crate) throughput_rps: f64,
    /// Median send-to-reply latency.
    pub(crate) p50_us: f64,
    /// 99th percentile latency.
    pub(crate) p99_us: f64,
    /// 99.9th percentile latency.
    pub(crate) p999_us: f64,
    /// Process user+sys CPU time over the phase, per correct reply.
    pub(crate) cpu_us_per_request: f64,
}

/// Starts the clock and the CPU counter of a measured phase: this
/// process's, and those of other processes taking part (a server, a
/// broker, workers).
pub(crate) struct Meter {
    started: Instant,
    pids: Vec<u32>,
    cpu: Duration,
}

impl Meter {
    /// Starts measuring now, this process only.
    pub(crate) fn start() -> Self {
        Self::start_with(Vec::new())
    }

    /// Starts measuring now, this process and `pids`.
    pub(crate) fn start_with(pids: Vec<u32>) -> Self {
        let cpu = total_cpu(&pids);
        Self {
            pids,
            cpu,
            started: Instant::now(),
        }
    }

    /// Ends the phase: `latencies` holds one entry per correct reply.
    pub(crate) fn finish(self, latencies: &Latencies, errors: u64) -> Sample {
        let elapsed = self.started.elapsed();
        let cpu = total_cpu(&self.pids).saturating_sub(self.cpu);
        Sample::from_parts(latencies, errors, elapsed, cpu)
    }
}

/// CPU time of this process and `pids` (a process that cannot be read
/// counts nothing).
fn total_cpu(pids: &[u32]) -> Duration {
    pids.iter()
        .filter_map(|&pid| usage::process_cpu_time(pid))
        .fold(usage::cpu_time(), |sum, cpu| sum + cpu)
}

impl Sample {
    /// A sample from its raw parts.
    pub(crate) fn from_parts(
        latencies: &Latencies,
        errors: u64,
        elapsed: Duration,
        cpu: Duration,
    ) -> Self {
        let requests = latencies.len();
        let per = |total: f64| {
            if requests > 0 {
                total / requests as f64
            } else {
                f64::NAN
            }
        };
        let secs = elapsed.as_secs_f64();
        let p = latencies.percentiles();
        Self {
            requests,
            errors,
            elapsed_s: secs,
            throughput_rps: if secs > 0.0 {
                requests as f64 / secs
            } else {
                f64::NAN
            },
            p50_us: p.map_or(f64::NAN, |p| p.p50_us),
            p99_us: p.map_or(f64::NAN, |p| p.p99_us),
            p999_us: p.map_or(f64::NAN, |p| p.p999_us),
            cpu_us_per_request: per(cpu.as_secs_f64() * 1e6),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_cpu_are_per_correct_reply() {
        let mut l = Latencies::new();
        for _ in 0..1000 {
            l.record(Duration::from_micros(100));
        }
        let s = Sample::from_parts(
            &l,
            3,
            Duration::from_millis(500),
            Duration::from_millis(250),
        );
        assert_eq!((s.requests, s.errors), (1000, 3));
        assert!((s.throughput_rps - 2000.0).abs() < 1e-6);
        assert!((s.cpu_us_per_request - 250.0).abs() < 1e-6);
        assert!((s.p50_us - 100.0).abs() < 0.1);
    }

    #[test]
    fn an_empty_run_has_no_rates() {
        let s = Sample::from_parts(&Latencies::new(), 5, Duration::from_secs(1), Duration::ZERO);
        assert_eq!(s.throughput_rps, 0.0);
        assert!(s.cpu_us_per_request.is_nan() && s.p50_us.is_nan());
    }
}
