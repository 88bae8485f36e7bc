//! Client options and the reply type.

use std::time::Duration;

use reqrep_core::curve::Curve;
use reqrep_core::socket::SocketOptions;
use reqrep_core::{CorrelationId, Frame, Limits, Metadata, RetryPolicy};

/// How a client sends requests. Every setter documents its default.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub(crate) timeout: Duration,
    pub(crate) retry: RetryPolicy,
    pub(crate) idempotent: bool,
    pub(crate) fail_fast: bool,
    pub(crate) limits: Limits,
    pub(crate) socket: SocketOptions,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_millis(2500),
            retry: RetryPolicy::default(),
            idempotent: false,
            fail_fast: false,
            limits: Limits::default(),
            socket: SocketOptions::default(),
        }
    }
}

impl ClientOptions {
    /// How long each attempt waits for its reply; also the budget sent on
    /// the wire. Default: 2500 ms.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Attempts and backoff between them. Default: 3 attempts, 50 ms initial
    /// backoff doubling up to 2 s, jitter 0.5. Retries reuse the correlation
    /// id (with `attempt` incremented), so the broker never runs a retry
    /// twice while the first is still in flight.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Marks requests safe to run more than once: the broker may then
    /// re-dispatch them after a worker is lost and answer retries from its
    /// reply cache. Default: false.
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }

    /// Asks the broker to answer `UNAVAILABLE` at once when the service has
    /// no worker, instead of queueing. Default: false.
    pub fn fail_fast(mut self, fail_fast: bool) -> Self {
        self.fail_fast = fail_fast;
        self
    }

    /// Size limits, checked before sending and when decoding replies.
    /// Default: [`Limits::default`].
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Socket options. Default: [`SocketOptions::default`].
    pub fn socket_options(mut self, socket: SocketOptions) -> Self {
        self.socket = socket;
        self
    }

    /// Connects with CURVE security, typically
    /// [`Curve::client`]`(broker's public key)`. Connecting then fails on a
    /// libzmq without CURVE. Default: plaintext.
    pub fn curve(mut self, curve: Curve) -> Self {
        self.socket.curve = Some(curve);
        self
    }

    /// The per-attempt timeout.
    pub fn get_timeout(&self) -> Duration {
        self.timeout
    }
}

/// A successful reply.
#[derive(Debug)]
pub struct Reply {
    /// The request's correlation id.
    pub id: CorrelationId,
    /// Payload frames.
    pub payload: Vec<Frame>,
    /// Metadata the replier attached.
    pub metadata: Metadata,
    /// Attempts it took (1 when the first succeeded).
    pub attempts: u32,
}

impl Reply {
    /// The first payload frame, or an empty slice.
    pub fn body(&self) -> &[u8] {
        self.payload.first().map_or(&[], |f| &f[..])
    }
}
