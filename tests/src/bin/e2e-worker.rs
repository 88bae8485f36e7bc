//! A test worker process: `e2e-worker <backend> <service> <name> <credits> <heartbeat-ms> <delay-ms>`.
//! Prints `ready`, `request <id>`, `disconnected` and `refused <status>` lines
//! so tests can synchronise on them; it exits once refused.

#![allow(clippy::print_stdout)]

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use reqrep_tests::worker::{WorkerEvent, WorkerOptions, run_worker};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [backend, service, name, credits, heartbeat_ms, delay_ms] = args.as_slice() else {
        eprintln!(
            "usage: e2e-worker <backend> <service> <name> <credits> <heartbeat-ms> <delay-ms>"
        );
        std::process::exit(2);
    };
    let number = |s: &str| {
        s.parse::<u64>().unwrap_or_else(|_| {
            eprintln!("not a number: {s}");
            std::process::exit(2)
        })
    };
    let options = WorkerOptions {
        service: service.clone(),
        credits: u32::try_from(number(credits)).unwrap_or(1),
        heartbeat: Duration::from_millis(number(heartbeat_ms)),
        delay: Duration::from_millis(number(delay_ms)),
        name: name.clone(),
    };
    let ctx = zmq::Context::new();
    let stop = Arc::new(AtomicBool::new(false));
    run_worker(&ctx, backend, &options, &stop, |event| {
        match event {
            WorkerEvent::Ready => println!("ready"),
            WorkerEvent::Request(id) => println!("request {id}"),
            WorkerEvent::Disconnected => println!("disconnected"),
            WorkerEvent::Refused(status) => println!("refused {status}"),
        }
        let _ = std::io::stdout().flush();
    });
}
