//! Runs one agent's hooks in the current thread, in order, containing
//! errors and panics: the heart of every execution mode.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};

use super::{Agent, AgentContext, TerminationStatus};

/// How a phase of the run (the plugins' inits, `setup`, `execute`) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// It returned successfully.
    Returned,
    /// It returned an error (its cause is reported).
    Failed,
    /// It panicked (its message is reported).
    Panicked,
}

/// Runs plugins' `init`, `setup`, `execute`, `on_stop`, `on_close` and
/// plugins' `finalize` as documented on [`Agent`], reporting `Ready` and
/// failure causes through `ctx`, and returns the run's status.
///
/// The stop is looked at when the start (plugin inits, then `setup`) and
/// `execute` return: a stop seen there skips what follows up to `on_stop`,
/// which then runs, once; without a stop `on_stop` does not run. After a
/// panic it does not run either.
pub(crate) fn run(agent: &mut dyn Agent, ctx: &AgentContext) -> TerminationStatus {
    let _entered = ctx.span().clone().entered();
    tracing::debug!("agent run begins");
    let mut status = TerminationStatus::Success;

    let mut outcome = init_plugins(agent, ctx, &mut status);
    if outcome == Outcome::Returned && !ctx.is_stopped() {
        outcome = hook("setup", ctx, &mut status, || agent.setup(ctx));
        if outcome == Outcome::Returned && !ctx.is_stopped() {
            ctx.ready();
            outcome = hook("execute", ctx, &mut status, || agent.execute(ctx));
        } else if outcome == Outcome::Returned {
            tracing::info!("stopped while starting: execute is skipped");
        }
    }
    // The safe point: whichever phase ended the run has returned.
    if outcome != Outcome::Panicked && ctx.is_stopped() {
        tracing::debug!("stop requested: on_stop");
        if let Err(panic) = contained(|| agent.on_stop(ctx)) {
            ctx.fail(format!("on_stop panicked: {panic}"));
            status = TerminationStatus::Critical;
        }
    }

    if let Err(panic) = contained(|| agent.on_close(ctx)) {
        ctx.fail(format!("on_close panicked: {panic}"));
        status = TerminationStatus::Critical;
    }
    finalize_plugins(agent, ctx, &mut status);
    ctx.release_stop_hooks();

    if ctx.stop_hook_panicked() {
        status = TerminationStatus::Critical;
    }
    if ctx.warned() {
        status = status.max(TerminationStatus::Warning);
    }
    tracing::info!(%status, "agent closed");
    status
}

/// Runs the hook `what`, reporting its error or panic.
fn hook<E: std::fmt::Display>(
    what: &str,
    ctx: &AgentContext,
    status: &mut TerminationStatus,
    f: impl FnOnce() -> Result<(), E>,
) -> Outcome {
    match contained(f) {
        Ok(Ok(())) => Outcome::Returned,
        Ok(Err(err)) => {
            ctx.fail(format!("{what} failed: {err}"));
            *status = (*status).max(TerminationStatus::Error);
            Outcome::Failed
        }
        Err(panic) => {
            ctx.fail(format!("{what} panicked: {panic}"));
            *status = TerminationStatus::Critical;
            Outcome::Panicked
        }
    }
}

/// Initialises the plugins in declaration order, stopping at the first
/// failure.
fn init_plugins(
    agent: &mut dyn Agent,
    ctx: &AgentContext,
    status: &mut TerminationStatus,
) -> Outcome {
    let outcome = contained(|| {
        for plugin in agent.plugins() {
            match contained(|| plugin.init(ctx.stop_token())) {
                Ok(Ok(())) => tracing::debug!(plugin = plugin.name(), "plugin initialised"),
                Ok(Err(err)) => return Err((err.to_string(), Outcome::Failed)),
                Err(panic) => {
                    let cause = format!("plugin {} panicked in init: {panic}", plugin.name());
                    return Err((cause, Outcome::Panicked));
                }
            }
        }
        Ok(())
    });
    let (cause, outcome) = match outcome {
        Ok(Ok(())) => return Outcome::Returned,
        Ok(Err(failure)) => failure,
        Err(panic) => (format!("plugins panicked: {panic}"), Outcome::Panicked),
    };
    ctx.fail(cause);
    *status = (*status).max(match outcome {
        Outcome::Panicked => TerminationStatus::Critical,
        _ => TerminationStatus::Error,
    });
    outcome
}

