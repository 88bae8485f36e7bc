//! Client options: timeouts, the total budget, retries, queue capacity.

use std::time::Duration;

use reqrep_core::curve::{Curve, CurveKey, CurveKeyPair};
use reqrep_core::socket::SocketOptions;
use reqrep_core::{Limits, RetryPolicy};

/// Requests an [`AsyncClient`](super::AsyncClient) queues for its I/O task
/// by default.
pub const DEFAULT_QUEUE_CAPACITY: usize = 1024;

/// How a client sends requests. Every setter documents its default.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub(crate) timeout: Duration,
    pub(crate) total_timeout: Option<Duration>,
    pub(crate) queue_capacity: usize,
    pub(crate) retry: RetryPolicy,
    pub(crate) idempotent: bool,
    pub(crate) fail_fast: bool,
    pub(crate) limits: Limits,
    pub(crate) socket: SocketOptions,
    pub(crate) heartbeat: Duration,
    pub(crate) liveness: u32,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_millis(2500),
            total_timeout: None,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            retry: RetryPolicy::default(),
            idempotent: false,
            fail_fast: false,
            limits: Limits::default(),
            socket: SocketOptions::default(),
            heartbeat: Duration::from_secs(1),
            liveness: 3,
        }
    }
}

impl ClientOptions {
    /// How long each attempt waits for its reply; also the budget sent on
    /// the wire (clipped to what remains of [`ClientOptions::total_timeout`]).
    /// Default: 2500 ms.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The budget of a whole request, retries and backoff included: no
    /// request takes longer. An attempt's timeout (and the `timeout_ms` its
    /// header carries) is clipped to what remains of it, no backoff sleeps
    /// past it, and a request whose budget runs out with attempts left fails
    /// with [`RequestError::BudgetExhausted`](crate::RequestError::BudgetExhausted).
    /// A zero budget fails every request at once, sending nothing.
    /// Default: attempts × [`ClientOptions::timeout`] plus the sum of the
    /// un-jittered backoffs between them
    /// ([`RetryPolicy::max_total_backoff`]), so by default the attempts and
    /// their backoffs always fit: 3 × 2500 ms + 50 ms + 100 ms = 7650 ms.
    pub fn total_timeout(mut self, budget: Duration) -> Self {
        self.total_timeout = Some(budget);
        self
    }

    /// How many requests an [`AsyncClient`](super::AsyncClient) queues for
    /// its I/O task, at least 1. The task takes requests from the queue only
    /// while the socket accepts them, so a full queue is back-pressure:
    /// [`AsyncClient::request`](super::AsyncClient::request) waits for a
    /// free place, [`AsyncClient::try_request`](super::AsyncClient::try_request)
    /// fails with [`RequestError::Full`](crate::RequestError::Full).
    /// Default: [`DEFAULT_QUEUE_CAPACITY`] (1024).
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity.max(1);
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
    ///
    /// [`Curve::client`] gives the client a fresh key pair, which no access
    /// policy can list, so a broker with one refuses it: use
    /// [`ClientOptions::curve_identity`] there.
    pub fn curve(mut self, curve: Curve) -> Self {
        self.socket.curve = Some(curve);
        self
    }

    /// Connects with CURVE security to the broker whose public key is
    /// `server_public`, with `keys` as this client's identity: a broker with
    /// an access policy knows the client by `keys.public` and decides by it
    /// which services it may call. `keys` usually comes from a key file
    /// ([`CurveKeyPair::load`]; `reqrep keygen --secret-file` writes one).
    /// A shorthand for
    /// [`ClientOptions::curve`]`(`[`Curve::client_with`]`(server_public, keys))`.
    /// Connecting then fails on a libzmq without CURVE.
    /// Default: none (plaintext; [`Curve::client`] alone gives a fresh key
    /// pair, which a broker with an access policy refuses).
    pub fn curve_identity(self, server_public: CurveKey, keys: CurveKeyPair) -> Self {
        self.curve(Curve::client_with(server_public, keys))
    }

    /// With several brokers ([`AsyncClient::connect_all`](super::AsyncClient::connect_all)):
    /// a broker heard from for this long is sent a HEARTBEAT, the liveness
    /// check of docs/PROTOCOL.md ("Several brokers"); any message from the
    /// broker counts as traffic. At least 1 ms. Unused with one broker.
    /// Default: 1 s.
    pub fn heartbeat(mut self, heartbeat: Duration) -> Self {
        self.heartbeat = heartbeat.max(Duration::from_millis(1));
        self
    }

    /// With several brokers: how many heartbeat intervals of silence judge
    /// a broker dead. Its requests in flight then end at once (idempotent
    /// ones are retried on another broker within their budget, the others
    /// fail with `UNAVAILABLE`), and new requests avoid it until it is heard
    /// from again. At least 1. Default: 3.
    pub fn liveness(mut self, liveness: u32) -> Self {
        self.liveness = liveness.max(1);
        self
    }

    /// The per-attempt timeout.
    pub fn get_timeout(&self) -> Duration {
        self.timeout
    }

    /// The total budget of a request: the one set, else the default (see
    /// [`ClientOptions::total_timeout`]).
    pub fn get_total_timeout(&self) -> Duration {
        self.total_timeout.unwrap_or_else(|| {
            self.timeout
                .saturating_mul(self.retry.attempts())
                .saturating_add(self.retry.max_total_backoff())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_timeout_defaults_to_every_attempt_and_backoff() {
        let options = ClientOptions::default();
        assert_eq!(options.get_total_timeout(), Duration::from_millis(7650));
        let options = options
            .timeout(Duration::from_secs(1))
            .retry(RetryPolicy::never());
        assert_eq!(options.get_total_timeout(), Duration::from_secs(1));
        let options = options.total_timeout(Duration::from_millis(300));
        assert_eq!(options.get_total_timeout(), Duration::from_millis(300));
    }

    #[test]
    fn curve_identity_is_a_client_role_with_those_keys() {
        let key = |byte: char| -> CurveKey { byte.to_string().repeat(40).parse().expect("key") };
        let keys = CurveKeyPair {
            public: key('a'),
            secret: key('b'),
        };
        let options = ClientOptions::default().curve_identity(key('c'), keys);
        assert_eq!(
            options.socket.curve,
            Some(Curve::Client {
                server: key('c'),
                keys,
            })
        );
        assert_eq!(ClientOptions::default().socket.curve, None, "plaintext");
    }

    #[test]
    fn queue_capacity_is_at_least_one() {
        assert_eq!(ClientOptions::default().queue_capacity, 1024);
        assert_eq!(ClientOptions::default().queue_capacity(0).queue_capacity, 1);
    }
}
