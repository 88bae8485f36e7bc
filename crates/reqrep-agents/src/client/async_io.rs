//! The async client's I/O task: it owns the DEALER socket, takes requests
//! from the client's bounded queue, sends them, and hands each reply to the
//! caller waiting for it.
//!
//! # Driving `ZMQ_FD`
//!
//! `ZMQ_FD` is not a data descriptor. It is libzmq's command mailbox, and it
//! is edge-triggered: it turns readable when the socket's `ZMQ_EVENTS` may
//! have changed, and every libzmq call on the socket (send, receive,
//! `ZMQ_EVENTS` itself) may consume that signal. So the task only waits on
//! the descriptor after a `ZMQ_EVENTS` check, made after its last socket
//! call, showed nothing to do: no `POLLIN`, and no `POLLOUT` while a request
//! waits for the socket. Only then is the reactor's readiness cleared, and
//! tokio's readiness ticks keep an edge that arrives meanwhile from being
//! cleared with it. Every socket call uses `DONTWAIT`, so the task never
//! blocks its runtime's thread.
//!
//! # Back-pressure
//!
//! The task takes a request from its queue only when the socket has taken
//! the one before: while one waits for `POLLOUT`, the others stay in the
//! bounded queue, and callers wait for a place in it (or, with
//! [`AsyncClient::try_request`](super::AsyncClient::try_request), fail with
//! [`RequestError::Full`]). A caller that gives up drops its oneshot
//! receiver; the task skips such requests before sending, and sweeps them
//! out of its map of pending replies as it grows.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use metrics::{Counter, counter};
use reqrep_core::socket::{SocketError, recv_frames};
use reqrep_core::{Command, CorrelationId, Frame, Limits, decode};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, oneshot};
use tracing::debug;

use super::Response;
use super::requester::STALE_REPLIES_TOTAL;
use crate::RequestError;

type ReplySender = oneshot::Sender<Result<Response, RequestError>>;

/// How many socket reads one turn of the I/O task may make before it yields
/// to the other tasks of its runtime (its callers among them).
const RECV_BUDGET: usize = 1024;

/// The pending map is swept of abandoned requests when it reaches this
/// size, and then whenever it doubles.
const PRUNE_AT_LEAST: usize = 64;

/// An [`io::Error`] (reactor registration, runtime or thread start) as a
/// request error: its OS error number as a libzmq one when it has one.
pub(super) fn io_error(err: io::Error) -> RequestError {
    match err.raw_os_error() {
        Some(errno) => SocketError::Zmq(zmq::Error::from_raw(errno)).into(),
        None => RequestError::Closed,
    }
}

/// The socket's `ZMQ_FD`, borrowed for the reactor. It owns nothing: libzmq
/// closes the descriptor with the socket, so the [`AsyncFd`] around it must
/// be dropped first.
struct ZmqFd(RawFd);

impl AsRawFd for ZmqFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// The I/O task's state.
///
/// Fields drop in declaration order, which is the order they must close in,
/// whether the task returns or its runtime drops it: the reactor
/// registration, then the socket (whose mailbox `fd` is), then the context.
pub(super) struct Io {
    fd: AsyncFd<ZmqFd>,
    link: Link,
    _ctx: zmq::Context,
}

impl Io {
    /// Registers the socket's `ZMQ_FD` with the current runtime's reactor.
    pub(super) fn new(link: Link, ctx: zmq::Context) -> Result<Self, RequestError> {
        let raw = link.dealer.get_fd()?;
        // tokio 1.54 deprecates this safe constructor for its `unsafe`
        // successor `AsyncFd::register_with_interest`, which this crate keeps
        // out (no `unsafe` code). The successor's contract holds here all the
        // same: the descriptor stays open and the same for the `AsyncFd`'s
        // whole life, because the socket that owns it lives in `link`, which
        // drops after `fd` (see the field order above).
        #[allow(deprecated)]
        let fd = AsyncFd::with_interest(ZmqFd(raw), Interest::READABLE).map_err(io_error)?;
        Ok(Self {
            fd,
            link,
            _ctx: ctx,
        })
    }

