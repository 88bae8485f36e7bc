//! Errors of the agent runtime: [`AgentError`] for hooks, [`OrchestratorError`]
//! for registration and start-up.

use std::fmt;
use std::time::Duration;

use crate::PluginError;

/// Why an agent hook failed.
///
/// Whether an error is recoverable matters where the runtime loops: a
/// [`LoopingAgent`](super::LoopingAgent) or [`PeriodicAgent`](super::PeriodicAgent)
/// logs a recoverable error and carries on with the next cycle, while a fatal
/// one ends the agent with status `Error`. Outside a loop every error fails
/// the hook that returned it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// A passing problem (a timed-out request, a dropped peer); the next cycle
    /// may well succeed.
    #[error("{0}")]
    Recoverable(String),
    /// The agent cannot go on.
    #[error("{0}")]
    Fatal(String),
    /// A plugin the agent uses failed.
    #[error(transparent)]
    Plugin(#[from] PluginError),
}

impl AgentError {
    /// A [`AgentError::Recoverable`] error with `cause`'s message.
    pub fn recoverable(cause: impl fmt::Display) -> Self {
        Self::Recoverable(cause.to_string())
    }

    /// A [`AgentError::Fatal`] error with `cause`'s message.
    pub fn fatal(cause: impl fmt::Display) -> Self {
        Self::Fatal(cause.to_string())
    }

    /// Whether a loop may go on after this error.
    pub fn is_recoverable(&self) -> bool {
        matches!(self, Self::Recoverable(_))
    }
}

/// Why the orchestrator refused a registration or could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OrchestratorError {
    /// Another agent already has this name.
    #[error("an agent named {0:?} is already registered")]
    DuplicateName(String),
    /// Names must be non-empty and free of control characters.
    #[error("invalid agent name {0:?}: names must be non-empty and free of control characters")]
    InvalidName(String),
    /// An agent depends on a name nobody registered.
    #[error("agent {agent:?} depends on unknown agent {dependency:?}")]
    UnknownDependency {
        /// The agent declaring the dependency.
        agent: String,
        /// The missing name.
        dependency: String,
    },
    /// The dependencies form a cycle (listed from its first agent back to it).
    #[error("dependency cycle: {}", .0.join(" -> "))]
    DependencyCycle(Vec<String>),
    /// A heartbeat timeout that does not exceed the agent's heartbeat
    /// interval (see [`AgentOptions::heartbeat_timeout`](super::AgentOptions::heartbeat_timeout)).
    #[error(
        "agent {agent:?}: the heartbeat timeout of {timeout:?} must exceed its heartbeat interval of {interval:?}"
    )]
    HeartbeatTimeout {
        /// The agent.
        agent: String,
        /// Its heartbeat timeout.
        timeout: Duration,
        /// Its heartbeat interval.
        interval: Duration,
    },
    /// The tokio runtime for [`ExecutionMode::Task`](super::ExecutionMode::Task)
    /// agents could not be built.
    #[error("cannot start the tokio runtime for task agents: {0}")]
    Runtime(#[source] std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_errors_keep_their_message() {
        let err = AgentError::from(PluginError {
            plugin: "rep".into(),
            cause: "address in use".into(),
        });
        assert_eq!(
            err.to_string(),
            "plugin rep failed to initialise: address in use"
        );
        assert!(!err.is_recoverable());
        assert!(AgentError::recoverable("timeout").is_recoverable());
        assert!(!AgentError::fatal("gone").is_recoverable());
    }

    #[test]
    fn cycles_read_as_a_path() {
        let err = OrchestratorError::DependencyCycle(vec!["a".into(), "b".into(), "a".into()]);
        assert_eq!(err.to_string(), "dependency cycle: a -> b -> a");
    }
}
