//! Deadlines: a relative budget on the wire, an absolute instant locally.

use std::time::{Duration, Instant};

/// The absolute instant by which a request must be answered.
///
/// On the wire a deadline travels as the *remaining budget* in milliseconds
/// at send time, so clocks on different hosts never need to agree. Each hop
/// turns the budget into an instant on arrival ([`Deadline::from_budget_ms`])
/// and back into a budget when it forwards ([`Deadline::budget_ms`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline(Instant);

impl Deadline {
    /// The deadline `budget` after `now`.
    pub fn after(now: Instant, budget: Duration) -> Self {
        Self(now.checked_add(budget).unwrap_or_else(|| far_future(now)))
    }

    /// The deadline for a received `timeout_ms`; `None` when the sender gave
    /// no budget (0 on the wire).
    pub fn from_budget_ms(now: Instant, timeout_ms: u32) -> Option<Self> {
        (timeout_ms > 0).then(|| Self::after(now, Duration::from_millis(u64::from(timeout_ms))))
    }

    /// The instant itself.
    pub fn instant(self) -> Instant {
        self.0
    }

    /// Time left at `now`; zero once expired.
    pub fn remaining(self, now: Instant) -> Duration {
        self.0.saturating_duration_since(now)
    }

    /// Whether the deadline has passed at `now` (a deadline equal to `now`
    /// has passed: no budget is left).
    pub fn is_expired(self, now: Instant) -> bool {
        now >= self.0
    }

    /// The remaining budget in whole milliseconds for the wire, rounded up so
    /// that a live deadline never reads as 0 ("no deadline"); `None` when
    /// already expired.
    pub fn budget_ms(self, now: Instant) -> Option<u32> {
        let left = self.remaining(now);
        if left.is_zero() {
            return None;
        }
        let ms = left.as_nanos().div_ceil(1_000_000);
        Some(u32::try_from(ms).unwrap_or(u32::MAX))
    }

    /// The earlier of two deadlines.
    pub fn min(self, other: Self) -> Self {
        std::cmp::min(self, other)
    }
}

fn far_future(now: Instant) -> Instant {
    // About 30 years: effectively never, and still representable.
    now + Duration::from_secs(30 * 365 * 24 * 3600)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_round_trip() {
        let now = Instant::now();
        let deadline = Deadline::from_budget_ms(now, 2500).expect("non-zero budget");
        assert_eq!(deadline.remaining(now), Duration::from_millis(2500));
        assert_eq!(deadline.budget_ms(now), Some(2500));
        let later = now + Duration::from_millis(1000);
        assert_eq!(deadline.budget_ms(later), Some(1500));
        assert!(!deadline.is_expired(later));
    }

    #[test]
    fn zero_budget_means_none() {
        assert_eq!(Deadline::from_budget_ms(Instant::now(), 0), None);
    }

    #[test]
    fn expiry_and_remaining_saturate() {
        let now = Instant::now();
        let deadline = Deadline::after(now, Duration::from_millis(10));
        let after = now + Duration::from_millis(10);
        assert!(deadline.is_expired(after));
        assert_eq!(deadline.remaining(after), Duration::ZERO);
        assert_eq!(deadline.budget_ms(after), None);
        assert_eq!(
            deadline.remaining(now + Duration::from_secs(5)),
            Duration::ZERO
        );
    }

    #[test]
    fn sub_millisecond_budget_rounds_up() {
        let now = Instant::now();
        let deadline = Deadline::after(now, Duration::from_micros(300));
        assert_eq!(deadline.budget_ms(now), Some(1));
    }

    #[test]
    fn huge_budgets_do_not_overflow() {
        let now = Instant::now();
        let deadline = Deadline::after(now, Duration::MAX);
        assert!(!deadline.is_expired(now));
        assert_eq!(deadline.budget_ms(now), Some(u32::MAX));
        let near = Deadline::after(now, Duration::from_secs(1));
        assert_eq!(deadline.min(near), near);
    }
}
