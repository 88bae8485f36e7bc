//! The worker side of the protocol as a socket-free state machine.
//!
//! A [`WorkerSession`] is one worker's conversation with one broker: READY
//! (service, credits, heartbeat interval), credit accounting, heartbeats
//! both ways, the broker's liveness, DISCONNECT, and when to drop the socket
//! and reconnect with the jittered backoff of
//! [`WorkerOptions::reconnect`](super::WorkerOptions::reconnect), or stop
//! for good when the broker refuses the worker ([`WorkerAction::Refused`]).
//!
//! It is driven by events, each with the current instant:
//! [`WorkerSession::on_message`] takes the frames the worker's DEALER
//! received, [`WorkerSession::on_reply`] a reply the application produced,
//! [`WorkerSession::on_tick`] fires timers and [`WorkerSession::stop`] ends
//! the session. What the driver must do is queued as [`WorkerAction`]s,
//! taken with [`WorkerSession::poll_action`]; [`WorkerSession::next_timeout`]
//! says when to call `on_tick` next. No sockets, no clock, and the backoff's
//! randomness comes from a seed, so tests run whole conversations on a fake
//! clock.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use reqrep_agents::{WorkerAction, WorkerOptions, WorkerSession};
//!
//! let start = Instant::now();
//! let options = WorkerOptions::default().heartbeat(Duration::from_secs(1));
//! let mut session = WorkerSession::new("echo", &options, 7, start);
//! assert!(matches!(session.poll_action(), Some(WorkerAction::Connect)));
//! assert!(matches!(session.poll_action(), Some(WorkerAction::Send(_)))); // READY
//! assert_eq!(session.next_timeout(), Some(start + Duration::from_secs(1)));
//! session.on_tick(start + Duration::from_secs(1));
//! let Some(WorkerAction::Send(beat)) = session.poll_action() else { panic!() };
//! assert_eq!(beat.kind, reqrep_core::Kind::Heartbeat);
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use reqrep_core::{
    Code, Command, DecodeError, Frame, Kind, Limits, Message, Request, RetryPolicy, Status, decode,
};
use tracing::{debug, error, info, warn};

use super::malformed::{BrokerMessageError, rejection};
use super::{WorkerOptions, WorkerStats};

/// The budget of a request that carries none.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest a stopping worker keeps its socket open for its DISCONNECT
/// to reach the broker (shorter when the heartbeat interval is).
pub const MAX_STOP_LINGER: Duration = Duration::from_secs(1);

/// Something the driver of a [`WorkerSession`] must do, in order.
#[derive(Debug)]
#[non_exhaustive]
pub enum WorkerAction {
    /// Open a new socket connected to the broker. Every
    /// [`WorkerAction::Send`] that follows goes on it.
    Connect,
    /// Send a message to the broker on the current socket.
    Send(Outgoing),
    /// Hand a request to the application. Its reply comes back through
    /// [`WorkerSession::on_reply`], which returns the credit.
    Deliver(Delivery),
    /// The broker is lost: close the socket now, discarding whatever it
    /// still holds. A [`WorkerAction::Connect`] follows after `delay`.
    Reconnect {
        /// Why the broker is considered lost.
        cause: BrokerLoss,
        /// The jittered backoff before the new socket.
        delay: Duration,
    },
    /// The broker refused this worker for good: it sent DISCONNECT with
    /// `PERMISSION_DENIED` (its access policy does not let this worker's
    /// identity serve the service, or no longer does) or `UNAUTHENTICATED`.
    /// Close the socket now, discarding whatever it still holds, and stop
    /// with this status (the crate's workers return
    /// [`WorkerError::Refused`](crate::WorkerError::Refused)): registering
    /// again would get the same answer. The session is over; nothing
    /// follows.
    Refused(Status),
    /// The broker echoed a READY update (PROTOCOL.md section 6.2 rule 6):
    /// every request it dispatched under the previous credit count has
    /// arrived. Only a session told to expect echoes
    /// ([`WorkerSession::expect_credit_echoes`]) reports it; for others a
    /// READY from the broker is an unexpected command.
    CreditsConfirmed {
        /// The credit count the broker now applies.
        credits: u32,
    },
    /// The session is over: close the socket, waiting up to `linger` for
    /// what it still holds (the DISCONNECT) to reach the broker. Nothing
    /// follows.
    Closed {
        /// How long closing may wait to flush (zero when no socket is open).
        linger: Duration,
    },
}

