//! The async client: a cheap cloneable handle; one DEALER socket owned by an
//! I/O task, fed through a bounded queue; many requests in flight, each
//! matched to its caller by correlation id through a map of oneshot senders.
//! Each request drives the shared retry loop with tokio's clock and timers.
//!
//! The I/O task drives the socket through `AsyncFd` on the socket's
//! `ZMQ_FD`, so it waits in the tokio reactor next to the callers: on a
//! current-thread runtime a request goes from its caller to the socket and
//! its reply back without any hand-off between OS threads.
//!
//! The I/O task itself (driving `ZMQ_FD`, back-pressure) is in
//! `async_io`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqrep_core::socket::{self, Endpoint, SocketError};
use reqrep_core::{CorrelationId, Frame, Message, Request};
use tokio::sync::{mpsc, oneshot};

use super::async_io::{Io, Link, Outgoing, io_error};
use super::retry::{Event, RetryLoop, Step, note_retry};
use super::{ClientOptions, Response};
use crate::RequestError;

/// Whether a caller waits for a place in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Queueing {
    /// Wait for a place (within the attempt's timeout).
    Wait,
    /// Fail with [`RequestError::Full`] when there is none.
    Try,
}

/// What every clone of one [`AsyncClient`] shares. Dropping the last one
/// drops `commands` and `_alive`, which ends the I/O task.
struct Shared {
    /// The bounded queue to the I/O task.
    commands: mpsc::Sender<Outgoing>,
    /// Never sent: its drop tells the I/O task that every handle is gone,
    /// even while the task is not reading `commands`.
    _alive: oneshot::Sender<()>,
    stale: Arc<AtomicU64>,
    options: ClientOptions,
    service: String,
}

/// An async client of one named service behind a broker (or of a direct
/// ROUTER/REP replier when `service` is empty). Clone it freely: clones share
/// one connection.
///
/// # Where the I/O runs
///
/// One I/O task owns the DEALER socket. [`AsyncClient::connect`] places it:
///
/// - Called inside a tokio runtime (so that
///   [`tokio::runtime::Handle::try_current`] finds one), it spawns the task
///   on that runtime. Requests then cost no OS-thread hand-off at all on a
///   current-thread runtime. The runtime must have IO enabled (as
///   `Runtime::new()`, `#[tokio::main]` and `enable_all()` do) and must keep
///   running while the client is used: a current-thread runtime runs the task
///   only while something is in its `block_on`, and once that runtime shuts
///   down every pending and later request fails with
///   [`RequestError::Closed`].
/// - Called anywhere else (a plain thread), it starts a dedicated thread
///   running a current-thread runtime for the task, so the client works from
///   any runtime, or several, created before or after it.
///
/// [`AsyncClient::request`] itself needs a tokio runtime with time enabled,
/// for its timeouts and retry backoff.
///
/// When the last clone is dropped, the task ends and closes the socket.
#[derive(Clone)]
pub struct AsyncClient {
    shared: Arc<Shared>,
}

