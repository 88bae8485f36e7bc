//! Request latencies: a high-dynamic-range histogram in microseconds, with
//! the percentiles the demo reports.

use std::time::Duration;

use hdrhistogram::Histogram;

/// The longest latency recorded exactly; longer ones count as this.
const MAX_MICROS: u64 = 60 * 1_000_000;
/// Significant decimal digits kept per value (0.1% relative error).
const SIGNIFICANT_DIGITS: u8 = 3;

/// Latencies from 1 µs to 60 s, at 0.1% precision.
///
/// ```
/// use std::time::Duration;
/// use reqrep_cli::latency::Latencies;
///
/// let mut latencies = Latencies::new();
/// for ms in 1..=100 {
///     latencies.record(Duration::from_millis(ms));
/// }
/// assert_eq!(latencies.count(), 100);
/// let p50 = latencies.percentile(50.0).as_micros();
/// assert!((49_950..=50_050).contains(&p50), "{p50}");
/// ```
#[derive(Debug, Clone)]
pub struct Latencies {
    histogram: Histogram<u64>,
}

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

impl Latencies {
    /// An empty histogram.
    pub fn new() -> Self {
        #[allow(clippy::expect_used)] // constant, valid bounds
        let histogram = Histogram::new_with_bounds(1, MAX_MICROS, SIGNIFICANT_DIGITS)
            .expect("1 µs to 60 s at 3 digits is a valid histogram");
        Self { histogram }
    }

    /// Records one latency; below 1 µs counts as 1 µs, above 60 s as 60 s.
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.histogram
            .saturating_record(micros.clamp(1, MAX_MICROS));
    }

    /// Adds every value recorded in `other`.
    pub fn merge(&mut self, other: &Self) {
        // Both have the same bounds, so adding cannot fail.
        let _ = self.histogram.add(&other.histogram);
    }

    /// How many latencies were recorded.
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// The latency at `percentile` (0 to 100), or zero when empty.
    pub fn percentile(&self, percentile: f64) -> Duration {
        if self.histogram.is_empty() {
            return Duration::ZERO;
        }
        Duration::from_micros(self.histogram.value_at_percentile(percentile))
    }

    /// The largest latency recorded, or zero when empty.
    pub fn max(&self) -> Duration {
        Duration::from_micros(self.histogram.max())
    }
}

/// A latency for people: `850 µs`, `2.41 ms`, `1.250 s`.
pub fn format(latency: Duration) -> String {
    let micros = latency.as_micros();
    if micros < 1_000 {
        format!("{micros} µs")
    } else if micros < 1_000_000 {
        format!("{:.2} ms", latency.as_secs_f64() * 1e3)
    } else {
        format!("{:.3} s", latency.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut latencies = Latencies::new();
        for us in 1..=10_000 {
            latencies.record(Duration::from_micros(us));
        }
        let within = |got: Duration, want: u64| {
            let got = u64::try_from(got.as_micros()).unwrap();
            assert!(got.abs_diff(want) <= want / 500 + 1, "{got} vs {want}");
        };
        within(latencies.percentile(50.0), 5_000);
        within(latencies.percentile(99.0), 9_900);
        within(latencies.percentile(99.9), 9_990);
        within(latencies.max(), 10_000);
        assert_eq!(latencies.count(), 10_000);
    }

    #[test]
    fn merging_adds_counts() {
        let mut a = Latencies::new();
        let mut b = Latencies::new();
        a.record(Duration::from_millis(1));
        b.record(Duration::from_millis(3));
        b.record(Duration::from_millis(3));
        a.merge(&b);
        assert_eq!(a.count(), 3);
        assert_eq!(a.percentile(100.0).as_millis(), 3);
    }

    #[test]
    fn out_of_range_values_saturate() {
        let mut latencies = Latencies::new();
        latencies.record(Duration::ZERO);
        latencies.record(Duration::from_secs(3600));
        assert_eq!(latencies.count(), 2);
        assert_eq!(latencies.percentile(0.0), Duration::from_micros(1));
        assert!(latencies.max() >= Duration::from_secs(59));
    }

    #[test]
    fn empty_histograms_report_zero() {
        let latencies = Latencies::default();
        assert_eq!(latencies.percentile(99.0), Duration::ZERO);
        assert_eq!(latencies.max(), Duration::ZERO);
    }

    #[test]
    fn formats_pick_a_readable_unit() {
        assert_eq!(format(Duration::from_micros(850)), "850 µs");
        assert_eq!(format(Duration::from_micros(2_414)), "2.41 ms");
        assert_eq!(format(Duration::from_millis(1_250)), "1.250 s");
    }
}
