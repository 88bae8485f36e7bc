//! Keeps the run's events (bounded), logs them, and hands them to live
//! subscribers.

use std::collections::VecDeque;
use std::sync::mpsc::{SyncSender, TrySendError};

use super::{EventKind, StatusEvent};

/// A live event callback.
pub(crate) type Callback = Box<dyn FnMut(&StatusEvent) + Send>;

/// Where events go.
pub(crate) struct Recorder {
    /// The most recent events, oldest first.
    events: VecDeque<StatusEvent>,
    /// Bound of `events`.
    capacity: usize,
    /// Events dropped from `events` because it was full.
    dropped: u64,
    /// Bounded channels of [`Orchestrator::subscribe`](super::Orchestrator::subscribe).
    subscribers: Vec<SyncSender<StatusEvent>>,
    /// Callbacks of [`Orchestrator::on_event`](super::Orchestrator::on_event).
    callbacks: Vec<Callback>,
}

impl Recorder {
    pub(crate) fn new(
        capacity: usize,
        subscribers: Vec<SyncSender<StatusEvent>>,
        callbacks: Vec<Callback>,
    ) -> Self {
        Self {
            events: VecDeque::new(),
            capacity: capacity.max(1),
            dropped: 0,
            subscribers,
            callbacks,
        }
    }

    pub(crate) fn record(&mut self, event: StatusEvent) {
        log(&event);
        for callback in &mut self.callbacks {
            callback(&event);
        }
        self.subscribers
            .retain(|subscriber| match subscriber.try_send(event.clone()) {
                Ok(()) | Err(TrySendError::Full(_)) => true,
                Err(TrySendError::Disconnected(_)) => false,
            });
        if self.events.len() == self.capacity {
            self.events.pop_front();
            self.dropped += 1;
        }
        self.events.push_back(event);
    }

    /// The kept events and how many were dropped.
    pub(crate) fn finish(self) -> (Vec<StatusEvent>, u64) {
        (self.events.into(), self.dropped)
    }
}

fn log(event: &StatusEvent) {
    let agent = &*event.agent;
    match &event.kind {
        EventKind::Heartbeat => tracing::trace!(agent, "heartbeat"),
        EventKind::Warning(message) => tracing::warn!(agent, %message, "agent warning"),
        EventKind::Failed(cause) => tracing::error!(agent, %cause, "agent failed"),
        EventKind::ForcedStop => tracing::error!(agent, "agent stopped by force"),
        kind => tracing::info!(agent, event = %kind, "agent event"),
    }
}
