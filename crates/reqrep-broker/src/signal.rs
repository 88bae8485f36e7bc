//! SIGINT and SIGTERM, turned into a stopped [`StopToken`]: how the
//! `reqrep-broker` binary and the `reqrep` CLI end gracefully. And SIGHUP,
//! turned into a [`ReloadToken`] request: how the broker is told to re-read
//! its access file ([`SignalStop::install_with_reload`]).
//!
//! The signals are received on a small runtime of its own and are blocked on
//! the thread that installs the listener (and so on every thread it starts
//! afterwards: libzmq's I/O threads, a broker's, a worker's). A signal
//! therefore never interrupts a blocking socket call in the code being
//! stopped: it only stops the token, and that code winds down through its
//! normal path (a broker drains; a worker sends DISCONNECT and joins its
//! handler threads).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
use reqrep_core::StopToken;
use tokio::signal::unix::{SignalKind, signal};
use tracing::info;

/// Requests to reload, as a count a broker compares with the last one it
/// acted on ([`Broker::reload_on`](crate::Broker::reload_on)). Cheap to
/// clone; every clone shares the count.
#[derive(Debug, Clone, Default)]
pub struct ReloadToken(Arc<AtomicU64>);

impl ReloadToken {
    /// A token nobody has requested a reload on yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks for a reload; the broker acts on it within one turn of its loop
    /// (at most half a second).
    pub fn request(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// How many reloads were requested so far.
    pub fn generation(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Listens for SIGINT and SIGTERM and stops a token on the first one.
/// Dropping it stops listening, joins the listening thread and restores the
/// installing thread's signal mask; drop it on that thread.
pub struct SignalStop {
    runtime: Option<tokio::runtime::Runtime>,
    previous_mask: Option<SigSet>,
}

impl std::fmt::Debug for SignalStop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalStop").finish_non_exhaustive()
    }
}

impl SignalStop {
    /// Starts listening at once, so a signal arriving while the caller starts
    /// up is not lost, and stops `stop` when SIGINT or SIGTERM arrives. Then
    /// blocks both signals on the calling thread: install it before starting
    /// the threads it is to stop.
    ///
    /// # Errors
    /// When the runtime, the signal handlers or the signal mask cannot be
    /// set up.
    pub fn install(stop: StopToken) -> std::io::Result<Self> {
        Self::listen(stop, None)
    }

    /// [`Self::install`], and requests a reload on `reload` for each
    /// SIGHUP (which then no longer ends the process; it is blocked on the
    /// calling thread too).
    ///
    /// # Errors
    /// As [`Self::install`].
    pub fn install_with_reload(stop: StopToken, reload: ReloadToken) -> std::io::Result<Self> {
        Self::listen(stop, Some(reload))
    }

    fn listen(stop: StopToken, reload: Option<ReloadToken>) -> std::io::Result<Self> {
        // The runtime's thread starts here, before the mask below, so it is
        // the one left to receive the signals.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("reqrep-signals")
            .enable_all()
            .build()?;
        let (mut interrupt, mut terminate, hangup) = {
            let _entered = runtime.enter();
            let hangup = match reload {
                Some(reload) => Some((signal(SignalKind::hangup())?, reload)),
                None => None,
            };
            (
                signal(SignalKind::interrupt())?,
                signal(SignalKind::terminate())?,
                hangup,
            )
        };
        let listens_for_hangup = hangup.is_some();
        if let Some((mut hangup, reload)) = hangup {
            drop(runtime.spawn(async move {
                while hangup.recv().await.is_some() {
                    info!(signal = "SIGHUP", "signal received; reloading");
                    reload.request();
                }
            }));
        }
        // Cancelled when the runtime is dropped.
        drop(runtime.spawn(async move {
            let name = tokio::select! {
                _ = interrupt.recv() => "SIGINT",
                _ = terminate.recv() => "SIGTERM",
            };
            info!(signal = name, "signal received; stopping");
            stop.stop();
        }));

        let mut stopping = SigSet::empty();
        stopping.add(Signal::SIGINT);
        stopping.add(Signal::SIGTERM);
        if listens_for_hangup {
            stopping.add(Signal::SIGHUP);
        }
        let mut previous_mask = SigSet::empty();
        pthread_sigmask(
            SigmaskHow::SIG_BLOCK,
            Some(&stopping),
            Some(&mut previous_mask),
        )
        .map_err(std::io::Error::from)?;
        Ok(Self {
            runtime: Some(runtime),
            previous_mask: Some(previous_mask),
        })
    }
}

impl Drop for SignalStop {
    fn drop(&mut self) {
        if let Some(mask) = self.previous_mask.take() {
            let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&mask), None);
        }
        // Dropping the runtime cancels the listening task and joins its
        // thread.
        drop(self.runtime.take());
    }
}
