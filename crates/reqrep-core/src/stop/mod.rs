//! Cooperative stopping: [`StopToken`], the one stop signal of reqrep.
//!
//! A token is a cheap, cloneable, thread-safe handle; every clone shares one
//! flag. Stopping it is idempotent and wakes, at once, everything waiting on
//! it, in whichever way it waits:
//!
//! - blocking code checks [`StopToken::is_stopped`] or sleeps in
//!   [`StopToken::wait_timeout`];
//! - async code awaits [`StopToken::stopped`];
//! - a `zmq::poll` loop polls a [`StopSocket`], which becomes readable on
//!   the stop;
//! - anything else registers a hook with [`StopToken::on_stop`] (the
//!   orchestrator posts a message to its own inbox that way).
//!
//! ```
//! use std::time::Duration;
//! use reqrep_core::StopToken;
//!
//! let stop = StopToken::new();
//! let waiter = stop.clone();
//! let thread = std::thread::spawn(move || waiter.wait_timeout(Duration::from_secs(60)));
//! stop.stop();
//! assert!(thread.join().unwrap(), "woken by the stop, not by the timeout");
//! ```

mod socket;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

pub use socket::StopSocket;

/// Tells everything holding a clone to stop.
///
/// Clones share one flag; [`Self::stop`] is idempotent and can be called
/// from any thread (a signal listener, an orchestrator, a test). See the
/// [module docs](self) for the ways to wait on it.
#[derive(Clone, Default)]
pub struct StopToken {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Set once, under `listeners`' lock, so that a waiter checking it
    /// under that lock cannot miss the stop.
    stopped: AtomicBool,
    listeners: Mutex<Listeners>,
    wake: Condvar,
}

/// Who is to be told of the stop, by registration id.
#[derive(Default)]
struct Listeners {
    next_id: u64,
    waiting: Vec<(u64, Listener)>,
}

enum Listener {
    Hook(Box<dyn FnOnce() + Send>),
    Task(Waker),
}

impl Listeners {
    fn add(&mut self, listener: Listener) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.waiting.push((id, listener));
        id
    }

    fn get_mut(&mut self, id: u64) -> Option<&mut Listener> {
        self.waiting
            .iter_mut()
            .find(|(i, _)| *i == id)
            .map(|(_, l)| l)
    }

    fn remove(&mut self, id: u64) -> Option<Listener> {
        let at = self.waiting.iter().position(|(i, _)| *i == id)?;
        Some(self.waiting.swap_remove(at).1)
    }
}

impl fmt::Debug for StopToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StopToken")
            .field("stopped", &self.is_stopped())
            .finish()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Listeners> {
        self.listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }
}

impl StopToken {
    /// A token that has not been stopped.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks everything holding a clone to stop: wakes blocked and async
    /// waiters and runs the registered hooks (on this thread, once each).
    /// Idempotent: later calls do nothing.
    pub fn stop(&self) {
        let listeners = {
            let mut listeners = self.inner.lock();
            if self.inner.stopped.swap(true, Ordering::SeqCst) {
                return;
            }
            std::mem::take(&mut listeners.waiting)
        };
        self.inner.wake.notify_all();
        for (_, listener) in listeners {
            match listener {
                Listener::Hook(hook) => hook(),
                Listener::Task(waker) => waker.wake(),
            }
        }
    }

    /// Whether [`Self::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.inner.is_stopped()
    }

    /// Blocks up to `timeout`, returning early (with `true`) when stopped;
    /// `false` when the time ran out first.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let until = Instant::now().checked_add(timeout);
        let mut listeners = self.inner.lock();
        loop {
            if self.is_stopped() {
                return true;
            }
            let left = match until {
                Some(until) => until.saturating_duration_since(Instant::now()),
                None => Duration::MAX,
            };
            if left.is_zero() {
                return false;
            }
            listeners = match self.inner.wake.wait_timeout(listeners, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// A future that completes once the token is stopped (at once if it
    /// already is). It holds a clone, so it is `'static`; dropping it
    /// unregisters it.
    pub fn stopped(&self) -> Stopped {
        Stopped {
            token: self.clone(),
            registration: None,
        }
    }

    /// Runs `hook` on the thread that stops the token, once, or right here
    /// when it is already stopped. Hooks run after the lock is released (one
    /// may use the token), one after another: keep them quick. Dropping the
    /// returned [`StopHook`] unregisters a hook that has not run yet.
    #[must_use = "dropping the StopHook unregisters the hook"]
    pub fn on_stop(&self, hook: impl FnOnce() + Send + 'static) -> StopHook {
        let mut listeners = self.inner.lock();
        if self.is_stopped() {
            drop(listeners);
            hook();
            return StopHook {
                _registration: None,
            };
        }
        let id = listeners.add(Listener::Hook(Box::new(hook)));
        StopHook {
            _registration: Some(Registration {
                inner: Arc::clone(&self.inner),
                id,
            }),
        }
    }
}

/// A listener's place in the registry; dropping it unregisters the
/// listener if the stop has not taken it yet.
struct Registration {
    inner: Arc<Inner>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        // The listener is dropped after the lock is released: a hook may
        // own a socket.
        let removed = self.inner.lock().remove(self.id);
        drop(removed);
    }
}

/// A hook registered with [`StopToken::on_stop`]; dropping it unregisters
/// the hook if it has not run.
#[must_use = "dropping the StopHook unregisters the hook"]
pub struct StopHook {
    _registration: Option<Registration>,
}

impl fmt::Debug for StopHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StopHook").finish_non_exhaustive()
    }
}

/// The future of [`StopToken::stopped`].
#[must_use = "futures do nothing unless awaited"]
pub struct Stopped {
    token: StopToken,
    /// This future's waker in the registry, once it was polled.
    registration: Option<Registration>,
}

impl fmt::Debug for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stopped")
            .field("stopped", &self.token.is_stopped())
            .finish()
    }
}

impl Future for Stopped {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let inner = Arc::clone(&self.token.inner);
        if inner.is_stopped() {
            return Poll::Ready(());
        }
        let mut listeners = inner.lock();
        if inner.is_stopped() {
            return Poll::Ready(());
        }
        let id = self.registration.as_ref().map(|r| r.id);
        if let Some(Listener::Task(waker)) = id.and_then(|id| listeners.get_mut(id)) {
            waker.clone_from(cx.waker());
            return Poll::Pending;
        }
        let id = listeners.add(Listener::Task(cx.waker().clone()));
        drop(listeners);
        self.registration = Some(Registration { inner, id });
        Poll::Pending
    }
}

#[cfg(test)]
mod tests;
