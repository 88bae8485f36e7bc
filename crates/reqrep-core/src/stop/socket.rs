//! [`StopSocket`]: a [`StopToken`] as something `zmq::poll` can wait on.
//!
//! A poll loop that sleeps in `zmq::poll` (the broker's driver) cannot wait
//! on a condition variable or a future. Instead of waking every few
//! milliseconds to look at the token, it polls one more socket: an inproc
//! `PAIR` whose peer a stop hook writes to, so the loop wakes the moment the
//! token is stopped, and sleeps undisturbed until then.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use super::{StopHook, StopToken};
use crate::socket::SocketError;

static NEXT_ENDPOINT: AtomicU64 = AtomicU64::new(0);

/// A socket that becomes readable when a [`StopToken`] is stopped (at once
/// if it already is), and stays readable: poll it only until the stop was
/// acted on. Dropping it unregisters the hook, closing both ends.
pub struct StopSocket {
    // Owns the sending end; dropped before `socket`, both on this thread
    // unless a stop is running the hook at that moment.
    _hook: StopHook,
    socket: zmq::Socket,
}

impl fmt::Debug for StopSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StopSocket").finish_non_exhaustive()
    }
}

impl StopSocket {
    /// Binds an inproc `PAIR` in `ctx`, connects its peer, and has a stop of
    /// `stop` send one frame through it.
    ///
    /// # Errors
    /// When libzmq cannot create, bind or connect the inproc sockets (the
    /// context was terminated, or too many sockets are open).
    pub fn new(ctx: &zmq::Context, stop: &StopToken) -> Result<Self, SocketError> {
        let endpoint = format!(
            "inproc://reqrep-stop-{}",
            NEXT_ENDPOINT.fetch_add(1, Ordering::Relaxed)
        );
        let socket = ctx.socket(zmq::PAIR)?;
        socket.set_linger(0)?;
        socket.bind(&endpoint).map_err(|source| SocketError::Bind {
            endpoint: endpoint.clone(),
            source,
        })?;
        let sender = ctx.socket(zmq::PAIR)?;
        sender.set_linger(0)?;
        sender
            .connect(&endpoint)
            .map_err(|source| SocketError::Connect { endpoint, source })?;
        // A zmq socket may move between threads behind a full memory
        // barrier, which the mutex provides; it is only ever used by one.
        let sender = Mutex::new(sender);
        let hook = stop.on_stop(move || {
            let sender = sender.lock().unwrap_or_else(PoisonError::into_inner);
            // The peer is bound and connected in-process: this cannot block,
            // and one frame is all the wake-up needs.
            let _ = sender.send("stop", zmq::DONTWAIT);
        });
        Ok(Self {
            _hook: hook,
            socket,
        })
    }

    /// A poll item for `zmq::poll`; pass `zmq::POLLIN` to be woken by the
    /// stop, or an empty set to ignore it (once the stop was handled).
    pub fn as_poll_item(&self, events: zmq::PollEvents) -> zmq::PollItem<'_> {
        self.socket.as_poll_item(events)
    }
}