/// A message for the broker.
#[derive(Debug)]
#[non_exhaustive]
pub struct Outgoing {
    /// Its command.
    pub kind: Kind,
    /// Its frames, ready for the worker's DEALER (no delimiter).
    pub frames: Vec<Frame>,
}

impl Outgoing {
    /// Whether sending may wait for room in the socket. READY and REPLY wait
    /// (back-pressure, never a lost reply); HEARTBEAT and DISCONNECT are
    /// dropped when the socket is full, since the traffic queued ahead of
    /// them already tells the broker what they would.
    pub fn may_block(&self) -> bool {
        matches!(self.kind, Kind::Ready | Kind::Reply)
    }
}

/// A request for the application.
#[derive(Debug)]
#[non_exhaustive]
pub struct Delivery {
    /// The request header: reply to it with [`Message::reply_ok`] or
    /// [`Message::reply_error`], which copy its id and route.
    pub request: Request,
    /// The payload frames.
    pub payload: Vec<Frame>,
    /// When the request's budget runs out: receipt time plus its
    /// `timeout_ms` (30 s when it carries none).
    pub deadline: Instant,
}

/// Why a worker considers its broker lost.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum BrokerLoss {
    /// Nothing arrived from the broker for `liveness` heartbeat intervals.
    Silent,
    /// The broker sent DISCONNECT, with its reason if it gave one. A
    /// DISCONNECT with `PERMISSION_DENIED` or `UNAUTHENTICATED` is no loss
    /// but a refusal: [`WorkerAction::Refused`], and no reconnect.
    Disconnected(Option<Status>),
}

/// Where the session is.
#[derive(Debug)]
enum State {
    /// A socket is open and READY was sent on it.
    Connected {
        /// Whether the broker has sent anything since READY.
        heard: bool,
        /// When the broker is dead unless something arrives before.
        expiry: Instant,
        /// When to send a heartbeat unless something else goes out before.
        next_beat: Instant,
    },
    /// The broker was lost; a new socket is opened at `until`.
    Backoff {
        /// The end of the backoff.
        until: Instant,
    },
    /// Stopped.
    Closed,
}

/// One worker's protocol state with one broker (see the module docs).
#[derive(Debug)]
pub struct WorkerSession {
    /// The service announced in READY.
    service: String,
    /// Credits announced in READY: the most requests the application holds.
    credits: u32,
    /// Heartbeat interval announced in READY and used both ways.
    heartbeat: Duration,
    /// Missed intervals before the broker is dead.
    liveness: u32,
    /// Backoff between reconnects.
    reconnect: RetryPolicy,
    /// Decoding limits for requests.
    limits: Limits,
    /// The backoff's jitter.
    rng: fastrand::Rng,
    /// Where the session is.
    state: State,
    /// Consecutive sessions that ended without a word from the broker.
    failures: u32,
    /// Requests delivered and not yet replied to, whichever session they
    /// came in (the application is still running them).
    held: u32,
    /// Requests of this session waiting for a credit, at most `credits`.
    waiting: VecDeque<Delivery>,
    /// What the driver must do next.
    actions: VecDeque<WorkerAction>,
    /// A copy of the last header frame received, to answer a REQUEST that
    /// fails to decode (the decoder consumes the frames).
    last_header: Vec<u8>,
    /// Counters.
    stats: WorkerStats,
    /// Part of a worker serving several brokers: credits change with
    /// READY updates, the broker's echoes are reported, and requests are
    /// delivered as they come (the worker's budget bounds them).
    budgeted: bool,
}

