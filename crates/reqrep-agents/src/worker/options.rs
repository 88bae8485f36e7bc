//! Worker options.

use std::time::Duration;

use reqrep_core::curve::{Curve, CurveKey, CurveKeyPair};
use reqrep_core::socket::SocketOptions;
use reqrep_core::{Limits, RetryPolicy};

/// How a worker registers and stays alive. Every setter documents its default.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub(crate) credits: u32,
    pub(crate) inline: bool,
    pub(crate) heartbeat: Duration,
    pub(crate) liveness: u32,
    pub(crate) reconnect: RetryPolicy,
    pub(crate) limits: Limits,
    pub(crate) socket: SocketOptions,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            credits: 1,
            inline: false,
            heartbeat: Duration::from_secs(1),
            liveness: 3,
            reconnect: RetryPolicy::default()
                .max_attempts(u32::MAX)
                .initial_backoff(Duration::from_millis(100))
                .max_backoff(Duration::from_secs(5)),
            limits: Limits::default(),
            socket: SocketOptions::default(),
        }
    }
}

impl WorkerOptions {
    /// Requests handled at once (announced to the broker in READY; the
    /// blocking worker runs this many handler threads). A worker on several
    /// brokers ([`Worker::connect_all`](super::Worker::connect_all)) shares
    /// them among the brokers and needs at least one per broker. Default: 1.
    pub fn credits(mut self, credits: u32) -> Self {
        self.credits = credits.max(1);
        self
    }

    /// Runs the handler on the socket thread instead of handler threads: no
    /// hand-off per request, the fastest choice for handlers that finish well
    /// within the heartbeat interval (no heartbeats are sent while a handler
    /// runs). Requests beyond the one running wait their turn. Default: false.
    pub fn inline(mut self, inline: bool) -> Self {
        self.inline = inline;
        self
    }

    /// Heartbeat interval, announced in READY and used both ways. Default: 1 s.
    pub fn heartbeat(mut self, heartbeat: Duration) -> Self {
        self.heartbeat = heartbeat.max(Duration::from_millis(1));
        self
    }

    /// Missed intervals after which the broker is considered lost and the
    /// worker reconnects. Default: 3.
    pub fn liveness(mut self, liveness: u32) -> Self {
        self.liveness = liveness.max(1);
        self
    }

    /// Backoff between reconnects (attempts are unbounded). Default: 100 ms
    /// doubling to 5 s, jitter 0.5.
    pub fn reconnect(mut self, policy: RetryPolicy) -> Self {
        self.reconnect = policy.max_attempts(u32::MAX);
        self
    }

    /// Size limits for incoming requests. Default: [`Limits::default`].
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Socket options of the connection to the broker.
    /// Default: [`SocketOptions::default`].
    pub fn socket_options(mut self, socket: SocketOptions) -> Self {
        self.socket = socket;
        self
    }

    /// Connects with CURVE security, typically
    /// [`Curve::client`]`(broker's public key)`. The worker then fails to
    /// start on a libzmq without CURVE. Default: plaintext.
    ///
    /// [`Curve::client`] gives the worker a fresh key pair, which no access
    /// policy can list, so a broker with one refuses it: use
    /// [`WorkerOptions::curve_identity`] there.
    pub fn curve(mut self, curve: Curve) -> Self {
        self.socket.curve = Some(curve);
        self
    }

    /// Connects with CURVE security to the broker whose public key is
    /// `server_public`, with `keys` as this worker's identity: a broker with
    /// an access policy knows the worker by `keys.public` and decides by it
    /// which services it may serve. `keys` usually comes from a key file
    /// ([`CurveKeyPair::load`]; `reqrep keygen --secret-file` writes one).
    /// A shorthand for
    /// [`WorkerOptions::curve`]`(`[`Curve::client_with`]`(server_public, keys))`.
    /// The worker then fails to start on a libzmq without CURVE.
    /// Default: none (plaintext; [`Curve::client`] alone gives a fresh key
    /// pair, which a broker with an access policy refuses).
    pub fn curve_identity(self, server_public: CurveKey, keys: CurveKeyPair) -> Self {
        self.curve(Curve::client_with(server_public, keys))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curve_identity_is_a_client_role_with_those_keys() {
        let key = |byte: char| -> CurveKey { byte.to_string().repeat(40).parse().expect("key") };
        let keys = CurveKeyPair {
            public: key('a'),
            secret: key('b'),
        };
        let options = WorkerOptions::default().curve_identity(key('c'), keys);
        assert_eq!(
            options.socket.curve,
            Some(Curve::Client {
                server: key('c'),
                keys,
            })
        );
        assert_eq!(WorkerOptions::default().socket.curve, None, "plaintext");
    }
}
