//! A worker process killed with SIGKILL mid-request.

use std::process::Command;
use std::time::{Duration, Instant};

use reqrep_core::{Code, CorrelationId, Request};
use reqrep_tests::broker::broker;
use reqrep_tests::process::Proc;
use reqrep_tests::{Client, WorkerOptions, WorkerThread, wait_for_workers};

const HEARTBEAT_MS: u64 = 100;
const LIVENESS: u32 = 3;

fn worker_process(backend: &str, name: &str) -> Proc {
    let mut command = Command::new(env!("CARGO_BIN_EXE_e2e-worker"));
    command.args([
        backend,
        "echo",
        name,
        "1",
        &HEARTBEAT_MS.to_string(),
        "600000",
    ]);
    Proc::spawn(command)
}

/// Starts a stuck worker process, sends `request` to it, and returns once the
/// process has it.
fn hand_request_to_doomed_worker(
    ctx: &zmq::Context,
    broker: &reqrep_broker::BrokerThread,
    request: &Request,
) -> (Proc, Client) {
    let mut doomed = worker_process(broker.backend(), "doomed");
    doomed.wait_for_line("ready", Duration::from_secs(10));
    let client = Client::connect(ctx, broker.frontend());
    wait_for_workers(broker.frontend(), "echo", 1);
    client.send(request.clone(), b"work");
    doomed.wait_for_line(&format!("request {}", request.id), Duration::from_secs(10));
    (doomed, client)
}

#[test]
fn idempotent_request_of_a_killed_worker_is_completed_by_another() {
    let ctx = zmq::Context::new();
    let broker = broker(|c| c.liveness = LIVENESS);
    let request = Request::new(CorrelationId::new(), "echo")
        .timeout(Duration::from_secs(20))
        .idempotent(true);
    let (doomed, client) = hand_request_to_doomed_worker(&ctx, &broker, &request);

    let _rescuer = WorkerThread::start(
        &ctx,
        broker.backend(),
        WorkerOptions {
            name: "rescuer".into(),
            ..WorkerOptions::default()
        },
    );
    wait_for_workers(broker.frontend(), "echo", 2);
    doomed.signal("KILL");

    let (reply, body) = client.recv().expect("reply");
    assert_eq!(reply.id, request.id);
    assert!(reply.status.is_ok(), "{:?}", reply.status);
    assert_eq!(body[0], b"rescuer");
    assert_eq!(body[1], b"work");
    let stats = broker.stop().expect("stop");
    assert_eq!(stats.redispatched, 1);
    // Found dead by a missed heartbeat, or sooner when the broker's next
    // send to it failed because its connection was gone.
    assert_eq!(
        stats.workers_expired + stats.unroutable.min(1),
        1,
        "{stats:?}"
    );
}

#[test]
fn non_idempotent_request_of_a_killed_worker_is_answered_unavailable_in_time() {
    let ctx = zmq::Context::new();
    let broker = broker(|c| c.liveness = LIVENESS);
    let request = Request::new(CorrelationId::new(), "echo").timeout(Duration::from_secs(20));
    let (doomed, client) = hand_request_to_doomed_worker(&ctx, &broker, &request);

    let _bystander = WorkerThread::start(&ctx, broker.backend(), WorkerOptions::default());
    wait_for_workers(broker.frontend(), "echo", 2);
    doomed.signal("KILL");
    let killed = Instant::now();

    let (reply, _) = client.recv().expect("reply");
    let waited = killed.elapsed();
    assert_eq!(reply.id, request.id);
    assert_eq!(reply.status.code, Code::Unavailable);
    let bound = Duration::from_millis(HEARTBEAT_MS * u64::from(LIVENESS)) + Duration::from_secs(1);
    assert!(
        waited <= bound,
        "answered after {waited:?}, bound {bound:?}"
    );
    // Not executed twice: the bystander never saw it.
    let stats = broker.stop().expect("stop");
    assert_eq!(stats.redispatched, 0);
}
