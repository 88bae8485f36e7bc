//! A fake broker: one plain ROUTER on `tcp://127.0.0.1:*` that speaks the
//! wire protocol as the test says, for client and worker tests that need a
//! broker to answer in a particular way (PERMISSION_DENIED, DISCONNECT, ...)
//! without running one. Optionally a CURVE server, in a context the test
//! owns (so it can run a ZAP handler next to it).

use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use reqrep_core::socket::{SocketOptions, recv_frames, send_frames};
use reqrep_core::{Decoded, Frame, Kind, Limits, Message, decode};

use crate::WAIT;

/// How long [`FakeBroker::serve_until`] waits for a message before it looks
/// at its `done` channel again.
const SLICE: Duration = Duration::from_millis(20);

/// A ROUTER playing the broker's frontend or backend.
pub struct FakeBroker {
    router: zmq::Socket,
    endpoint: String,
    _ctx: zmq::Context,
}

impl FakeBroker {
    /// A plaintext fake broker in a context of its own.
    ///
    /// # Panics
    /// When the socket cannot be bound (a broken test environment).
    pub fn bind() -> Self {
        Self::bind_with(&zmq::Context::new(), &SocketOptions::default())
    }

    /// A fake broker in `ctx` with `options` (for example a CURVE server
    /// role).
    ///
    /// # Panics
    /// When the socket cannot be set up or bound.
    pub fn bind_with(ctx: &zmq::Context, options: &SocketOptions) -> Self {
        let router = ctx.socket(zmq::ROUTER).expect("router");
        options.apply(&router).expect("socket options");
        router.set_linger(0).expect("linger");
        router.bind("tcp://127.0.0.1:*").expect("bind");
        let endpoint = router
            .get_last_endpoint()
            .expect("endpoint")
            .expect("utf-8 endpoint");
        Self {
            router,
            endpoint,
            _ctx: ctx.clone(),
        }
    }

    /// The endpoint to connect to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The next message, waiting at most `timeout`; `None` when none came.
    ///
    /// # Panics
    /// On a socket failure or a message that does not decode.
    pub fn next_within(&self, timeout: Duration) -> Option<Decoded> {
        let ms = i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX);
        if self.router.poll(zmq::POLLIN, ms).expect("poll") == 0 {
            return None;
        }
        let frames = recv_frames(&self.router, 0).expect("recv");
        Some(decode(frames, &Limits::default()).expect("a valid message"))
    }

    /// The next message, which must come within [`WAIT`].
    ///
    /// # Panics
    /// When none comes in time.
    pub fn next(&self) -> Decoded {
        self.next_within(WAIT).expect("a message in time")
    }

    /// Sends `message` to the peer at `route` (a [`Decoded::route`]).
    ///
    /// # Panics
    /// On a socket failure.
    pub fn send(&self, route: Vec<Frame>, message: Message) {
        send_frames(&self.router, message.encode_routed(route), 0).expect("send");
    }

    /// Asserts that nothing more has arrived.
    ///
    /// # Panics
    /// When something has.
    pub fn assert_quiet(&self) {
        assert_eq!(
            self.router.poll(zmq::POLLIN, 0).expect("poll"),
            0,
            "no message beyond those expected"
        );
    }

    /// Hands every message to `on_message` (which answers it) until `done`
    /// yields a value; then takes what is left without answering. Returns
    /// that value and the kinds of every message received, in order.
    ///
    /// # Panics
    /// When `done` yields nothing within [`WAIT`].
    pub fn serve_until<T>(
        &self,
        done: &Receiver<T>,
        mut on_message: impl FnMut(&Self, Decoded),
    ) -> (T, Vec<Kind>) {
        let until = Instant::now() + WAIT;
        let mut kinds = Vec::new();
        loop {
            if let Ok(value) = done.try_recv() {
                while let Some(late) = self.next_within(Duration::ZERO) {
                    kinds.push(late.message.kind());
                }
                return (value, kinds);
            }
            assert!(Instant::now() < until, "not done within {WAIT:?}");
            if let Some(got) = self.next_within(SLICE) {
                kinds.push(got.message.kind());
                on_message(self, got);
            }
        }
    }

    /// [`FakeBroker::serve_until`] on a thread of its own, until
    /// [`Serving::finish`].
    pub fn spawn(self, on_message: impl FnMut(&Self, Decoded) + Send + 'static) -> Serving {
        let (stop, done) = mpsc::channel();
        let thread = std::thread::spawn(move || self.serve_until(&done, on_message).1);
        Serving { stop, thread }
    }
}

/// A [`FakeBroker`] serving on its own thread.
pub struct Serving {
    stop: Sender<()>,
    thread: JoinHandle<Vec<Kind>>,
}

impl Serving {
    /// Stops serving; the kinds of every message received, in order.
    ///
    /// # Panics
    /// When the serving thread panicked (re-raised with its message).
    pub fn finish(self) -> Vec<Kind> {
        let _ = self.stop.send(());
        match self.thread.join() {
            Ok(kinds) => kinds,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

/// How many of `kinds` are `kind`.
pub fn count(kinds: &[Kind], kind: Kind) -> usize {
    kinds.iter().filter(|k| **k == kind).count()
}
