//! The base agent: [`Agent`].

use super::{AgentContext, AgentError, ConfigIssue};
use crate::Plugin;

/// A unit of work the orchestrator runs: a thread, task or child process
/// with a lifecycle.
///
/// The runtime calls, in order, on the agent's own thread:
///
/// 1. `init` on each plugin from [`Agent::plugins`], in declaration order;
/// 2. [`Agent::setup`]; once it returns the agent is *ready* (a `Ready`
///    event) and its dependents may start;
/// 3. [`Agent::execute`], the agent's work, which ends the run when it
///    returns;
/// 4. [`Agent::on_stop`], only if the agent was asked to stop, once, at
///    the first safe point after the request (see below);
/// 5. [`Agent::on_close`], always, even after a failed plugin, a failed
///    `setup` or `execute`, or a panic;
/// 6. `finalize` on every plugin in reverse order, always.
///
/// A failing plugin `init` skips the remaining inits, `setup` and
/// `execute`; a failing `setup` skips `execute`. A hook that returns an
/// error ends the agent with `Error`; a panic anywhere ends it with
/// `Critical`.
///
/// # Stopping
/// An agent is asked to stop by the orchestrator (its stop or shutdown, a
/// start timeout) or by itself ([`AgentContext::request_stop`]). From that
/// moment [`AgentContext::is_stopped`] is true and the context's
/// [`StopToken`](crate::StopToken) is stopped, which ends every wait on it
/// at once: `execute` (or a looping agent's `cycle`, a periodic agent's
/// `runner`) sees the stop there and should return soon. The runtime looks
/// at the stop at two safe points:
///
/// - when the start is over (the plugins' inits and `setup` returned, or
///   one of them failed): if the agent is stopped, it reports no `Ready`,
///   skips `execute` (and `setup` too when the stop came during a plugin
///   init), and calls `on_stop`;
/// - when `execute` has returned, normally or with an error: if the agent
///   is stopped, it calls `on_stop`.
///
/// [`Looping`](super::Looping) and [`Periodic`](super::Periodic) agents
/// return from `execute` at once at their own safe points (between cycles,
/// during the wait between runs), so their `on_stop` follows right there.
/// An agent that ends by itself, without a stop, gets no `on_stop`; after
/// a panic in the start or in `execute` there is none either.
///
/// An agent blocked in a call that ignores its token is reached by
/// [`AgentContext::on_stop_requested`], whose hook runs on the stopping
/// thread at the moment of the request. An agent that has not ended
/// within its stop timeout is stopped by force, without waiting for its
/// `on_stop` or `on_close`: a thread or task is abandoned, a child process
/// killed.
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
    /// A stop during `setup` (a start timeout, a shutdown) stops the
    /// context's token: `setup` should return, and `execute` is then not
    /// called.
    ///
    /// # Errors
    /// Any [`AgentError`] fails the agent; `execute` is not called.
    fn setup(&mut self, ctx: &AgentContext) -> Result<(), AgentError> {
        let _ = ctx;
        Ok(())
    }

    /// The agent's work; the agent is done when it returns. Long waits use
    /// the context's stop token, and return when it is stopped.
    ///
    /// # Errors
    /// Any [`AgentError`] ends the agent with status `Error`.
    fn execute(&mut self, ctx: &AgentContext) -> Result<(), AgentError>;

    /// Winds the agent down after a stop was requested, on the agent's own
    /// thread, once, when `setup` or `execute` returns with the agent
    /// stopped (see [Stopping](Agent#stopping)); not called when the agent
    /// ended by itself, nor after a panic. `on_close` follows. Default:
    /// nothing.
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
