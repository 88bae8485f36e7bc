//! Cooperative stopping: a cheap, cloneable token that blocking code checks
//! and waits on.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Tells an agent (and the plugins it is blocked in) to stop.
///
/// Clones share one flag. Blocking receives in reqrep poll their socket in
/// short slices and check the token between them, so a stopped agent leaves
/// `recv` within one slice; sleeps use [`StopToken::wait_timeout`], which
/// wakes at once on [`StopToken::stop`].
#[derive(Clone, Default)]
pub struct StopToken {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    stopped: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
}

impl std::fmt::Debug for StopToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StopToken")
            .field("stopped", &self.is_stopped())
            .finish()
    }
}

/// How often blocking socket waits look at the stop token.
pub const STOP_POLL_SLICE: Duration = Duration::from_millis(20);

impl StopToken {
    /// A token that has not been stopped.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks everything holding a clone to stop. Idempotent.
    pub fn stop(&self) {
        self.inner.stopped.store(true, Ordering::SeqCst);
        let _guard = self
            .inner
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.inner.wake.notify_all();
    }

    /// Whether [`Self::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::SeqCst)
    }

    /// Sleeps up to `timeout`, returning early (with `true`) when stopped.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        let mut guard = self
            .inner
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        loop {
            if self.is_stopped() {
                return true;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            guard = match self.inner.wake.wait_timeout(guard, left) {
                Ok((g, _)) => g,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_wakes_a_waiter_at_once() {
        let token = StopToken::new();
        let waiter = token.clone();
        let handle = std::thread::spawn(move || waiter.wait_timeout(Duration::from_secs(30)));
        token.stop();
        assert!(handle.join().unwrap(), "woken by stop, not by the timeout");
        assert!(token.is_stopped());
    }

    #[test]
    fn wait_times_out_when_not_stopped() {
        let token = StopToken::new();
        assert!(!token.wait_timeout(Duration::from_millis(1)));
    }
}
