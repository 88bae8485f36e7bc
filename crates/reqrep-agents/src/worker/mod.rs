//! Brokered workers: the blocking [`Worker`] (handler threads) and the
//! async [`AsyncWorker`] (tokio tasks), on one shared socket driver
//! (`core`) around the socket-free [`WorkerSession`] (`session`), which
//! holds the whole worker side of the protocol.
//!
//! Layout: `options` ([`WorkerOptions`]), `stats` ([`WorkerStats`]),
//! `session` ([`WorkerSession`] and its actions), `malformed`
//! ([`BrokerMessageError`], answering undecodable requests), `core` (the
//! socket driver and the executors' plumbing), and for a worker serving
//! several brokers ([`Worker::connect_all`]) `budget` (the credits shared
//! among them, socket-free) and `multi` (its socket driver).

mod budget;
mod core;
mod malformed;
mod multi;
mod options;
mod session;
mod stats;

use std::future::Future;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use reqrep_core::socket::{Endpoint, SocketError};
use reqrep_core::{Frame, Request, Status};
use tracing::debug;

use self::core::{Core, Executor, reply_frames, results_sender, results_socket, tag_frame};
use self::multi::MultiCore;
pub use malformed::BrokerMessageError;
pub use options::WorkerOptions;
pub use session::{BrokerLoss, Delivery, MAX_STOP_LINGER, Outgoing, WorkerAction, WorkerSession};
pub use stats::WorkerStats;

use crate::{StopToken, WorkerError};

/// A blocking worker of one named service on one broker backend, or on
/// several ([`Worker::connect_all`]).
pub struct Worker {
    ctx: zmq::Context,
    /// The broker backends: one, or several sharing the credits.
    endpoints: Vec<Endpoint>,
    service: String,
    options: WorkerOptions,
}

/// Runs the socket driver for `endpoints`: the single-broker core for one,
/// the multi-broker one (one session each, one credit budget) for more.
#[allow(clippy::too_many_arguments)] // the two cores' fields, passed through
fn drive(
    ctx: &zmq::Context,
    endpoints: &[Endpoint],
    service: &str,
    options: &WorkerOptions,
    results: &zmq::Socket,
    inline: bool,
    executor: &mut dyn Executor,
    stop: &StopToken,
) -> Result<WorkerStats, WorkerError> {
    match endpoints {
        [endpoint] => Core {
            ctx,
            endpoint,
            service,
            options,
            results,
            inline,
        }
        .run(executor, stop),
        _ => MultiCore {
            ctx,
            endpoints,
            service,
            options,
            results,
            inline,
        }
        .run(executor, stop),
    }
}

impl Worker {
    /// A worker for `service` at the broker backend `endpoint`.
    ///
    /// # Errors
    /// An invalid endpoint.
    pub fn new(endpoint: &str, service: &str, options: WorkerOptions) -> Result<Self, WorkerError> {
        Ok(Self {
            ctx: zmq::Context::new(),
            endpoints: vec![Endpoint::parse(endpoint).map_err(SocketError::from)?],
            service: service.to_owned(),
            options,
        })
    }

