//! Deadlines and bounded queues through a real broker over TCP.

use std::time::{Duration, Instant};

use reqrep_core::{Code, CorrelationId, Request};
use reqrep_tests::broker::broker;
use reqrep_tests::{Client, WorkerOptions, WorkerThread, wait_for_workers};

fn req(service: &str, timeout_ms: u64) -> Request {
    Request::new(CorrelationId::new(), service).timeout(Duration::from_millis(timeout_ms))
}

#[test]
fn queued_request_without_worker_expires_at_its_deadline() {
    let ctx = zmq::Context::new();
    let broker = broker(|_| {});
    let client = Client::connect(&ctx, broker.frontend());
    let started = Instant::now();
    let (reply, _) = client.call(req("nobody", 300), b"x");
    let waited = started.elapsed();
    assert_eq!(reply.status.code, Code::DeadlineExceeded);
    assert!(
        waited >= Duration::from_millis(300),
        "answered early: {waited:?}"
    );
    assert!(
        waited < Duration::from_millis(1300),
        "answered late: {waited:?}"
    );
}

#[test]
fn slow_worker_does_not_hold_the_client_past_its_deadline() {
    let ctx = zmq::Context::new();
    let broker = broker(|_| {});
    let _w = WorkerThread::start(
        &ctx,
        broker.backend(),
        WorkerOptions {
            delay: Duration::from_millis(1500),
            ..WorkerOptions::default()
        },
    );
    let client = Client::connect(&ctx, broker.frontend());
    wait_for_workers(broker.frontend(), "echo", 1);
    let started = Instant::now();
    let (reply, _) = client.call(req("echo", 200), b"x");
    assert_eq!(reply.status.code, Code::DeadlineExceeded);
    assert!(
        started.elapsed() < Duration::from_millis(1200),
        "{:?}",
        started.elapsed()
    );
    // The late reply is dropped, its credit returns, and the next request is served.
    let (reply, body) = client.call(req("echo", 5000), b"y");
    assert!(reply.status.is_ok());
    assert_eq!(body[1], b"y");
}

#[test]
fn full_queue_is_answered_resource_exhausted_at_once() {
    let ctx = zmq::Context::new();
    let broker = broker(|c| c.max_queue = 2);
    let client = Client::connect(&ctx, broker.frontend());
    client.send(req("q", 5000), b"1");
    client.send(req("q", 5000), b"2");
    // Both are queued once discovery (answered in order after them) sees them.
    assert_eq!(client.service_info("q").map(|s| s.queue_depth), Some(2));
    let started = Instant::now();
    let (reply, _) = client.call(req("q", 5000), b"3");
    assert_eq!(reply.status.code, Code::ResourceExhausted);
    assert!(started.elapsed() < Duration::from_millis(1000));
}

#[test]
fn fail_fast_without_workers_is_unavailable_at_once() {
    let ctx = zmq::Context::new();
    let broker = broker(|_| {});
    let client = Client::connect(&ctx, broker.frontend());
    let (reply, _) = client.call(req("nobody", 5000).fail_fast(true), b"x");
    assert_eq!(reply.status.code, Code::Unavailable);
}

#[test]
fn queued_request_is_served_when_a_worker_registers() {
    let ctx = zmq::Context::new();
    let broker = broker(|_| {});
    let client = Client::connect(&ctx, broker.frontend());
    let request = req("late", 10_000);
    client.send(request.clone(), b"waiting");
    assert_eq!(client.service_info("late").map(|s| s.queue_depth), Some(1));
    let _w = WorkerThread::start(
        &ctx,
        broker.backend(),
        WorkerOptions {
            service: "late".into(),
            ..WorkerOptions::default()
        },
    );
    let (reply, body) = client.recv().expect("reply");
    assert_eq!(reply.id, request.id);
    assert_eq!(body[1], b"waiting");
}
