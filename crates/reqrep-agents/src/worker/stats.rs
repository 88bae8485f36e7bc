//! [`WorkerStats`]: what a worker counted over its life.

/// Counters of a worker's life, kept by its
/// [`WorkerSession`](super::WorkerSession).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerStats {
    /// Requests received (delivered to the application, or waiting for a
    /// credit).
    pub requests: u64,
    /// Replies the application produced that were sent to the broker.
    pub replies: u64,
    /// Sessions started (1 + reconnects).
    pub sessions: u64,
    /// Malformed or unexpected messages from the broker (the rejected
    /// requests below included).
    pub malformed: u64,
    /// Requests the worker answered itself without running them: ones it
    /// could not decode (`INVALID_ARGUMENT`) and ones beyond its credits
    /// (`RESOURCE_EXHAUSTED`).
    pub rejected: u64,
    /// Requests given up because the broker was lost first: ones still
    /// waiting for a credit, and replies that found no connection. The
    /// broker has already re-dispatched or failed each of them.
    pub abandoned: u64,
}
