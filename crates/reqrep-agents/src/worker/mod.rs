//! Brokered workers: the blocking [`Worker`] (handler threads) and the
//! async [`AsyncWorker`] (tokio tasks), on one shared socket driver
//! (`core`) around the socket-free [`WorkerSession`] (`session`), which
//! holds the whole worker side of the protocol.
//!
//! Layout: `options` ([`WorkerOptions`]), `stats` ([`WorkerStats`]),
//! `session` ([`WorkerSession`] and its actions), `malformed`
//! ([`BrokerMessageError`], answering undecodable requests), `core` (the
//! socket driver and the executors' plumbing).

mod core;
mod malformed;
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

use self::core::{Core, Executor, reply_frames, results_sender, results_socket};
pub use malformed::BrokerMessageError;
pub use options::WorkerOptions;
pub use session::{BrokerLoss, Delivery, MAX_STOP_LINGER, Outgoing, WorkerAction, WorkerSession};
pub use stats::WorkerStats;

use crate::{StopToken, WorkerError};

/// A blocking worker of one named service on a broker backend.
pub struct Worker {
    ctx: zmq::Context,
    endpoint: Endpoint,
    service: String,
    options: WorkerOptions,
}

impl Worker {
    /// A worker for `service` at the broker backend `endpoint`.
    ///
    /// # Errors
    /// An invalid endpoint.
    pub fn new(endpoint: &str, service: &str, options: WorkerOptions) -> Result<Self, WorkerError> {
        Ok(Self {
            ctx: zmq::Context::new(),
            endpoint: Endpoint::parse(endpoint).map_err(SocketError::from)?,
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
        let core = Core {
            ctx: &self.ctx,
            endpoint: &self.endpoint,
            service: &self.service,
            options: &self.options,
            results: &results,
            inline: self.options.inline,
        };
        if self.options.inline {
            struct Inline<H>(H);
            impl<H> Executor for Inline<H>
            where
                H: Fn(&Request, Vec<Frame>) -> Result<Vec<Frame>, Status>,
            {
                fn execute(
                    &mut self,
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
            return core.run(&mut Inline(handler), stop);
        }
        let handler = Arc::new(handler);
        let (tx, rx) = mpsc::channel::<(Request, Vec<Frame>, Instant)>();
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
                        let Ok((request, payload, deadline)) = job else {
                            return;
                        };
                        let result = if Instant::now() >= deadline {
                            Err(Status::deadline_exceeded(
                                "deadline passed before the handler started",
                            ))
                        } else {
                            handler(&request, payload)
                        };
                        let _ = reqrep_core::socket::send_frames(
                            &push,
                            reply_frames(&request, result),
                            0,
                        );
                    }
                })
                .map_err(WorkerError::Thread)?;
            threads.push(thread);
        }
        struct Pool(mpsc::Sender<(Request, Vec<Frame>, Instant)>);
        impl Executor for Pool {
            fn execute(
                &mut self,
                request: Request,
                payload: Vec<Frame>,
                deadline: Instant,
            ) -> Option<Vec<Frame>> {
                let _ = self.0.send((request, payload, deadline));
                None
            }
        }
        let mut pool = Pool(tx);
        let stats = core.run(&mut pool, stop);
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
            endpoint,
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
                    let frames = reply_frames(&request, result);
                    let push = push
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    let _ = reqrep_core::socket::send_frames(&push, frames, 0);
                });
                None
            }
        }
        let join = tokio::task::spawn_blocking(move || {
            let core = Core {
                ctx: &ctx,
                endpoint: &endpoint,
                service: &service,
                options: &options,
                results: &results,
                inline: false,
            };
            let mut tasks = Tasks {
                runtime,
                handler,
                push,
            };
            core.run(&mut tasks, &stop)
        });
        join.await
            .map_err(|e| WorkerError::Thread(std::io::Error::other(e.to_string())))?
    }
}