    /// Runs until every handle is gone or the socket fails; then drops the
    /// state, which completes every pending request with
    /// [`RequestError::Closed`].
    pub(super) async fn run(mut self) {
        if let Err(err) = self.serve().await {
            debug!(cause = %err, "async client I/O task failed");
        }
    }

    async fn serve(&mut self) -> io::Result<()> {
        let Self { fd, link, .. } = self;
        let mut busy = link.pump()? == Turn::Busy;
        loop {
            if busy {
                // Work is left on the socket, but no new edge will announce
                // it: let the other tasks run, then carry on without waiting.
                tokio::task::yield_now().await;
                if !link.is_open() {
                    return Ok(());
                }
                link.take_commands();
                busy = link.pump()? == Turn::Busy;
                continue;
            }
            tokio::select! {
                biased;
                _ = &mut link.closed => return Ok(()),
                out = link.commands.recv(), if link.blocked.is_none() => {
                    let Some(out) = out else {
                        return Ok(());
                    };
                    link.send(out);
                    link.take_commands();
                    busy = link.pump()? == Turn::Busy;
                }
                ready = fd.readable() => {
                    let mut guard = ready?;
                    busy = link.pump()? == Turn::Busy;
                    if !busy {
                        // `ZMQ_EVENTS` was just read and showed nothing to
                        // do: only now may the edge be considered consumed.
                        guard.clear_ready();
                    }
                }
            }
        }
    }
}

/// Whether a [`Link::pump`] left the socket with nothing to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Turn {
    /// `ZMQ_EVENTS`, read last, showed nothing to do: safe to wait on the
    /// descriptor.
    Idle,
    /// The read budget ran out with replies still waiting.
    Busy,
}

/// A request on its way to the socket.
pub(super) struct Outgoing {
    /// Its correlation id, for the reply.
    pub(super) id: CorrelationId,
    /// The whole message.
    pub(super) frames: Vec<Frame>,
    /// Where its reply (or error) goes; closed once the caller gave up.
    /// `None` for a HEARTBEAT (the liveness check), which nobody awaits.
    pub(super) reply: Option<ReplySender>,
}

/// What became of one [`Link::try_send`].
enum Sent {
    /// Queued in libzmq (or, rarely, lost on the way: see `try_send`); its
    /// reply may come.
    Queued,
    /// Nothing was sent: the socket cannot take a message now. The frames
    /// come back intact.
    WouldBlock(Vec<Frame>),
    /// Nothing was sent, and retrying will not help.
    Failed(zmq::Error),
}

/// The socket side of the I/O task: everything but the reactor registration,
/// so that a readiness guard (borrowing the [`AsyncFd`]) can be held while
/// the socket is worked.
pub(super) struct Link {
    dealer: zmq::Socket,
    commands: mpsc::Receiver<Outgoing>,
    /// Completes (with an error) once every handle is gone.
    closed: oneshot::Receiver<()>,
    /// The request the socket could not take yet. While there is one, no
    /// other is taken from `commands`: the queue fills, which is the
    /// callers' back-pressure.
    blocked: Option<Outgoing>,
    /// Reply senders of the requests sent, by correlation id.
    pending: HashMap<CorrelationId, ReplySender>,
    /// The size of `pending` at which its abandoned requests are swept out.
    prune_at: usize,
    stale: Arc<AtomicU64>,
    stale_counter: Counter,
    /// Messages received, whatever they are: the traffic the liveness
    /// check of a client with several brokers watches.
    heard: Arc<AtomicU64>,
    limits: Limits,
}

impl Link {
    /// The socket side of a new I/O task.
    pub(super) fn new(
        dealer: zmq::Socket,
        commands: mpsc::Receiver<Outgoing>,
        closed: oneshot::Receiver<()>,
        stale: Arc<AtomicU64>,
        heard: Arc<AtomicU64>,
        limits: Limits,
    ) -> Self {
        Self {
            dealer,
            commands,
            closed,
            blocked: None,
            pending: HashMap::new(),
            prune_at: PRUNE_AT_LEAST,
            stale,
            stale_counter: counter!(STALE_REPLIES_TOTAL),
            heard,
            limits,
        }
    }

