//! When a periodic agent runs next: [`Schedule`], pure arithmetic on
//! instants (no clock, no sleeping), so every [`Timing`] is tested with a
//! fake clock.

use std::time::{Duration, Instant};

use super::Timing;

/// The start times of a periodic agent's runs, as its [`Timing`] says.
///
/// The first run is due at `start` (immediately). After each run the caller
/// passes the instant the run ended to [`Schedule::next`], which returns
/// when the next run starts: never before that end, and exactly that end
/// when the next run is due at once. The caller waits until then (a stop may
/// cut the wait short) and runs.
///
/// With a 50 ms interval and one run of 180 ms among runs of 10 ms:
///
/// ```
/// use std::time::{Duration, Instant};
/// use reqrep_agents::runtime::{Schedule, Timing};
///
/// let t0 = Instant::now();
/// let ms = |n| t0 + Duration::from_millis(n);
/// let interval = Duration::from_millis(50);
///
/// // Fixed rate; the slots at 100, 150, 200 and 250 run late, back to back.
/// let mut s = Schedule::new(t0, interval, Timing::catch_up());
/// assert_eq!(s.due(), t0, "the first run is immediate");
/// assert_eq!(s.next(ms(10)), ms(50));
/// assert_eq!(s.next(ms(230)), ms(230), "the slot at 100, at once");
/// assert_eq!(s.next(ms(240)), ms(240), "the slot at 150");
/// assert_eq!(s.next(ms(250)), ms(250), "the slot at 200");
/// assert_eq!(s.next(ms(260)), ms(260), "the slot at 250");
/// assert_eq!(s.next(ms(270)), ms(300), "caught up: back on the grid");
///
/// // After the overrun: one run at once, then the grid restarts from it.
/// let mut s = Schedule::new(t0, interval, Timing::Skip);
/// assert_eq!(s.next(ms(10)), ms(50));
/// assert_eq!(s.next(ms(230)), ms(230));
/// assert_eq!(s.next(ms(240)), ms(280));
///
/// // `interval` after the end of each run.
/// let mut s = Schedule::new(t0, interval, Timing::FixedDelay);
/// assert_eq!(s.next(ms(10)), ms(60));
/// assert_eq!(s.next(ms(240)), ms(290));
/// ```
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Time between runs; at least 1 ns.
    interval: Duration,
    /// What to do after an overrun.
    timing: Timing,
    /// The grid instant the next run serves (equal to `due` except for a
    /// late [`Timing::CatchUp`] run, whose slot is already past).
    slot: Instant,
    /// When the next run starts.
    due: Instant,
    /// Late runs in a row so far ([`Timing::CatchUp`] only).
    late: u32,
    /// Slots dropped by the last call to [`Schedule::next`].
    dropped: u64,
}

impl Schedule {
    /// A schedule whose first run is due at `start`. A zero `interval` is
    /// read as 1 ns, and a [`Timing::CatchUp`] with `max_burst` 0 drops
    /// every missed slot (validation rejects both before they get here).
    pub fn new(start: Instant, interval: Duration, timing: Timing) -> Self {
        Self {
            interval: interval.max(Duration::from_nanos(1)),
            timing,
            slot: start,
            due: start,
            late: 0,
            dropped: 0,
        }
    }

    /// When the next run starts.
    pub fn due(&self) -> Instant {
        self.due
    }

    /// How many grid slots the last call to [`Schedule::next`] dropped
    /// because a [`Timing::CatchUp`] burst reached its bound; 0 otherwise.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Records that the due run ended at `ended` and returns when the next
    /// one starts: `ended` itself means at once.
    pub fn next(&mut self, ended: Instant) -> Instant {
        self.dropped = 0;
        match self.timing {
            Timing::FixedDelay => {
                self.slot = later(ended, self.interval);
            }
            Timing::Skip => {
                // On time: the grid goes on. Overran: the grid restarts
                // from this end.
                self.slot = later(self.slot, self.interval).max(ended);
            }
            Timing::CatchUp { max_burst } => {
                self.slot = later(self.slot, self.interval);
                if self.slot >= ended {
                    self.late = 0;
                } else if self.late < max_burst {
                    self.late += 1;
                } else {
                    self.drop_missed(ended);
                    self.late = 0;
                }
            }
        }
        self.due = self.slot.max(ended);
        self.due
    }

    /// Moves the slot to the first grid instant at or after `ended`,
    /// counting the slots passed over.
    fn drop_missed(&mut self, ended: Instant) {
        let behind = ended.duration_since(self.slot).as_nanos();
        let step = self.interval.as_nanos();
        let slots = behind.div_ceil(step);
        self.slot = later(self.slot, nanos(slots.saturating_mul(step)));
        self.dropped = u64::try_from(slots).unwrap_or(u64::MAX);
    }
}

