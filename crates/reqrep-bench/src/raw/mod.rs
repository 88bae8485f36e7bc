//! The raw-libzmq baselines: the same paths written with the `zmq` crate
//! alone, in the ZeroMQ Guide's style. No envelope, no ids, no metrics.
//! Every role (client, broker, each worker) has a context of its own, as
//! reqrep's do, and everything talks over loopback TCP.

pub(crate) mod credit_broker;
mod direct;
mod lru_broker;
pub(crate) mod pipelined;

use std::time::Duration;

use crate::BenchError;
use crate::plan::RunSpec;
use crate::sample::Sample;
use crate::scenario::Path;

/// How long a helper thread sleeps in `poll` before looking at its stop flag.
const POLL_MS: i64 = 50;
/// Messages a loop takes from one socket before looking at the others.
const BATCH: usize = 256;
/// What a raw worker sends to announce itself.
const READY: &[u8] = b"READY";

/// Measures `spec` through the raw baseline of its path.
///
/// # Errors
/// Socket failures, timeouts, wrong replies.
pub(crate) fn run(spec: &RunSpec) -> Result<Sample, BenchError> {
    match spec.scenario.path {
        Path::Direct => direct::run(spec),
        Path::BrokeredLockstep => lru_broker::run(spec),
        Path::BrokeredPipelined => pipelined::run(spec),
    }
}

/// A socket that never lingers on close.
fn socket(ctx: &zmq::Context, kind: zmq::SocketType) -> Result<zmq::Socket, BenchError> {
    let socket = ctx.socket(kind)?;
    socket.set_linger(0)?;
    Ok(socket)
}

/// Binds an ephemeral loopback port and returns the endpoint bound.
fn bind_loopback(socket: &zmq::Socket) -> Result<String, BenchError> {
    socket.bind("tcp://127.0.0.1:*")?;
    socket
        .get_last_endpoint()?
        .map_err(|_| BenchError::Zmq(zmq::Error::EINVAL))
}

/// Sets send and receive timeouts, so no blocking call can hang.
fn bounded(socket: &zmq::Socket, timeout: Duration) -> Result<(), BenchError> {
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    socket.set_rcvtimeo(ms)?;
    socket.set_sndtimeo(ms)?;
    Ok(())
}

/// Receives one multipart message (`flags` applies to the first part).
fn recv_parts(socket: &zmq::Socket, flags: i32) -> zmq::Result<Vec<zmq::Message>> {
    let mut parts = Vec::with_capacity(4);
    let mut flags = flags;
    loop {
        let part = socket.recv_msg(flags)?;
        let more = part.get_more();
        parts.push(part);
        if !more {
            return Ok(parts);
        }
        flags = 0;
    }
}

/// Sends `parts` as one multipart message.
fn send_parts<I, T>(socket: &zmq::Socket, parts: I) -> zmq::Result<()>
where
    I: IntoIterator<Item = T>,
    T: zmq::Sendable,
{
    let mut parts = parts.into_iter().peekable();
    while let Some(part) = parts.next() {
        let flags = if parts.peek().is_some() {
            zmq::SNDMORE
        } else {
            0
        };
        socket.send(part, flags)?;
    }
    Ok(())
}

/// Checks a reply's length against the request's.
fn check_len(got: usize, expected: usize) -> Result<(), BenchError> {
    if got == expected {
        Ok(())
    } else {
        Err(BenchError::Mismatch { expected, got })
    }
}
