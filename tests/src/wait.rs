//! Bounded waits for tests, each bounded by time (a deadline), never by a
//! count of loop turns, and never a blind sleep: until a service has
//! workers (through [`reqrep_agents::wait_for_service`]), until a channel
//! delivers a matching message, until a closure on another thread returns.

use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use reqrep_agents::{ClientOptions, wait_for_service};
use reqrep_core::pb;

/// The longest a test waits for something to get ready: workers to
/// register, a process to print a line or to exit, an agent to bind.
pub const WAIT: Duration = Duration::from_secs(15);

/// Waits until the broker at `frontend` lists `service` with at least
/// `workers` workers, and returns its entry.
///
/// # Panics
/// When that does not happen within [`WAIT`].
pub fn wait_for_workers(frontend: &str, service: &str, workers: u32) -> pb::ServiceInfo {
    wait_for_workers_with(frontend, service, workers, ClientOptions::default())
}

/// [`wait_for_workers`] with client options for the discovery queries (for
/// example CURVE for a broker that requires it).
///
/// # Panics
/// When that does not happen within [`WAIT`].
pub fn wait_for_workers_with(
    frontend: &str,
    service: &str,
    workers: u32,
    options: ClientOptions,
) -> pb::ServiceInfo {
    wait_for_service(frontend, service, workers, WAIT, options)
        .unwrap_or_else(|e| panic!("waiting for workers at {frontend}: {e}"))
}

/// Waits until the broker at `frontend` lists exactly `workers` workers for
/// `service` (an unknown service has none): for waiting until workers
/// have *left*, which [`wait_for_workers`]' "at least" cannot express.
/// Asks discovery again after each answer; never sleeps blindly.
///
/// # Panics
/// When the count is not reached within [`WAIT`]; the message gives the
/// last count seen.
pub fn wait_for_worker_count(frontend: &str, service: &str, workers: u32) {
    let until = Instant::now() + WAIT;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        let got = reqrep_agents::services(frontend, left.min(Duration::from_secs(2)))
            .ok()
            .and_then(|list| list.services.into_iter().find(|s| s.name == service))
            .map_or(0, |s| s.workers);
        if got == workers {
            return;
        }
        assert!(
            Instant::now() < until,
            "{service}: {got} workers after {WAIT:?}, wanted exactly {workers}"
        );
        std::thread::yield_now();
    }
}

/// Runs `f` on its own thread and returns its result, or `None` when it has
/// not returned within `timeout` (the thread is left to finish alone). A
/// panic in `f` is re-raised here, with its own message.
pub fn within<T: Send + 'static>(
    timeout: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    let runner = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(timeout) {
        Ok(value) => Some(value),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => match runner.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => None,
        },
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => None,
    }
}

/// The first message from `rx` that `matches`, waiting at most `timeout`;
/// the messages before it are consumed (and passed to `matches`). `None`
/// when the time passes or every sender is gone first.
pub fn recv_matching<T>(
    rx: &Receiver<T>,
    timeout: Duration,
    mut matches: impl FnMut(&T) -> bool,
) -> Option<T> {
    let until = Instant::now() + timeout;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        let message = rx.recv_timeout(left).ok()?;
        if matches(&message) {
            return Some(message);
        }
    }
}
