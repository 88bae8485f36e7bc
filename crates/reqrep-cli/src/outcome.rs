//! What a load run produced (`reqrep demo`, `reqrep bench`): requests,
//! correct replies, errors by status code, latencies, and the summary
//! table and JSON made of them.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::latency::{self, Latencies};
use crate::table::{Align, Style, Table, thousands};

/// The error label for a reply whose payload is not the request's.
pub const MISMATCH: &str = "PAYLOAD_MISMATCH";

/// The percentiles reported, with their labels.
const PERCENTILES: [(&str, f64); 4] =
    [("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9)];

/// What one run produced.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Requests sent.
    pub requests: u64,
    /// Replies that were OK and carried the request's payload.
    pub ok: u64,
    /// Failed requests by status code name (`PAYLOAD_MISMATCH` for a wrong
    /// echo).
    pub errors: BTreeMap<String, u64>,
    /// Latencies of the OK replies.
    pub latencies: Latencies,
    /// From the first request sent to the last reply received.
    pub elapsed: Duration,
}

impl Outcome {
    /// Requests that did not get a correct reply.
    pub fn failed(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Counts one failed request under `code`.
    pub fn error(&mut self, code: &str) {
        *self.errors.entry(code.to_owned()).or_default() += 1;
    }

    /// Adds `other`'s counts and latencies (not its elapsed time).
    pub fn merge(&mut self, other: Self) {
        self.requests += other.requests;
        self.ok += other.ok;
        for (code, n) in other.errors {
            *self.errors.entry(code).or_default() += n;
        }
        self.latencies.merge(&other.latencies);
    }

    /// Replies per second over the whole run.
    pub fn throughput(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.requests as f64 / secs
        } else {
            0.0
        }
    }

    /// The report: counts, errors by code, elapsed time, throughput and
    /// latency percentiles.
    pub fn summary(&self) -> Table {
        let mut table = Table::new(
            Style::Boxed,
            &[("metric", Align::Left), ("value", Align::Right)],
        );
        table.row(["requests".to_owned(), thousands(self.requests)]);
        table.row(["replies OK".to_owned(), thousands(self.ok)]);
        if self.errors.is_empty() {
            table.row(["errors".to_owned(), "0".to_owned()]);
        }
        for (code, n) in &self.errors {
            table.row([format!("errors {code}"), thousands(*n)]);
        }
        table.row([
            "elapsed".to_owned(),
            format!("{:.3} s", self.elapsed.as_secs_f64()),
        ]);
        table.row([
            "throughput".to_owned(),
            format!("{} req/s", thousands(self.throughput().round() as u64)),
        ]);
        for (name, p) in PERCENTILES {
            table.row([
                format!("latency {name}"),
                latency::format(self.latencies.percentile(p)),
            ]);
        }
        table.row([
            "latency max".to_owned(),
            latency::format(self.latencies.max()),
        ]);
        table
    }
}

/// The summary as JSON numbers (latencies in microseconds).
#[derive(Debug, Clone, Serialize)]
pub struct OutcomeJson {
    /// Requests sent.
    pub requests: u64,
    /// Correct replies.
    pub ok: u64,
    /// Failed requests by status code name.
    pub errors: BTreeMap<String, u64>,
    /// Seconds from the first request to the last reply.
    pub elapsed_s: f64,
    /// Requests per second.
    pub throughput_rps: f64,
    /// Latency percentiles of the correct replies, and the maximum.
    pub latency_us: BTreeMap<String, u64>,
}

impl Outcome {
    /// The numbers of [`Outcome::summary`], for `--json`.
    pub fn to_json(&self) -> OutcomeJson {
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let mut latency_us: BTreeMap<String, u64> = PERCENTILES
            .iter()
            .map(|(name, p)| ((*name).to_owned(), micros(self.latencies.percentile(*p))))
            .collect();
        latency_us.insert("max".to_owned(), micros(self.latencies.max()));
        OutcomeJson {
            requests: self.requests,
            ok: self.ok,
            errors: self.errors.clone(),
            elapsed_s: self.elapsed.as_secs_f64(),
            throughput_rps: self.throughput(),
            latency_us,
        }
    }
}

/// Whether `frames` carry exactly `payload` (in one or more frames).
pub fn echoes(frames: &[reqrep_core::Frame], payload: &[u8]) -> bool {
    let mut rest = payload;
    for frame in frames {
        let Some(tail) = rest.strip_prefix(&frame[..]) else {
            return false;
        };
        rest = tail;
    }
    rest.is_empty()
}

#[cfg(test)]
mod tests {
    use reqrep_core::Frame;

    use super::*;

    #[test]
    fn echoes_compare_across_frames() {
        let frames = [Frame::from(&b"ab"[..]), Frame::from(&b"cd"[..])];
        assert!(echoes(&frames, b"abcd"));
        assert!(!echoes(&frames, b"abc"));
        assert!(!echoes(&frames, b"abcde"));
        assert!(echoes(&[], b""));
        assert!(echoes(&[Frame::from(&b""[..])], b""));
    }

    #[test]
    fn the_summary_lists_counts_errors_and_percentiles() {
        let mut outcome = Outcome {
            requests: 500,
            ok: 497,
            elapsed: Duration::from_millis(250),
            ..Outcome::default()
        };
        outcome.error("DEADLINE_EXCEEDED");
        outcome.error("DEADLINE_EXCEEDED");
        outcome.error(MISMATCH);
        outcome.latencies.record(Duration::from_micros(900));
        let text = outcome.summary().to_string();
        assert!(
            text.contains("| replies OK               |         497 |"),
            "{text}"
        );
        assert!(
            text.contains("| errors DEADLINE_EXCEEDED |           2 |"),
            "{text}"
        );
        assert!(
            text.contains("| errors PAYLOAD_MISMATCH  |           1 |"),
            "{text}"
        );
        assert!(
            text.contains("| throughput               | 2,000 req/s |"),
            "{text}"
        );
        assert!(text.contains("latency p90"), "{text}");
        assert_eq!(outcome.failed(), 3);
    }

    #[test]
    fn the_json_has_every_percentile_and_the_errors() {
        let mut outcome = Outcome {
            requests: 3,
            ok: 2,
            elapsed: Duration::from_secs(1),
            ..Outcome::default()
        };
        outcome.error("UNAVAILABLE");
        outcome.latencies.record(Duration::from_micros(100));
        outcome.latencies.record(Duration::from_micros(300));
        let json = serde_json::to_value(outcome.to_json()).unwrap();
        assert_eq!(json["errors"]["UNAVAILABLE"], 1);
        assert_eq!(json["throughput_rps"], 3.0);
        for key in ["p50", "p90", "p99", "p99.9", "max"] {
            assert!(
                json["latency_us"][key].as_u64().unwrap() >= 100,
                "{key}: {json}"
            );
        }
    }
}