impl WorkerSession {
    /// A session for `service` with `options`, starting at `now`: it asks
    /// at once to connect and send READY. `seed` seeds the backoff's jitter.
    pub fn new(
        service: impl Into<String>,
        options: &WorkerOptions,
        seed: u64,
        now: Instant,
    ) -> Self {
        let mut session = Self {
            service: service.into(),
            credits: options.credits.max(1),
            heartbeat: options.heartbeat,
            liveness: options.liveness.max(1),
            reconnect: options.reconnect.clone(),
            limits: options.limits,
            rng: fastrand::Rng::with_seed(seed),
            state: State::Closed,
            failures: 0,
            held: 0,
            waiting: VecDeque::new(),
            actions: VecDeque::new(),
            last_header: Vec::new(),
            stats: WorkerStats::default(),
            budgeted: false,
        };
        session.connect(now);
        session
    }

    /// The next thing to do, if any.
    pub fn poll_action(&mut self) -> Option<WorkerAction> {
        self.actions.pop_front()
    }

    /// When [`Self::on_tick`] must be called next: the next heartbeat, the
    /// broker's expiry or the end of a backoff. `None` once closed.
    pub fn next_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Connected {
                expiry, next_beat, ..
            } => Some(expiry.min(next_beat)),
            State::Backoff { until } => Some(until),
            State::Closed => None,
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> WorkerStats {
        self.stats
    }

    /// Makes this session one of several a worker keeps with different
    /// brokers under one credit budget: a READY from the broker (the echo
    /// of a READY update) becomes [`WorkerAction::CreditsConfirmed`], and
    /// every request the broker sends is delivered at once, never kept
    /// waiting (the budget, not this session, bounds what runs). Default:
    /// off (a single broker; credits fixed for the session's life).
    pub fn expect_credit_echoes(mut self) -> Self {
        self.budgeted = true;
        self
    }

    /// Changes the credits announced to the broker: at once with READY
    /// when connected (PROTOCOL.md section 6.2 rule 6), else in the READY
    /// of the next connection.
    pub fn set_credits(&mut self, credits: u32) {
        self.credits = credits.max(1);
        if matches!(self.state, State::Connected { .. }) {
            let ready = Message::ready(&*self.service, self.credits, Some(self.heartbeat));
            self.actions.push_back(WorkerAction::Send(Outgoing {
                kind: Kind::Ready,
                frames: ready.encode_body(),
            }));
            debug!(service = %self.service, credits = self.credits, "credits changed");
        }
    }

    /// The credits announced (or to be announced at the next connection).
    pub fn credits(&self) -> u32 {
        self.credits
    }

    /// Whether a socket is open and the broker has sent something since
    /// READY on it.
    pub fn has_heard(&self) -> bool {
        matches!(self.state, State::Connected { heard: true, .. })
    }

    /// Whether the session waits out a backoff before reconnecting.
    pub fn is_backing_off(&self) -> bool {
        matches!(self.state, State::Backoff { .. })
    }

    /// Requests delivered to the application and not yet replied to.
    pub fn held(&self) -> u32 {
        self.held
    }

    /// Whether the session is over.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// How long a stopping worker waits for its DISCONNECT to be flushed:
    /// the heartbeat interval, at most [`MAX_STOP_LINGER`].
    pub fn stop_linger(&self) -> Duration {
        self.heartbeat.min(MAX_STOP_LINGER)
    }

    /// Fires the timers due at `now`: a heartbeat to send, the broker's
    /// expiry, the end of a backoff.
    pub fn on_tick(&mut self, now: Instant) {
        match self.state {
            State::Connected { expiry, .. } if now >= expiry => self.lose(now, BrokerLoss::Silent),
            State::Connected {
                ref mut next_beat, ..
            } if now >= *next_beat => {
                *next_beat = now + self.heartbeat;
                self.actions.push_back(WorkerAction::Send(Outgoing {
                    kind: Kind::Heartbeat,
                    frames: Message::heartbeat().encode_body(),
                }));
            }
            State::Backoff { until } if now >= until => self.connect(now),
            _ => {}
        }
    }