impl AsyncClient {
    /// Connects to `endpoint` for `service` and starts the I/O task: on the
    /// current tokio runtime when there is one, else on a dedicated thread
    /// (see [the type's docs](AsyncClient#where-the-io-runs)).
    ///
    /// # Errors
    /// An invalid endpoint or a socket failure; failing to register the
    /// socket with the reactor or to start the dedicated thread.
    ///
    /// # Panics
    /// Inside a tokio runtime built without IO enabled.
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
        let (tx, rx) = mpsc::channel(options.queue_capacity);
        let (alive, closed) = oneshot::channel();
        let stale = Arc::new(AtomicU64::new(0));
        let link = Link::new(dealer, rx, closed, Arc::clone(&stale), options.limits);
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                let io = Io::new(link, ctx)?;
                drop(handle.spawn(io.run()));
            }
            Err(_) => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_io()
                    .build()
                    .map_err(io_error)?;
                let io = {
                    // The descriptor registers with this runtime's reactor.
                    let _entered = runtime.enter();
                    Io::new(link, ctx)?
                };
                std::thread::Builder::new()
                    .name("reqrep-async-client".into())
                    .spawn(move || runtime.block_on(io.run()))
                    .map_err(io_error)?;
            }
        }
        Ok(Self {
            shared: Arc::new(Shared {
                commands: tx,
                _alive: alive,
                stale,
                options,
                service: service.to_owned(),
            }),
        })
    }

    /// Sends `payload` as one frame and awaits the matching reply, with the
    /// options' timeout, retries and total budget. When the client's queue
    /// is full (see [`ClientOptions::queue_capacity`]) each attempt first
    /// waits for a place in it, within its timeout.
    ///
    /// # Errors
    /// As the blocking client: timeout, exhausted budget, error status,
    /// [`RequestError::PermissionDenied`]; [`RequestError::Closed`] once the I/O task is gone.
    pub async fn request(&self, payload: Vec<u8>) -> Result<Response, RequestError> {
        self.request_queued(payload, Queueing::Wait).await
    }

    /// [`AsyncClient::request`] that never waits for a place in the queue:
    /// an attempt that finds it full ends the request with
    /// [`RequestError::Full`], nothing sent.
    ///
    /// # Errors
    /// [`RequestError::Full`], and those of [`AsyncClient::request`].
    pub async fn try_request(&self, payload: Vec<u8>) -> Result<Response, RequestError> {
        self.request_queued(payload, Queueing::Try).await
    }

    async fn request_queued(
        &self,
        payload: Vec<u8>,
        queueing: Queueing,
    ) -> Result<Response, RequestError> {
        let options = &self.shared.options;
        let size = payload.len();
        if size > options.limits.max_payload_bytes {
            return Err(RequestError::TooLarge {
                size,
                max: options.limits.max_payload_bytes,
            });
        }
        let id = CorrelationId::new();
        let mut retry = RetryLoop::new(options, now());
        let mut event = Event::Ready;
        loop {
            match retry.next(now(), event) {
                Step::Attempt { attempt, timeout } => {
                    match self.attempt(id, attempt, timeout, &payload, queueing).await {
                        Ok(response) => return Ok(response),
                        Err(err) => event = Event::Failed(err),
                    }
                }
                Step::Wait(delay) => {
                    note_retry(id, retry.attempts(), delay);
                    tokio::time::sleep(delay).await;
                    event = Event::Ready;
                }
                Step::GiveUp(err) => return Err(err),
            }
        }
    }

    /// One attempt: queue it and await its reply, both within `timeout`.
    async fn attempt(
        &self,
        id: CorrelationId,
        attempt: u32,
        timeout: Duration,
        payload: &[u8],
        queueing: Queueing,
    ) -> Result<Response, RequestError> {
        let options = &self.shared.options;
        let request = Request::new(id, self.shared.service.clone())
            .timeout(timeout)
            .attempt(attempt)
            .idempotent(options.idempotent)
            .fail_fast(options.fail_fast);
        let frames = Message::request(request, vec![Frame::from(payload)]).encode();
        let (reply, rx) = oneshot::channel();
        let out = Outgoing { id, frames, reply };
        let exchange = async {
            match queueing {
                Queueing::Wait => self
                    .shared
                    .commands
                    .send(out)
                    .await
                    .map_err(|_| RequestError::Closed)?,
                Queueing::Try => self
                    .shared
                    .commands
                    .try_send(out)
                    .map_err(|err| match err {
                        mpsc::error::TrySendError::Full(_) => RequestError::Full {
                            capacity: options.queue_capacity,
                        },
                        mpsc::error::TrySendError::Closed(_) => RequestError::Closed,
                    })?,
            }
            rx.await.map_err(|_| RequestError::Closed)?
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(outcome) => outcome.map(|response| Response {
                attempts: attempt,
                ..response
            }),
            // Dropping the receiver tells the I/O task the caller is gone.
            Err(_) => Err(RequestError::Timeout {
                attempts: attempt,
                elapsed: timeout,
            }),
        }
    }

    /// Replies dropped because their correlation id matched nothing.
    pub fn stale_replies(&self) -> u64 {
        self.shared.stale.load(Ordering::Relaxed)
    }
}

/// tokio's clock (which a paused test runtime controls) as a std instant.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}
