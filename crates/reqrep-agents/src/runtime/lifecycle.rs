//! Runs one agent's hooks in the current thread, in order, containing
//! errors and panics: the heart of every execution mode.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};

use super::{Agent, AgentContext, TerminationStatus};

/// Runs plugins' `init`, `setup`, `execute`, `on_stop`, `on_close` and
/// plugins' `finalize` as documented on [`Agent`], reporting `Ready` and
/// failure causes through `ctx`, and returns the run's status.
pub(crate) fn run(agent: &mut dyn Agent, ctx: &AgentContext) -> TerminationStatus {
    let _entered = ctx.span().clone().entered();
    tracing::debug!("agent run begins");
    let mut status = TerminationStatus::Success;

    if init_plugins(agent, ctx, &mut status) {
        match contained(|| agent.setup(ctx)) {
            Ok(Ok(())) => {
                ctx.ready();
                // Even when a stop came during setup: `execute` then finds
                // its token stopped and returns at once.
                let executed = match contained(|| agent.execute(ctx)) {
                    Ok(Ok(())) => true,
                    Ok(Err(err)) => {
                        ctx.fail(format!("execute failed: {err}"));
                        status = status.max(TerminationStatus::Error);
                        true
                    }
                    Err(panic) => {
                        ctx.fail(format!("execute panicked: {panic}"));
                        status = TerminationStatus::Critical;
                        false
                    }
                };
                if executed && let Err(panic) = contained(|| agent.on_stop(ctx)) {
                    ctx.fail(format!("on_stop panicked: {panic}"));
                    status = TerminationStatus::Critical;
                }
            }
            Ok(Err(err)) => {
                ctx.fail(format!("setup failed: {err}"));
                status = status.max(TerminationStatus::Error);
            }
            Err(panic) => {
                ctx.fail(format!("setup panicked: {panic}"));
                status = TerminationStatus::Critical;
            }
        }
    }

    if let Err(panic) = contained(|| agent.on_close(ctx)) {
        ctx.fail(format!("on_close panicked: {panic}"));
        status = TerminationStatus::Critical;
    }
    finalize_plugins(agent, ctx, &mut status);

    if ctx.warned() {
        status = status.max(TerminationStatus::Warning);
    }
    tracing::info!(%status, "agent closed");
    status
}

/// Initialises the plugins in declaration order, stopping at the first
/// failure; returns whether all of them are up.
fn init_plugins(agent: &mut dyn Agent, ctx: &AgentContext, status: &mut TerminationStatus) -> bool {
    let outcome = contained(|| {
        for plugin in agent.plugins() {
            match contained(|| plugin.init(ctx.stop_token())) {
                Ok(Ok(())) => tracing::debug!(plugin = plugin.name(), "plugin initialised"),
                Ok(Err(err)) => return Err((err.to_string(), TerminationStatus::Error)),
                Err(panic) => {
                    let cause = format!("plugin {} panicked in init: {panic}", plugin.name());
                    return Err((cause, TerminationStatus::Critical));
                }
            }
        }
        Ok(())
    });
    let failure = match outcome {
        Ok(Ok(())) => return true,
        Ok(Err(failure)) => failure,
        Err(panic) => (
            format!("plugins panicked: {panic}"),
            TerminationStatus::Critical,
        ),
    };
    ctx.fail(failure.0);
    *status = (*status).max(failure.1);
    false
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

fn panic_message(payload: &(dyn Any + Send)) -> String {
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
        ClosePanic,
    }

    struct Scripted {
        log: Log,
        fault: Fault,
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
                plugins,
            }
        }
        fn note(&self, what: &str) {
            self.log.lock().unwrap().push(what.to_owned());
        }
    }

    impl Agent for Scripted {
        fn setup(&mut self, _ctx: &AgentContext) -> Result<(), AgentError> {
            self.note("setup");
            if self.fault == Fault::SetupError {
                return Err(AgentError::fatal("no config"));
            }
            Ok(())
        }
        fn execute(&mut self, _ctx: &AgentContext) -> Result<(), AgentError> {
            self.note("execute");
            match self.fault {
                Fault::ExecuteError => Err(AgentError::fatal("boom")),
                Fault::ExecutePanic => panic!("execute exploded"),
                _ => Ok(()),
            }
        }
        fn on_stop(&mut self, _ctx: &AgentContext) {
            self.note("on_stop");
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

    #[test]
    fn hooks_and_plugins_run_in_order() {
        let mut agent = Scripted::new(Fault::None, None);
        let (status, events) = run_scripted(&mut agent);
        assert_eq!(status, TerminationStatus::Success);
        assert_eq!(
            entries(&agent.log),
            [
                "init first",
                "init second",
                "setup",
                "execute",
                "on_stop",
                "on_close",
                "finalize second",
                "finalize first"
            ]
        );
        assert_eq!(events, vec![EventKind::Ready]);
    }

    #[test]
    fn setup_error_skips_execute_but_closes() {
        let mut agent = Scripted::new(Fault::SetupError, None);
        let (status, events) = run_scripted(&mut agent);
        assert_eq!(status, TerminationStatus::Error);
        assert_eq!(
            entries(&agent.log),
            [
                "init first",
                "init second",
                "setup",
                "on_close",
                "finalize second",
                "finalize first"
            ]
        );
        assert_eq!(
            events,
            vec![EventKind::Failed("setup failed: no config".into())]
        );
    }

    #[test]
    fn execute_error_still_stops_and_closes() {
        let mut agent = Scripted::new(Fault::ExecuteError, None);
        let (status, events) = run_scripted(&mut agent);
        assert_eq!(status, TerminationStatus::Error);
        let log = entries(&agent.log);
        assert_eq!(
            &log[3..],
            [
                "execute",
                "on_stop",
                "on_close",
                "finalize second",
                "finalize first"
            ]
        );
        assert_eq!(events[1], EventKind::Failed("execute failed: boom".into()));
    }

    #[test]
    fn a_panic_is_critical_and_still_closes() {
        let mut agent = Scripted::new(Fault::ExecutePanic, None);
        let (status, events) = run_scripted(&mut agent);
        assert_eq!(status, TerminationStatus::Critical);
        let log = entries(&agent.log);
        assert_eq!(
            &log[3..],
            ["execute", "on_close", "finalize second", "finalize first"]
        );
        assert_eq!(
            events[1],
            EventKind::Failed("execute panicked: execute exploded".into())
        );
    }

    #[test]
    fn a_panic_in_on_close_still_finalizes() {
        let mut agent = Scripted::new(Fault::ClosePanic, None);
        let (status, _) = run_scripted(&mut agent);
        assert_eq!(status, TerminationStatus::Critical);
        assert_eq!(
            &entries(&agent.log)[5..],
            ["on_close", "finalize second", "finalize first"]
        );
    }

    #[test]
    fn a_failing_plugin_fails_the_agent_with_its_cause() {
        let mut agent = Scripted::new(Fault::None, Some("first"));
        let (status, events) = run_scripted(&mut agent);
        assert_eq!(status, TerminationStatus::Error);
        assert_eq!(
            entries(&agent.log),
            [
                "init first",
                "on_close",
                "finalize second",
                "finalize first"
            ],
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
    fn a_stop_during_setup_still_runs_execute_with_the_token_stopped() {
        let mut agent = Scripted::new(Fault::None, None);
        let (ctx, _events) = recording("stopped", Duration::ZERO);
        ctx.request_stop();
        assert_eq!(run(&mut agent, &ctx), TerminationStatus::Success);
        assert_eq!(&entries(&agent.log)[2..5], ["setup", "execute", "on_stop"]);
    }
}
