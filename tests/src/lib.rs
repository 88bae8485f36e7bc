//! Shared helpers for reqrep's end-to-end tests (one test file per concern
//! under `tests/tests/`).
//!
//! Every socket made here has a receive timeout, so a test that would
//! otherwise hang fails instead.

use std::time::Duration;

use reqrep_core::socket::{self, Endpoint, SocketOptions};

/// The longest any single receive in a test may block.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(10);

/// A socket of `kind` with reqrep's options and a receive timeout.
///
/// # Panics
/// When libzmq refuses the socket or an option: a broken test environment.
pub fn socket(ctx: &zmq::Context, kind: zmq::SocketType) -> zmq::Socket {
    let s = ctx.socket(kind).expect("create socket");
    SocketOptions::default().apply(&s).expect("socket options");
    s.set_rcvtimeo(i32::try_from(RECV_TIMEOUT.as_millis()).unwrap_or(i32::MAX))
        .expect("rcvtimeo");
    s
}

/// Binds `s` to an ephemeral loopback TCP port and returns the endpoint.
///
/// # Panics
/// When binding fails.
pub fn bind_ephemeral(s: &zmq::Socket) -> Endpoint {
    let any = Endpoint::parse("tcp://127.0.0.1:*").expect("endpoint");
    let bound = socket::bind(s, &any).expect("bind");
    Endpoint::parse(&bound).expect("bound endpoint")
}
