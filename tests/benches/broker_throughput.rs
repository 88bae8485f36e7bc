//! Throughput through a real broker over loopback TCP: one pipelining DEALER
//! client (128 requests in flight), 4 workers with 16 credits each, 64 B
//! payloads. Prints a table and writes it to `target/broker_throughput.txt`.
//!
//! Run: `cargo bench -p reqrep-tests --bench broker_throughput`.

#![allow(missing_docs, clippy::print_stdout)]

use std::time::{Duration, Instant};

use reqrep_core::{CorrelationId, Request};
use reqrep_tests::broker::broker;
use reqrep_tests::{Client, WorkerOptions, WorkerThread, wait_for_workers};

fn run(total: usize, in_flight: usize, payload: &[u8]) -> (Duration, usize) {
    let ctx = zmq::Context::new();
    let broker = broker(|_| {});
    let options = WorkerOptions {
        credits: 16,
        ..WorkerOptions::default()
    };
    let _workers = WorkerThread::start_many(&ctx, broker.backend(), 4, &options);
    let client = Client::connect(&ctx, broker.frontend());
    wait_for_workers(broker.frontend(), "echo", 4);
    let request = || Request::new(CorrelationId::new(), "echo").timeout(Duration::from_secs(30));
    let started = Instant::now();
    let mut sent = 0;
    let mut ok = 0;
    while sent < in_flight.min(total) {
        client.send(request(), payload);
        sent += 1;
    }
    for _ in 0..total {
        let (reply, _) = client.recv().expect("reply");
        ok += usize::from(reply.status.is_ok());
        if sent < total {
            client.send(request(), payload);
            sent += 1;
        }
    }
    (started.elapsed(), ok)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick") || std::env::var_os("CI").is_some();
    let total = if quick { 20_000 } else { 200_000 };
    let payload = [0xabu8; 64];
    let mut rows = Vec::new();
    for round in 1..=3 {
        let (elapsed, ok) = run(total, 128, &payload);
        assert_eq!(ok, total, "every request answered OK");
        let rate = total as f64 / elapsed.as_secs_f64();
        rows.push(format!(
            "| {round} | {total} | 64 B | 4 x 16 | 128 | {:.2} s | {rate:.0} req/s |",
            elapsed.as_secs_f64()
        ));
    }
    let table = format!(
        "| run | requests | payload | workers x credits | in flight | elapsed | throughput |\n|---|---|---|---|---|---|---|\n{}\n",
        rows.join("\n")
    );
    println!("{table}");
    let out =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/broker_throughput.txt");
    let _ = std::fs::write(out, &table);
}
