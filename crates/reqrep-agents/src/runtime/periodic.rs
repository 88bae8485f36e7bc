//! Agents that run on a timer: [`PeriodicAgent`], its [`PeriodicConfig`]
//! and the [`Periodic`] adapter that makes it an [`Agent`].

use std::time::{Duration, Instant};

use super::looping::{limit_issues, limit_reached};
use super::{Agent, AgentConfig, AgentContext, AgentError, ConfigIssue, Schedule, Timing};
use crate::Plugin;

/// An agent whose work is a `runner` called every `interval`, until it is
/// stopped or has run `limit` times. Wrap it in [`Periodic`] to register it.
///
/// The first run is immediate; the timing of the following ones (above all
/// after a run that took longer than the interval) is the config's
/// [`Timing`], carried out by a [`Schedule`]. A stop ends the wait between
/// runs at once. Errors are handled as for
/// [`LoopingAgent`](super::LoopingAgent): a recoverable one is logged and the
/// schedule goes on, any other ends the agent with `Error`.
pub trait PeriodicAgent: Send + 'static {
    /// See [`Agent::setup`]. Default: nothing.
    ///
    /// # Errors
    /// Any [`AgentError`] fails the agent before the first run.
    fn setup(&mut self, ctx: &AgentContext) -> Result<(), AgentError> {
        let _ = ctx;
        Ok(())
    }

    /// One scheduled run.
    ///
    /// # Errors
    /// A recoverable error is logged and the schedule goes on; any other
    /// error ends the agent with `Error`.
    fn runner(&mut self, ctx: &AgentContext) -> Result<(), AgentError>;

    /// See [`Agent::on_stop`]. Default: nothing.
    fn on_stop(&mut self, ctx: &AgentContext) {
        let _ = ctx;
    }

    /// See [`Agent::on_close`]. Default: nothing.
    fn on_close(&mut self, ctx: &AgentContext) {
        let _ = ctx;
    }

    /// See [`Agent::plugins`]. Default: none.
    fn plugins(&mut self) -> Vec<&mut dyn Plugin> {
        Vec::new()
    }

    /// See [`Agent::validate`]; the adapter adds the [`PeriodicConfig`]'s
    /// issues. Default: none.
    fn validate(&self) -> Vec<ConfigIssue> {
        Vec::new()
    }
}

/// The timing of a [`Periodic`] agent: how often, how many times and what
/// to do after an overrun.
///
/// A PyOrchestrate `LoopingAgentConfig(interval=0.05, limit=3,
/// compensate_delay=True)` ports one to one:
///
/// ```
/// use std::time::Duration;
/// use reqrep_agents::runtime::{AgentConfig, PeriodicConfig, Timing};
///
/// let config = PeriodicConfig::every(Duration::from_millis(50))
///     .limit(3)
///     .delay_compensation(true);
/// assert_eq!(config.timing, Timing::catch_up());
/// assert!(config.validate().is_empty());
///
/// // The default timing is `Skip`, as `compensate_delay=False`: with 30 ms
/// // runs every 50 ms the runs start at 0, 50, 100, ...
/// assert_eq!(PeriodicConfig::default().timing, Timing::Skip);
/// ```
///
/// With a `limit` the agent ends right after its last run. (PyOrchestrate
/// waits one more interval after its last run before it ends; here nothing
/// follows the last run.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodicConfig {
    /// Time between runs; must be more than zero. Default: 1 s.
    pub interval: Duration,
    /// The number of runs; -1 runs until stopped. A run that fails
    /// recoverably still counts. Default: -1.
    pub limit: i64,
    /// When the runs start, above all after an overrun (see [`Timing`]).
    /// Default: [`Timing::Skip`].
    pub timing: Timing,
}

impl Default for PeriodicConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(1),
            limit: -1,
            timing: Timing::default(),
        }
    }
}

impl PeriodicConfig {
    /// Runs every `interval`, until stopped, with [`Timing::Skip`].
    pub fn every(interval: Duration) -> Self {
        Self {
            interval,
            ..Self::default()
        }
    }

    /// Runs `limit` times (-1: until stopped). Default: -1.
    #[must_use]
    pub fn limit(mut self, limit: i64) -> Self {
        self.limit = limit;
        self
    }

    /// Times the runs as `timing` says. Default: [`Timing::Skip`].
    #[must_use]
    pub fn timing(mut self, timing: Timing) -> Self {
        self.timing = timing;
        self
    }

