//! Per-request latencies in an HDR histogram, and the percentiles reported.

use std::time::Duration;

use hdrhistogram::Histogram;

/// The highest latency tracked: one hour, in nanoseconds.
const MAX_NANOS: u64 = 3_600_000_000_000;

/// Send-to-reply latencies of one run, in nanoseconds, 3 significant digits.
#[derive(Debug, Clone)]
pub(crate) struct Latencies(Histogram<u64>);

/// The percentiles reported for a run, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Percentiles {
    /// Median.
    pub(crate) p50_us: f64,
    /// 99th percentile.
    pub(crate) p99_us: f64,
    /// 99.9th percentile.
    pub(crate) p999_us: f64,
}

impl Latencies {
    /// An empty histogram.
    pub(crate) fn new() -> Self {
        // Constant, valid bounds: 1 ns .. 1 h with 3 significant digits.
        #[allow(clippy::expect_used)]
        let histogram = Histogram::new_with_bounds(1, MAX_NANOS, 3).expect("valid bounds");
        Self(histogram)
    }

    /// Records one latency (clamped to the tracked range).
    pub(crate) fn record(&mut self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos())
            .unwrap_or(MAX_NANOS)
            .clamp(1, MAX_NANOS);
        self.0.saturating_record(nanos);
    }

    /// Adds every latency of `other`.
    pub(crate) fn merge(&mut self, other: &Self) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.0.add(&other.0);
    }

    /// How many latencies were recorded.
    pub(crate) fn len(&self) -> u64 {
        self.0.len()
    }

    /// p50 / p99 / p99.9, `None` when nothing was recorded.
    pub(crate) fn percentiles(&self) -> Option<Percentiles> {
        if self.0.is_empty() {
            return None;
        }
        let us = |q: f64| self.0.value_at_quantile(q) as f64 / 1000.0;
        Some(Percentiles {
            p50_us: us(0.50),
            p99_us: us(0.99),
            p999_us: us(0.999),
        })
    }
}

/// A histogram shared by load tasks, whatever a panicked task left in it.
pub(crate) fn lock(all: &std::sync::Mutex<Latencies>) -> std::sync::MutexGuard<'_, Latencies> {
    all.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() / b < 0.002
    }

    #[test]
    fn percentiles_of_a_uniform_spread() {
        let mut l = Latencies::new();
        for us in 1..=1000 {
            l.record(Duration::from_micros(us));
        }
        let p = l.percentiles().unwrap();
        assert!(close(p.p50_us, 500.0), "{p:?}");
        assert!(close(p.p99_us, 990.0), "{p:?}");
        assert!(close(p.p999_us, 999.0), "{p:?}");
        assert_eq!(l.len(), 1000);
    }

    #[test]
    fn empty_has_no_percentiles_and_merge_adds() {
        let mut a = Latencies::new();
        assert!(a.percentiles().is_none());
        let mut b = Latencies::new();
        b.record(Duration::from_micros(40));
        b.record(Duration::ZERO);
        a.merge(&b);
        assert_eq!(a.len(), 2);
        assert!(a.percentiles().unwrap().p999_us >= 39.9);
    }

    #[test]
    fn a_tail_shows_in_p999_only() {
        let mut l = Latencies::new();
        for _ in 0..9990 {
            l.record(Duration::from_micros(50));
        }
        for _ in 0..10 {
            l.record(Duration::from_millis(20));
        }
        let p = l.percentiles().unwrap();
        assert!(close(p.p50_us, 50.0) && close(p.p99_us, 50.0), "{p:?}");
        assert!(p.p999_us >= 50.0 && p.p999_us < 20_100.0, "{p:?}");
    }
}