/// `at + by`, or the latest instant this platform can represent on the way
/// there when the sum overflows.
fn later(at: Instant, by: Duration) -> Instant {
    let mut by = by;
    loop {
        if let Some(t) = at.checked_add(by) {
            return t;
        }
        by /= 2;
    }
}

/// `n` nanoseconds, saturating at [`Duration::MAX`].
fn nanos(n: u128) -> Duration {
    const PER_SEC: u128 = 1_000_000_000;
    match u64::try_from(n / PER_SEC) {
        // The remainder is below one second: it fits a u32.
        Ok(secs) => Duration::new(secs, u32::try_from(n % PER_SEC).unwrap_or(0)),
        Err(_) => Duration::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The start time (ms after the first) of each run, for runs taking
    /// `run_ms` in turn: a fake clock that runs each run at the later of its
    /// due time and the end of the previous run, as the adapter does.
    fn starts(timing: Timing, interval_ms: u64, run_ms: &[u64]) -> Vec<u64> {
        let origin = Instant::now();
        let mut schedule = Schedule::new(origin, Duration::from_millis(interval_ms), timing);
        let mut now = origin;
        let mut starts = Vec::new();
        for &run in run_ms {
            let due = schedule.due();
            assert!(due >= now, "a run is never due before the previous ended");
            let start = due.max(now);
            starts.push(ms(start.duration_since(origin)));
            now = start + Duration::from_millis(run);
            schedule.next(now);
        }
        starts
    }

    fn ms(d: Duration) -> u64 {
        u64::try_from(d.as_millis()).expect("test times fit")
    }

    const CATCH_UP: Timing = Timing::catch_up();

    #[test]
    fn the_first_run_is_immediate_for_every_timing() {
        let t0 = Instant::now();
        for timing in [CATCH_UP, Timing::Skip, Timing::FixedDelay] {
            assert_eq!(
                Schedule::new(t0, Duration::from_secs(3600), timing).due(),
                t0,
                "{timing:?}"
            );
        }
    }

    #[test]
    fn on_time_runner_catch_up_and_skip_keep_a_fixed_rate() {
        let runs = [30; 4];
        assert_eq!(starts(CATCH_UP, 50, &runs), [0, 50, 100, 150]);
        assert_eq!(starts(Timing::Skip, 50, &runs), [0, 50, 100, 150]);
    }

    #[test]
    fn on_time_runner_fixed_delay_waits_after_each_end() {
        assert_eq!(starts(Timing::FixedDelay, 50, &[30; 4]), [0, 80, 160, 240]);
    }

    #[test]
    fn slow_runner_runs_back_to_back_except_with_fixed_delay() {
        let runs = [70; 5];
        // Every slot is already past when the previous run ends.
        assert_eq!(starts(CATCH_UP, 50, &runs), [0, 70, 140, 210, 280]);
        assert_eq!(starts(Timing::Skip, 50, &runs), [0, 70, 140, 210, 280]);
        assert_eq!(
            starts(Timing::FixedDelay, 50, &runs),
            [0, 120, 240, 360, 480]
        );
    }

    #[test]
    fn slow_runner_that_recovers() {
        let runs = [70, 70, 70, 70, 10, 10, 10, 10, 10];
        // The slots 50..250 ran late; the slot at 300 is on time again.
        assert_eq!(
            starts(CATCH_UP, 50, &runs),
            [0, 70, 140, 210, 280, 290, 300, 350, 400]
        );
        // Each late run restarted the grid; 280 is its last origin.
        assert_eq!(
            starts(Timing::Skip, 50, &runs),
            [0, 70, 140, 210, 280, 330, 380, 430, 480]
        );
        assert_eq!(
            starts(Timing::FixedDelay, 50, &runs),
            [0, 120, 240, 360, 480, 540, 600, 660, 720]
        );
    }

    #[test]
    fn spike_catch_up_bursts_through_the_missed_slots_then_keeps_the_grid() {
        let runs = [10, 180, 10, 10, 10, 10, 10, 10];
        // Slots 100, 150, 200, 250 run at 230, 240, 250, 260.
        assert_eq!(
            starts(CATCH_UP, 50, &runs),
            [0, 50, 230, 240, 250, 260, 300, 350]
        );
    }

    #[test]
    fn spike_skip_runs_at_once_then_goes_on_from_the_new_origin() {
        let runs = [10, 180, 10, 10, 10, 10, 10, 10];
        assert_eq!(
            starts(Timing::Skip, 50, &runs),
            [0, 50, 230, 280, 330, 380, 430, 480]
        );
    }

    #[test]
    fn spike_fixed_delay_pushes_everything_back() {
        let runs = [10, 180, 10, 10, 10, 10, 10, 10];
        assert_eq!(
            starts(Timing::FixedDelay, 50, &runs),
            [0, 60, 290, 350, 410, 470, 530, 590]
        );
    }

    #[test]
    fn catch_up_bursts_at_most_max_burst_late_runs_then_drops_the_rest() {
        let bounded = Timing::CatchUp { max_burst: 2 };
        let runs = [10, 190, 10, 10, 10, 10];
        // Slots 100 and 150 run late at 240 and 250; 200 and 250 are
        // dropped; 300 is on the grid.
        assert_eq!(starts(bounded, 50, &runs), [0, 50, 240, 250, 300, 350]);
        // Unbounded enough, the same spike runs every slot.
        assert_eq!(starts(CATCH_UP, 50, &runs), [0, 50, 240, 250, 260, 270]);
    }

    #[test]
    fn dropped_counts_the_slots_of_the_overrun_once() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut s = Schedule::new(
            t0,
            Duration::from_millis(50),
            Timing::CatchUp { max_burst: 2 },
        );
        assert_eq!((s.next(ms(10)), s.dropped()), (ms(50), 0));
        assert_eq!((s.next(ms(240)), s.dropped()), (ms(240), 0));
        assert_eq!((s.next(ms(250)), s.dropped()), (ms(250), 0));
        assert_eq!((s.next(ms(260)), s.dropped()), (ms(300), 2));
        assert_eq!((s.next(ms(310)), s.dropped()), (ms(350), 0));
    }

    #[test]
    fn the_burst_bound_keeps_a_slow_runner_near_its_grid() {
        let bounded = Timing::CatchUp { max_burst: 3 };
        // Three late runs (slots 50, 100, 150), then 200 and 250 dropped;
        // the same again from 300.
        assert_eq!(
            starts(bounded, 50, &[70; 10]),
            [0, 70, 140, 210, 300, 370, 440, 510, 600, 670]
        );
    }

    #[test]
    fn a_run_ending_exactly_on_a_slot_is_on_time() {
        let runs = [50, 10, 10];
        assert_eq!(starts(CATCH_UP, 50, &runs), [0, 50, 100]);
        assert_eq!(starts(Timing::Skip, 50, &runs), [0, 50, 100]);
        assert_eq!(starts(Timing::FixedDelay, 50, &runs), [0, 100, 160]);
        // On time means it does not count towards the burst: with a bound
        // of 1 the late run at 110 still serves the slot at 100.
        let one = Timing::CatchUp { max_burst: 1 };
        assert_eq!(starts(one, 50, &[50, 60, 10, 10]), [0, 50, 110, 150]);
    }

    #[test]
    fn dropping_up_to_a_slot_that_is_exactly_now_runs_it_at_once() {
        let one = Timing::CatchUp { max_burst: 1 };
        // The run at 240 serves the slot at 100 and ends at 250: the slots
        // 150 and 200 are dropped and the slot at 250 is due at once.
        assert_eq!(
            starts(one, 50, &[10, 190, 10, 10, 10]),
            [0, 50, 240, 250, 300]
        );
    }

    #[test]
    fn skip_restarts_the_grid_from_a_run_one_ms_late() {
        assert_eq!(starts(Timing::Skip, 50, &[51, 10, 10]), [0, 51, 101]);
        assert_eq!(starts(CATCH_UP, 50, &[51, 10, 10]), [0, 51, 100]);
    }

    #[test]
    fn a_zero_interval_is_read_as_one_nanosecond() {
        let t0 = Instant::now();
        let end = t0 + Duration::from_millis(5);
        for timing in [CATCH_UP, Timing::CatchUp { max_burst: 0 }, Timing::Skip] {
            let mut s = Schedule::new(t0, Duration::ZERO, timing);
            assert_eq!(s.next(end), end, "{timing:?}: at once");
        }
        let mut s = Schedule::new(t0, Duration::ZERO, Timing::FixedDelay);
        assert_eq!(s.next(end), end + Duration::from_nanos(1));
        // A bound of 0 drops all 5 ms worth of 1 ns slots but the one at `end`.
        let mut s = Schedule::new(t0, Duration::ZERO, Timing::CatchUp { max_burst: 0 });
        s.next(end);
        assert_eq!(s.dropped(), 4_999_999);
    }

    #[test]
    fn an_interval_past_the_clock_saturates_instead_of_panicking() {
        let t0 = Instant::now();
        for timing in [CATCH_UP, Timing::Skip, Timing::FixedDelay] {
            let mut s = Schedule::new(t0, Duration::MAX, timing);
            let end = t0 + Duration::from_millis(1);
            assert!(s.next(end) > end + Duration::from_secs(3600), "{timing:?}");
        }
    }
}