    /// A worker for `service` serving every broker backend in `endpoints`
    /// at once, with one session each (READY, heartbeats, reconnects) and
    /// its [`WorkerOptions::credits`] shared among them: the brokers
    /// together never have more requests at the worker than its credits.
    /// The credits are split among the live brokers (16 over 3: 6/5/5); a
    /// broker judged dead (liveness) takes none of them with it (those its
    /// requests still running hold come back as they finish), and one that
    /// returns probes with 1 credit, then gets its share back as the others
    /// are lowered (READY updates, PROTOCOL.md section 6.2 rule 6), so no
    /// request ever waits inside the worker. A broker down at the start
    /// holds its 1 credit until it is judged dead (heartbeat × liveness);
    /// after that the worker reconnects only once a connection to it is up.
    /// A refusal by any broker ([`WorkerError::Refused`]) ends the whole
    /// worker, as with one broker. A single endpoint behaves exactly as
    /// [`Worker::new`].
    ///
    /// # Errors
    /// An invalid endpoint; [`WorkerError::NoBroker`] for an empty list;
    /// [`WorkerError::TooFewCredits`] when the credits are fewer than the
    /// endpoints (each broker's session announces at least 1).
    pub fn connect_all(
        endpoints: &[&str],
        service: &str,
        options: WorkerOptions,
    ) -> Result<Self, WorkerError> {
        if endpoints.is_empty() {
            return Err(WorkerError::NoBroker);
        }
        if (options.credits as usize) < endpoints.len() {
            return Err(WorkerError::TooFewCredits {
                credits: options.credits,
                brokers: endpoints.len(),
            });
        }
        let endpoints = endpoints
            .iter()
            .map(|e| Endpoint::parse(e).map_err(SocketError::from))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            ctx: zmq::Context::new(),
            endpoints,
            service: service.to_owned(),
            options,
        })
    }

    /// Serves requests with `handler` until `stop`, running `credits` handler
    /// threads. A request whose deadline passed before its handler started is
    /// answered `DEADLINE_EXCEEDED` without running it.
    ///
    /// # Errors
    /// Socket failures other than losing the broker (which reconnects);
    /// [`WorkerError::Refused`], at once and without reconnecting, when the
    /// broker refuses the worker (DISCONNECT with `PERMISSION_DENIED` or
    /// `UNAUTHENTICATED`: its access policy does not let this identity serve
    /// the service). Handlers still running are waited for; their replies
    /// are dropped.
    pub fn run<H>(self, handler: H, stop: &StopToken) -> Result<WorkerStats, WorkerError>
    where
        H: Fn(&Request, Vec<Frame>) -> Result<Vec<Frame>, Status> + Send + Sync + 'static,
    {
        let (results, results_endpoint) = results_socket(&self.ctx)?;
        let run = |executor: &mut dyn Executor| {
            drive(
                &self.ctx,
                &self.endpoints,
                &self.service,
                &self.options,
                &results,
                self.options.inline,
                executor,
                stop,
            )
        };
        if self.options.inline {
            struct Inline<H>(H);
            impl<H> Executor for Inline<H>
            where
                H: Fn(&Request, Vec<Frame>) -> Result<Vec<Frame>, Status>,
            {
                fn execute(
                    &mut self,
                    _tag: u64,
                    request: Request,
                    payload: Vec<Frame>,
                    deadline: Instant,
                ) -> Option<Vec<Frame>> {
                    let result = if Instant::now() >= deadline {
                        Err(Status::deadline_exceeded(
                            "deadline passed before the handler started",
                        ))
                    } else {
                        (self.0)(&request, payload)
                    };
                    Some(reply_frames(&request, result))
                }
            }
            return run(&mut Inline(handler));
        }
        let handler = Arc::new(handler);
        let (tx, rx) = mpsc::channel::<(u64, Request, Vec<Frame>, Instant)>();
        let rx = Arc::new(Mutex::new(rx));
        let mut threads = Vec::new();
        for i in 0..self.options.credits {
            let push = results_sender(&self.ctx, &results_endpoint)?;
            let (rx, handler) = (Arc::clone(&rx), Arc::clone(&handler));
            let thread = std::thread::Builder::new()
                .name(format!("reqrep-worker-{i}"))
                .spawn(move || {
                    loop {
                        let job = rx
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .recv();
                        let Ok((tag, request, payload, deadline)) = job else {
                            return;
                        };
                        let result = if Instant::now() >= deadline {
                            Err(Status::deadline_exceeded(
                                "deadline passed before the handler started",
                            ))
                        } else {
                            handler(&request, payload)
                        };
                        let mut frames = vec![tag_frame(tag)];
                        frames.extend(reply_frames(&request, result));
                        let _ = reqrep_core::socket::send_frames(&push, frames, 0);
                    }
                })
                .map_err(WorkerError::Thread)?;
            threads.push(thread);
        }
        struct Pool(mpsc::Sender<(u64, Request, Vec<Frame>, Instant)>);
        impl Executor for Pool {
            fn execute(
                &mut self,
                tag: u64,
                request: Request,
                payload: Vec<Frame>,
                deadline: Instant,
            ) -> Option<Vec<Frame>> {
                let _ = self.0.send((tag, request, payload, deadline));
                None
            }
        }
        let mut pool = Pool(tx);
        let stats = run(&mut pool);
        drop(pool);
        for thread in threads {
            let _ = thread.join();
        }
        debug!(?stats, "worker stopped");
        stats
    }
}