    /// Handles one message received from the broker, `frames` as the DEALER
    /// received them. Anything received counts as a sign of life.
    ///
    /// # Errors
    /// A [`BrokerMessageError`] for a message the session could not use; it
    /// is counted and logged, and the session carries on.
    pub fn on_message(
        &mut self,
        now: Instant,
        frames: Vec<Frame>,
    ) -> Result<(), BrokerMessageError> {
        let State::Connected {
            ref mut heard,
            ref mut expiry,
            ..
        } = self.state
        else {
            debug!("message from the broker after the session's socket closed; dropped");
            return Ok(());
        };
        *heard = true;
        *expiry = now + self.heartbeat * self.liveness;
        self.last_header.clear();
        if let Some(header) = frames.first() {
            self.last_header.extend_from_slice(header);
        }
        let message = match decode(frames, &self.limits) {
            Ok(decoded) => decoded.message,
            Err(cause) => return Err(self.undecodable(now, cause)),
        };
        match message.command {
            Command::Request(request) => self.on_request(now, request, message.payload),
            Command::Heartbeat => Ok(()),
            Command::Ready(ready) if self.budgeted => {
                self.actions.push_back(WorkerAction::CreditsConfirmed {
                    credits: ready.credits,
                });
                Ok(())
            }
            Command::Disconnect(d) => {
                match d.reason {
                    Some(status) if is_refusal(&status) => self.refuse(status),
                    reason => self.lose(now, BrokerLoss::Disconnected(reason)),
                }
                Ok(())
            }
            other => {
                self.stats.malformed += 1;
                let kind = other.kind();
                warn!(%kind, "unexpected command from the broker dropped");
                Err(BrokerMessageError::Unexpected(kind))
            }
        }
    }

    /// Takes the encoded reply (`[header, payload...]`, as
    /// [`Message::encode_body`] gives) to a request delivered earlier: it is
    /// sent, and its credit returned. A reply arriving while no socket is
    /// open is dropped (the broker, lost meanwhile, has already settled its
    /// request) and counted as abandoned.
    pub fn on_reply(&mut self, now: Instant, frames: Vec<Frame>) {
        self.held = self.held.saturating_sub(1);
        if self.send_reply(now, frames) {
            self.stats.replies += 1;
        } else {
            self.stats.abandoned += 1;
            debug!("reply after the broker was lost dropped");
        }
        self.deliver_waiting();
    }

    /// Ends the session: DISCONNECT (`UNAVAILABLE`, "worker stopping") when
    /// a socket is open, then [`WorkerAction::Closed`] with
    /// [`Self::stop_linger`] for it to be flushed. Idempotent.
    pub fn stop(&mut self, _now: Instant) {
        let linger = match self.state {
            State::Connected { .. } => {
                let bye = Message::disconnect(Some(Status::unavailable("worker stopping")));
                self.actions.push_back(WorkerAction::Send(Outgoing {
                    kind: Kind::Disconnect,
                    frames: bye.encode_body(),
                }));
                self.stop_linger()
            }
            State::Backoff { .. } => Duration::ZERO,
            State::Closed => return,
        };
        self.state = State::Closed;
        self.abandon_waiting();
        info!(service = %self.service, "worker stopping");
        self.actions.push_back(WorkerAction::Closed { linger });
    }

    /// A new socket and READY on it.
    fn connect(&mut self, now: Instant) {
        self.stats.sessions += 1;
        self.state = State::Connected {
            heard: false,
            expiry: now + self.heartbeat * self.liveness,
            next_beat: now + self.heartbeat,
        };
        self.actions.push_back(WorkerAction::Connect);
        let ready = Message::ready(&*self.service, self.credits, Some(self.heartbeat));
        self.actions.push_back(WorkerAction::Send(Outgoing {
            kind: Kind::Ready,
            frames: ready.encode_body(),
        }));
        info!(
            service = %self.service,
            credits = self.credits,
            heartbeat_ms = self.heartbeat.as_millis() as u64,
            "worker ready"
        );
    }

    /// Drops the socket and schedules the next one after a backoff that
    /// starts over when the broker had talked to us.
    fn lose(&mut self, now: Instant, cause: BrokerLoss) {
        let State::Connected { heard, .. } = self.state else {
            return;
        };
        self.failures = if heard {
            1
        } else {
            self.failures.saturating_add(1)
        };
        let delay = self.reconnect.delay(self.failures, &mut self.rng);
        match &cause {
            BrokerLoss::Silent => warn!(
                service = %self.service,
                delay_ms = delay.as_millis() as u64,
                "broker silent; reconnecting"
            ),
            BrokerLoss::Disconnected(reason) => info!(
                service = %self.service,
                reason = ?reason,
                delay_ms = delay.as_millis() as u64,
                "broker sent DISCONNECT; reconnecting"
            ),
        }
        self.state = State::Backoff { until: now + delay };
        self.abandon_waiting();
        self.actions
            .push_back(WorkerAction::Reconnect { cause, delay });
    }