    /// PyOrchestrate's `compensate_delay`: `true` is [`Timing::catch_up`]
    /// (missed slots run back to back, at most
    /// [`Timing::DEFAULT_MAX_BURST`] in a row), `false` is [`Timing::Skip`].
    /// Default: false.
    #[must_use]
    pub fn delay_compensation(self, compensate: bool) -> Self {
        self.timing(if compensate {
            Timing::catch_up()
        } else {
            Timing::Skip
        })
    }
}

impl AgentConfig for PeriodicConfig {
    fn validate(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        if self.interval.is_zero() {
            issues.push(ConfigIssue::error("interval must be more than zero"));
        }
        issues.extend(limit_issues(self.limit, "run"));
        if let Timing::CatchUp { max_burst: 0 } = self.timing {
            issues.push(ConfigIssue::error(
                "catch-up timing needs a max_burst of at least 1",
            ));
        }
        issues
    }
}

/// Makes a [`PeriodicAgent`] an [`Agent`]: `execute` calls `runner` on
/// schedule until stopped or `limit` runs are done, with a heartbeat after
/// each run.
#[derive(Debug)]
pub struct Periodic<A> {
    agent: A,
    config: PeriodicConfig,
}

impl<A: PeriodicAgent> Periodic<A> {
    /// Runs `agent` as `config` says.
    pub fn new(agent: A, config: PeriodicConfig) -> Self {
        Self { agent, config }
    }

    /// The wrapped agent.
    pub fn inner(&self) -> &A {
        &self.agent
    }

    /// Unwraps the agent.
    pub fn into_inner(self) -> A {
        self.agent
    }
}

impl<A: PeriodicAgent> Agent for Periodic<A> {
    fn setup(&mut self, ctx: &AgentContext) -> Result<(), AgentError> {
        self.agent.setup(ctx)
    }

    fn execute(&mut self, ctx: &AgentContext) -> Result<(), AgentError> {
        let PeriodicConfig {
            interval,
            limit,
            timing,
        } = self.config;
        let mut schedule = Schedule::new(Instant::now(), interval, timing);
        let mut runs: u64 = 0;
        // A stop seen here (after a run or during the wait) returns at once,
        // and so does the last run of a limit: no wait follows it.
        while !ctx.is_stopped() && !limit_reached(limit, runs) {
            let wait = schedule.due().saturating_duration_since(Instant::now());
            if !wait.is_zero() && ctx.stop_token().wait_timeout(wait) {
                break;
            }
            runs += 1;
            match self.agent.runner(ctx) {
                Ok(()) => {}
                Err(err) if err.is_recoverable() => {
                    tracing::warn!(cause = %err, run = runs, "recoverable error, schedule goes on");
                    ctx.warn(format!("run {runs}: {err}"));
                }
                Err(err) => {
                    tracing::error!(cause = %err, run = runs, "fatal error, schedule ends");
                    return Err(err);
                }
            }
            ctx.heartbeat();
            schedule.next(Instant::now());
            if schedule.dropped() > 0 {
                tracing::warn!(
                    dropped = schedule.dropped(),
                    run = runs,
                    "runs overran the schedule, missed slots dropped"
                );
            }
        }
        tracing::debug!(runs, "schedule ended");
        Ok(())
    }

    fn on_stop(&mut self, ctx: &AgentContext) {
        self.agent.on_stop(ctx);
    }

    fn on_close(&mut self, ctx: &AgentContext) {
        self.agent.on_close(ctx);
    }

    fn plugins(&mut self) -> Vec<&mut dyn Plugin> {
        self.agent.plugins()
    }

