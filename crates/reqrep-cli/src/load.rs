//! The pipelined load of `reqrep bench` and `reqrep demo`: `in_flight`
//! tasks spread over the clients, each sending one request after another
//! until the budget is spent or the stop token fires, all of them counting
//! into one [`Outcome`] (one latency histogram for the whole load: a
//! histogram per task would be megabytes of counters thrashing the cache).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use indicatif::ProgressBar;
use reqrep_agents::{AsyncClient, StopToken};
use tracing::{info, warn};

use crate::outcome::{MISMATCH, Outcome, echoes};

/// How much load: a number of requests, or until a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// This many requests in all.
    Requests(u64),
    /// Requests started before this instant.
    Until(Instant),
}

/// One load run.
#[derive(Clone)]
pub struct Load<'a> {
    /// The clients the tasks take turns on (task `i` on client `i mod n`).
    pub clients: &'a [AsyncClient],
    /// Requests outstanding at any time (one task each).
    pub in_flight: u32,
    /// How much.
    pub budget: Budget,
    /// Every request's payload.
    pub payload: Arc<[u8]>,
    /// Whether a reply must carry the request's payload (else it counts as
    /// [`MISMATCH`]).
    pub check_echo: bool,
    /// Stops starting requests once stopped.
    pub stop: StopToken,
    /// Advanced once per request.
    pub bar: ProgressBar,
}

/// A payload of `len` bytes (`abc...z` repeating), the same for every
/// request of a load.
pub fn payload(len: u32) -> Arc<[u8]> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

/// Locks the shared outcome; a task that panicked while holding it left
/// counts that are still worth reporting.
fn lock(outcome: &Mutex<Outcome>) -> std::sync::MutexGuard<'_, Outcome> {
    outcome.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Load<'_> {
    /// Runs the load on the current runtime; `elapsed` is from the first
    /// request to the last reply.
    pub async fn run(self) -> Outcome {
        let outcome = Arc::new(Mutex::new(Outcome::default()));
        let next = Arc::new(AtomicU64::new(0));
        let answered = Arc::new(AtomicBool::new(false));
        let tasks = match self.budget {
            Budget::Requests(n) => u64::from(self.in_flight).min(n),
            Budget::Until(_) => u64::from(self.in_flight),
        };
        let started = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for i in 0..tasks {
            let client = self.clients[i as usize % self.clients.len()].clone();
            let (outcome, next, answered) = (
                Arc::clone(&outcome),
                Arc::clone(&next),
                Arc::clone(&answered),
            );
            let (payload, stop, bar) = (
                Arc::clone(&self.payload),
                self.stop.clone(),
                self.bar.clone(),
            );
            let (budget, check_echo) = (self.budget, self.check_echo);
            // A hidden bar (no terminal) is not worth a clock read per request.
            let counting = !bar.is_hidden();
            set.spawn(async move {
                loop {
                    let more = match budget {
                        Budget::Requests(n) => next.fetch_add(1, Ordering::Relaxed) < n,
                        Budget::Until(end) => Instant::now() < end,
                    };
                    if !more || stop.is_stopped() {
                        break;
                    }
                    let sent = Instant::now();
                    let result = client.request(payload.to_vec()).await;
                    let mut outcome = lock(&outcome);
                    outcome.requests += 1;
                    match result {
                        Ok(reply) if !check_echo || echoes(&reply.payload, &payload) => {
                            outcome.latencies.record(sent.elapsed());
                            outcome.ok += 1;
                            if !answered.swap(true, Ordering::Relaxed) {
                                info!("first reply received");
                            }
                        }
                        Ok(_) => outcome.error(MISMATCH),
                        Err(e) => outcome.error(e.code().name()),
                    }
                    drop(outcome);
                    if counting {
                        bar.inc(1);
                    }
                }
            });
        }
        while let Some(done) = set.join_next().await {
            if let Err(e) = done {
                warn!(cause = %e, "a load task failed");
            }
        }
        let mut outcome = std::mem::take(&mut *lock(&outcome));
        outcome.elapsed = started.elapsed();
        outcome
    }
}
