//! An async client over several brokers (docs/PROTOCOL.md, "Several
//! brokers"): new requests spread over all of them, and a broker that falls
//! silent is judged dead by the liveness check, after which its idempotent
//! requests succeed through another broker, the others end UNAVAILABLE
//! before their deadline, and no retry goes to it.
//!
//! The broker that dies is a frontend that receives and never answers
//! anything, HEARTBEATs included: what a client sees of a killed, hung or
//! cut-off broker. It stays bound, so that the test can see every message
//! the client still sends to it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use reqrep_agents::{AsyncClient, ClientOptions, RequestError};
use reqrep_broker::BrokerThread;
use reqrep_core::{Code, Command, CorrelationId, Limits, RetryPolicy, decode};
use reqrep_tests::broker::broker;
use reqrep_tests::{WAIT, WorkerOptions, WorkerThread, bind_ephemeral, socket, wait_for_workers};

/// A broker with one test worker named `name` for `echo`.
fn broker_with_worker(ctx: &zmq::Context, name: &str) -> (BrokerThread, WorkerThread) {
    let broker = broker(|_| {});
    let worker = WorkerThread::start(
        ctx,
        broker.backend(),
        WorkerOptions {
            name: name.into(),
            credits: 16,
            ..WorkerOptions::default()
        },
    );
    wait_for_workers(broker.frontend(), "echo", 1);
    (broker, worker)
}

/// What reached the silent frontend.
#[derive(Debug, Default)]
struct Heard {
    /// Requests, by correlation id: the attempt numbers that came.
    requests: HashMap<CorrelationId, Vec<u32>>,
    heartbeats: usize,
}

/// A frontend that never answers, recording what it receives.
struct Silent {
    endpoint: String,
    heard: Arc<Mutex<Heard>>,
    stop: Arc<AtomicBool>,
    join: Option<JoinHandle<()>>,
}

