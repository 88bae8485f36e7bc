//! The async client: a cheap cloneable handle; one DEALER socket owned by an
//! I/O thread; many requests in flight, each matched to its caller by
//! correlation id through a map of oneshot senders.
//!
//! Handles hand commands to the I/O thread over a channel and wake it through
//! an inproc socket only when it is asleep in `zmq::poll`, so a busy client
//! pays no wake-up per request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use metrics::counter;
use reqrep_core::socket::{self, Endpoint, SocketError, recv_frames, send_frames};
use reqrep_core::{Command, CorrelationId, Frame, Limits, Message, Request, decode};
use tokio::sync::oneshot;
use tracing::debug;

use super::requester::{RETRIES_TOTAL, STALE_REPLIES_TOTAL};
use super::{ClientOptions, Reply};
use crate::RequestError;

type ReplySender = oneshot::Sender<Result<Reply, RequestError>>;

enum Cmd {
    Send {
        id: CorrelationId,
        frames: Vec<Frame>,
        reply: ReplySender,
    },
    Forget(CorrelationId),
}

struct Shared {
    commands: Mutex<Option<mpsc::Sender<Cmd>>>,
    wake: Mutex<zmq::Socket>,
    sleeping: Arc<AtomicBool>,
    stale: Arc<AtomicU64>,
    options: ClientOptions,
    service: String,
}

impl Shared {
    fn submit(&self, cmd: Cmd) -> Result<(), RequestError> {
        {
            let guard = self
                .commands
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let sender = guard.as_ref().ok_or(RequestError::Closed)?;
            sender.send(cmd).map_err(|_| RequestError::Closed)?;
        }
        if self.sleeping.swap(false, Ordering::SeqCst) {
            self.wake_io();
        }
        Ok(())
    }

    fn wake_io(&self) {
        let wake = self
            .wake
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = wake.send("", zmq::DONTWAIT);
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Closing the channel tells the I/O thread to stop; wake it to see it.
        if let Ok(mut guard) = self.commands.lock() {
            guard.take();
        }
        self.wake_io();
    }
}

/// An async client of one named service behind a broker (or of a direct
/// ROUTER/REP replier when `service` is empty). Clone it freely: clones share
/// one connection.
#[derive(Clone)]
pub struct AsyncClient {
    shared: Arc<Shared>,
}

static NEXT_CLIENT: AtomicU64 = AtomicU64::new(0);

impl AsyncClient {
    /// Connects to `endpoint` for `service` and starts the I/O thread.
    ///
    /// # Errors
    /// An invalid endpoint or a socket failure.
    pub fn connect(
        endpoint: &str,
        service: &str,
        options: ClientOptions,
    ) -> Result<Self, RequestError> {
        let ctx = zmq::Context::new();
        let endpoint = Endpoint::parse(endpoint).map_err(SocketError::from)?;
        let dealer = ctx.socket(zmq::DEALER)?;
        options.socket.apply(&dealer)?;
        socket::connect(&dealer, &endpoint)?;
        let wake_endpoint = format!(
            "inproc://reqrep-async-client-{}",
            NEXT_CLIENT.fetch_add(1, Ordering::Relaxed)
        );
        let wake_pull = ctx.socket(zmq::PULL)?;
        wake_pull.bind(&wake_endpoint)?;
        let wake_push = ctx.socket(zmq::PUSH)?;
        wake_push.set_linger(0)?;
        wake_push.connect(&wake_endpoint)?;

        let (tx, rx) = mpsc::channel();
        let sleeping = Arc::new(AtomicBool::new(false));
        let stale = Arc::new(AtomicU64::new(0));
        let io = Io {
            dealer,
            wake: wake_pull,
            commands: rx,
            sleeping: Arc::clone(&sleeping),
            stale: Arc::clone(&stale),
            pending: HashMap::new(),
            limits: options.limits,
            _ctx: ctx,
        };
        std::thread::Builder::new()
            .name("reqrep-async-client".into())
            .spawn(move || io.run())
            .map_err(|_| RequestError::Closed)?;
        Ok(Self {
            shared: Arc::new(Shared {
                commands: Mutex::new(Some(tx)),
                wake: Mutex::new(wake_push),
                sleeping,
                stale,
                options,
                service: service.to_owned(),
            }),
        })
    }

