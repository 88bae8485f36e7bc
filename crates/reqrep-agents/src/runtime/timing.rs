//! What a periodic agent does when a run takes longer than its interval:
//! [`Timing`].

/// How a [`Periodic`](super::Periodic) agent's runs are timed, above all
/// after a run that overran its interval. [`Schedule`](super::Schedule)
/// carries it out.
///
/// Tick times below are for a 50 ms interval and a first run at 0 (the first
/// run is always immediate).
///
/// | runs take                       | `CatchUp`                 | `Skip` (default)        | `FixedDelay`           |
/// |---------------------------------|---------------------------|-------------------------|------------------------|
/// | 30 ms each                      | 0, 50, 100, 150           | 0, 50, 100, 150         | 0, 80, 160, 240        |
/// | 10 ms, then one of 180 ms, then 10 ms | 0, 50, 230, 240, 250, 260, 300, 350 | 0, 50, 230, 280, 330 | 0, 60, 290, 350, 410 |
///
/// A PyOrchestrate `PeriodicAgentConfig` ports as
/// [`PeriodicConfig::delay_compensation`](super::PeriodicConfig::delay_compensation):
/// `compensate_delay=False` (its default) is [`Timing::Skip`],
/// `compensate_delay=True` is [`Timing::catch_up`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Timing {
    /// Fixed rate on the grid `start + k * interval`. The slots a run
    /// overran are run late, back to back, until the schedule has caught up;
    /// then it goes on with the original grid. At most `max_burst` late runs
    /// follow one another: the slots already past after that are dropped
    /// (and logged), and the next run is the first slot still ahead.
    ///
    /// With a 50 ms interval and a run from 50 to 230 ms, the slots 100, 150
    /// and 200 run at once one after the other (230, 240, 250 with 10 ms
    /// runs), then 250 (at 260, still late) and 300 on time.
    /// `max_burst` must be at least 1; [`Timing::catch_up`] uses
    /// [`Timing::DEFAULT_MAX_BURST`].
    CatchUp {
        /// The most late runs in a row. Default: [`Timing::DEFAULT_MAX_BURST`].
        max_burst: u32,
    },
    /// Fixed rate while the runs keep up. After an overrun the next run
    /// starts at once and the grid restarts from it: no missed slot is run.
    ///
    /// With a 50 ms interval and a run from 50 to 230 ms, the next runs are
    /// at 230, 280, 330, ...
    ///
    /// The default, as PyOrchestrate's `compensate_delay=False`.
    #[default]
    Skip,
    /// Waits `interval` after the end of each run, so the rate depends on
    /// how long the runs take.
    ///
    /// With a 50 ms interval and 30 ms runs: 0, 80, 160, ...
    FixedDelay,
}

impl Timing {
    /// The bound on late runs in a row of [`Timing::catch_up`]: 16.
    pub const DEFAULT_MAX_BURST: u32 = 16;

    /// [`Timing::CatchUp`] with [`Timing::DEFAULT_MAX_BURST`].
    pub const fn catch_up() -> Self {
        Self::CatchUp {
            max_burst: Self::DEFAULT_MAX_BURST,
        }
    }
}