/// An async worker: requests run as tokio tasks, up to `credits` at once.
pub struct AsyncWorker {
    inner: Worker,
}

impl AsyncWorker {
    /// A worker for `service` at the broker backend `endpoint`.
    ///
    /// # Errors
    /// An invalid endpoint.
    pub fn new(endpoint: &str, service: &str, options: WorkerOptions) -> Result<Self, WorkerError> {
        Ok(Self {
            inner: Worker::new(endpoint, service, options)?,
        })
    }

    /// An async worker for `service` on every broker backend in
    /// `endpoints`, sharing its credits among them as
    /// [`Worker::connect_all`] does.
    ///
    /// # Errors
    /// As [`Worker::connect_all`].
    pub fn connect_all(
        endpoints: &[&str],
        service: &str,
        options: WorkerOptions,
    ) -> Result<Self, WorkerError> {
        Ok(Self {
            inner: Worker::connect_all(endpoints, service, options)?,
        })
    }

    /// Serves requests with the async `handler` until `stop`. Must be called
    /// within a tokio runtime; the socket loop runs on its own thread.
    ///
    /// # Errors
    /// As [`Worker::run`]: socket failures, and [`WorkerError::Refused`]
    /// when the broker refuses the worker (tasks still running are not
    /// waited for; their replies are dropped).
    pub async fn run<H, F>(self, handler: H, stop: StopToken) -> Result<WorkerStats, WorkerError>
    where
        H: Fn(Request, Vec<Frame>) -> F + Send + Sync + 'static,
        F: Future<Output = Result<Vec<Frame>, Status>> + Send + 'static,
    {
        let Worker {
            ctx,
            endpoints,
            service,
            options,
        } = self.inner;
        let (results, results_endpoint) = results_socket(&ctx)?;
        let push = Arc::new(Mutex::new(results_sender(&ctx, &results_endpoint)?));
        let runtime = tokio::runtime::Handle::current();
        let handler = Arc::new(handler);
        struct Tasks<H> {
            runtime: tokio::runtime::Handle,
            handler: Arc<H>,
            push: Arc<Mutex<zmq::Socket>>,
        }
        impl<H, F> Executor for Tasks<H>
        where
            H: Fn(Request, Vec<Frame>) -> F + Send + Sync + 'static,
            F: Future<Output = Result<Vec<Frame>, Status>> + Send + 'static,
        {
            fn execute(
                &mut self,
                tag: u64,
                request: Request,
                payload: Vec<Frame>,
                deadline: Instant,
            ) -> Option<Vec<Frame>> {
                let (handler, push) = (Arc::clone(&self.handler), Arc::clone(&self.push));
                self.runtime.spawn(async move {
                    let result = if Instant::now() >= deadline {
                        Err(Status::deadline_exceeded(
                            "deadline passed before the handler started",
                        ))
                    } else {
                        handler(request.clone(), payload).await
                    };
                    let mut frames = vec![tag_frame(tag)];
                    frames.extend(reply_frames(&request, result));
                    let push = push
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    let _ = reqrep_core::socket::send_frames(&push, frames, 0);
                });
                None
            }
        }
        let join = tokio::task::spawn_blocking(move || {
            let mut tasks = Tasks {
                runtime,
                handler,
                push,
            };
            drive(
                &ctx, &endpoints, &service, &options, &results, false, &mut tasks, &stop,
            )
        });
        join.await
            .map_err(|e| WorkerError::Thread(std::io::Error::other(e.to_string())))?
    }
}
