//! What a run returns: [`RunReport`].

use std::sync::Arc;

use super::{StatusEvent, TerminationStatus};

/// The outcome of `Orchestrator::run`: each agent's final status and the
/// events recorded on the way.
///
/// An agent started again through the
/// [`OrchestratorHandle`](super::OrchestratorHandle) has several
/// `Terminated` events; its final status is the one of the last.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// Final statuses in registration order.
    statuses: Vec<(Arc<str>, TerminationStatus)>,
    /// The recorded events, oldest first (the most recent ones when more
    /// than the capacity happened).
    events: Vec<StatusEvent>,
    /// How many events were dropped for capacity.
    dropped_events: u64,
}

impl RunReport {
    pub(crate) fn new(
        statuses: Vec<(Arc<str>, TerminationStatus)>,
        events: Vec<StatusEvent>,
        dropped_events: u64,
    ) -> Self {
        Self {
            statuses,
            events,
            dropped_events,
        }
    }

    /// The final status of the agent named `agent`.
    pub fn status(&self, agent: &str) -> Option<TerminationStatus> {
        self.statuses
            .iter()
            .find(|(name, _)| &**name == agent)
            .map(|(_, status)| *status)
    }

    /// Every agent's final status, in registration order.
    pub fn statuses(&self) -> impl Iterator<Item = (&str, TerminationStatus)> + '_ {
        self.statuses
            .iter()
            .map(|(name, status)| (&**name, *status))
    }

    /// The worst final status of all agents (`Success` when there are none).
    pub fn worst(&self) -> TerminationStatus {
        self.statuses
            .iter()
            .map(|(_, status)| *status)
            .max()
            .unwrap_or_default()
    }

    /// The recorded events, oldest first.
    pub fn events(&self) -> &[StatusEvent] {
        &self.events
    }

    /// The recorded events of one agent, oldest first.
    pub fn events_for<'a>(&'a self, agent: &'a str) -> impl Iterator<Item = &'a StatusEvent> + 'a {
        self.events
            .iter()
            .filter(move |event| &*event.agent == agent)
    }

    /// How many events were dropped because the record was full.
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
    }
}