impl Silent {
    fn start(ctx: &zmq::Context) -> Self {
        let router = socket(ctx, zmq::ROUTER);
        let endpoint = bind_ephemeral(&router).to_string();
        let heard = Arc::new(Mutex::new(Heard::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (record, flag) = (Arc::clone(&heard), Arc::clone(&stop));
        let join = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                if router.poll(zmq::POLLIN, 20).expect("poll") == 0 {
                    continue;
                }
                let frames = reqrep_core::socket::recv_frames(&router, 0).expect("recv");
                let Ok(decoded) = decode(frames, &Limits::default()) else {
                    continue;
                };
                let mut heard = record.lock().expect("lock");
                match decoded.message.command {
                    Command::Request(r) => heard.requests.entry(r.id).or_default().push(r.attempt),
                    Command::Heartbeat => heard.heartbeats += 1,
                    _ => {}
                }
            }
        });
        Self {
            endpoint,
            heard,
            stop,
            join: Some(join),
        }
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(join) = self.join.take() {
            let _ = join.join();
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn new_requests_spread_over_every_broker() {
    let ctx = zmq::Context::new();
    let brokers: Vec<_> = ["b0", "b1", "b2"]
        .iter()
        .map(|name| broker_with_worker(&ctx, name))
        .collect();
    let frontends: Vec<&str> = brokers.iter().map(|(b, _)| b.frontend()).collect();
    let client =
        AsyncClient::connect_all(&frontends, "echo", ClientOptions::default()).expect("client");
    let counts = runtime().block_on(async {
        let mut counts: HashMap<Vec<u8>, usize> = HashMap::new();
        for i in 0..30 {
            let reply = tokio::time::timeout(WAIT, client.request(format!("r{i}").into_bytes()))
                .await
                .expect("in time")
                .expect("reply");
            assert_eq!(reply.payload[1].to_vec(), format!("r{i}").into_bytes());
            *counts.entry(reply.body().to_vec()).or_default() += 1;
        }
        counts
    });
    // One at a time, nothing else in flight: the brokers take turns.
    for name in ["b0", "b1", "b2"] {
        assert_eq!(counts.get(name.as_bytes()), Some(&10), "{counts:?}");
    }
}

/// A request's outcome and how long it took.
type Outcome = (Result<reqrep_agents::Response, RequestError>, Duration);

/// Sends `count` requests at once over a live broker and a silent one,
/// each with `options`; every outcome with the time it took.
fn over_live_and_silent(options: ClientOptions, count: usize) -> (Vec<Outcome>, Heard) {
    let ctx = zmq::Context::new();
    let (live, _worker) = broker_with_worker(&ctx, "live");
    let silent = Silent::start(&ctx);
    let frontends = [live.frontend().to_owned(), silent.endpoint.clone()];
    let client = AsyncClient::connect_all(&frontends, "echo", options).expect("client");
    let outcomes = runtime().block_on(async {
        let tasks: Vec<_> = (0..count)
            .map(|i| {
                let client = client.clone();
                tokio::spawn(async move {
                    let started = Instant::now();
                    let outcome = client.request(format!("r{i}").into_bytes()).await;
                    (outcome, started.elapsed())
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for task in tasks {
            let done = tokio::time::timeout(WAIT * 2, task).await;
            outcomes.push(done.expect("every request ends").expect("task"));
        }
        outcomes
    });
    drop(client);
    let heard = std::mem::take(&mut *silent.heard.lock().expect("lock"));
    (outcomes, heard)
}

/// Every request that reached the silent broker came there once, as its
/// first attempt: no retry went to it.
fn assert_no_retry_reached(heard: &Heard) {
    assert!(
        !heard.requests.is_empty(),
        "some requests went to the silent broker first"
    );
    for (id, attempts) in &heard.requests {
        assert_eq!(attempts, &vec![1], "request {id}: only its first attempt");
    }
    assert!(heard.heartbeats > 0, "the silent broker was pinged");
}

const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

fn options() -> ClientOptions {
    ClientOptions::default()
        .timeout(ATTEMPT_TIMEOUT)
        .retry(RetryPolicy::default().max_attempts(3))
        .heartbeat(Duration::from_millis(100))
        .liveness(3)
}

#[test]
fn idempotent_requests_on_a_dead_broker_succeed_through_another() {
    let (outcomes, heard) = over_live_and_silent(options().idempotent(true), 20);
    let mut moved = 0;
    for (outcome, _) in &outcomes {
        let reply = outcome.as_ref().expect("every idempotent request succeeds");
        assert_eq!(reply.body(), b"live");
        if reply.attempts > 1 {
            moved += 1;
        }
    }
    assert_eq!(
        moved,
        heard.requests.len(),
        "each request that went to the dead broker took a second attempt"
    );
    // Before a single attempt's timeout: the liveness check, not the
    // timeout, moved them.
    for (_, elapsed) in &outcomes {
        assert!(*elapsed < ATTEMPT_TIMEOUT, "took {elapsed:?}");
    }
    assert_no_retry_reached(&heard);
}

#[test]
fn other_requests_on_a_dead_broker_end_unavailable_before_their_deadline() {
    let options = options();
    let budget = options.get_total_timeout();
    let (outcomes, heard) = over_live_and_silent(options, 20);
    let mut unavailable = 0;
    for (outcome, elapsed) in &outcomes {
        match outcome {
            Ok(reply) => assert_eq!((reply.body(), reply.attempts), (&b"live"[..], 1)),
            Err(RequestError::Status(status)) if status.code == Code::Unavailable => {
                unavailable += 1;
                assert!(status.message.contains("judged dead"), "{}", status.message);
                assert!(
                    *elapsed < ATTEMPT_TIMEOUT && *elapsed < budget,
                    "ended at once once judged dead, not at its deadline: {elapsed:?}"
                );
            }
            Err(other) => panic!("unexpected outcome: {other}"),
        }
    }
    assert_eq!(
        unavailable,
        heard.requests.len(),
        "exactly those sent to the dead broker failed"
    );
    assert_no_retry_reached(&heard);
}

#[test]
fn the_blocking_client_over_several_brokers_behaves_the_same() {
    let ctx = zmq::Context::new();
    let (live, _worker) = broker_with_worker(&ctx, "live");
    let silent = Silent::start(&ctx);
    let frontends = [live.frontend().to_owned(), silent.endpoint.clone()];
    for idempotent in [true, false] {
        let options = options().idempotent(idempotent);
        let endpoints = frontends.clone();
        let outcomes = reqrep_tests::wait::within(WAIT * 2, move || {
            let mut client =
                reqrep_agents::Client::connect_all(&endpoints, "echo", options).expect("client");
            // In turn: the first to the live broker, the second to the
            // silent one, the rest (once it is judged dead) to the live one.
            (0..4)
                .map(|i| {
                    let started = Instant::now();
                    let outcome = client.request(format!("r{i}").as_bytes());
                    (
                        outcome.map(|r| (r.body().to_vec(), r.attempts)),
                        started.elapsed(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .expect("every request ends");
        for (i, (outcome, elapsed)) in outcomes.into_iter().enumerate() {
            assert!(elapsed < ATTEMPT_TIMEOUT, "request {i} took {elapsed:?}");
            match (i, idempotent, outcome) {
                (1, true, Ok((body, attempts))) => {
                    assert_eq!((&body[..], attempts), (&b"live"[..], 2))
                }
                (1, false, Err(RequestError::Status(status))) => {
                    assert_eq!(status.code, Code::Unavailable, "{status:?}");
                }
                (_, _, Ok((body, attempts))) if i != 1 => {
                    assert_eq!((&body[..], attempts), (&b"live"[..], 1));
                }
                (i, idempotent, other) => {
                    panic!("request {i} (idempotent: {idempotent}): {other:?}")
                }
            }
        }
    }
    assert_no_retry_reached(&silent.heard.lock().expect("lock"));
}