    /// Whether a handle is left.
    fn is_open(&mut self) -> bool {
        matches!(
            self.closed.try_recv(),
            Err(oneshot::error::TryRecvError::Empty)
        )
    }

    /// Sends queued requests until the queue is empty or the socket pushes
    /// back.
    fn take_commands(&mut self) {
        while self.blocked.is_none() {
            match self.commands.try_recv() {
                Ok(out) => self.send(out),
                Err(_) => return,
            }
        }
    }

    /// Sends `out` now, or keeps it as the blocked request; drops it when
    /// its caller has given up.
    fn send(&mut self, out: Outgoing) {
        if out.reply.as_ref().is_some_and(oneshot::Sender::is_closed) {
            return;
        }
        match self.try_send(out.frames) {
            Sent::Queued => {
                if let Some(reply) = out.reply {
                    self.track(out.id, reply);
                }
            }
            Sent::WouldBlock(frames) => self.blocked = Some(Outgoing { frames, ..out }),
            Sent::Failed(err) => {
                if let Some(reply) = out.reply {
                    let _ = reply.send(Err(err.into()));
                }
            }
        }
    }

    /// Waits for the reply to `id`. A retry reuses its id, so it takes the
    /// place of the attempt before it.
    fn track(&mut self, id: CorrelationId, reply: ReplySender) {
        if self.pending.len() >= self.prune_at {
            self.pending.retain(|_, tx| !tx.is_closed());
            self.prune_at = (self.pending.len() * 2).max(PRUNE_AT_LEAST);
        }
        self.pending.insert(id, reply);
    }

    /// One non-blocking send of a whole message.
    ///
    /// The first frame (the empty delimiter) is sent as a copy, so that an
    /// `EAGAIN` on it leaves the message intact for the outbox. Once it is
    /// accepted libzmq takes the rest of the message too; should a later
    /// frame fail anyway (the peer's pipe broke mid-message), libzmq drops
    /// the parts sent and the request is lost as on the wire: its caller's
    /// timeout and retries take it from there.
    fn try_send(&self, frames: Vec<Frame>) -> Sent {
        let Some(first) = frames.first() else {
            return Sent::Queued;
        };
        let last = frames.len() - 1;
        let more = |i: usize| if i < last { zmq::SNDMORE } else { 0 };
        match self.dealer.send(&first[..], zmq::DONTWAIT | more(0)) {
            Ok(()) => {}
            Err(zmq::Error::EAGAIN | zmq::Error::EINTR) => return Sent::WouldBlock(frames),
            Err(err) => return Sent::Failed(err),
        }
        for (i, frame) in frames.into_iter().enumerate().skip(1) {
            if let Err(err) = self.dealer.send(frame, zmq::DONTWAIT | more(i)) {
                debug!(cause = %err, "request lost mid-message; its timeout will retry it");
                break;
            }
        }
        Sent::Queued
    }

    /// Sends the blocked request, then those queued behind it, until the
    /// socket pushes back; whether anything was sent.
    fn flush(&mut self) -> bool {
        let Some(out) = self.blocked.take() else {
            return false;
        };
        self.send(out);
        if self.blocked.is_some() {
            return false;
        }
        self.take_commands();
        true
    }

    /// Works the socket until `ZMQ_EVENTS`, read after the last socket call,
    /// shows nothing to do ([`Turn::Idle`]), or the read budget runs out
    /// ([`Turn::Busy`]).
    fn pump(&mut self) -> Result<Turn, zmq::Error> {
        let mut budget = RECV_BUDGET;
        loop {
            let events = match self.dealer.get_events() {
                Ok(events) => events,
                Err(zmq::Error::EINTR) => continue,
                Err(err) => return Err(err),
            };
            let mut acted = false;
            if events.contains(zmq::POLLOUT) && self.blocked.is_some() {
                acted = self.flush();
            }
            if events.contains(zmq::POLLIN) {
                if budget == 0 {
                    return Ok(Turn::Busy);
                }
                budget = self.receive(budget)?;
                acted = true;
            }
            if !acted {
                return Ok(Turn::Idle);
            }
        }
    }

