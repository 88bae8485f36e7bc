//! The blocking request engine shared by the brokered [`Client`] (DEALER)
//! and the direct `ReqRep` plugin (REQ): it drives the shared retry loop
//! (per-attempt timeout, bounded retries with jittered backoff, the total
//! budget) with a socket, resets that socket after a lost reply, and checks
//! correlation.
//!
//! [`Client`]: super::Client

use std::time::{Duration, Instant};

use metrics::{Counter, counter};
use reqrep_core::socket::{self, Endpoint, recv_frames, send_frames};
use reqrep_core::{Command, CorrelationId, Frame, Message, Request, decode, decode_body};
use tracing::debug;

use super::retry::{Event, RetryLoop, Step, note_retry};
use super::{ClientOptions, Response};
use crate::{RequestError, STOP_POLL_SLICE, StopToken};

/// Replies dropped because their correlation id matched no outstanding request.
pub(crate) const STALE_REPLIES_TOTAL: &str = "reqrep_agents_stale_replies_total";
/// Sockets closed and reopened after a lost reply.
pub(crate) const SOCKET_RESETS_TOTAL: &str = "reqrep_agents_socket_resets_total";

pub(crate) struct Requester {
    ctx: zmq::Context,
    endpoint: Endpoint,
    kind: zmq::SocketType,
    bind: bool,
    socket: Option<zmq::Socket>,
    pub(crate) options: ClientOptions,
    service: String,
    pub(crate) stale_replies: u64,
    pub(crate) socket_resets: u64,
    stale: Counter,
    resets: Counter,
}

impl Requester {
    pub(crate) fn new(
        ctx: &zmq::Context,
        endpoint: Endpoint,
        kind: zmq::SocketType,
        bind: bool,
        service: &str,
        options: ClientOptions,
    ) -> Self {
        Self {
            ctx: ctx.clone(),
            endpoint,
            kind,
            bind,
            socket: None,
            options,
            service: service.to_owned(),
            stale_replies: 0,
            socket_resets: 0,
            stale: counter!(STALE_REPLIES_TOTAL),
            resets: counter!(SOCKET_RESETS_TOTAL),
        }
    }

    /// Opens the socket now (so bind errors surface at init).
    pub(crate) fn open(&mut self) -> Result<&zmq::Socket, RequestError> {
        if self.socket.is_none() {
            let s = self.ctx.socket(self.kind)?;
            self.options.socket.apply(&s)?;
            if self.bind {
                socket::bind(&s, &self.endpoint)?;
            } else {
                socket::connect(&s, &self.endpoint)?;
            }
            self.socket = Some(s);
        }
        self.socket.as_ref().ok_or(RequestError::Closed)
    }

    pub(crate) fn socket(&self) -> Option<&zmq::Socket> {
        self.socket.as_ref()
    }

    pub(crate) fn close(&mut self) {
        self.socket = None;
    }

    /// Closes and forgets the socket: a REQ socket waiting for a reply that
    /// will never come cannot send again, so it is replaced.
    fn reset(&mut self) {
        if self.socket.take().is_some() {
            self.socket_resets += 1;
            self.resets.increment(1);
            debug!(endpoint = %self.endpoint, "socket reset after a lost reply");
        }
    }

    fn is_req(&self) -> bool {
        self.kind == zmq::REQ
    }

    /// Sends one request and waits for its reply, retrying per the options
    /// (the shared [`RetryLoop`] decides; this drives it with the socket and
    /// the system clock).
    pub(crate) fn request(
        &mut self,
        payload: Vec<Frame>,
        stop: &StopToken,
    ) -> Result<Response, RequestError> {
        let size: usize = payload.iter().map(|f| f.len()).sum();
        let limits = self.options.limits;
        if size > limits.max_payload_bytes {
            return Err(RequestError::TooLarge {
                size,
                max: limits.max_payload_bytes,
            });
        }
        let id = CorrelationId::new();
        let mut retry = RetryLoop::new(&self.options, Instant::now());
        // Kept only when a retry may need to resend it.
        let copy: Option<Vec<Vec<u8>>> = (self.options.retry.attempts() > 1)
            .then(|| payload.iter().map(|f| f.to_vec()).collect());
        let mut payload = Some(payload);
        let mut event = Event::Ready;
        loop {
            match retry.next(Instant::now(), event) {
                Step::Attempt { attempt, timeout } => {
                    let frames = payload
                        .take()
                        .or_else(|| {
                            copy.as_ref()
                                .map(|c| c.iter().map(|p| Frame::from(&p[..])).collect())
                        })
                        .unwrap_or_default();
                    match self.attempt(id, attempt, timeout, frames, stop) {
                        Ok(response) => return Ok(response),
                        Err(err) => event = Event::Failed(err),
                    }
                }
                Step::Wait(delay) => {
                    note_retry(id, retry.attempts(), delay);
                    if stop.wait_timeout(delay) {
                        return Err(RequestError::Stopped);
                    }
                    event = Event::Ready;
                }
                Step::GiveUp(err) => return Err(err),
            }
        }
    }