/// Finalises every plugin in reverse order; a panic in one does not keep
/// the others from being finalised.
fn finalize_plugins(agent: &mut dyn Agent, ctx: &AgentContext, status: &mut TerminationStatus) {
    let outcome = contained(|| {
        let mut panicked = Vec::new();
        for plugin in agent.plugins().into_iter().rev() {
            if let Err(panic) = contained(|| plugin.finalize()) {
                panicked.push(format!(
                    "plugin {} panicked in finalize: {panic}",
                    plugin.name()
                ));
            }
        }
        panicked
    });
    let panicked = outcome.unwrap_or_else(|panic| vec![format!("plugins panicked: {panic}")]);
    for cause in panicked {
        ctx.fail(cause);
        *status = TerminationStatus::Critical;
    }
}

/// Runs `f`, turning a panic into its message.
fn contained<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| panic_message(payload.as_ref()))
}

/// The message of a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "non-text panic payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;
    use crate::runtime::context::tests::recording;
    use crate::runtime::{AgentError, EventKind};
    use crate::{Plugin, PluginError, StopToken};

    type Log = Arc<Mutex<Vec<String>>>;

    fn entries(log: &Log) -> Vec<String> {
        log.lock().unwrap().clone()
    }

    struct Recorded {
        name: &'static str,
        log: Log,
        fail_init: bool,
    }

    impl Plugin for Recorded {
        fn name(&self) -> &str {
            self.name
        }
        fn init(&mut self, _stop: &StopToken) -> Result<(), PluginError> {
            self.log.lock().unwrap().push(format!("init {}", self.name));
            if self.fail_init {
                return Err(PluginError {
                    plugin: self.name.into(),
                    cause: "address in use".into(),
                });
            }
            Ok(())
        }
        fn finalize(&mut self) {
            self.log
                .lock()
                .unwrap()
                .push(format!("finalize {}", self.name));
        }
    }

    #[derive(Clone, Copy, PartialEq)]
    enum Fault {
        None,
        SetupError,
        ExecuteError,
        ExecutePanic,
        StopPanic,
        ClosePanic,
    }

    /// Where the agent asks itself to stop.
    #[derive(Clone, Copy, PartialEq)]
    enum StopIn {
        Nowhere,
        Setup,
        Execute,
    }

    struct Scripted {
        log: Log,
        fault: Fault,
        stop_in: StopIn,
        plugins: Vec<Recorded>,
    }

    impl Scripted {
        fn new(fault: Fault, failing_plugin: Option<&'static str>) -> Self {
            let log = Log::default();
            let plugins = ["first", "second"]
                .into_iter()
                .map(|name| Recorded {
                    name,
                    log: log.clone(),
                    fail_init: failing_plugin == Some(name),
                })
                .collect();
            Self {
                log,
                fault,
                stop_in: StopIn::Nowhere,
                plugins,
            }
        }
        fn stopping_in(mut self, stop_in: StopIn) -> Self {
            self.stop_in = stop_in;
            self
        }
        fn note(&self, what: &str) {
            self.log.lock().unwrap().push(what.to_owned());
        }
    }

    impl Agent for Scripted {
        fn setup(&mut self, ctx: &AgentContext) -> Result<(), AgentError> {
            self.note("setup");
            if self.stop_in == StopIn::Setup {
                ctx.request_stop();
            }
            if self.fault == Fault::SetupError {
                return Err(AgentError::fatal("no config"));
            }
            Ok(())
        }
        fn execute(&mut self, ctx: &AgentContext) -> Result<(), AgentError> {
            self.note("execute");
            if self.stop_in == StopIn::Execute {
                ctx.request_stop();
            }
            match self.fault {
                Fault::ExecuteError => Err(AgentError::fatal("boom")),
                Fault::ExecutePanic => panic!("execute exploded"),
                _ => Ok(()),
            }
        }
        fn on_stop(&mut self, ctx: &AgentContext) {
            self.note(if ctx.is_stopped() {
                "on_stop"
            } else {
                "on_stop without a stop"
            });
            if self.fault == Fault::StopPanic {
                panic!("stop exploded");
            }
        }
        fn on_close(&mut self, _ctx: &AgentContext) {
            self.note("on_close");
            if self.fault == Fault::ClosePanic {
                panic!("close exploded");
            }
        }
        fn plugins(&mut self) -> Vec<&mut dyn Plugin> {
            self.plugins
                .iter_mut()
                .map(|p| p as &mut dyn Plugin)
                .collect()
        }
    }

    fn run_scripted(agent: &mut Scripted) -> (TerminationStatus, Vec<EventKind>) {
        let (ctx, events) = recording("scripted", Duration::ZERO);
        let status = run(agent, &ctx);
        (status, events.try_iter().collect())
    }

    const CLOSING: [&str; 3] = ["on_close", "finalize second", "finalize first"];

    /// `head` followed by [`CLOSING`].
    fn then_closing(head: &[&str]) -> Vec<String> {
        head.iter()
            .chain(&CLOSING)
            .map(|e| (*e).to_owned())
            .collect()
    }

    #[test]
    fn without_a_stop_hooks_and_plugins_run_in_order_and_on_stop_does_not() {
        let mut agent = Scripted::new(Fault::None, None);
        let (status, events) = run_scripted(&mut agent);
        assert_eq!(status, TerminationStatus::Success);
        assert_eq!(
            entries(&agent.log),
            then_closing(&["init first", "init second", "setup", "execute"])
        );
        assert_eq!(events, vec![EventKind::Ready]);
    }

    #[test]
    fn a_stop_during_execute_runs_on_stop_after_execute() {
        let mut agent = Scripted::new(Fault::None, None).stopping_in(StopIn::Execute);
        let (status, events) = run_scripted(&mut agent);
        assert_eq!(status, TerminationStatus::Success);
        assert_eq!(
            entries(&agent.log),
            then_closing(&["init first", "init second", "setup", "execute", "on_stop"])
        );
        assert_eq!(events, vec![EventKind::Ready]);
    }

    #[test]
    fn a_stop_during_setup_skips_ready_and_execute_and_runs_on_stop() {
        let mut agent = Scripted::new(Fault::None, None).stopping_in(StopIn::Setup);
        let (status, events) = run_scripted(&mut agent);
        assert_eq!(status, TerminationStatus::Success);
        assert_eq!(
            entries(&agent.log),
            then_closing(&["init first", "init second", "setup", "on_stop"])
        );
        assert!(events.is_empty(), "no Ready: {events:?}");
    }

    #[test]
    fn a_stop_before_the_run_skips_setup_and_runs_on_stop() {
        let mut agent = Scripted::new(Fault::None, None);
        let (ctx, events) = recording("stopped", Duration::ZERO);
        ctx.request_stop();
        assert_eq!(run(&mut agent, &ctx), TerminationStatus::Success);
        assert_eq!(
            entries(&agent.log),
            then_closing(&["init first", "init second", "on_stop"]),
            "the plugins saw the stopped token in init; setup is skipped"
        );
        assert_eq!(events.try_iter().count(), 0, "no Ready");
    }

    #[test]
    fn setup_error_skips_execute_but_closes() {
        let mut agent = Scripted::new(Fault::SetupError, None);
        let (status, events) = run_scripted(&mut agent);
        assert_eq!(status, TerminationStatus::Error);
        assert_eq!(
            entries(&agent.log),
            then_closing(&["init first", "init second", "setup"])
        );
        assert_eq!(
            events,
            vec![EventKind::Failed("setup failed: no config".into())]
        );
    }

    #[test]
    fn a_setup_error_with_a_stop_still_runs_on_stop() {
        let mut agent = Scripted::new(Fault::SetupError, None).stopping_in(StopIn::Setup);
        let (status, _) = run_scripted(&mut agent);
        assert_eq!(status, TerminationStatus::Error);
        assert_eq!(
            &entries(&agent.log)[2..],
            then_closing(&["setup", "on_stop"])
        );
    }

    #[test]
    fn an_execute_error_without_a_stop_closes_without_on_stop() {
        let mut agent = Scripted::new(Fault::ExecuteError, None);
        let (status, events) = run_scripted(&mut agent);
        assert_eq!(status, TerminationStatus::Error);
        assert_eq!(&entries(&agent.log)[3..], then_closing(&["execute"]));
        assert_eq!(events[1], EventKind::Failed("execute failed: boom".into()));
    }

    #[test]
    fn an_execute_error_with_a_stop_runs_on_stop_then_closes() {
        let mut agent = Scripted::new(Fault::ExecuteError, None).stopping_in(StopIn::Execute);
        let (status, events) = run_scripted(&mut agent);
        assert_eq!(status, TerminationStatus::Error);
        assert_eq!(
            &entries(&agent.log)[3..],
            then_closing(&["execute", "on_stop"])
        );
        assert_eq!(events[1], EventKind::Failed("execute failed: boom".into()));
    }

    #[test]
    fn a_panic_in_execute_is_critical_skips_on_stop_and_still_closes() {
        let mut agent = Scripted::new(Fault::ExecutePanic, None).stopping_in(StopIn::Execute);
        let (status, events) = run_scripted(&mut agent);
        assert_eq!(status, TerminationStatus::Critical);
        assert_eq!(&entries(&agent.log)[3..], then_closing(&["execute"]));
        assert_eq!(
            events[1],
            EventKind::Failed("execute panicked: execute exploded".into())
        );
    }

    #[test]
    fn a_panic_in_on_stop_is_critical_and_still_closes() {
        let mut agent = Scripted::new(Fault::StopPanic, None).stopping_in(StopIn::Execute);
        let (status, events) = run_scripted(&mut agent);
        assert_eq!(status, TerminationStatus::Critical);
        assert_eq!(
            &entries(&agent.log)[3..],
            then_closing(&["execute", "on_stop"])
        );
        assert_eq!(
            events[1],
            EventKind::Failed("on_stop panicked: stop exploded".into())
        );
    }

    #[test]
    fn a_panic_in_on_close_still_finalizes() {
        let mut agent = Scripted::new(Fault::ClosePanic, None);
        let (status, _) = run_scripted(&mut agent);
        assert_eq!(status, TerminationStatus::Critical);
        assert_eq!(&entries(&agent.log)[4..], CLOSING);
    }

    #[test]
    fn a_failing_plugin_fails_the_agent_with_its_cause() {
        let mut agent = Scripted::new(Fault::None, Some("first"));
        let (status, events) = run_scripted(&mut agent);
        assert_eq!(status, TerminationStatus::Error);
        assert_eq!(
            entries(&agent.log),
            then_closing(&["init first"]),
            "setup is skipped, every plugin is finalised"
        );
        assert_eq!(
            events,
            vec![EventKind::Failed(
                "plugin first failed to initialise: address in use".into()
            )]
        );
    }

    #[test]
    fn a_panicking_stop_hook_makes_the_run_critical() {
        let mut agent = Scripted::new(Fault::None, None).stopping_in(StopIn::Execute);
        let (ctx, events) = recording("hooked", Duration::ZERO);
        ctx.on_stop_requested(|| panic!("hook exploded"));
        assert_eq!(run(&mut agent, &ctx), TerminationStatus::Critical);
        assert_eq!(
            &entries(&agent.log)[3..],
            then_closing(&["execute", "on_stop"]),
            "the agent's own thread, which asked for the stop, went on"
        );
        assert!(events.try_iter().any(
            |e| e == EventKind::Failed("on_stop_requested hook panicked: hook exploded".into())
        ));
    }
}