    /// Ends the session for good on the broker's refusal: no reconnect.
    fn refuse(&mut self, status: Status) {
        error!(
            service = %self.service,
            code = %status.code,
            reason = %status.message,
            "the broker refused this worker; stopping (check the broker's access policy)"
        );
        self.state = State::Closed;
        self.abandon_waiting();
        self.actions.push_back(WorkerAction::Refused(status));
    }

    /// A REQUEST: delivered when a credit is free, else kept until one is.
    fn on_request(
        &mut self,
        now: Instant,
        request: Request,
        payload: Vec<Frame>,
    ) -> Result<(), BrokerMessageError> {
        self.stats.requests += 1;
        let deadline = now + request.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let delivery = Delivery {
            request,
            payload,
            deadline,
        };
        if self.budgeted || self.held < self.credits {
            self.held += 1;
            self.actions.push_back(WorkerAction::Deliver(delivery));
        } else if self.waiting.len() < self.credits as usize {
            // Requests of an earlier session still hold the credits.
            self.waiting.push_back(delivery);
        } else {
            let request = delivery.request;
            self.stats.malformed += 1;
            self.stats.rejected += 1;
            warn!(correlation_id = %request.id, credits = self.credits, "request beyond the credits rejected");
            let status = Status::resource_exhausted("more requests than the worker's credits");
            self.send_reply(now, Message::reply_error(&request, status).encode_body());
            return Err(BrokerMessageError::OverCredit {
                id: request.id,
                credits: self.credits,
            });
        }
        Ok(())
    }

    /// A message that did not decode: answered when it is a REQUEST whose
    /// id and route can be read, dropped otherwise.
    fn undecodable(&mut self, now: Instant, cause: DecodeError) -> BrokerMessageError {
        self.stats.malformed += 1;
        match rejection(&self.last_header, &cause) {
            Some((id, reply)) => {
                self.stats.rejected += 1;
                warn!(correlation_id = %id, reason = cause.reason(), %cause, "undecodable request answered INVALID_ARGUMENT");
                self.send_reply(now, reply);
                BrokerMessageError::Rejected { id, cause }
            }
            None => {
                warn!(reason = cause.reason(), %cause, "undecodable message from the broker dropped");
                BrokerMessageError::Undecodable(cause)
            }
        }
    }

    /// Queues a reply on the open socket; false when none is open.
    fn send_reply(&mut self, now: Instant, frames: Vec<Frame>) -> bool {
        let State::Connected {
            ref mut next_beat, ..
        } = self.state
        else {
            return false;
        };
        *next_beat = now + self.heartbeat;
        self.actions.push_back(WorkerAction::Send(Outgoing {
            kind: Kind::Reply,
            frames,
        }));
        true
    }

    /// Delivers waiting requests while credits are free.
    fn deliver_waiting(&mut self) {
        while self.held < self.credits {
            let Some(delivery) = self.waiting.pop_front() else {
                return;
            };
            self.held += 1;
            self.actions.push_back(WorkerAction::Deliver(delivery));
        }
    }

    /// Gives up the requests still waiting: the broker that sent them has
    /// settled them already (or will, at its deadline).
    fn abandon_waiting(&mut self) {
        if !self.waiting.is_empty() {
            debug!(
                count = self.waiting.len(),
                "requests waiting for a credit abandoned"
            );
            self.stats.abandoned += self.waiting.len() as u64;
            self.waiting.clear();
        }
    }
}

/// Whether a DISCONNECT with `status` refuses the worker for good.
fn is_refusal(status: &Status) -> bool {
    matches!(status.code, Code::PermissionDenied | Code::Unauthenticated)
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "session_credit_tests.rs"]
mod credit_tests;
