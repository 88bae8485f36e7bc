//! The agent runtime: agents with a lifecycle, run by an orchestrator as
//! threads, tokio blocking tasks or child processes.
//!
//! An [`Agent`] has hooks `setup`, `execute`, `on_stop` and `on_close`, and
//! declares [`Plugin`](crate::Plugin)s that the runtime initialises before
//! `setup` and finalises after `on_close`. [`LoopingAgent`] (a `cycle` run up
//! to a `limit`) and [`PeriodicAgent`] (a `runner` on a [`Schedule`], timed
//! as its [`Timing`] says) become agents through the [`Looping`] and
//! [`Periodic`] adapters. Configuration is typed ([`AgentConfig`]) and
//! checked before start against a [`ValidationPolicy`].
//!
//! The [`Orchestrator`] registers agents under unique names and runs them:
//! dependencies first, each within its start timeout; stops them dependents
//! first, each within its stop timeout or by force; restarts failed ones per
//! [`RestartPolicy`]; records [`StatusEvent`]s (also live, through
//! [`Orchestrator::subscribe`]); and returns a [`TerminationStatus`] per
//! agent in its [`RunReport`].
//!
//! ```
//! use std::time::Duration;
//! use reqrep_agents::runtime::{
//!     AgentConfig, AgentContext, AgentError, AgentOptions, EventKind, Orchestrator,
//!     OrchestratorOptions, Periodic, PeriodicAgent, PeriodicConfig, RunMode, TerminationStatus,
//! };
//!
//! struct Ping;
//!
//! impl PeriodicAgent for Ping {
//!     fn runner(&mut self, _ctx: &AgentContext) -> Result<(), AgentError> {
//!         Ok(())
//!     }
//! }
//!
//! let config = PeriodicConfig::default().with(|c| c.interval = Duration::from_millis(5));
//! let mut orchestrator = Orchestrator::new(OrchestratorOptions::default().run_mode(RunMode::Daemon));
//! orchestrator.register("ping", Periodic::new(Ping, config), AgentOptions::default())?;
//! let events = orchestrator.subscribe();
//! let shutdown = orchestrator.shutdown_handle();
//! let run = std::thread::spawn(move || orchestrator.run());
//!
//! // Stop once the agent is up.
//! while events.recv_timeout(Duration::from_secs(5)).expect("an event").kind != EventKind::Ready {}
//! shutdown.stop();
//! let report = run.join().expect("no panic")?;
//! assert_eq!(report.status("ping"), Some(TerminationStatus::Success));
//! # Ok::<(), reqrep_agents::runtime::OrchestratorError>(())
//! ```
//!
//! ## Execution modes
//! - [`ExecutionMode::Thread`]: a thread per agent; panics are caught
//!   (`Critical`) and `on_close` and the plugins' `finalize` still run.
//! - [`ExecutionMode::Task`]: the same blocking hooks on a tokio runtime's
//!   blocking pool (`spawn_blocking`). Agents stay blocking code (their
//!   sockets are blocking); an async hook trait would only wrap them.
//! - [`ExecutionMode::Process`]: the orchestrator re-executes the current
//!   program with `REQREP_AGENT_CHILD=<name>`; there, [`Orchestrator::run`]
//!   runs only that agent and exits with the code of its status
//!   ([`TerminationStatus::exit_code`]). The child's stdin is its stop
//!   signal (a `stop` line, or end of file when the orchestrator goes away);
//!   its stdout carries events to the orchestrator, which forwards all other
//!   output, and last of all the child's close with its status. A child that
//!   exits without that close line (a crash, a signal, `std::process::exit`
//!   in a hook) is [`EventKind::ExitedWithoutClosing`] and `Critical`. A
//!   crash stays in the child. Everything `main` does before `run` runs
//!   again in each child unless guarded by [`Orchestrator::child_agent`];
//!   debug builds warn when a child finds threads or sockets already there
//!   as its `run` begins.
//!
//! ## Forced stops
//! An agent that does not end within its stop timeout is `Critical`. A
//! thread or blocking task cannot be killed safely: it is abandoned (left
//! running, detached) and not restarted, since it still owns the agent (nor
//! started again through the handle, unless that thread ends after all). A
//! child process is killed, and may be restarted. Either way the events are
//! `ForcedStop`, `Failed`, then [`EventKind::Abandoned`] or
//! [`EventKind::Killed`].
//!
//! ## Control
//! An [`OrchestratorHandle`] ([`Orchestrator::handle`]) stops, starts and
//! restarts single agents of a running orchestrator and reads each one's
//! [`AgentStatus`]; [`AgentOptions::heartbeat_timeout`] fails a running
//! agent that falls silent; [`OrchestratorOptions::max_agents`] bounds the
//! agents running at once.
//!
//! ## Layout
//! - `agent`: [`Agent`].
//! - `context`: [`AgentContext`].
//! - `error`: [`AgentError`], [`OrchestratorError`].
//! - `config`: [`AgentConfig`], [`ConfigIssue`], [`Severity`], [`ValidationPolicy`].
//! - `looping`, `periodic`: the looping and periodic agents and adapters.
//! - `timing`, `schedule`: [`Timing`] (what to do after an overrun) and
//!   [`Schedule`], the periodic run times it gives (pure).
//! - `status`, `event`: [`TerminationStatus`], [`StatusEvent`], [`EventKind`].
//! - `options`, `restart`: [`AgentOptions`], [`OrchestratorOptions`], [`RestartPolicy`].
//! - `orchestrator`, `report`: [`Orchestrator`], [`RunReport`]; a run is
//!   stopped through its [`StopToken`](crate::StopToken).
//! - `handle`, `agent_status`: [`OrchestratorHandle`], [`ControlError`],
//!   [`AgentStatus`], [`AgentState`].
//! - `graph`, `supervision`, `plan`: dependency order and the supervision
//!   state machines (no threads, no clock).
//! - `driver`, `recorder`: the loop that carries out the plan, and the event record.
//! - `lifecycle`, `attempt`: running the hooks in a thread or task.
//! - `process`, `child`, `child_wire`: both sides of a child-process agent;
//!   `rerun`: the debug-build warning about work that ran again in a child.

mod agent;
mod agent_status;
mod attempt;
mod child;
mod child_wire;
mod config;
mod context;
mod driver;
mod error;
mod event;
mod graph;
mod handle;
mod lifecycle;
mod looping;
mod options;
mod orchestrator;
mod periodic;
mod plan;
mod process;
mod recorder;
mod report;
mod rerun;
mod restart;
mod schedule;
mod status;
mod supervision;
mod timing;

pub use agent::Agent;
pub use agent_status::{AgentState, AgentStatus};
pub use config::{AgentConfig, ConfigIssue, Severity, ValidationPolicy, Verdict};
pub use context::AgentContext;
pub use error::{AgentError, OrchestratorError};
pub use event::{EventKind, StatusEvent};
pub use handle::{ControlError, OrchestratorHandle};
pub use looping::{LoopConfig, Looping, LoopingAgent};
pub use options::{AgentOptions, ExecutionMode, OrchestratorOptions, RunMode};
pub use orchestrator::Orchestrator;
pub use periodic::{Periodic, PeriodicAgent, PeriodicConfig};
pub use report::RunReport;
pub use restart::RestartPolicy;
pub use schedule::Schedule;
pub use status::{EXIT_CRITICAL, EXIT_ERROR, EXIT_SUCCESS, EXIT_WARNING, TerminationStatus};
pub use timing::Timing;
