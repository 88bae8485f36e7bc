//! The NATS load: queue-group responders echoing on threads of their own
//! (one connection and one current-thread runtime each, like the reqrep
//! workers), and requesters as tokio tasks on one current-thread runtime
//! sharing one connection per client, like the reqrep `AsyncClient`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use async_nats::{Client, ConnectOptions};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::oneshot;

use super::NatsServer;
use crate::BenchError;
use crate::latency::{self, Latencies};
use crate::load::{self, Threads};
use crate::plan::RunSpec;
use crate::sample::{Meter, Sample};

/// The subject the responders serve.
const SUBJECT: &str = "echo";
/// The responders' queue group: each request goes to one of them.
const QUEUE: &str = "echo-workers";
/// How long the responders may take to connect and subscribe.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Measures `spec` over NATS request-reply through a `nats-server` started
/// from `binary` for this run.
///
/// # Errors
/// [`BenchError::Nats`] for a server, connection or request failure,
/// [`BenchError::Timeout`] past the run's deadline.
pub(crate) fn run(spec: &RunSpec, binary: &std::path::Path) -> Result<Sample, BenchError> {
    let deadline = Instant::now() + spec.deadline;
    let scenario = spec.scenario;
    let server = NatsServer::start(binary)?;
    let responders = Responders::start(server.url(), scenario.workers)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(BenchError::thread)?;
    let clients = runtime.block_on(async {
        let mut clients = Vec::with_capacity(scenario.clients);
        for _ in 0..scenario.clients {
            clients.push(connect(server.url(), spec.request_timeout).await?);
        }
        Ok::<_, BenchError>(clients)
    })?;
    let payload = Bytes::from(load::payload(scenario.payload));
    let per_client = scenario.per_client_in_flight();
    let phase = |total: u64| {
        let remaining = deadline.saturating_duration_since(Instant::now());
        runtime.block_on(async {
            tokio::time::timeout(remaining, phase(&clients, per_client, total, &payload))
                .await
                .map_err(|_| BenchError::Timeout(format!("NATS phase of {total}")))
        })
    };
    let (_, warmup_errors) = phase(spec.warmup)?;
    if warmup_errors > 0 {
        return Err(BenchError::Nats(format!(
            "{warmup_errors} warm-up requests failed"
        )));
    }
    let meter = Meter::start_with(vec![server.pid()]);
    let (latencies, errors) = phase(spec.requests)?;
    let sample = meter.finish(&latencies, errors);
    drop(clients);
    drop(runtime);
    drop(responders);
    drop(server);
    Ok(sample)
}

/// A connection to `url` whose requests give up after `timeout`.
async fn connect(url: &str, timeout: Duration) -> Result<Client, BenchError> {
    ConnectOptions::new()
        .request_timeout(Some(timeout))
        .connect(url)
        .await
        .map_err(|e| BenchError::Nats(format!("connect to {url}: {e}")))
}

/// Sends `total` requests from `per_client` tasks per client; returns the
/// latencies of the correct replies and the number of failures.
async fn phase(
    clients: &[Client],
    per_client: usize,
    total: u64,
    payload: &Bytes,
) -> (Latencies, u64) {
    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let all = Arc::new(Mutex::new(Latencies::new()));
    let mut tasks = tokio::task::JoinSet::new();
    for client in clients {
        for _ in 0..per_client {
            let (client, next, payload) = (client.clone(), Arc::clone(&next), payload.clone());
            let (all, errors) = (Arc::clone(&all), Arc::clone(&errors));
            tasks.spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < total {
                    let sent = Instant::now();
                    // A fresh copy per request, as the reqrep client sends
                    // one: the same work on both sides.
                    let body = Bytes::copy_from_slice(&payload);
                    match client.request(SUBJECT, body).await {
                        Ok(reply) if reply.payload.len() == payload.len() => {
                            let took = sent.elapsed();
                            latency::lock(&all).record(took);
                        }
                        _ => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    }
    while let Some(done) = tasks.join_next().await {
        if done.is_err() {
            errors.fetch_add(1, Ordering::Relaxed);
        }
    }
    let latencies = latency::lock(&all).clone();
    (latencies, errors.load(Ordering::Relaxed))
}

/// Echo responders in one queue group, each on its own thread; stopped and
/// joined on drop.
struct Responders {
    stops: Vec<oneshot::Sender<()>>,
    _threads: Threads,
}

impl Responders {
    /// `count` responders on `url`, returning once every one has
    /// subscribed (the server has seen the SUB).
    fn start(url: &str, count: usize) -> Result<Self, BenchError> {
        let mut threads = Threads::default();
        let mut stops = Vec::with_capacity(count);
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        for i in 0..count {
            let (stop_tx, stop_rx) = oneshot::channel();
            stops.push(stop_tx);
            let (url, ready) = (url.to_owned(), ready_tx.clone());
            threads.spawn(&format!("nats-responder-{i}"), move || {
                respond(&url, stop_rx, &ready);
            })?;
        }
        let until = Instant::now() + READY_TIMEOUT;
        for _ in 0..count {
            let left = until.saturating_duration_since(Instant::now());
            match ready_rx.recv_timeout(left) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(BenchError::Nats(e)),
                Err(_) => {
                    return Err(BenchError::Timeout(format!(
                        "{count} NATS responders within {} s",
                        READY_TIMEOUT.as_secs()
                    )));
                }
            }
        }
        Ok(Self {
            stops,
            _threads: threads,
        })
    }
}

impl Drop for Responders {
    fn drop(&mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
    }
}

/// One responder: connects, subscribes in [`QUEUE`], reports ready, then
/// echoes every request until `stop`.
fn respond(url: &str, mut stop: oneshot::Receiver<()>, ready: &mpsc::Sender<Result<(), String>>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = ready.send(Err(format!("responder runtime: {e}")));
            return;
        }
    };
    runtime.block_on(async {
        let setup = async {
            let client = async_nats::connect(url)
                .await
                .map_err(|e| format!("responder connect to {url}: {e}"))?;
            let subscriber = client
                .queue_subscribe(SUBJECT, QUEUE.to_owned())
                .await
                .map_err(|e| format!("queue_subscribe: {e}"))?;
            client
                .flush()
                .await
                .map_err(|e| format!("responder flush: {e}"))?;
            Ok::<_, String>((client, subscriber))
        };
        let (client, mut subscriber) = match setup.await {
            Ok(both) => {
                let _ = ready.send(Ok(()));
                both
            }
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        loop {
            tokio::select! {
                _ = &mut stop => break,
                message = subscriber.next() => {
                    let Some(message) = message else { break };
                    if let Some(reply) = message.reply
                        && client.publish(reply, message.payload).await.is_err()
                    {
                        break;
                    }
                }
            }
        }
    });
}
