//! The socket driver shared by the blocking and async workers: one thread
//! owns the DEALER connected to the broker backend and turns socket events
//! into calls on a [`WorkerSession`], which holds all of the protocol
//! (READY, heartbeats, liveness, credits, reconnects). Requests go to an
//! executor; the replies it produces come back either at once or through
//! an inproc results socket.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use reqrep_core::socket::{self, Endpoint, recv_frames, send_frames};
use reqrep_core::{Frame, Message, Request, Status};
use tracing::debug;

use super::{Outgoing, WorkerAction, WorkerOptions, WorkerSession, WorkerStats};
use crate::client::requester::{poll_items, poll_ms};
use crate::{STOP_POLL_SLICE, StopToken, WorkerError};

/// Where the core sends requests: the executor runs them and pushes encoded
/// replies to the core's inproc results socket, each after a frame with the
/// request's tag ([`tag_frame`]), which says which broker session it came
/// from.
pub(crate) trait Executor {
    /// Runs `request`: either at once, returning the encoded reply for the
    /// core to send, or later, pushing `[tag, reply...]` to the results
    /// socket.
    fn execute(
        &mut self,
        tag: u64,
        request: Request,
        payload: Vec<Frame>,
        deadline: Instant,
    ) -> Option<Vec<Frame>>;
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

/// The frame before a deferred reply on the results socket: its tag.
pub(crate) fn tag_frame(tag: u64) -> Frame {
    Frame::from(&tag.to_le_bytes()[..])
}

/// Splits a message from the results socket into its tag and the reply;
/// `None` for a message without one (never sent by the executors).
pub(crate) fn untag(mut frames: Vec<Frame>) -> Option<(u64, Vec<Frame>)> {
    if frames.is_empty() {
        return None;
    }
    let tag = u64::from_le_bytes(<[u8; 8]>::try_from(&frames[0][..]).ok()?);
    frames.remove(0);
    Some((tag, frames))
}

/// Encodes the reply to `request`: the handler's result, or a status.
pub(crate) fn reply_frames(request: &Request, result: Result<Vec<Frame>, Status>) -> Vec<Frame> {
    match result {
        Ok(mut payload) => {
            payload.insert(0, reqrep_core::ok_reply_header(request));
            payload
        }
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
    /// Serves until `stop`, then sends DISCONNECT and closes the socket with
    /// the session's stop linger, so the message is flushed when the
    /// context is terminated (the caller drops it after this returns).
    /// Returns [`WorkerError::Refused`] at once when the broker refuses the
    /// worker.
    pub(crate) fn run(
        &self,
        executor: &mut dyn Executor,
        stop: &StopToken,
    ) -> Result<WorkerStats, WorkerError> {
        let mut session = WorkerSession::new(
            self.service,
            self.options,
            fastrand::u64(..),
            Instant::now(),
        );
        let mut dealer = None;
        loop {
            if !self.perform(&mut session, &mut dealer, executor)? {
                return Ok(session.stats());
            }
            if stop.is_stopped() {
                session.stop(Instant::now());
                continue;
            }
            let now = Instant::now();
            let due = session.next_timeout().unwrap_or(now);
            if now >= due {
                session.on_tick(now);
                continue;
            }
            let wake = due.min(now + STOP_POLL_SLICE);
            let Some(socket) = &dealer else {
                // Backing off before a reconnect.
                stop.wait_timeout(wake - now);
                continue;
            };
            let mut items = [
                socket.as_poll_item(zmq::POLLIN),
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
                            if let Some((_, reply)) = untag(frames) {
                                session.on_reply(Instant::now(), reply);
                            }
                        }
                        Err(zmq::Error::EAGAIN) => break,
                        Err(e) => return Err(e.into()),
                    }
                }
                self.perform(&mut session, &mut dealer, executor)?;
            }
            if incoming {
                self.receive(&mut session, &mut dealer, executor)?;
            }
        }
    }

    /// Takes every message waiting on the socket, acting on each before the
    /// next (a DISCONNECT closes the socket mid-way).
    fn receive(
        &self,
        session: &mut WorkerSession,
        dealer: &mut Option<zmq::Socket>,
        executor: &mut dyn Executor,
    ) -> Result<(), WorkerError> {
        while let Some(socket) = dealer.as_ref() {
            let frames = match recv_frames(socket, zmq::DONTWAIT) {
                Ok(frames) => frames,
                Err(zmq::Error::EAGAIN) => break,
                Err(e) => return Err(e.into()),
            };
            // A message the session cannot use is counted and logged there.
            let _ = session.on_message(Instant::now(), frames);
            self.perform(session, dealer, executor)?;
        }
        Ok(())
    }

    /// Carries out the session's actions; false once it is closed,
    /// [`WorkerError::Refused`] once the broker refused the worker.
    fn perform(
        &self,
        session: &mut WorkerSession,
        dealer: &mut Option<zmq::Socket>,
        executor: &mut dyn Executor,
    ) -> Result<bool, WorkerError> {
        while let Some(action) = session.poll_action() {
            match action {
                WorkerAction::Connect => {
                    let socket = self.ctx.socket(zmq::DEALER)?;
                    self.options.socket.apply(&socket)?;
                    socket::connect(&socket, self.endpoint)?;
                    *dealer = Some(socket);
                }
                WorkerAction::Send(out) => {
                    if let Some(socket) = dealer.as_ref() {
                        send(socket, out)?;
                    }
                }
                WorkerAction::Deliver(d) => {
                    if let Some(reply) = executor.execute(0, d.request, d.payload, d.deadline) {
                        session.on_reply(Instant::now(), reply);
                    }
                }
                WorkerAction::Reconnect { .. } => *dealer = None,
                // Never reported: the single session expects no echoes.
                WorkerAction::CreditsConfirmed { .. } => {}
                WorkerAction::Refused(status) => {
                    if let Some(socket) = dealer.take() {
                        socket.set_linger(0)?;
                    }
                    return Err(WorkerError::Refused(status));
                }
                WorkerAction::Closed { linger } => {
                    if let Some(socket) = dealer.take() {
                        socket.set_linger(i32::try_from(linger.as_millis()).unwrap_or(i32::MAX))?;
                    }
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }
}

/// Sends `out`, waiting for room only when the session says it may.
pub(crate) fn send(socket: &zmq::Socket, out: Outgoing) -> Result<(), WorkerError> {
    let kind = out.kind;
    let flags = if out.may_block() { 0 } else { zmq::DONTWAIT };
    match send_frames(socket, out.frames, flags) {
        Ok(()) => Ok(()),
        Err(zmq::Error::EAGAIN) => {
            debug!(%kind, "socket full; control message dropped");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}
