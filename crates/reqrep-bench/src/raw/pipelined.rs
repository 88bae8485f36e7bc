//! Raw brokered pipelined: DEALER clients keep their share of the requests
//! in flight through the credit broker. Each request carries its send time
//! in its first 8 payload bytes, so replies need no matching.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::credit_broker::CreditBroker;
use super::{bounded, check_len, recv_parts, send_parts, socket};
use crate::BenchError;
use crate::latency::Latencies;
use crate::load::{self, Threads, wait_until};
use crate::plan::RunSpec;
use crate::sample::{Meter, Sample};

/// Pipelined DEALER clients -> credit broker -> DEALER workers.
pub(super) fn run(spec: &RunSpec) -> Result<Sample, BenchError> {
    let started = Instant::now();
    let deadline = started + spec.deadline;
    let scenario = spec.scenario;
    let mut threads = Threads::default();
    let broker = CreditBroker::start(&mut threads)?;
    for i in 0..scenario.workers {
        broker.start_worker(&mut threads, &format!("raw-worker-{i}"), scenario.credits)?;
    }
    wait_until("raw workers registered", Duration::from_secs(10), || {
        Ok(broker.registered.load(Ordering::SeqCst) >= scenario.workers)
    })?;
    let mut clients = (0..scenario.clients)
        .map(|_| {
            Client::connect(
                &broker.frontend,
                scenario.per_client_in_flight(),
                scenario.payload,
                spec.request_timeout,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let epoch = Instant::now();
    phase(&mut clients, spec.warmup, deadline, epoch)?;
    let meter = Meter::start();
    let latencies = phase(&mut clients, spec.requests, deadline, epoch)?;
    Ok(meter.finish(&latencies, 0))
}

/// Runs `total` requests split among the clients, each on its own thread.
fn phase(
    clients: &mut [Client],
    total: u64,
    deadline: Instant,
    epoch: Instant,
) -> Result<Latencies, BenchError> {
    let shares = split(total, clients.len());
    std::thread::scope(|scope| {
        let handles: Vec<_> = clients
            .iter_mut()
            .zip(shares)
            .map(|(client, share)| scope.spawn(move || client.drive(share, deadline, epoch)))
            .collect();
        let mut all = Latencies::new();
        let mut failure = None;
        for handle in handles {
            match handle.join() {
                Ok(Ok(latencies)) => all.merge(&latencies),
                Ok(Err(e)) => failure = failure.or(Some(e)),
                Err(_) => failure = failure.or(Some(BenchError::thread("client panicked"))),
            }
        }
        failure.map_or(Ok(all), Err)
    })
}

/// `total` split into `parts` shares differing by at most one.
pub(crate) fn split(total: u64, parts: usize) -> Vec<u64> {
    let parts = parts.max(1) as u64;
    (0..parts)
        .map(|i| total / parts + u64::from(i < total % parts))
        .collect()
}

/// One pipelining DEALER client with its own context.
pub(crate) struct Client {
    dealer: zmq::Socket,
    window: u64,
    payload: Vec<u8>,
    _ctx: zmq::Context,
}

impl Client {
    /// Connects to `frontend`, to keep `window` requests of `payload` bytes
    /// (at least the 8 of the time stamp) in flight, each send and receive
    /// bounded by `timeout`.
    pub(crate) fn connect(
        frontend: &str,
        window: usize,
        payload: usize,
        timeout: Duration,
    ) -> Result<Self, BenchError> {
        let ctx = zmq::Context::new();
        let dealer = socket(&ctx, zmq::DEALER)?;
        bounded(&dealer, timeout)?;
        dealer.connect(frontend)?;
        Ok(Self {
            dealer,
            window: window.max(1) as u64,
            payload: load::payload(payload.max(8)),
            _ctx: ctx,
        })
    }

    /// Sends `count` requests keeping `window` in flight; returns their
    /// latencies.
    pub(crate) fn drive(
        &mut self,
        count: u64,
        deadline: Instant,
        epoch: Instant,
    ) -> Result<Latencies, BenchError> {
        let mut latencies = Latencies::new();
        let (mut sent, mut received) = (0u64, 0u64);
        while received < count {
            while sent < count && sent - received < self.window {
                load::stamp(&mut self.payload, epoch);
                send_parts(&self.dealer, [&b""[..], &self.payload[..]])?;
                sent += 1;
            }
            if self.dealer.poll(zmq::POLLIN, 100)? == 0 {
                if Instant::now() > deadline {
                    return Err(BenchError::Timeout(format!(
                        "raw client: {received} of {count} replies"
                    )));
                }
                continue;
            }
            loop {
                // ["", reply]
                let parts = match recv_parts(&self.dealer, zmq::DONTWAIT) {
                    Ok(parts) => parts,
                    Err(zmq::Error::EAGAIN) => break,
                    Err(e) => return Err(e.into()),
                };
                let body = parts.last().map_or(&[][..], |p| &p[..]);
                check_len(body.len(), self.payload.len())?;
                if let Some(latency) = load::since_stamp(body, epoch) {
                    latencies.record(latency);
                }
                received += 1;
            }
        }
        Ok(latencies)
    }
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn shares_add_up_and_differ_by_at_most_one() {
        assert_eq!(split(10, 3), vec![4, 3, 3]);
        assert_eq!(split(10, 1), vec![10]);
        assert_eq!(split(2, 4), vec![1, 1, 0, 0]);
        assert_eq!(split(5, 0), vec![5]);
    }
}
