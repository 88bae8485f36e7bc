//! The worker protocol loop shared by the blocking and async workers: one
//! thread owns the DEALER connected to the broker backend; it registers with
//! READY, heartbeats both ways, hands requests to an executor, sends back the
//! replies the executor produces, and reconnects with jittered backoff when
//! the broker is lost or says DISCONNECT.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqrep_core::socket::{self, Endpoint, recv_frames, send_frames};
use reqrep_core::{Command, Frame, Message, Request, Status, decode};
use tracing::{debug, info, warn};

use super::WorkerOptions;
use crate::client::requester::{poll_items, poll_ms};
use crate::{STOP_POLL_SLICE, StopToken, WorkerError};

/// Where the core sends requests: the executor runs them and pushes encoded
/// replies to the core's inproc results socket.
pub(crate) trait Executor {
    /// Runs `request`: either at once, returning the encoded reply for the
    /// core to send, or later, pushing the reply to the results socket.
    fn execute(
        &mut self,
        request: Request,
        payload: Vec<Frame>,
        deadline: Instant,
    ) -> Option<Vec<Frame>>;
}

/// Counters of a worker's life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerStats {
    /// Requests received.
    pub requests: u64,
    /// Replies sent.
    pub replies: u64,
    /// Sessions started (1 + reconnects).
    pub sessions: u64,
    /// Malformed messages from the broker.
    pub malformed: u64,
}

static NEXT_WORKER: AtomicU64 = AtomicU64::new(0);

/// An inproc PULL the executor's replies arrive on, and its endpoint.
pub(crate) fn results_socket(ctx: &zmq::Context) -> Result<(zmq::Socket, String), WorkerError> {
    let endpoint = format!(
        "inproc://reqrep-worker-results-{}",
        NEXT_WORKER.fetch_add(1, Ordering::Relaxed)
    );
    let pull = ctx.socket(zmq::PULL)?;
    pull.bind(&endpoint)?;
    Ok((pull, endpoint))
}

/// A PUSH connected to a results endpoint, for one handler thread.
pub(crate) fn results_sender(
    ctx: &zmq::Context,
    endpoint: &str,
) -> Result<zmq::Socket, WorkerError> {
    let push = ctx.socket(zmq::PUSH)?;
    push.set_linger(1000)?;
    push.connect(endpoint)?;
    Ok(push)
}

/// Encodes the reply to `request`: the handler's result, or a status.
pub(crate) fn reply_frames(request: &Request, result: Result<Vec<Frame>, Status>) -> Vec<Frame> {
    match result {
        Ok(payload) => Message::reply_ok(request, payload).encode_body(),
        Err(status) => Message::reply_error(request, status).encode_body(),
    }
}

pub(crate) struct Core<'a> {
    pub(crate) ctx: &'a zmq::Context,
    pub(crate) endpoint: &'a Endpoint,
    pub(crate) service: &'a str,
    pub(crate) options: &'a WorkerOptions,
    pub(crate) results: &'a zmq::Socket,
    /// Whether every reply comes straight back from `execute` (the results
    /// socket is then never used).
    pub(crate) inline: bool,
}

impl Core<'_> {
    /// Runs sessions until `stop`.
    pub(crate) fn run(
        &self,
        executor: &mut dyn Executor,
        stop: &StopToken,
    ) -> Result<WorkerStats, WorkerError> {
        let mut stats = WorkerStats::default();
        let mut rng = fastrand::Rng::new();
        let mut failures = 0u32;
        while !stop.is_stopped() {
            stats.sessions += 1;
            let healthy = self.session(executor, stop, &mut stats)?;
            if stop.is_stopped() {
                break;
            }
            failures = if healthy {
                1
            } else {
                failures.saturating_add(1)
            };
            let delay = self.options.reconnect.delay(failures, &mut rng);
            warn!(
                service = self.service,
                delay_ms = delay.as_millis() as u64,
                "broker lost; reconnecting"
            );
            if stop.wait_timeout(delay) {
                break;
            }
        }
        Ok(stats)
    }

    /// One connection's life. Returns whether the broker talked to us after
    /// READY (so the next reconnect starts from the smallest backoff).
    fn session(
        &self,
        executor: &mut dyn Executor,
        stop: &StopToken,
        stats: &mut WorkerStats,
    ) -> Result<bool, WorkerError> {
        let dealer = self.ctx.socket(zmq::DEALER)?;
        self.options.socket.apply(&dealer)?;
        socket::connect(&dealer, self.endpoint)?;
        let hb = self.options.heartbeat;
        let ready = Message::ready(self.service, self.options.credits, Some(hb));
        send_frames(&dealer, ready.encode_body(), 0)?;
        info!(
            service = self.service,
            credits = self.options.credits,
            "worker ready"
        );
        let mut broker_expiry = Instant::now() + hb * self.options.liveness;
        let mut next_beat = Instant::now() + hb;
        let mut heard = false;
        loop {
            if stop.is_stopped() {
                let _ = send_frames(
                    &dealer,
                    Message::disconnect(None).encode_body(),
                    zmq::DONTWAIT,
                );
                return Ok(heard);
            }
            let now = Instant::now();
            if now >= broker_expiry {
                return Ok(heard);
            }
            if now >= next_beat {
                send_frames(&dealer, Message::heartbeat().encode_body(), zmq::DONTWAIT)?;
                next_beat = now + hb;
            }
            let wake = next_beat.min(broker_expiry).min(now + STOP_POLL_SLICE);
            let mut items = [
                dealer.as_poll_item(zmq::POLLIN),
                self.results.as_poll_item(zmq::POLLIN),
            ];
            // An inline executor never defers a reply: its results socket
            // stays silent, so only the broker's socket is watched.
            let watched = if self.inline { 1 } else { 2 };
            poll_items(
                &mut items[..watched],
                poll_ms(wake.saturating_duration_since(now)),
            )?;
            let (incoming, done) = (items[0].is_readable(), items[1].is_readable());
            if done {
                loop {
                    match recv_frames(self.results, zmq::DONTWAIT) {
                        Ok(frames) => {
                            send_frames(&dealer, frames, 0)?;
                            stats.replies += 1;
                            next_beat = Instant::now() + hb;
                        }
                        Err(zmq::Error::EAGAIN) => break,
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            if !incoming {
                continue;
            }
            loop {
                let frames = match recv_frames(&dealer, zmq::DONTWAIT) {
                    Ok(frames) => frames,
                    Err(zmq::Error::EAGAIN) => break,
                    Err(e) => return Err(e.into()),
                };
                let now = Instant::now();
                broker_expiry = now + hb * self.options.liveness;
                heard = true;
                let message = match decode(frames, &self.options.limits) {
                    Ok(d) => d.message,
                    Err(err) => {
                        stats.malformed += 1;
                        debug!(cause = %err, "malformed message from the broker dropped");
                        continue;
                    }
                };
                match message.command {
                    Command::Request(request) => {
                        stats.requests += 1;
                        let budget = request.timeout.unwrap_or(Duration::from_secs(30));
                        if let Some(reply) =
                            executor.execute(request, message.payload, now + budget)
                        {
                            send_frames(&dealer, reply, 0)?;
                            stats.replies += 1;
                            next_beat = now + hb;
                        }
                    }
                    Command::Disconnect(d) => {
                        info!(reason = ?d.reason, "broker sent DISCONNECT");
                        return Ok(heard);
                    }
                    _ => {}
                }
            }
        }
    }
}
