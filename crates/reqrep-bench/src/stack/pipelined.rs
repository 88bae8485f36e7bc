//! reqrep brokered pipelined: `AsyncClient`s (one per client connection)
//! with their share of the requests in flight as tokio tasks on a
//! current-thread runtime, through the in-process `Broker`, to echo workers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use reqrep_agents::AsyncClient;

use super::{
    EchoWorkers, SERVICE, Secured, client_options, payload_len, start_secured_broker,
    wait_for_secured_workers,
};
use crate::latency::{self, Latencies};
use crate::load;
use crate::plan::RunSpec;
use crate::sample::{Meter, Sample};
use crate::{BenchError, WorkerKind};

/// Pipelined `AsyncClient::request`s through the broker.
pub(super) fn run(spec: &RunSpec, kind: WorkerKind) -> Result<Sample, BenchError> {
    run_secured(spec, kind, &Secured::default())
}

/// [`run`], with the broker, workers and clients secured as `secured` says.
pub(crate) fn run_secured(
    spec: &RunSpec,
    kind: WorkerKind,
    secured: &Secured,
) -> Result<Sample, BenchError> {
    run_on(spec, kind, secured, 1)
}

/// [`run`] over `brokers` brokers: every worker serves all of them (its
/// credits shared among them), every client spreads over all of them.
pub(crate) fn run_brokers(
    spec: &RunSpec,
    kind: WorkerKind,
    brokers: usize,
) -> Result<Sample, BenchError> {
    run_on(spec, kind, &Secured::default(), brokers)
}

fn run_on(
    spec: &RunSpec,
    kind: WorkerKind,
    secured: &Secured,
    brokers: usize,
) -> Result<Sample, BenchError> {
    let started = Instant::now();
    let deadline = started + spec.deadline;
    let scenario = spec.scenario;
    let max_queue = reqrep_broker::BrokerConfig::default().max_queue;
    let brokers = (0..brokers.max(1))
        .map(|_| start_secured_broker(max_queue, secured))
        .collect::<Result<Vec<_>, _>>()?;
    let frontends: Vec<String> = brokers.iter().map(|b| b.frontend().to_owned()).collect();
    let backends: Vec<&str> = brokers.iter().map(|b| b.backend()).collect();
    let workers = EchoWorkers::start_with(
        &backends,
        scenario.workers,
        secured.worker(super::workers::options(scenario.credits)),
        kind,
    )?;
    for frontend in &frontends {
        wait_for_secured_workers(frontend, scenario.workers, secured)?;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(BenchError::thread)?;
    // Connected inside the runtime, each client's I/O runs as a task on it:
    // request, socket and reply all on one thread, no hand-off.
    let clients = {
        let _entered = runtime.enter();
        (0..scenario.clients)
            .map(|_| {
                let options = secured.client(client_options(spec));
                match frontends.as_slice() {
                    [one] => AsyncClient::connect(one, SERVICE, options),
                    all => AsyncClient::connect_all(all, SERVICE, options),
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(BenchError::reqrep)?
    };
    let payload: Arc<[u8]> = load::payload(scenario.payload).into();
    let per_client = scenario.per_client_in_flight();

    let result = (|| {
        let phase = |total: u64| {
            let remaining = deadline.saturating_duration_since(Instant::now());
            runtime.block_on(async {
                tokio::time::timeout(remaining, phase(&clients, per_client, total, &payload))
                    .await
                    .map_err(|_| BenchError::Timeout(format!("reqrep pipelined phase of {total}")))
            })
        };
        let (_, warmup_errors) = phase(spec.warmup)?;
        if warmup_errors > 0 {
            return Err(BenchError::Reqrep(format!(
                "{warmup_errors} warm-up requests failed"
            )));
        }
        let meter = Meter::start();
        let (latencies, errors) = phase(spec.requests)?;
        Ok(meter.finish(&latencies, errors))
    })();
    drop(clients);
    drop(runtime);
    drop(workers);
    for broker in brokers {
        let _ = broker.stop();
    }
    result
}

/// Sends `total` requests from `per_client` tasks per client; returns the
/// latencies of the correct replies and the number of failures.
///
/// The tasks record into one shared histogram, as the raw client does: a
/// histogram each (about half a megabyte apiece, touched page by page, then
/// merged) would charge the bench's own bookkeeping to reqrep's CPU.
async fn phase(
    clients: &[AsyncClient],
    per_client: usize,
    total: u64,
    payload: &Arc<[u8]>,
) -> (Latencies, u64) {
    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let all = Arc::new(Mutex::new(Latencies::new()));
    let mut tasks = tokio::task::JoinSet::new();
    for client in clients {
        for _ in 0..per_client {
            let (client, next, payload) = (client.clone(), Arc::clone(&next), Arc::clone(payload));
            let (all, errors) = (Arc::clone(&all), Arc::clone(&errors));
            tasks.spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < total {
                    let sent = Instant::now();
                    match client.request(payload.to_vec()).await {
                        Ok(reply) if payload_len(&reply.payload) == payload.len() => {
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
