//! When a periodic agent runs next: [`Schedule`], pure arithmetic on
//! instants (no clock, no sleeping), so both modes are tested with a fake
//! clock.

use std::time::{Duration, Instant};

/// The run times of a periodic agent.
///
/// The first run is due at `start` (immediately). After each run the caller
/// passes the instant the run ended to [`Schedule::next`]:
///
/// - **With delay compensation** the runs keep to the absolute grid
///   `start + k * interval`. When a run overruns one or more grid slots, the
///   missed slots are *not* replayed back to back: they collapse into a
///   single run that is due at once, after which the schedule continues on
///   the grid. With a 100 ms interval and a first run that ends at 250 ms,
///   the runs are at 0, 250 (catch-up), 300, 400, ...
/// - **Without delay compensation** the schedule re-bases on each run's
///   end: the next run is due `interval` after it (250 + 100 = 350).
///
/// ```
/// use std::time::{Duration, Instant};
/// use reqrep_agents::runtime::Schedule;
///
/// let t0 = Instant::now();
/// let ms = |n| t0 + Duration::from_millis(n);
/// let mut grid = Schedule::new(t0, Duration::from_millis(100), true);
/// assert_eq!(grid.due(), t0, "the first run is immediate");
/// assert_eq!(grid.next(ms(250)), ms(250), "one catch-up run at once");
/// assert_eq!(grid.next(ms(260)), ms(300), "then back on the grid");
///
/// let mut rebased = Schedule::new(t0, Duration::from_millis(100), false);
/// assert_eq!(rebased.next(ms(250)), ms(350));
/// ```
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Origin of the grid.
    start: Instant,
    /// Time between runs; at least 1 ns.
    interval: Duration,
    /// Keep the absolute grid (true) or re-base on each run's end (false).
    delay_compensation: bool,
    /// Index of the grid slot the due run serves (compensation mode only).
    slot: u64,
    /// When the next run is due.
    due: Instant,
}

impl Schedule {
    /// A schedule whose first run is due at `start`. A zero `interval` is
    /// read as 1 ns (validation rejects it before it gets here).
    pub fn new(start: Instant, interval: Duration, delay_compensation: bool) -> Self {
        Self {
            start,
            interval: interval.max(Duration::from_nanos(1)),
            delay_compensation,
            slot: 0,
            due: start,
        }
    }

    /// When the next run is due.
    pub fn due(&self) -> Instant {
        self.due
    }

    /// Records that the due run ended at `now` and returns when the next one
    /// is due (possibly `now` itself: run at once).
    pub fn next(&mut self, now: Instant) -> Instant {
        if !self.delay_compensation {
            self.due = now.checked_add(self.interval).unwrap_or(now);
            return self.due;
        }
        let following = self.slot.saturating_add(1);
        let at = self.slot_instant(following);
        if at > now {
            self.slot = following;
            self.due = at;
        } else {
            // Overran: every missed slot collapses into one run, due now,
            // that serves the latest slot already passed.
            self.slot = self.slots_elapsed(now).max(following);
            self.due = now;
        }
        self.due
    }

    fn slot_instant(&self, slot: u64) -> Instant {
        let nanos = self.interval.as_nanos().saturating_mul(u128::from(slot));
        let offset = Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
        self.start.checked_add(offset).unwrap_or(self.start)
    }

    fn slots_elapsed(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.start).as_nanos();
        u64::try_from(elapsed / self.interval.as_nanos()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake clock: instants as milliseconds after a fixed origin.
    struct Clock(Instant);

    impl Clock {
        fn new() -> Self {
            Self(Instant::now())
        }
        fn at(&self, ms: u64) -> Instant {
            self.0 + Duration::from_millis(ms)
        }
    }

    const INTERVAL: Duration = Duration::from_millis(100);

    #[test]
    fn first_run_is_immediate_in_both_modes() {
        let clock = Clock::new();
        assert_eq!(
            Schedule::new(clock.at(0), INTERVAL, true).due(),
            clock.at(0)
        );
        assert_eq!(
            Schedule::new(clock.at(0), INTERVAL, false).due(),
            clock.at(0)
        );
    }

    #[test]
    fn compensation_keeps_the_absolute_grid() {
        let clock = Clock::new();
        let mut s = Schedule::new(clock.at(0), INTERVAL, true);
        assert_eq!(s.next(clock.at(30)), clock.at(100));
        assert_eq!(
            s.next(clock.at(170)),
            clock.at(200),
            "a slow run does not shift the grid"
        );
        assert_eq!(s.next(clock.at(201)), clock.at(300));
    }

    #[test]
    fn compensation_runs_one_catch_up_after_an_overrun() {
        let clock = Clock::new();
        let mut s = Schedule::new(clock.at(0), INTERVAL, true);
        // The run due at 0 overran to 250: slots 100 and 200 were missed.
        assert_eq!(
            s.next(clock.at(250)),
            clock.at(250),
            "one catch-up run, at once"
        );
        assert_eq!(
            s.next(clock.at(260)),
            clock.at(300),
            "then back on the grid"
        );
        assert_eq!(s.next(clock.at(310)), clock.at(400));
    }

    #[test]
    fn compensation_when_the_catch_up_run_overruns_too() {
        let clock = Clock::new();
        let mut s = Schedule::new(clock.at(0), INTERVAL, true);
        assert_eq!(s.next(clock.at(250)), clock.at(250));
        assert_eq!(
            s.next(clock.at(420)),
            clock.at(420),
            "still behind: run at once"
        );
        assert_eq!(s.next(clock.at(430)), clock.at(500));
    }

    #[test]
    fn compensation_at_an_exact_slot_boundary() {
        let clock = Clock::new();
        let mut s = Schedule::new(clock.at(0), INTERVAL, true);
        assert_eq!(
            s.next(clock.at(100)),
            clock.at(100),
            "the slot at 100 is due now"
        );
        assert_eq!(s.next(clock.at(110)), clock.at(200));
    }

    #[test]
    fn without_compensation_the_schedule_rebases_on_the_end_of_each_run() {
        let clock = Clock::new();
        let mut s = Schedule::new(clock.at(0), INTERVAL, false);
        assert_eq!(s.next(clock.at(30)), clock.at(130));
        assert_eq!(s.next(clock.at(160)), clock.at(260));
        // An overrun simply pushes everything back.
        assert_eq!(s.next(clock.at(510)), clock.at(610));
        assert_eq!(s.due(), clock.at(610));
    }

    #[test]
    fn a_zero_interval_does_not_divide_by_zero() {
        let clock = Clock::new();
        let mut s = Schedule::new(clock.at(0), Duration::ZERO, true);
        assert!(s.next(clock.at(5)) <= clock.at(5) + Duration::from_nanos(1));
    }
}