    /// Sends `payload` as one frame and awaits the matching reply, with the
    /// options' timeout and retries.
    ///
    /// # Errors
    /// As the blocking client: timeout, error status, closed client.
    pub async fn request(&self, payload: Vec<u8>) -> Result<Reply, RequestError> {
        let options = &self.shared.options;
        let size = payload.len();
        if size > options.limits.max_payload_bytes {
            return Err(RequestError::TooLarge {
                size,
                max: options.limits.max_payload_bytes,
            });
        }
        let id = CorrelationId::new();
        let started = Instant::now();
        let mut rng = fastrand::Rng::new();
        let mut attempt = 1;
        loop {
            let request = Request::new(id, self.shared.service.clone())
                .timeout(options.timeout)
                .attempt(attempt)
                .idempotent(options.idempotent)
                .fail_fast(options.fail_fast);
            let frames = Message::request(request, vec![Frame::from(&payload[..])]).encode();
            let (tx, rx) = oneshot::channel();
            self.shared.submit(Cmd::Send {
                id,
                frames,
                reply: tx,
            })?;
            let outcome = match tokio::time::timeout(options.timeout, rx).await {
                Ok(Ok(result)) => result,
                Ok(Err(_)) => return Err(RequestError::Closed),
                Err(_) => {
                    let _ = self.shared.submit(Cmd::Forget(id));
                    Err(RequestError::Timeout {
                        attempts: attempt,
                        elapsed: started.elapsed(),
                    })
                }
            };
            let retryable = match &outcome {
                Ok(_) => false,
                Err(RequestError::Timeout { .. }) => true,
                Err(RequestError::Status(s)) => s.code.is_retryable(),
                Err(_) => false,
            };
            if !retryable {
                return outcome.map(|mut r| {
                    r.attempts = attempt;
                    r
                });
            }
            let Some(delay) = options
                .retry
                .next_delay(attempt, Instant::now(), None, &mut rng)
            else {
                return outcome;
            };
            counter!(RETRIES_TOTAL).increment(1);
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// Replies dropped because their correlation id matched nothing.
    pub fn stale_replies(&self) -> u64 {
        self.shared.stale.load(Ordering::Relaxed)
    }
}

/// The I/O thread's state: the only owner of the DEALER socket.
struct Io {
    dealer: zmq::Socket,
    wake: zmq::Socket,
    commands: mpsc::Receiver<Cmd>,
    sleeping: Arc<AtomicBool>,
    stale: Arc<AtomicU64>,
    pending: HashMap<CorrelationId, ReplySender>,
    limits: Limits,
    _ctx: zmq::Context,
}

impl Io {
    fn run(mut self) {
        let stale_counter = counter!(STALE_REPLIES_TOTAL);
        loop {
            // Take every command; then announce sleep and look once more, so
            // a command sent in between is never missed.
            if !self.drain_commands() {
                return;
            }
            self.sleeping.store(true, Ordering::SeqCst);
            if !self.drain_commands() {
                return;
            }
            let mut items = [
                self.dealer.as_poll_item(zmq::POLLIN),
                self.wake.as_poll_item(zmq::POLLIN),
            ];
            if super::requester::poll_items(&mut items, 1000).is_err() {
                return;
            }
            let (replies, woken) = (items[0].is_readable(), items[1].is_readable());
            self.sleeping.store(false, Ordering::SeqCst);
            if woken {
                while self.wake.recv_bytes(zmq::DONTWAIT).is_ok() {}
            }
            if replies {
                loop {
                    let frames = match recv_frames(&self.dealer, zmq::DONTWAIT) {
                        Ok(frames) => frames,
                        Err(zmq::Error::EAGAIN) => break,
                        Err(_) => return,
                    };
                    match decode(frames, &self.limits) {
                        Ok(d) => match d.message.command {
                            Command::Reply(reply) => match self.pending.remove(&reply.id) {
                                Some(tx) => {
                                    let result = if reply.status.is_ok() {
                                        Ok(Reply {
                                            id: reply.id,
                                            payload: d.message.payload,
                                            metadata: reply.metadata,
                                            attempts: 1,
                                        })
                                    } else {
                                        Err(RequestError::Status(reply.status))
                                    };
                                    let _ = tx.send(result);
                                }
                                None => {
                                    self.stale.fetch_add(1, Ordering::Relaxed);
                                    stale_counter.increment(1);
                                }
                            },
                            _ => {
                                self.stale.fetch_add(1, Ordering::Relaxed);
                                stale_counter.increment(1);
                            }
                        },
                        Err(err) => {
                            debug!(cause = %err, "malformed reply dropped");
                            self.stale.fetch_add(1, Ordering::Relaxed);
                            stale_counter.increment(1);
                        }
                    }
                }
            }
        }
    }

    /// Handles queued commands; `false` once every handle is gone.
    fn drain_commands(&mut self) -> bool {
        loop {
            match self.commands.try_recv() {
                Ok(Cmd::Send { id, frames, reply }) => {
                    if let Err(e) = send_frames(&self.dealer, frames, 0) {
                        let _ = reply.send(Err(e.into()));
                    } else {
                        self.pending.insert(id, reply);
                    }
                }
                Ok(Cmd::Forget(id)) => {
                    self.pending.remove(&id);
                }
                Err(mpsc::TryRecvError::Empty) => return true,
                Err(mpsc::TryRecvError::Disconnected) => return false,
            }
        }
    }
}
