//! What the orchestrator knows of one agent right now: [`AgentStatus`] and
//! its [`AgentState`], as [`OrchestratorHandle::status`](super::OrchestratorHandle::status)
//! reports them.

use std::fmt;
use std::time::{Duration, Instant};

use super::TerminationStatus;

/// Where an agent is in its life.
///
/// PyOrchestrate's states map onto these: REGISTERED is [`Self::Registered`],
/// STARTING [`Self::Starting`], RUNNING [`Self::Running`], STOPPING
/// [`Self::Stopping`], TERMINATED and FAILED are [`Self::Terminated`] (FAILED
/// with a status that [`is_failure`](TerminationStatus::is_failure)), and
/// QUARANTINED comes closest to [`Self::Abandoned`]. [`Self::Waiting`] and
/// [`Self::BackingOff`] have no counterpart there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AgentState {
    /// Registered; the run has not begun.
    Registered,
    /// Not launched yet: waiting for its dependencies or for a slot
    /// ([`OrchestratorOptions::max_agents`](super::OrchestratorOptions::max_agents)).
    Waiting,
    /// Launched, not ready yet (plugins initialising, `setup` running).
    Starting,
    /// Ready and working.
    Running,
    /// Asked to stop (or failed while running), its attempt not ended yet.
    Stopping,
    /// An attempt failed; the restart policy starts the next one after a
    /// delay.
    BackingOff,
    /// Done, with its final status. Final unless it is started again through
    /// the [`OrchestratorHandle`](super::OrchestratorHandle).
    Terminated(TerminationStatus),
    /// Terminated (`Critical`) by a forced stop that left its thread or task
    /// running with the agent: it cannot be started again, unless that
    /// thread ends after all and hands the agent back.
    Abandoned,
}

impl AgentState {
    /// Whether the agent is done ([`Self::Terminated`] or [`Self::Abandoned`]).
    pub fn is_terminated(self) -> bool {
        matches!(self, Self::Terminated(_) | Self::Abandoned)
    }
}

impl fmt::Display for AgentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Registered => f.write_str("registered"),
            Self::Waiting => f.write_str("waiting"),
            Self::Starting => f.write_str("starting"),
            Self::Running => f.write_str("running"),
            Self::Stopping => f.write_str("stopping"),
            Self::BackingOff => f.write_str("backing off"),
            Self::Terminated(status) => write!(f, "terminated ({status})"),
            Self::Abandoned => f.write_str("abandoned"),
        }
    }
}

/// One agent's status: its state, attempts, restarts and liveness.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AgentStatus {
    /// Where it is in its life.
    pub state: AgentState,
    /// The current (or last) attempt, from 1; 0 before the first launch.
    pub attempt: u32,
    /// Restarts by the restart policy since the agent was last started
    /// (the budget that `max_restarts` bounds; a start or restart through
    /// the handle resets it).
    pub restarts: u32,
    /// When the agent last reported that it is alive (its `Ready` or a
    /// `Heartbeat`), in any attempt.
    pub last_heartbeat: Option<Instant>,
    /// The final status while terminated; otherwise the status of the last
    /// attempt that ended, if any did.
    pub status: Option<TerminationStatus>,
}

impl AgentStatus {
    /// The status of an agent the run has not begun with.
    pub(crate) fn registered() -> Self {
        Self {
            state: AgentState::Registered,
            attempt: 0,
            restarts: 0,
            last_heartbeat: None,
            status: None,
        }
    }
}

/// For a command-line or HTTP view, e.g. `running, attempt 2, restarts 1,
/// last heartbeat 120ms ago`.
impl fmt::Display for AgentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}, attempt {}, restarts {}",
            self.state, self.attempt, self.restarts
        )?;
        if let Some(at) = self.last_heartbeat {
            let age =
                Duration::from_millis(u64::try_from(at.elapsed().as_millis()).unwrap_or(u64::MAX));
            write!(f, ", last heartbeat {age:?} ago")?;
        }
        if let (Some(status), false) = (self.status, self.state.is_terminated()) {
            write!(f, ", last attempt {status}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_well() {
        let mut status = AgentStatus::registered();
        assert_eq!(status.to_string(), "registered, attempt 0, restarts 0");
        status.state = AgentState::BackingOff;
        status.attempt = 2;
        status.restarts = 1;
        status.status = Some(TerminationStatus::Error);
        assert_eq!(
            status.to_string(),
            "backing off, attempt 2, restarts 1, last attempt ERROR"
        );
        status.state = AgentState::Terminated(TerminationStatus::Warning);
        status.status = Some(TerminationStatus::Warning);
        assert_eq!(
            status.to_string(),
            "terminated (WARNING), attempt 2, restarts 1"
        );
        status.last_heartbeat = Some(Instant::now());
        assert!(status.to_string().contains(", last heartbeat "));
        assert!(AgentState::Abandoned.is_terminated());
        assert!(!AgentState::Stopping.is_terminated());
    }
}
