//! Time inside the state machine: instants as [`Tick`]s from an epoch the
//! driver hands in, so nothing here reads the system clock.

use std::time::{Duration, Instant};

/// An instant as nanoseconds from the broker's epoch: half the size of an
/// `Instant`, and exact for 292 years either side of the epoch.
pub(super) type Tick = i64;

/// Converts between instants and [`Tick`]s.
#[derive(Debug, Clone, Copy)]
pub(super) struct Clock {
    pub(super) epoch: Instant,
}

impl Clock {
    /// A clock whose tick 0 is `epoch`.
    pub(super) fn new(epoch: Instant) -> Self {
        Self { epoch }
    }

    pub(super) fn tick(self, at: Instant) -> Tick {
        match at.checked_duration_since(self.epoch) {
            Some(after) => i64::try_from(after.as_nanos()).unwrap_or(i64::MAX),
            None => {
                i64::try_from(self.epoch.duration_since(at).as_nanos()).map_or(i64::MIN, |n| -n)
            }
        }
    }

    pub(super) fn instant(self, tick: Tick) -> Instant {
        let offset = Duration::from_nanos(tick.unsigned_abs());
        let at = if tick >= 0 {
            self.epoch.checked_add(offset)
        } else {
            self.epoch.checked_sub(offset)
        };
        at.unwrap_or(self.epoch)
    }
}

/// The time from `earlier` to `later`; zero when `later` is not later.
pub(super) fn elapsed(later: Tick, earlier: Tick) -> Duration {
    Duration::from_nanos(u64::try_from(later.saturating_sub(earlier)).unwrap_or(0))
}
