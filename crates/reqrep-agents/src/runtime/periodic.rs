//! Agents that run on a timer: [`PeriodicAgent`], its [`PeriodicConfig`]
//! and the [`Periodic`] adapter that makes it an [`Agent`].

use std::time::{Duration, Instant};

use super::{Agent, AgentConfig, AgentContext, AgentError, ConfigIssue, Schedule};
use crate::Plugin;

/// An agent whose work is a `runner` called every `interval` until it is
/// stopped. Wrap it in [`Periodic`] to register it.
///
/// The first run is immediate; the timing of the following ones is
/// described on [`Schedule`]. A stop ends the wait between runs at once.
/// Errors are handled as for [`LoopingAgent`](super::LoopingAgent): a
/// recoverable one is logged and the schedule goes on, any other ends the
/// agent with `Error`.
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

/// The timing of a [`Periodic`] agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodicConfig {
    /// Time between runs; must be more than zero. Default: 1 s.
    pub interval: Duration,
    /// `true` keeps the absolute schedule and runs once at once after an
    /// overrun; `false` re-bases each wait on the end of the previous run
    /// (see [`Schedule`]). Default: true.
    pub delay_compensation: bool,
}

impl Default for PeriodicConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(1),
            delay_compensation: true,
        }
    }
}

impl PeriodicConfig {
    /// Runs every `interval`, with delay compensation.
    pub fn every(interval: Duration) -> Self {
        Self {
            interval,
            ..Self::default()
        }
    }
}

impl AgentConfig for PeriodicConfig {
    fn validate(&self) -> Vec<ConfigIssue> {
        if self.interval.is_zero() {
            vec![ConfigIssue::error("interval must be more than zero")]
        } else {
            Vec::new()
        }
    }
}

/// Makes a [`PeriodicAgent`] an [`Agent`]: `execute` calls `runner` on
/// schedule until stopped, with a heartbeat after each run.
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
        let mut schedule = Schedule::new(
            Instant::now(),
            self.config.interval,
            self.config.delay_compensation,
        );
        let mut runs: u64 = 0;
        loop {
            let wait = schedule.due().saturating_duration_since(Instant::now());
            if ctx.is_stopped() || (!wait.is_zero() && ctx.stop_token().wait_timeout(wait)) {
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
    fn a_zero_interval_is_an_error() {
        let (t, _runs) = ticker(1, None);
        let agent = Periodic::new(t, PeriodicConfig::every(Duration::ZERO));
        assert_eq!(agent.validate()[0].severity, Severity::Error);
        assert!(PeriodicConfig::default().validate().is_empty());
    }
}
