//! Ending a run from outside: [`ShutdownHandle`].

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

type Notify = Box<dyn Fn() + Send>;

/// Stops a running orchestrator: every agent is asked to stop, dependents
/// before their dependencies, each within its stop timeout, and then `run`
/// returns. The way to end a [`RunMode::Daemon`](super::RunMode::Daemon)
/// run (from a signal handler, say); it also cuts an `UntilAllDone` run
/// short. Cheap to clone; stopping is idempotent, and a stop before `run`
/// makes the run stop at once.
#[derive(Clone, Default)]
pub struct ShutdownHandle {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    stopped: AtomicBool,
    /// Wakes the running orchestrator, while there is one.
    notify: Mutex<Option<Notify>>,
}

impl fmt::Debug for ShutdownHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownHandle")
            .field("stopped", &self.is_stopped())
            .finish()
    }
}

impl ShutdownHandle {
    /// Asks the orchestrator to stop all agents and return.
    pub fn stop(&self) {
        self.inner.stopped.store(true, Ordering::SeqCst);
        let notify = self
            .inner
            .notify
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(notify) = notify.as_ref() {
            notify();
        }
    }

    /// Whether [`Self::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::SeqCst)
    }

    /// Makes [`Self::stop`] call `notify`; returns whether a stop already
    /// happened (the caller must act on it: `notify` is not called for it).
    pub(crate) fn attach(&self, notify: Notify) -> bool {
        *self
            .inner
            .notify
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(notify);
        self.is_stopped()
    }

    /// Undoes [`Self::attach`].
    pub(crate) fn detach(&self) {
        *self
            .inner
            .notify
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }
}