    /// Takes replies until the socket has none (`EAGAIN`) or `budget` reads
    /// are spent; the budget left.
    fn receive(&mut self, mut budget: usize) -> Result<usize, zmq::Error> {
        while budget > 0 {
            budget -= 1;
            match recv_frames(&self.dealer, zmq::DONTWAIT) {
                Ok(frames) => {
                    self.heard.fetch_add(1, Ordering::Relaxed);
                    self.deliver(frames);
                }
                Err(zmq::Error::EAGAIN | zmq::Error::EINTR) => break,
                Err(err) => return Err(err),
            }
        }
        Ok(budget)
    }

    /// Hands one received message to the request it answers.
    fn deliver(&mut self, frames: Vec<Frame>) {
        match decode(frames, &self.limits) {
            Ok(d) => match d.message.command {
                Command::Reply(reply) => match self.pending.remove(&reply.id) {
                    Some(tx) => {
                        let result = if reply.status.is_ok() {
                            Ok(Response {
                                id: reply.id,
                                payload: d.message.payload,
                                metadata: reply.metadata,
                                attempts: 1,
                            })
                        } else {
                            Err(RequestError::from_status(reply.status))
                        };
                        if tx.send(result).is_err() {
                            // Its caller gave up (timed out) before it came.
                            self.count_stale();
                        }
                    }
                    None => self.count_stale(),
                },
                // The broker's answer to the liveness check: traffic only.
                Command::Heartbeat => {}
                _ => self.count_stale(),
            },
            Err(err) => {
                debug!(cause = %err, "malformed reply dropped");
                self.count_stale();
            }
        }
    }

    fn count_stale(&self) {
        self.stale.fetch_add(1, Ordering::Relaxed);
        self.stale_counter.increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A link on a DEALER connected to nothing.
    fn link() -> (Link, mpsc::Sender<Outgoing>, oneshot::Sender<()>) {
        let ctx = zmq::Context::new();
        let dealer = ctx.socket(zmq::DEALER).expect("dealer");
        let (tx, rx) = mpsc::channel(1);
        let (alive, closed) = oneshot::channel();
        let link = Link::new(
            dealer,
            rx,
            closed,
            Arc::default(),
            Arc::default(),
            Limits::default(),
        );
        (link, tx, alive)
    }

    #[test]
    fn abandoned_requests_are_swept_from_pending_as_it_grows() {
        let (mut link, _tx, _alive) = link();
        let mut waiting = Vec::new();
        for i in 0..PRUNE_AT_LEAST {
            let (reply, rx) = oneshot::channel();
            link.track(CorrelationId::new(), reply);
            if i % 2 == 0 {
                waiting.push(rx);
            }
        }
        assert_eq!(
            link.pending.len(),
            PRUNE_AT_LEAST,
            "no sweep below the mark"
        );
        let (reply, _rx) = oneshot::channel();
        link.track(CorrelationId::new(), reply);
        assert_eq!(
            link.pending.len(),
            PRUNE_AT_LEAST / 2 + 1,
            "the abandoned half went"
        );
        assert_eq!(link.prune_at, PRUNE_AT_LEAST);
    }

    #[test]
    fn a_request_whose_caller_is_gone_is_not_sent() {
        let (mut link, _tx, alive) = link();
        let (reply, rx) = oneshot::channel();
        drop(rx);
        let frames = vec![Frame::new(), Frame::from(&b"RQ1"[..])];
        link.send(Outgoing {
            id: CorrelationId::new(),
            frames,
            reply: Some(reply),
        });
        assert!(link.pending.is_empty() && link.blocked.is_none());
        assert!(link.is_open());
        drop(alive);
        assert!(!link.is_open(), "every handle gone");
    }
}
