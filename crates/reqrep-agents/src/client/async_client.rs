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

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqrep_core::socket::{self, Endpoint, SocketError};
use reqrep_core::{CorrelationId, Frame, RequestHeader, Status};
use tokio::sync::{mpsc, oneshot, watch};

use super::async_io::{Io, Link, Outgoing, io_error};
use super::brokers::{BrokerSet, Target};
use super::liveness::{SharedSet, Watchdog, Watched, lock};
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

/// One broker of a client: its frontend and its I/O task's queue.
struct Line {
    endpoint: String,
    /// The bounded queue to the broker's I/O task.
    commands: mpsc::Sender<Outgoing>,
    /// Changes each time the broker is judged dead (several brokers only).
    deaths: Option<watch::Receiver<u64>>,
}

/// What became of one attempt.
enum Attempted {
    /// A reply, an error, or the attempt's timeout.
    Done(Result<Response, RequestError>),
    /// The broker holding it was judged dead first.
    Lost,
}

/// Holds one attempt in the broker set's in-flight count until dropped.
struct InFlight<'a>(Option<&'a SharedSet>, usize);

impl<'a> InFlight<'a> {
    fn begin(set: Option<&'a SharedSet>, broker: usize) -> Self {
        if let Some(set) = set {
            lock(set).begin(broker);
        }
        Self(set, broker)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(set) = self.0 {
            lock(set).end(self.1);
        }
    }
}