    fn attempt(
        &mut self,
        id: CorrelationId,
        attempt: u32,
        timeout: Duration,
        payload: Vec<Frame>,
        stop: &StopToken,
    ) -> Result<Response, RequestError> {
        let request = Request::new(id, self.service.clone())
            .timeout(timeout)
            .attempt(attempt)
            .idempotent(self.options.idempotent)
            .fail_fast(self.options.fail_fast);
        let message = Message::request(request, payload);
        let frames = if self.is_req() {
            message.encode_body()
        } else {
            message.encode()
        };
        let is_req = self.is_req();
        let socket = self.open()?;
        if let Err(e) = send_frames(socket, frames, 0) {
            if is_req {
                self.reset();
            }
            return Err(e.into());
        }
        let until = Instant::now() + timeout;
        loop {
            if stop.is_stopped() {
                if is_req {
                    self.reset();
                }
                return Err(RequestError::Stopped);
            }
            let now = Instant::now();
            if now >= until {
                if is_req {
                    self.reset();
                }
                return Err(RequestError::Timeout {
                    attempts: attempt,
                    elapsed: timeout,
                });
            }
            let slice = until.saturating_duration_since(now).min(STOP_POLL_SLICE);
            let socket = self.open()?;
            if !readable(socket, poll_ms(slice))? {
                continue;
            }
            let frames = recv_frames(socket, 0)?;
            let limits = self.options.limits;
            let decoded = if is_req {
                decode_body(frames, &limits)
            } else {
                decode(frames, &limits).map(|d| d.message)
            };
            let message = match decoded {
                Ok(m) => m,
                Err(err) => {
                    debug!(cause = %err, "malformed reply dropped");
                    self.stale_replies += 1;
                    self.stale.increment(1);
                    if is_req {
                        // The REQ cycle is over; only a new socket can send again.
                        self.reset();
                        return Err(RequestError::Timeout {
                            attempts: attempt,
                            elapsed: timeout,
                        });
                    }
                    continue;
                }
            };
            match message.command {
                Command::Reply(reply) if reply.id == id => {
                    if !reply.status.is_ok() {
                        return Err(RequestError::from_status(reply.status));
                    }
                    return Ok(Response {
                        id,
                        payload: message.payload,
                        metadata: reply.metadata,
                        attempts: attempt,
                    });
                }
                _ => {
                    self.stale_replies += 1;
                    self.stale.increment(1);
                    debug!(correlation_id = %id, "stale or unexpected reply dropped");
                    if is_req {
                        self.reset();
                        return Err(RequestError::Timeout {
                            attempts: attempt,
                            elapsed: timeout,
                        });
                    }
                }
            }
        }
    }
}

/// Whole milliseconds for `zmq::poll`, rounded up so short waits still wait.
pub(crate) fn poll_ms(d: Duration) -> i64 {
    i64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(i64::MAX)
}

/// Whether `socket` became readable within `timeout_ms`. A signal arriving
/// during the wait (`EINTR`) is not an error: it reads as "not yet", and the
/// caller's loop looks at its stop token and waits again.
pub(crate) fn readable(socket: &zmq::Socket, timeout_ms: i64) -> Result<bool, zmq::Error> {
    match socket.poll(zmq::POLLIN, timeout_ms) {
        Ok(n) => Ok(n > 0),
        Err(zmq::Error::EINTR) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `zmq::poll` with `EINTR` read as a timeout (see [`readable`]).
pub(crate) fn poll_items(
    items: &mut [zmq::PollItem<'_>],
    timeout_ms: i64,
) -> Result<(), zmq::Error> {
    match zmq::poll(items, timeout_ms) {
        Ok(_) | Err(zmq::Error::EINTR) => Ok(()),
        Err(e) => Err(e),
    }
}