    fn validate(&self) -> Vec<ConfigIssue> {
        let mut issues = self.config.validate();
        issues.extend(self.agent.validate());
        issues
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;
    use crate::runtime::Severity;
    use crate::runtime::context::tests::recording;

    /// Reports the instant of each run; stops itself after `runs`.
    struct Ticker {
        runs: u32,
        stop_after: u32,
        fail_with: Option<AgentError>,
        at: mpsc::Sender<Instant>,
    }

    impl PeriodicAgent for Ticker {
        fn runner(&mut self, ctx: &AgentContext) -> Result<(), AgentError> {
            self.runs += 1;
            let _ = self.at.send(Instant::now());
            if self.runs >= self.stop_after {
                ctx.request_stop();
            }
            self.fail_with.take().map_or(Ok(()), Err)
        }
    }

    fn ticker(stop_after: u32, fail_with: Option<AgentError>) -> (Ticker, mpsc::Receiver<Instant>) {
        let (at, rx) = mpsc::channel();
        let t = Ticker {
            runs: 0,
            stop_after,
            fail_with,
            at,
        };
        (t, rx)
    }

    #[test]
    fn runs_until_stopped_and_survives_recoverable_errors() {
        let (t, runs) = ticker(3, Some(AgentError::recoverable("flaky")));
        let (ctx, events) = recording("tick", Duration::ZERO);
        let mut agent = Periodic::new(t, PeriodicConfig::every(Duration::from_millis(1)));
        assert!(agent.execute(&ctx).is_ok());
        assert_eq!(runs.try_iter().count(), 3);
        assert!(
            events
                .try_iter()
                .any(|e| e == crate::runtime::EventKind::Warning("run 1: flaky".into()))
        );
    }

    #[test]
    fn a_fatal_error_ends_the_schedule() {
        let (t, runs) = ticker(100, Some(AgentError::fatal("gone")));
        let (ctx, _events) = recording("tick", Duration::ZERO);
        let mut agent = Periodic::new(t, PeriodicConfig::every(Duration::from_millis(1)));
        assert!(agent.execute(&ctx).is_err());
        assert_eq!(runs.try_iter().count(), 1);
    }

    #[test]
    fn limit_ends_the_schedule_after_that_many_runs() {
        let (t, runs) = ticker(u32::MAX, Some(AgentError::recoverable("flaky")));
        let (ctx, _events) = recording("tick", Duration::ZERO);
        let config = PeriodicConfig::every(Duration::from_millis(1)).limit(3);
        let mut agent = Periodic::new(t, config);
        assert!(agent.execute(&ctx).is_ok());
        assert_eq!(runs.try_iter().count(), 3, "a failed run counts");
        assert!(!ctx.is_stopped(), "the limit ends the schedule, not a stop");
    }

    #[test]
    fn a_stop_before_the_limit_ends_the_schedule() {
        let (t, runs) = ticker(2, None);
        let (ctx, _events) = recording("tick", Duration::ZERO);
        let config = PeriodicConfig::every(Duration::from_millis(1)).limit(5);
        assert!(Periodic::new(t, config).execute(&ctx).is_ok());
        assert_eq!(runs.try_iter().count(), 2);
    }

    #[test]
    fn limit_zero_runs_nothing() {
        let (t, runs) = ticker(u32::MAX, None);
        let (ctx, _events) = recording("tick", Duration::ZERO);
        let config = PeriodicConfig::every(Duration::from_millis(1)).limit(0);
        assert!(Periodic::new(t, config).execute(&ctx).is_ok());
        assert_eq!(runs.try_iter().count(), 0);
    }

    fn severities(config: &PeriodicConfig) -> Vec<Severity> {
        config.validate().into_iter().map(|i| i.severity).collect()
    }

    fn every_5ms() -> PeriodicConfig {
        PeriodicConfig::every(Duration::from_millis(5))
    }

    #[test]
    fn a_zero_interval_is_an_error() {
        let (t, _runs) = ticker(1, None);
        let agent = Periodic::new(t, PeriodicConfig::every(Duration::ZERO));
        assert_eq!(agent.validate()[0].severity, Severity::Error);
        assert!(PeriodicConfig::default().validate().is_empty());
    }

    #[test]
    fn limits_are_validated_as_for_loops() {
        assert_eq!(severities(&every_5ms().limit(-2)), [Severity::Error]);
        assert_eq!(severities(&every_5ms().limit(0)), [Severity::Warning]);
        assert_eq!(
            every_5ms().limit(0).validate()[0].message,
            "limit 0 runs no run"
        );
        assert!(severities(&every_5ms().limit(-1)).is_empty());
        assert!(severities(&every_5ms().limit(1)).is_empty());
    }

    #[test]
    fn a_catch_up_without_burst_is_an_error() {
        let none = every_5ms().timing(Timing::CatchUp { max_burst: 0 });
        assert_eq!(severities(&none), [Severity::Error]);
        let one = every_5ms().timing(Timing::CatchUp { max_burst: 1 });
        assert!(severities(&one).is_empty());
    }

    #[test]
    fn defaults_and_delay_compensation_port_one_to_one() {
        let config = PeriodicConfig::default();
        assert_eq!(config.interval, Duration::from_secs(1));
        assert_eq!(config.limit, -1);
        assert_eq!(config.timing, Timing::Skip);
        assert_eq!(every_5ms().timing, Timing::Skip);
        assert_eq!(
            every_5ms().delay_compensation(true).timing,
            Timing::CatchUp {
                max_burst: Timing::DEFAULT_MAX_BURST
            }
        );
        assert_eq!(
            every_5ms()
                .delay_compensation(true)
                .delay_compensation(false)
                .timing,
            Timing::Skip
        );
    }
}
