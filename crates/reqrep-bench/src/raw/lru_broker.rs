//! Raw brokered lockstep: the Guide's load-balancing broker. A ROUTER
//! frontend for REQ clients, a ROUTER backend for REQ workers that say
//! "READY" once, and a queue of idle workers (least recently used first).
//! The frontend is only polled while some worker is idle.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::{POLL_MS, READY, bind_loopback, bounded, check_len, recv_parts, send_parts, socket};
use crate::BenchError;
use crate::load::{self, StopFlag, Threads, stopped, wait_until};
use crate::plan::RunSpec;
use crate::sample::Sample;

/// REQ client -> LRU broker -> REQ workers, one request at a time.
pub(super) fn run(spec: &RunSpec) -> Result<Sample, BenchError> {
    let started = Instant::now();
    let mut threads = Threads::default();
    let ctx = zmq::Context::new();
    let frontend = socket(&ctx, zmq::ROUTER)?;
    let backend = socket(&ctx, zmq::ROUTER)?;
    let frontend_endpoint = bind_loopback(&frontend)?;
    let backend_endpoint = bind_loopback(&backend)?;
    let registered = Arc::new(AtomicUsize::new(0));
    let (stop, seen) = (threads.flag(), Arc::clone(&registered));
    threads.spawn("raw-lru-broker", move || {
        let _ = broker(&frontend, &backend, &stop, &seen);
    })?;
    for i in 0..spec.scenario.workers {
        let (stop, endpoint) = (threads.flag(), backend_endpoint.clone());
        threads.spawn(&format!("raw-lru-worker-{i}"), move || {
            let _ = worker(&endpoint, &stop);
        })?;
    }
    let workers = spec.scenario.workers;
    wait_until("raw workers registered", Duration::from_secs(10), || {
        Ok(registered.load(Ordering::SeqCst) >= workers)
    })?;

    let client_ctx = zmq::Context::new();
    let req = socket(&client_ctx, zmq::REQ)?;
    bounded(&req, spec.request_timeout)?;
    req.connect(&frontend_endpoint)?;
    let payload = load::payload(spec.scenario.payload);
    load::lockstep(spec, started, || {
        req.send(&payload[..], 0)?;
        let reply = req.recv_msg(0)?;
        check_len(reply.len(), payload.len())
    })
}

/// The broker loop.
fn broker(
    frontend: &zmq::Socket,
    backend: &zmq::Socket,
    stop: &StopFlag,
    registered: &AtomicUsize,
) -> zmq::Result<()> {
    let mut idle: VecDeque<zmq::Message> = VecDeque::new();
    while !stopped(stop) {
        let mut items = [
            backend.as_poll_item(zmq::POLLIN),
            frontend.as_poll_item(zmq::POLLIN),
        ];
        let watched = if idle.is_empty() { 1 } else { 2 };
        if zmq::poll(&mut items[..watched], POLL_MS)? == 0 {
            continue;
        }
        let (from_workers, from_clients) = (items[0].is_readable(), items[1].is_readable());
        if from_workers {
            // [worker, "", "READY"] or [worker, "", client, "", reply]
            let mut parts = recv_parts(backend, 0)?.into_iter();
            let Some(worker) = parts.next() else { continue };
            idle.push_back(worker);
            let rest: Vec<zmq::Message> = parts.skip(1).collect();
            if rest.len() == 1 && &rest[0][..] == READY {
                registered.fetch_add(1, Ordering::SeqCst);
            } else {
                send_parts(frontend, rest)?;
            }
        }
        if from_clients && watched == 2 {
            // [client, "", request]
            let parts = recv_parts(frontend, 0)?;
            if let Some(worker) = idle.pop_front() {
                let empty = zmq::Message::new();
                send_parts(backend, std::iter::once(worker).chain([empty]).chain(parts))?;
            }
        }
    }
    Ok(())
}

/// A REQ worker: says READY, then echoes `[client, "", request]`.
fn worker(endpoint: &str, stop: &StopFlag) -> Result<(), BenchError> {
    let ctx = zmq::Context::new();
    let req = socket(&ctx, zmq::REQ)?;
    req.connect(endpoint)?;
    req.send(READY, 0)?;
    while !stopped(stop) {
        if req.poll(zmq::POLLIN, POLL_MS)? == 0 {
            continue;
        }
        let parts = recv_parts(&req, 0)?;
        send_parts(&req, parts)?;
    }
    Ok(())
}
