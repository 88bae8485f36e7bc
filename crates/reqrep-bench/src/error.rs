//! Why a measurement or the whole run failed.

use std::path::PathBuf;

/// Why a measurement or the whole run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// A raw libzmq call failed.
    #[error("zmq: {0}")]
    Zmq(#[from] zmq::Error),
    /// A reqrep request, worker or broker call failed.
    #[error("reqrep: {0}")]
    Reqrep(String),
    /// A run did not finish within its time bound.
    #[error("timed out: {0}")]
    Timeout(String),
    /// A reply did not carry the request's payload.
    #[error("reply payload mismatch: expected {expected} bytes, got {got}")]
    Mismatch {
        /// Bytes sent.
        expected: usize,
        /// Bytes received.
        got: usize,
    },
    /// A NATS server, connection or request failed.
    #[error("nats: {0}")]
    Nats(String),
    /// A benchmark process (broker, worker, client) failed.
    #[error("process: {0}")]
    Process(String),
    /// A thread or runtime could not start, or a helper thread panicked.
    #[error("thread: {0}")]
    Thread(String),
    /// The memory probe child process failed.
    #[error("memory probe: {0}")]
    Probe(String),
    /// An output file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Rows with a side that no run could measure.
    #[error("{0} row(s) could not be measured (see the report)")]
    Unmeasured(usize),
    /// The chart could not be drawn.
    #[error("chart: {0}")]
    Chart(String),
}

impl BenchError {
    /// A reqrep-side failure, from any displayable error.
    pub(crate) fn reqrep(e: impl std::fmt::Display) -> Self {
        Self::Reqrep(e.to_string())
    }

    /// A thread failure, from any displayable error.
    pub(crate) fn thread(e: impl std::fmt::Display) -> Self {
        Self::Thread(e.to_string())
    }
}