/// What every clone of one [`AsyncClient`] shares. Dropping the last one
/// drops the queues and `_alive`, which ends the I/O tasks.
struct Shared {
    /// One per broker, in the order given.
    lines: Vec<Line>,
    /// The liveness and spreading state; `None` with a single broker.
    brokers: Option<SharedSet>,
    /// Never sent: their drop tells the I/O tasks (and the liveness task)
    /// that every handle is gone, even while they are not reading their
    /// queues.
    _alive: Vec<oneshot::Sender<()>>,
    stale: Arc<AtomicU64>,
    options: ClientOptions,
    /// `options.get_total_timeout()`, worked out once.
    budget: Duration,
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
        Self::connect_all(&[endpoint], service, options)
    }

    /// Connects to the frontends of several brokers for `service`: one
    /// DEALER and I/O task per broker, placed as [`AsyncClient::connect`]
    /// places its one. With a single endpoint it is [`AsyncClient::connect`].
    ///
    /// With several, the client runs the liveness check of docs/PROTOCOL.md
    /// ("Several brokers"): it sends a HEARTBEAT to each broker it has not
    /// heard from for [`ClientOptions::heartbeat`] and judges it dead after
    /// [`ClientOptions::liveness`] intervals of silence. New requests go to
    /// the live broker with the fewest requests in flight (ties in turn). A
    /// retry of an idempotent request goes to another live broker than the
    /// one whose attempt just failed; any other request stays on its broker,
    /// whose duplicate detection keeps a retry from running twice. When a
    /// broker is judged dead, its idempotent requests in flight are retried
    /// on another broker within their budget and the others fail at once
    /// with `UNAVAILABLE` ([`RequestError::Status`]).
    ///
    /// # Errors
    /// No endpoint ([`RequestError::Usage`]), an invalid endpoint or a
    /// socket failure; as [`AsyncClient::connect`].
    ///
    /// # Panics
    /// Inside a tokio runtime built without IO or time enabled.
    pub fn connect_all<S: AsRef<str>>(
        endpoints: &[S],
        service: &str,
        options: ClientOptions,
    ) -> Result<Self, RequestError> {
        if endpoints.is_empty() {
            return Err(RequestError::Usage("no broker endpoint to connect to"));
        }
        let ctx = zmq::Context::new();
        let stale = Arc::new(AtomicU64::new(0));
        let several = endpoints.len() > 1;
        let mut links = Vec::new();
        let mut lines = Vec::new();
        let mut alive = Vec::new();
        let mut watched = Vec::new();
        for endpoint in endpoints {
            let text = endpoint.as_ref();
            let parsed = Endpoint::parse(text).map_err(SocketError::from)?;
            let dealer = ctx.socket(zmq::DEALER)?;
            options.socket.apply(&dealer)?;
            socket::connect(&dealer, &parsed)?;
            let (tx, rx) = mpsc::channel(options.queue_capacity);
            let (alive_tx, closed) = oneshot::channel();
            let heard = Arc::new(AtomicU64::new(0));
            let link = Link::new(
                dealer,
                rx,
                closed,
                Arc::clone(&stale),
                Arc::clone(&heard),
                options.limits,
            );
            links.push(link);
            alive.push(alive_tx);
            let deaths = several.then(|| {
                let (deaths, rx) = watch::channel(0);
                watched.push(Watched {
                    endpoint: text.to_owned(),
                    commands: tx.clone(),
                    heard,
                    deaths,
                });
                rx
            });
            lines.push(Line {
                endpoint: text.to_owned(),
                commands: tx,
                deaths,
            });
        }
        let (brokers, watchdog) = if several {
            let set = BrokerSet::new(lines.len(), options.heartbeat, options.liveness, now());
            let set = Arc::new(Mutex::new(set));
            let (alive_tx, closed) = oneshot::channel();
            alive.push(alive_tx);
            let watchdog = Watchdog::new(Arc::clone(&set), watched, options.heartbeat, closed);
            (Some(set), Some(watchdog))
        } else {
            (None, None)
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                for link in links {
                    let io = Io::new(link, ctx.clone())?;
                    drop(handle.spawn(io.run()));
                }
                if let Some(watchdog) = watchdog {
                    drop(handle.spawn(watchdog.run()));
                }
            }
            Err(_) => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_io()
                    .enable_time()
                    .build()
                    .map_err(io_error)?;
                let ios = {
                    // The descriptors register with this runtime's reactor.
                    let _entered = runtime.enter();
                    links
                        .into_iter()
                        .map(|link| Io::new(link, ctx.clone()))
                        .collect::<Result<Vec<_>, _>>()?
                };
                std::thread::Builder::new()
                    .name("reqrep-async-client".into())
                    .spawn(move || {
                        runtime.block_on(async move {
                            let tasks: Vec<_> =
                                ios.into_iter().map(|io| tokio::spawn(io.run())).collect();
                            if let Some(watchdog) = watchdog {
                                drop(tokio::spawn(watchdog.run()));
                            }
                            for task in tasks {
                                let _ = task.await;
                            }
                        });
                    })
                    .map_err(io_error)?;
            }
        }
        Ok(Self {
            shared: Arc::new(Shared {
                lines,
                brokers,
                _alive: alive,
                stale,
                budget: options.get_total_timeout(),
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
        self.request_queued(vec![payload], Queueing::Wait).await
    }

    /// [`AsyncClient::request`] with several payload frames (for the
    /// blocking [`Client`](super::Client) over several brokers).
    pub(crate) async fn request_frames(
        &self,
        payload: Vec<Frame>,
    ) -> Result<Response, RequestError> {
        let payload = payload.iter().map(|f| f.to_vec()).collect();
        self.request_queued(payload, Queueing::Wait).await
    }

    /// [`AsyncClient::request`] that never waits for a place in the queue:
    /// an attempt that finds it full ends the request with
    /// [`RequestError::Full`], nothing sent.
    ///
    /// # Errors
    /// [`RequestError::Full`], and those of [`AsyncClient::request`].
    pub async fn try_request(&self, payload: Vec<u8>) -> Result<Response, RequestError> {
        self.request_queued(vec![payload], Queueing::Try).await
    }

    async fn request_queued(
        &self,
        payload: Vec<Vec<u8>>,
        queueing: Queueing,
    ) -> Result<Response, RequestError> {
        let options = &self.shared.options;
        let size: usize = payload.iter().map(Vec::len).sum();
        if size > options.limits.max_payload_bytes {
            return Err(RequestError::TooLarge {
                size,
                max: options.limits.max_payload_bytes,
            });
        }
        let id = CorrelationId::new();
        let mut retry = RetryLoop::with_budget(options, self.shared.budget, now());
        let mut event = Event::Ready;
        let mut last = None;
        loop {
            match retry.next(now(), event) {
                Step::Attempt { attempt, timeout } => {
                    let broker = match self.target(last) {
                        Target::Broker(broker) => broker,
                        Target::Lost(broker) => return Err(self.lost(broker)),
                    };
                    last = Some(broker);
                    let attempted = self
                        .attempt(broker, id, attempt, timeout, &payload, queueing)
                        .await;
                    match attempted {
                        Attempted::Done(Ok(response)) => return Ok(response),
                        Attempted::Done(Err(err)) => event = Event::Failed(err),
                        // UNAVAILABLE is retried, within the budget.
                        Attempted::Lost if options.idempotent => {
                            event = Event::Failed(self.lost(broker));
                        }
                        Attempted::Lost => return Err(self.lost(broker)),
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

    /// The broker for the next attempt, after one to `last`.
    fn target(&self, last: Option<usize>) -> Target {
        let Some(set) = &self.shared.brokers else {
            return Target::Broker(0);
        };
        let mut set = lock(set);
        match last {
            None => Target::Broker(set.first()),
            Some(last) => set.retry(last, self.shared.options.idempotent),
        }
    }

    /// The error of a request whose broker was judged dead.
    fn lost(&self, broker: usize) -> RequestError {
        let endpoint = self
            .shared
            .lines
            .get(broker)
            .map_or("?", |line| line.endpoint.as_str());
        RequestError::Status(Status::unavailable(format!(
            "broker {endpoint} judged dead with the request in flight"
        )))
    }

    /// One attempt on `broker`: queue it and await its reply, both within
    /// `timeout`, unless the broker is judged dead first.
    async fn attempt(
        &self,
        broker: usize,
        id: CorrelationId,
        attempt: u32,
        timeout: Duration,
        payload: &[Vec<u8>],
        queueing: Queueing,
    ) -> Attempted {
        let options = &self.shared.options;
        let line = &self.shared.lines[broker];
        let mut deaths = line.deaths.clone();
        if let Some(deaths) = deaths.as_mut() {
            deaths.borrow_and_update();
        }
        let _held = InFlight::begin(self.shared.brokers.as_ref(), broker);
        // The bytes `Message::request(..).encode()` would give, written
        // straight from the parts.
        let header = RequestHeader {
            id: &id,
            service: &self.shared.service,
            timeout,
            attempt,
            idempotent: options.idempotent,
            fail_fast: options.fail_fast,
            route: std::iter::empty(),
        }
        .encode();
        let mut frames = Vec::with_capacity(2 + payload.len());
        frames.push(Frame::new());
        frames.push(header);
        frames.extend(payload.iter().map(|p| Frame::from(&p[..])));
        let (reply, rx) = oneshot::channel();
        let out = Outgoing {
            id,
            frames,
            reply: Some(reply),
        };
        let exchange = async {
            match queueing {
                Queueing::Wait => line
                    .commands
                    .send(out)
                    .await
                    .map_err(|_| RequestError::Closed)?,
                Queueing::Try => line.commands.try_send(out).map_err(|err| match err {
                    mpsc::error::TrySendError::Full(_) => RequestError::Full {
                        capacity: options.queue_capacity,
                    },
                    mpsc::error::TrySendError::Closed(_) => RequestError::Closed,
                })?,
            }
            rx.await.map_err(|_| RequestError::Closed)?
        };
        let died = async {
            let changed = match deaths.as_mut() {
                Some(deaths) => deaths.changed().await.is_ok(),
                None => false,
            };
            if !changed {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            biased;
            outcome = tokio::time::timeout(timeout, exchange) => Attempted::Done(match outcome {
                Ok(outcome) => outcome.map(|response| Response {
                    attempts: attempt,
                    ..response
                }),
                // Dropping the receiver tells the I/O task the caller is gone.
                Err(_) => Err(RequestError::Timeout {
                    attempts: attempt,
                    elapsed: timeout,
                }),
            }),
            () = died => Attempted::Lost,
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
