//! Agents that repeat one step: [`LoopingAgent`], its [`LoopConfig`] and the
//! [`Looping`] adapter that makes it an [`Agent`].

use super::{Agent, AgentConfig, AgentContext, AgentError, ConfigIssue};
use crate::Plugin;

/// An agent whose work is a `cycle` run again and again, up to a limit or
/// until it is stopped. Wrap it in [`Looping`] to register it.
///
/// A [`AgentError::Recoverable`] from `cycle` is logged, reported as a
/// warning, and the loop goes on (the run then ends with `Warning`); any
/// other error ends the loop and the agent with `Error`. The hooks other than
/// `cycle` mean what they mean on [`Agent`].
pub trait LoopingAgent: Send + 'static {
    /// See [`Agent::setup`]. Default: nothing.
    ///
    /// # Errors
    /// Any [`AgentError`] fails the agent before the first cycle.
    fn setup(&mut self, ctx: &AgentContext) -> Result<(), AgentError> {
        let _ = ctx;
        Ok(())
    }

    /// One step of the loop.
    ///
    /// # Errors
    /// A recoverable error is logged and the next cycle runs; any other
    /// error ends the agent with `Error`.
    fn cycle(&mut self, ctx: &AgentContext) -> Result<(), AgentError>;

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

    /// See [`Agent::validate`]; the adapter adds the [`LoopConfig`]'s issues.
    /// Default: none.
    fn validate(&self) -> Vec<ConfigIssue> {
        Vec::new()
    }
}

/// How many cycles a [`Looping`] agent runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoopConfig {
    /// The number of cycles; -1 runs until stopped. A cycle that fails
    /// recoverably still counts. Default: -1.
    pub limit: i64,
}

impl Default for LoopConfig {
    fn default() -> Self {
        Self { limit: -1 }
    }
}

impl LoopConfig {
    /// A config running `limit` cycles (-1: until stopped).
    pub fn limit(limit: i64) -> Self {
        Self { limit }
    }

    /// Whether `done` cycles reach the limit.
    fn reached(&self, done: u64) -> bool {
        limit_reached(self.limit, done)
    }
}

impl AgentConfig for LoopConfig {
    fn validate(&self) -> Vec<ConfigIssue> {
        limit_issues(self.limit, "cycle")
    }
}

/// Whether `done` runs reach `limit` (-1: never). Shared by [`LoopConfig`]
/// and [`PeriodicConfig`](super::PeriodicConfig).
pub(super) fn limit_reached(limit: i64, done: u64) -> bool {
    u64::try_from(limit).is_ok_and(|limit| done >= limit)
}

/// The issues of a run count `limit`, whose runs are called `what`: below
/// -1 is an error, 0 a warning (nothing would run). Shared by [`LoopConfig`]
/// and [`PeriodicConfig`](super::PeriodicConfig).
pub(super) fn limit_issues(limit: i64, what: &str) -> Vec<ConfigIssue> {
    match limit {
        ..=-2 => vec![ConfigIssue::error(format!(
            "limit must be -1 (run until stopped) or at least 0, not {limit}"
        ))],
        0 => vec![ConfigIssue::warning(format!("limit 0 runs no {what}"))],
        _ => Vec::new(),
    }
}

/// Makes a [`LoopingAgent`] an [`Agent`]: `execute` runs `cycle` until the
/// limit or a stop, with a heartbeat after each cycle.
#[derive(Debug)]
pub struct Looping<A> {
    agent: A,
    config: LoopConfig,
}

