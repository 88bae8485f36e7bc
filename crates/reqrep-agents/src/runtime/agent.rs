//! The base agent: [`Agent`].

use super::{AgentContext, AgentError, ConfigIssue};
use crate::Plugin;

/// A unit of work the orchestrator runs: a thread, task or child process
/// with a lifecycle.
///
/// The runtime calls, in order:
///
/// 1. `init` on each plugin from [`Agent::plugins`], in declaration order;
/// 2. [`Agent::setup`]; once it returns the agent is *ready* and its
///    dependents may start;
/// 3. [`Agent::execute`], the agent's work (also when a stop came during
///    `setup`: it then finds its stop token stopped);
/// 4. [`Agent::on_stop`], once `execute` has returned (normally or with an
///    error);
/// 5. [`Agent::on_close`], always, even after a failed plugin, a failed
///    `setup` or `execute`, or a panic;
/// 6. `finalize` on every plugin in reverse order, always.
///
/// A failing plugin `init` skips the remaining inits, `setup`, `execute` and
/// `on_stop`. A hook that returns an error ends the agent with `Error`; a
/// panic anywhere ends it with `Critical`.
///
/// Long waits must use the context's [`StopToken`](crate::StopToken) so that
/// a stop ends them; an agent that ignores it is stopped by force after its
/// stop timeout.
///
/// ```
/// use reqrep_agents::runtime::{Agent, AgentContext, AgentError};
/// use std::time::Duration;
///
/// struct Sleeper;
///
/// impl Agent for Sleeper {
///     fn execute(&mut self, ctx: &AgentContext) -> Result<(), AgentError> {
///         // Returns at once when the agent is stopped.
///         ctx.stop_token().wait_timeout(Duration::from_millis(10));
///         Ok(())
///     }
/// }
/// ```
pub trait Agent: Send + 'static {
    /// Prepares the agent after its plugins are initialised. Default: nothing.
    ///
    /// # Errors
    /// Any [`AgentError`] fails the agent; `execute` is not called.
    fn setup(&mut self, ctx: &AgentContext) -> Result<(), AgentError> {
        let _ = ctx;
        Ok(())
    }

    /// The agent's work; the agent is done when it returns.
    ///
    /// # Errors
    /// Any [`AgentError`] ends the agent with status `Error`.
    fn execute(&mut self, ctx: &AgentContext) -> Result<(), AgentError>;

    /// Called once `execute` has returned, to wind down; not called after a
    /// panic. Default: nothing.
    fn on_stop(&mut self, ctx: &AgentContext) {
        let _ = ctx;
    }

    /// Called last, whatever happened before. Default: nothing.
    fn on_close(&mut self, ctx: &AgentContext) {
        let _ = ctx;
    }

    /// The plugins this agent uses, in initialisation order. The runtime
    /// initialises them before `setup` and finalises them after `on_close`.
    /// It calls this twice per run and expects the same plugins both times.
    /// Default: none.
    fn plugins(&mut self) -> Vec<&mut dyn Plugin> {
        Vec::new()
    }

    /// Problems with the agent's configuration, checked by the orchestrator
    /// before it starts anything; see
    /// [`AgentOptions::validation`](super::AgentOptions::validation) for
    /// which of them abort. Agents with an [`AgentConfig`](super::AgentConfig)
    /// return its `validate()`. Default: none.
    fn validate(&self) -> Vec<ConfigIssue> {
        Vec::new()
    }
}
