//! Unit tests of [`StopToken`], its future, hooks and [`StopSocket`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::Duration;

use super::*;

/// How long the waiters under test would wait on their own: far longer
/// than [`LIMIT`], so only the stop can end their wait in time.
const NEVER: Duration = Duration::from_secs(3600);
/// How long a test waits for a woken waiter before failing.
const LIMIT: Duration = Duration::from_secs(30);

/// Runs `f` on a new thread; the receiver yields its result.
fn on_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> mpsc::Receiver<T> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx
}

/// A waker that counts its wake-ups and unparks the thread that made it.
struct Counting {
    wakes: AtomicUsize,
    thread: thread::Thread,
}

impl Wake for Counting {
    fn wake(self: Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        self.thread.unpark();
    }
}

fn counting() -> (Arc<Counting>, Waker) {
    let counter = Arc::new(Counting {
        wakes: AtomicUsize::new(0),
        thread: thread::current(),
    });
    (Arc::clone(&counter), Waker::from(counter))
}

fn registered(token: &StopToken) -> usize {
    token.inner.lock().waiting.len()
}

#[test]
fn stop_wakes_a_blocked_waiter_at_once() {
    let token = StopToken::new();
    let waiter = token.clone();
    let (started, waiting) = mpsc::channel();
    let blocked = on_thread(move || {
        let _ = started.send(());
        waiter.wait_timeout(NEVER)
    });
    // Stop once the waiter is (all but) blocked, so that it is the wake-up
    // that ends its wait.
    waiting.recv_timeout(LIMIT).unwrap();
    token.stop();
    assert_eq!(blocked.recv_timeout(LIMIT), Ok(true), "woken by the stop");
}

#[test]
fn wait_times_out_when_not_stopped() {
    let token = StopToken::new();
    assert!(!token.wait_timeout(Duration::from_millis(1)));
    assert!(!token.is_stopped());
}

#[test]
fn a_stopped_token_does_not_wait_even_forever() {
    let token = StopToken::new();
    token.stop();
    assert!(token.wait_timeout(Duration::MAX));
}

#[test]
fn clones_share_one_flag() {
    let token = StopToken::new();
    let clone = token.clone();
    let unrelated = StopToken::new();
    clone.stop();
    assert!(token.is_stopped() && clone.is_stopped());
    assert!(!unrelated.is_stopped());
    assert_eq!(format!("{token:?}"), "StopToken { stopped: true }");
}

#[test]
fn stop_is_idempotent_and_runs_each_hook_once() {
    let token = StopToken::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&runs);
    let _hook = token.on_stop(move || {
        counted.fetch_add(1, Ordering::SeqCst);
    });
    token.stop();
    token.clone().stop();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(registered(&token), 0, "a stop empties the registry");
}

#[test]
fn a_hook_registered_after_the_stop_runs_at_once() {
    let token = StopToken::new();
    token.stop();
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&runs);
    let _hook = token.on_stop(move || {
        counted.fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[test]
fn a_dropped_hook_never_runs() {
    let token = StopToken::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&runs);
    drop(token.on_stop(move || {
        counted.fetch_add(1, Ordering::SeqCst);
    }));
    assert_eq!(registered(&token), 0);
    token.stop();
    assert_eq!(runs.load(Ordering::SeqCst), 0);
}

#[test]
fn the_stopped_future_is_woken_by_the_stop() {
    let token = StopToken::new();
    let (counter, waker) = counting();
    let mut cx = Context::from_waker(&waker);
    let mut stopped = token.clone().stopped();
    assert_eq!(Pin::new(&mut stopped).poll(&mut cx), Poll::Pending);
    assert_eq!(Pin::new(&mut stopped).poll(&mut cx), Poll::Pending);
    assert_eq!(
        registered(&token),
        1,
        "polling again reuses the registration"
    );
    token.stop();
    assert_eq!(counter.wakes.load(Ordering::SeqCst), 1);
    assert_eq!(Pin::new(&mut stopped).poll(&mut cx), Poll::Ready(()));
}

#[test]
fn a_dropped_future_unregisters() {
    let token = StopToken::new();
    let (counter, waker) = counting();
    let mut stopped = token.stopped();
    let _ = Pin::new(&mut stopped).poll(&mut Context::from_waker(&waker));
    drop(stopped);
    assert_eq!(registered(&token), 0);
    token.stop();
    assert_eq!(counter.wakes.load(Ordering::SeqCst), 0);
}

#[test]
fn an_async_waiter_on_another_thread_completes_on_the_stop() {
    let token = StopToken::new();
    let waiter = token.clone();
    let task = on_thread(move || {
        // A minimal executor: poll, park until woken.
        let (counter, waker) = counting();
        let mut cx = Context::from_waker(&waker);
        let mut stopped = waiter.stopped();
        while Pin::new(&mut stopped).poll(&mut cx).is_pending() {
            thread::park();
        }
        counter.wakes.load(Ordering::SeqCst)
    });
    token.stop();
    let wakes = task.recv_timeout(LIMIT).expect("the future completed");
    assert!(
        wakes <= 1,
        "woken once at most (not at all if stopped first)"
    );
}

#[test]
fn a_stop_socket_wakes_a_blocked_poll() {
    let ctx = zmq::Context::new();
    let token = StopToken::new();
    let socket = StopSocket::new(&ctx, &token).unwrap();
    let mut idle = [socket.as_poll_item(zmq::POLLIN)];
    assert_eq!(zmq::poll(&mut idle, 0).unwrap(), 0, "not readable before");

    let poller = on_thread(move || {
        let mut items = [socket.as_poll_item(zmq::POLLIN)];
        let ready = zmq::poll(&mut items, NEVER.as_millis() as i64).unwrap();
        ready == 1 && items[0].is_readable()
    });
    token.stop();
    assert_eq!(poller.recv_timeout(LIMIT), Ok(true), "woken by the stop");
}

#[test]
fn a_stop_socket_for_a_stopped_token_is_readable_at_once() {
    let ctx = zmq::Context::new();
    let token = StopToken::new();
    token.stop();
    let socket = StopSocket::new(&ctx, &token).unwrap();
    let mut items = [socket.as_poll_item(zmq::POLLIN)];
    assert_eq!(zmq::poll(&mut items, LIMIT.as_millis() as i64).unwrap(), 1);
    let mut ignored = [socket.as_poll_item(zmq::PollEvents::empty())];
    assert_eq!(zmq::poll(&mut ignored, 0).unwrap(), 0, "ignored when asked");
}

#[test]
fn dropping_a_stop_socket_unregisters_it_and_frees_the_context() {
    let ctx = zmq::Context::new();
    let token = StopToken::new();
    drop(StopSocket::new(&ctx, &token).unwrap());
    assert_eq!(registered(&token), 0);
    // Terminating waits for every socket of the context: both ends are gone.
    let terminated = on_thread(move || drop(ctx));
    assert_eq!(terminated.recv_timeout(LIMIT), Ok(()), "the context ended");
    token.stop();
}
