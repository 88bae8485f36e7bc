//! Status events: what the orchestrator records about each agent
//! ([`StatusEvent`], [`EventKind`]).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::TerminationStatus;

/// What happened to an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// An attempt was launched (1 for the first run, +1 per restart).
    Started {
        /// The attempt number, from 1.
        attempt: u32,
    },
    /// Its plugins are initialised and `setup` returned: dependents may start.
    Ready,
    /// The agent is alive (looping and periodic agents send one per cycle,
    /// rate-limited by [`AgentOptions::heartbeat_interval`](super::AgentOptions::heartbeat_interval)).
    Heartbeat,
    /// Something is off but the agent goes on (a configuration warning, a
    /// recoverable error).
    Warning(String),
    /// The orchestrator asked the agent to stop.
    StopRequested,
    /// The cause of a failure (a hook error, a plugin that could not
    /// initialise, a panic, a crashed child process, a timeout).
    Failed(String),
    /// The agent did not stop within its stop timeout: the stop is forced
    /// (followed by [`Self::Abandoned`] or [`Self::Killed`]).
    ForcedStop,
    /// An attempt ended cleanly through its lifecycle: `on_close` and the
    /// plugins' `finalize` ran. The status is the attempt's.
    Closed(TerminationStatus),
    /// A thread or task attempt that ignored its stop was left running: its
    /// `on_close` has not run (and is not reported if it ever does). The
    /// attempt counts as `Critical`.
    Abandoned,
    /// A child-process attempt that ignored its stop was killed: its
    /// `on_close` did not run. The attempt counts as `Critical`.
    Killed,
    /// A child process ended without reporting its close: it crashed, was
    /// killed from outside, or called `std::process::exit` in the middle of
    /// its run. `on_close` did not run (or its end was never reported). The
    /// attempt counts as `Critical`.
    ExitedWithoutClosing {
        /// The exit code, when the process exited rather than being ended by
        /// a signal.
        code: Option<i32>,
    },
    /// A failed agent will be started again after `delay`.
    Restarting {
        /// The number of the coming attempt.
        attempt: u32,
        /// How long the orchestrator waits first.
        delay: Duration,
    },
    /// The agent is done, with its final status: its last event, unless it
    /// is started again through the
    /// [`OrchestratorHandle`](super::OrchestratorHandle) (then `Started`
    /// follows, and a later `Terminated` gives the new final status).
    Terminated(TerminationStatus),
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Started { attempt } => write!(f, "started (attempt {attempt})"),
            Self::Ready => f.write_str("ready"),
            Self::Heartbeat => f.write_str("heartbeat"),
            Self::Warning(message) => write!(f, "warning: {message}"),
            Self::StopRequested => f.write_str("stop requested"),
            Self::Failed(cause) => write!(f, "failed: {cause}"),
            Self::ForcedStop => f.write_str("forced stop"),
            Self::Closed(status) => write!(f, "closed ({status})"),
            Self::Abandoned => f.write_str("abandoned (its thread is left running)"),
            Self::Killed => f.write_str("killed"),
            Self::ExitedWithoutClosing { code: Some(code) } => {
                write!(f, "exited with code {code} without closing")
            }
            Self::ExitedWithoutClosing { code: None } => {
                f.write_str("ended by a signal without closing")
            }
            Self::Restarting { attempt, delay } => {
                write!(f, "restarting (attempt {attempt} in {delay:?})")
            }
            Self::Terminated(status) => write!(f, "terminated ({status})"),
        }
    }
}

/// How an attempt's end reached the driver: through its lifecycle, or
/// without it (a child process that exited before reporting its close).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// The lifecycle ran to its end: `on_close` and `finalize` ran.
    Closed,
    /// The attempt was dropped before its lifecycle began (a tokio
    /// runtime shutting down): its `Failed` event says so.
    NotRun,
    /// A child process exited without reporting its close.
    Unclosed {
        /// Its exit code, when it exited (not ended by a signal).
        code: Option<i32>,
    },
}

/// One recorded event with its agent and time.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StatusEvent {
    /// The agent's registered name.
    pub agent: Arc<str>,
    /// Wall-clock time, for logs and people.
    pub time: SystemTime,
    /// Monotonic time, for ordering and measuring.
    pub at: Instant,
    /// What happened.
    pub kind: EventKind,
}

impl StatusEvent {
    /// An event stamped now.
    pub fn now(agent: Arc<str>, kind: EventKind) -> Self {
        Self {
            agent,
            time: SystemTime::now(),
            at: Instant::now(),
            kind,
        }
    }
}

impl fmt::Display for StatusEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.agent, self.kind)
    }
}
