//! The test support of the reqrep workspace, used by every test crate
//! (`tests/tests/`, and as a dev-dependency by the integration tests of
//! reqrep-agents, reqrep-cli and reqrep-broker):
//!
//! - [`broker`]: in-process brokers on ephemeral loopback ports (a driver
//!   thread, a [`BrokerAgent`](reqrep_agents::BrokerAgent)'s endpoints, a
//!   CURVE broker), and [`broker_process`]: the broker binary as a child
//!   process with its endpoints read from its log, no fixed ports.
//! - [`process`]: child processes killed on drop, their output waited for
//!   line by line with a timeout, or run to completion with a time bound.
//! - [`wait`]: every bounded wait (for workers, for a channel message, for a
//!   closure on a thread), each bounded by time.
//! - [`client`] / [`worker`] / [`worker_thread`]: a raw DEALER client and a
//!   protocol-complete test worker speaking the wire protocol directly.
//! - [`fake_broker`]: a plain ROUTER playing the broker, answering as the
//!   test says (refusals, DISCONNECT), optionally as a CURVE server.
//! - [`python`]: whether pyzmq is here for interop tests (required in CI).
//! - [`temp`]: files in the temp directory removed on drop.
//!
//! Every socket made here has a receive timeout, so a test that would
//! otherwise hang fails instead.

pub mod broker;
pub mod broker_process;
pub mod client;
pub mod fake_broker;
pub mod process;
pub mod python;
pub mod temp;
pub mod wait;
pub mod worker;
pub mod worker_thread;

use std::time::Duration;

use reqrep_core::socket::{self, Endpoint, SocketOptions};

pub use client::Client;
pub use temp::TempFile;
pub use wait::{WAIT, wait_for_worker_count, wait_for_workers, wait_for_workers_with};
pub use worker::{WorkerOptions, run_worker};
pub use worker_thread::WorkerThread;

/// The longest any single receive in a test may block.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(10);

/// A socket of `kind` with reqrep's options and a receive timeout.
///
/// # Panics
/// When libzmq refuses the socket or an option: a broken test environment.
pub fn socket(ctx: &zmq::Context, kind: zmq::SocketType) -> zmq::Socket {
    let s = ctx.socket(kind).expect("create socket");
    SocketOptions::default().apply(&s).expect("socket options");
    s.set_rcvtimeo(ms(RECV_TIMEOUT)).expect("rcvtimeo");
    s
}

/// Binds `s` to an ephemeral loopback TCP port and returns the endpoint.
///
/// # Panics
/// When binding fails.
pub fn bind_ephemeral(s: &zmq::Socket) -> Endpoint {
    let bound =
        socket::bind(s, &Endpoint::parse(broker::EPHEMERAL).expect("endpoint")).expect("bind");
    Endpoint::parse(&bound).expect("bound endpoint")
}

/// Whole milliseconds as libzmq's `i32`.
pub fn ms(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}
