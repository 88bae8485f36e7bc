//! Errors of requests, plugins and workers: typed, so callers can match.

use std::time::Duration;

use reqrep_core::socket::SocketError;
use reqrep_core::{Code, DecodeError, Status};

/// Why a request produced no successful reply.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// No reply within the timeout, after every attempt.
    #[error("no reply after {attempts} attempt(s) within {elapsed:?}")]
    Timeout {
        /// Attempts made.
        attempts: u32,
        /// Time spent in all.
        elapsed: Duration,
    },
    /// The request's total budget ([`ClientOptions::total_timeout`]) ran out
    /// with attempts left: the last attempt timed out and no further attempt
    /// (or no backoff before it) fitted in what remained.
    ///
    /// [`ClientOptions::total_timeout`]: crate::ClientOptions::total_timeout
    #[error("no reply after {attempts} attempt(s) within the total budget of {budget:?}")]
    BudgetExhausted {
        /// Attempts made (0 when the budget was zero to begin with).
        attempts: u32,
        /// Time spent in all.
        elapsed: Duration,
        /// The total budget.
        budget: Duration,
    },
    /// The replier, worker or broker answered with a non-OK status (other
    /// than `PERMISSION_DENIED`, which is [`RequestError::PermissionDenied`]).
    #[error("{0}")]
    Status(Status),
    /// The broker refused the request with `PERMISSION_DENIED`: its access
    /// policy does not let this client's identity (the public key of its
    /// CURVE key pair, see
    /// [`ClientOptions::curve_identity`](crate::ClientOptions::curve_identity))
    /// call the service. Final: never retried, since asking again gets the
    /// same answer until the policy changes.
    ///
    /// A key the policy does not list at all is refused earlier, at the
    /// CURVE handshake, and no message is exchanged: the client then sees
    /// [`RequestError::Timeout`] (or [`RequestError::BudgetExhausted`]),
    /// while the broker counts the refusal.
    #[error("{0}")]
    PermissionDenied(Status),
    /// The socket failed (bad endpoint, bind or connect error, libzmq error).
    #[error("transport error: {0}")]
    Transport(#[from] SocketError),
    /// The request is larger than the configured limits; nothing was sent.
    #[error("request too large: {size} bytes, limit {max}")]
    TooLarge {
        /// Payload bytes.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The stop token was triggered while waiting.
    #[error("stopped while waiting for a reply")]
    Stopped,
    /// The operation does not fit this socket kind or mode.
    #[error("{0}")]
    Usage(&'static str),
    /// The client's I/O task is gone.
    #[error("client closed")]
    Closed,
    /// A plugin's request was made before the plugin's `init` or after its
    /// `finalize`: most often the agent does not list the plugin in
    /// [`Agent::plugins`](crate::runtime::Agent::plugins), so the runtime
    /// never initialised it.
    #[error("plugin not initialised: list it in `Agent::plugins()`")]
    NotInitialised,
    /// A non-waiting request found the client's command queue full
    /// ([`ClientOptions::queue_capacity`]); nothing was sent.
    ///
    /// [`ClientOptions::queue_capacity`]: crate::ClientOptions::queue_capacity
    #[error("client queue full ({capacity} requests waiting)")]
    Full {
        /// The queue's capacity.
        capacity: usize,
    },
}

impl RequestError {
    /// The status code this error corresponds to: the peer's code for
    /// [`RequestError::Status`], `DEADLINE_EXCEEDED` for timeouts and an
    /// exhausted budget, `RESOURCE_EXHAUSTED` for a full queue, and so on.
    pub fn code(&self) -> Code {
        match self {
            Self::Timeout { .. } | Self::BudgetExhausted { .. } => Code::DeadlineExceeded,
            Self::Status(s) => s.code,
            Self::PermissionDenied(_) => Code::PermissionDenied,
            Self::Transport(_) | Self::Closed => Code::Unavailable,
            Self::TooLarge { .. } | Self::Full { .. } => Code::ResourceExhausted,
            Self::Stopped => Code::Cancelled,
            Self::Usage(_) | Self::NotInitialised => Code::FailedPrecondition,
        }
    }

    /// The error for a reply carrying the non-OK `status`:
    /// [`RequestError::PermissionDenied`] for `PERMISSION_DENIED`,
    /// [`RequestError::Status`] for every other code.
    pub fn from_status(status: Status) -> Self {
        if status.code == Code::PermissionDenied {
            Self::PermissionDenied(status)
        } else {
            Self::Status(status)
        }
    }
}

impl From<zmq::Error> for RequestError {
    fn from(e: zmq::Error) -> Self {
        Self::Transport(SocketError::Zmq(e))
    }
}

/// Errors of the plugin's plain `send` / `recv` calls.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReqRepError {
    /// A non-blocking call found nothing to do now.
    #[error("operation would block")]
    WouldBlock,
    /// The plugin was used before `init` or after `finalize`: most often
    /// the agent does not list it in
    /// [`Agent::plugins`](crate::runtime::Agent::plugins), so the runtime
    /// never initialised it.
    #[error("plugin not initialised: list it in `Agent::plugins()`")]
    NotInitialised,
    /// A received message was not a valid reqrep envelope (counted and
    /// dropped; in REP mode it is answered INVALID_ARGUMENT).
    #[error("malformed message: {0}")]
    Malformed(#[from] DecodeError),
    /// `send` and `recv` were called out of order for this socket kind.
    #[error("{0}")]
    Usage(&'static str),
    /// A request-level failure (timeout, error status, ...).
    #[error(transparent)]
    Request(#[from] RequestError),
}

impl From<zmq::Error> for ReqRepError {
    fn from(e: zmq::Error) -> Self {
        if e == zmq::Error::EAGAIN {
            Self::WouldBlock
        } else {
            Self::Request(e.into())
        }
    }
}

impl From<SocketError> for ReqRepError {
    fn from(e: SocketError) -> Self {
        Self::Request(RequestError::Transport(e))
    }
}

/// Why a worker stopped abnormally.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// The socket could not be set up.
    #[error(transparent)]
    Transport(#[from] SocketError),
    /// A handler thread could not be started.
    #[error("cannot start a handler thread: {0}")]
    Thread(std::io::Error),
    /// The broker refused this worker for good: it answered with DISCONNECT
    /// carrying `PERMISSION_DENIED` (its access policy does not let this
    /// worker's identity serve the service, or no longer does) or
    /// `UNAUTHENTICATED`. The worker stopped instead of reconnecting, since
    /// registering again would get the same answer; the status says why.
    #[error("the broker refused this worker: {0}; check the broker's access policy")]
    Refused(Status),
    /// A worker for several brokers was given fewer credits than brokers:
    /// each broker's session announces at least one.
    #[error(
        "{credits} credits for {brokers} brokers: a worker needs at least one credit per broker"
    )]
    TooFewCredits {
        /// The credits asked for.
        credits: u32,
        /// The brokers given.
        brokers: usize,
    },
    /// A worker was given no broker endpoint.
    #[error("no broker endpoint given")]
    NoBroker,
}

impl From<zmq::Error> for WorkerError {
    fn from(e: zmq::Error) -> Self {
        Self::Transport(SocketError::Zmq(e))
    }
}
