//! The raw credit-based load-balancing broker: a ROUTER frontend for DEALER
//! clients, a ROUTER backend for DEALER workers that announce N credits in
//! READY. Workers with a free credit wait in a least-recently-used queue; a
//! reply returns its worker's credit. The frontend is only polled while
//! some credit is free.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{BATCH, POLL_MS, READY, bind_loopback, recv_parts, send_parts, socket};
use crate::BenchError;
use crate::load::{StopFlag, Threads, stopped};

/// A running raw credit broker.
pub(crate) struct CreditBroker {
    /// Where clients connect.
    pub(crate) frontend: String,
    /// Where workers connect.
    pub(crate) backend: String,
    /// Workers that said READY.
    pub(crate) registered: Arc<AtomicUsize>,
}

impl CreditBroker {
    /// Binds and starts the broker on a thread of `threads`.
    pub(crate) fn start(threads: &mut Threads) -> Result<Self, BenchError> {
        let ctx = zmq::Context::new();
        let frontend = socket(&ctx, zmq::ROUTER)?;
        let backend = socket(&ctx, zmq::ROUTER)?;
        let broker = Self {
            frontend: bind_loopback(&frontend)?,
            backend: bind_loopback(&backend)?,
            registered: Arc::new(AtomicUsize::new(0)),
        };
        let (stop, registered) = (threads.flag(), Arc::clone(&broker.registered));
        threads.spawn("raw-credit-broker", move || {
            let _ = run(&frontend, &backend, &stop, &registered);
        })?;
        Ok(broker)
    }

    /// Starts a DEALER worker announcing `credits`, on a thread of `threads`.
    pub(super) fn start_worker(
        &self,
        threads: &mut Threads,
        name: &str,
        credits: usize,
    ) -> Result<(), BenchError> {
        let (stop, endpoint) = (threads.flag(), self.backend.clone());
        threads.spawn(name, move || {
            let _ = worker(&endpoint, credits, &stop);
        })
    }
}

/// The broker loop.
fn run(
    frontend: &zmq::Socket,
    backend: &zmq::Socket,
    stop: &StopFlag,
    registered: &AtomicUsize,
) -> zmq::Result<()> {
    let mut credits: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut ready: VecDeque<Vec<u8>> = VecDeque::new();
    while !stopped(stop) {
        let mut items = [
            backend.as_poll_item(zmq::POLLIN),
            frontend.as_poll_item(zmq::POLLIN),
        ];
        let watched = if ready.is_empty() { 1 } else { 2 };
        if zmq::poll(&mut items[..watched], POLL_MS)? == 0 {
            continue;
        }
        let (from_workers, from_clients) = (items[0].is_readable(), items[1].is_readable());
        if from_workers {
            for _ in 0..BATCH {
                // [worker, "READY", credits] or [worker, client, "", reply]
                let mut parts = match recv_parts(backend, zmq::DONTWAIT) {
                    Ok(parts) => parts,
                    Err(zmq::Error::EAGAIN) => break,
                    Err(e) => return Err(e),
                };
                if parts.len() == 3 && &parts[1][..] == READY {
                    let announced = std::str::from_utf8(&parts[2])
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(1);
                    let id = parts[0].to_vec();
                    credits.insert(id.clone(), announced);
                    ready.push_back(id);
                    registered.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
                let worker = parts.remove(0);
                if let Some(free) = credits.get_mut(&worker[..]) {
                    if *free == 0 {
                        ready.push_back(worker.to_vec());
                    }
                    *free += 1;
                }
                send_parts(frontend, parts)?;
            }
        }
        if from_clients {
            for _ in 0..BATCH {
                let Some(worker) = ready.pop_front() else {
                    break;
                };
                // [client, "", request]
                let parts = match recv_parts(frontend, zmq::DONTWAIT) {
                    Ok(parts) => parts,
                    Err(zmq::Error::EAGAIN) => {
                        ready.push_front(worker);
                        break;
                    }
                    Err(e) => return Err(e),
                };
                send_parts(
                    backend,
                    std::iter::once(zmq::Message::from(&worker[..])).chain(parts),
                )?;
                if let Some(free) = credits.get_mut(&worker) {
                    *free = free.saturating_sub(1);
                    if *free > 0 {
                        ready.push_back(worker);
                    }
                }
            }
        }
    }
    Ok(())
}

/// A DEALER worker: announces `credits`, then echoes `[client, "", request]`.
pub(crate) fn worker(endpoint: &str, credits: usize, stop: &StopFlag) -> Result<(), BenchError> {
    let ctx = zmq::Context::new();
    let dealer = socket(&ctx, zmq::DEALER)?;
    dealer.connect(endpoint)?;
    send_parts(&dealer, [READY, credits.to_string().as_bytes()])?;
    while !stopped(stop) {
        if dealer.poll(zmq::POLLIN, POLL_MS)? == 0 {
            continue;
        }
        for _ in 0..BATCH {
            match recv_parts(&dealer, zmq::DONTWAIT) {
                Ok(parts) => send_parts(&dealer, parts)?,
                Err(zmq::Error::EAGAIN) => break,
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}
