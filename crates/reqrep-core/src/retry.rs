//! Retry policy: jittered exponential backoff, bounded by attempts and by the
//! request's deadline.

use std::time::{Duration, Instant};

use crate::Deadline;

/// When and how often a failed request is tried again.
///
/// The delay before retry *n* is `initial_backoff * multiplier^(n-1)`, capped
/// at `max_backoff`, then reduced by a random fraction of up to `jitter` so
/// that many clients failing together do not retry in lockstep. A retry is
/// never scheduled when the attempts are used up or when it would start at or
/// after the request's deadline.
///
/// ```
/// use std::time::{Duration, Instant};
/// use reqrep_core::{Deadline, RetryPolicy};
///
/// let policy = RetryPolicy::default().max_attempts(3);
/// let mut rng = fastrand::Rng::with_seed(7);
/// let now = Instant::now();
/// let deadline = Deadline::after(now, Duration::from_secs(5));
/// assert!(policy.next_delay(1, now, Some(deadline), &mut rng).is_some());
/// assert!(policy.next_delay(3, now, Some(deadline), &mut rng).is_none());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    multiplier: f64,
    jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
            multiplier: 2.0,
            jitter: 0.5,
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries (one attempt).
    pub fn never() -> Self {
        Self::default().max_attempts(1)
    }

    /// Total attempts including the first; values below 1 read as 1.
    /// Default: 3.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Delay before the first retry. Default: 50 ms.
    pub fn initial_backoff(mut self, delay: Duration) -> Self {
        self.initial_backoff = delay;
        self
    }

    /// Upper bound of any delay. Default: 2 s.
    pub fn max_backoff(mut self, delay: Duration) -> Self {
        self.max_backoff = delay;
        self
    }

    /// Growth factor per retry, at least 1. Default: 2.
    pub fn multiplier(mut self, factor: f64) -> Self {
        self.multiplier = if factor.is_finite() {
            factor.max(1.0)
        } else {
            1.0
        };
        self
    }

    /// Largest fraction removed at random from each delay, in `0..=1`.
    /// Default: 0.5.
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = if fraction.is_finite() {
            fraction.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self
    }

    /// The configured number of attempts.
    pub fn attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The un-jittered delay after attempt `failed_attempt` (1-based) failed.
    pub fn base_delay(&self, failed_attempt: u32) -> Duration {
        let exponent = failed_attempt.saturating_sub(1).min(64);
        let factor = self.multiplier.powi(exponent as i32);
        let secs = self.initial_backoff.as_secs_f64() * factor;
        let capped = secs.min(self.max_backoff.as_secs_f64());
        Duration::try_from_secs_f64(capped).unwrap_or(self.max_backoff)
    }

    /// The sum of the un-jittered delays between all attempts: the longest a
    /// request can spend backing off.
    pub fn max_total_backoff(&self) -> Duration {
        // `base_delay` stops growing after 65 failed attempts (its exponent
        // is capped), so the tail is a multiple of that delay.
        const GROWING: u32 = 65;
        let retries = self.max_attempts - 1;
        let head: Duration = (1..=retries.min(GROWING))
            .map(|n| self.base_delay(n))
            .fold(Duration::ZERO, Duration::saturating_add);
        let tail = self
            .base_delay(GROWING)
            .saturating_mul(retries.saturating_sub(GROWING));
        head.saturating_add(tail)
    }

    /// The jittered delay after attempt `failed_attempt` failed, ignoring
    /// attempt and deadline bounds.
    pub fn delay(&self, failed_attempt: u32, rng: &mut fastrand::Rng) -> Duration {
        let base = self.base_delay(failed_attempt);
        base.mul_f64(1.0 - self.jitter * rng.f64())
    }

    /// The delay to wait before trying again after attempt `failed_attempt`
    /// (1-based) failed at `now`, or `None` when no retry may happen: the
    /// attempts are used up, or the retry would start at or after `deadline`.
    pub fn next_delay(
        &self,
        failed_attempt: u32,
        now: Instant,
        deadline: Option<Deadline>,
        rng: &mut fastrand::Rng,
    ) -> Option<Duration> {
        if failed_attempt >= self.max_attempts {
            return None;
        }
        let delay = self.delay(failed_attempt, rng);
        match deadline {
            Some(deadline) if delay >= deadline.remaining(now) => None,
            _ => Some(delay),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy::default()
            .max_attempts(5)
            .initial_backoff(Duration::from_millis(100))
            .max_backoff(Duration::from_millis(700))
            .multiplier(2.0)
    }

    #[test]
    fn base_delay_grows_exponentially_and_caps() {
        let p = policy();
        assert_eq!(p.base_delay(1), Duration::from_millis(100));
        assert_eq!(p.base_delay(2), Duration::from_millis(200));
        assert_eq!(p.base_delay(3), Duration::from_millis(400));
        assert_eq!(p.base_delay(4), Duration::from_millis(700));
        assert_eq!(p.base_delay(1000), Duration::from_millis(700));
    }

    #[test]
    fn jitter_stays_within_bounds_and_varies() {
        let p = policy().jitter(0.5);
        let mut rng = fastrand::Rng::with_seed(42);
        let delays: Vec<_> = (0..200).map(|_| p.delay(2, &mut rng)).collect();
        for d in &delays {
            assert!(
                *d >= Duration::from_millis(100) && *d <= Duration::from_millis(200),
                "{d:?}"
            );
        }
        let first = delays[0];
        assert!(
            delays.iter().any(|d| *d != first),
            "jitter must vary the delay"
        );
    }

    #[test]
    fn zero_jitter_is_deterministic() {
        let p = policy().jitter(0.0);
        let mut rng = fastrand::Rng::with_seed(1);
        assert_eq!(p.delay(3, &mut rng), Duration::from_millis(400));
    }

    #[test]
    fn attempts_are_bounded() {
        let p = policy().jitter(0.0);
        let mut rng = fastrand::Rng::with_seed(1);
        let now = Instant::now();
        assert!(p.next_delay(4, now, None, &mut rng).is_some());
        assert_eq!(p.next_delay(5, now, None, &mut rng), None);
        assert_eq!(
            RetryPolicy::never().next_delay(1, now, None, &mut rng),
            None
        );
        assert_eq!(RetryPolicy::default().max_attempts(0).attempts(), 1);
    }

    #[test]
    fn never_retries_past_the_deadline() {
        let p = policy().jitter(0.0);
        let mut rng = fastrand::Rng::with_seed(1);
        let now = Instant::now();
        let deadline = Deadline::after(now, Duration::from_millis(250));
        assert_eq!(
            p.next_delay(1, now, Some(deadline), &mut rng),
            Some(Duration::from_millis(100))
        );
        assert_eq!(
            p.next_delay(2, now, Some(deadline), &mut rng),
            Some(Duration::from_millis(200))
        );
        assert_eq!(
            p.next_delay(3, now, Some(deadline), &mut rng),
            None,
            "400 ms > 250 ms left"
        );
        let expired = Deadline::after(now, Duration::ZERO);
        assert_eq!(p.next_delay(1, now, Some(expired), &mut rng), None);
    }

    #[test]
    fn max_total_backoff_sums_the_capped_delays() {
        // 100 + 200 + 400 + 700 between five attempts.
        assert_eq!(policy().max_total_backoff(), Duration::from_millis(1400));
        assert_eq!(RetryPolicy::never().max_total_backoff(), Duration::ZERO);
        let huge = RetryPolicy::default().max_attempts(u32::MAX);
        assert_eq!(
            huge.max_total_backoff(),
            Duration::from_millis(50 + 100 + 200 + 400 + 800 + 1600)
                + Duration::from_secs(2) * (u32::MAX - 1 - 6)
        );
    }

    #[test]
    fn invalid_settings_are_clamped() {
        let p = RetryPolicy::default().multiplier(f64::NAN).jitter(7.0);
        let mut rng = fastrand::Rng::with_seed(3);
        assert_eq!(p.base_delay(5), Duration::from_millis(50));
        assert!(p.delay(1, &mut rng) <= Duration::from_millis(50));
    }
}