impl<A: LoopingAgent> Looping<A> {
    /// Runs `agent`'s cycles as `config` says.
    pub fn new(agent: A, config: LoopConfig) -> Self {
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

impl<A: LoopingAgent> Agent for Looping<A> {
    fn setup(&mut self, ctx: &AgentContext) -> Result<(), AgentError> {
        self.agent.setup(ctx)
    }

    fn execute(&mut self, ctx: &AgentContext) -> Result<(), AgentError> {
        let mut done: u64 = 0;
        while !ctx.is_stopped() && !self.config.reached(done) {
            done += 1;
            match self.agent.cycle(ctx) {
                Ok(()) => {}
                Err(err) if err.is_recoverable() => {
                    tracing::warn!(cause = %err, cycle = done, "recoverable error, loop goes on");
                    ctx.warn(format!("cycle {done}: {err}"));
                }
                Err(err) => {
                    tracing::error!(cause = %err, cycle = done, "fatal error, loop ends");
                    return Err(err);
                }
            }
            ctx.heartbeat();
        }
        tracing::debug!(cycles = done, "loop ended");
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
    use std::time::Duration;

    use super::*;
    use crate::runtime::context::tests::recording;
    use crate::runtime::{EventKind, Severity};

    /// Fails at the cycles listed, recoverably or fatally.
    #[derive(Default)]
    struct Counter {
        cycles: u32,
        recoverable_at: Vec<u32>,
        fatal_at: Option<u32>,
        stop_at: Option<u32>,
    }

    impl LoopingAgent for Counter {
        fn cycle(&mut self, ctx: &AgentContext) -> Result<(), AgentError> {
            self.cycles += 1;
            if self.stop_at == Some(self.cycles) {
                ctx.request_stop();
            }
            if self.fatal_at == Some(self.cycles) {
                return Err(AgentError::fatal("broken"));
            }
            if self.recoverable_at.contains(&self.cycles) {
                return Err(AgentError::recoverable("flaky"));
            }
            Ok(())
        }
    }

    fn execute(counter: Counter, limit: i64) -> (Result<(), AgentError>, u32, Vec<EventKind>) {
        let (ctx, events) = recording("loop", Duration::from_secs(3600));
        let mut agent = Looping::new(counter, LoopConfig::limit(limit));
        let result = agent.execute(&ctx);
        (result, agent.inner().cycles, events.try_iter().collect())
    }

    #[test]
    fn limit_three_runs_exactly_three_cycles() {
        let (result, cycles, events) = execute(Counter::default(), 3);
        assert!(result.is_ok());
        assert_eq!(cycles, 3);
        assert_eq!(
            events,
            vec![EventKind::Heartbeat],
            "rate-limited heartbeats"
        );
    }

    #[test]
    fn recoverable_errors_are_reported_and_the_loop_goes_on() {
        let counter = Counter {
            recoverable_at: vec![1, 3],
            ..Counter::default()
        };
        let (result, cycles, events) = execute(counter, 4);
        assert!(result.is_ok());
        assert_eq!(cycles, 4, "failed cycles count towards the limit");
        let warnings: Vec<_> = events
            .into_iter()
            .filter(|e| matches!(e, EventKind::Warning(_)))
            .collect();
        assert_eq!(
            warnings,
            vec![
                EventKind::Warning("cycle 1: flaky".into()),
                EventKind::Warning("cycle 3: flaky".into())
            ]
        );
    }

    #[test]
    fn a_fatal_error_stops_the_loop() {
        let counter = Counter {
            fatal_at: Some(2),
            ..Counter::default()
        };
        let (result, cycles, _) = execute(counter, -1);
        assert!(matches!(result, Err(AgentError::Fatal(_))));
        assert_eq!(cycles, 2);
    }

    #[test]
    fn unlimited_loops_run_until_stopped() {
        let counter = Counter {
            stop_at: Some(50),
            ..Counter::default()
        };
        let (result, cycles, _) = execute(counter, -1);
        assert!(result.is_ok());
        assert_eq!(cycles, 50);
    }

    #[test]
    fn limit_zero_runs_nothing_and_warns() {
        let (_, cycles, _) = execute(Counter::default(), 0);
        assert_eq!(cycles, 0);
        let issues = Looping::new(Counter::default(), LoopConfig::limit(0)).validate();
        assert_eq!(issues[0].severity, Severity::Warning);
        let issues = LoopConfig::limit(-2).validate();
        assert_eq!(issues[0].severity, Severity::Error);
        assert!(LoopConfig::default().validate().is_empty());
    }
}
