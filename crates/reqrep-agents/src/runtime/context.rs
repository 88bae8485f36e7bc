//! What every hook receives: [`AgentContext`].

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use reqrep_core::StopHook;

use super::{EventKind, lifecycle};
use crate::StopToken;

/// Where a context's events go: the orchestrator's channel, a child
/// process's event pipe, or nowhere.
pub(crate) type EventSink = Arc<dyn Fn(EventKind) + Send + Sync>;

/// The agent's view of the runtime, passed to every hook.
///
/// It names the agent, carries its [`StopToken`] (blocking code waits on it
/// and returns when it is stopped), reports heartbeats and warnings to the
/// orchestrator, and holds the agent's tracing span. Clones share all of it.
#[derive(Clone)]
pub struct AgentContext {
    inner: Arc<Inner>,
}

struct Inner {
    /// The registered name.
    name: Arc<str>,
    /// Stops this attempt (and the plugins blocked in it).
    stop: StopToken,
    /// 1 for the first run, +1 per restart.
    attempt: u32,
    /// `agent{name=...}`, entered by the runtime around every hook.
    span: tracing::Span,
    /// Where events go.
    sink: EventSink,
    /// Least time between two heartbeat events.
    heartbeat_interval: Duration,
    /// When the last heartbeat event went out.
    last_heartbeat: Mutex<Option<Instant>>,
    /// Whether a warning was reported: the run ends with at least `Warning`.
    warned: AtomicBool,
    /// The hooks of [`AgentContext::on_stop_requested`], registered on
    /// `stop` until the attempt ends.
    stop_hooks: Mutex<Vec<StopHook>>,
    /// Whether one of those hooks panicked: the run ends `Critical`.
    stop_hook_panicked: AtomicBool,
}

impl fmt::Debug for AgentContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentContext")
            .field("name", &self.inner.name)
            .field("attempt", &self.inner.attempt)
            .field("stop", &self.inner.stop)
            .finish_non_exhaustive()
    }
}

impl AgentContext {
    /// A context outside any orchestrator, for driving an agent's hooks by
    /// hand (in its unit tests, say): events are only logged.
    pub fn standalone(name: &str, stop: StopToken) -> Self {
        Self::new(name.into(), stop, 1, Duration::ZERO, Arc::new(|_| {}))
    }

    pub(crate) fn new(
        name: Arc<str>,
        stop: StopToken,
        attempt: u32,
        heartbeat_interval: Duration,
        sink: EventSink,
    ) -> Self {
        let span = tracing::info_span!("agent", name = %name, attempt);
        Self {
            inner: Arc::new(Inner {
                name,
                stop,
                attempt,
                span,
                sink,
                heartbeat_interval,
                last_heartbeat: Mutex::new(None),
                warned: AtomicBool::new(false),
                stop_hooks: Mutex::new(Vec::new()),
                stop_hook_panicked: AtomicBool::new(false),
            }),
        }
    }

    /// The agent's registered name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The agent's stop token: wait on it instead of sleeping, and hand it
    /// to blocking calls.
    pub fn stop_token(&self) -> &StopToken {
        &self.inner.stop
    }

    /// Whether the agent was asked to stop (by the orchestrator's stop or
    /// shutdown, a start timeout, or [`Self::request_stop`]). Once true it
    /// stays true for the attempt; [`Agent::on_stop`](super::Agent::on_stop)
    /// then runs at the next safe point.
    pub fn is_stopped(&self) -> bool {
        self.inner.stop.is_stopped()
    }

    /// Ends the agent's run from inside, as a stop from the orchestrator
    /// would: the token is stopped (hooks of [`Self::on_stop_requested`]
    /// run here, on this thread), loops stop after the current cycle, and
    /// [`Agent::on_stop`](super::Agent::on_stop) runs when `execute` (or
    /// `setup`) returns.
    pub fn request_stop(&self) {
        self.inner.stop.stop();
    }

    /// Runs `hook` at the moment the agent is asked to stop, on the thread
    /// that asks (the orchestrator's, the child process's control thread,
    /// or the agent's own for [`Self::request_stop`]), once; at once, on
    /// this thread, when the agent is already stopped. The registration
    /// lasts until the attempt ends: a hook whose stop never came is
    /// dropped unrun then.
    ///
    /// This is the concurrent path to a stop, for an agent blocked in a
    /// call that knows nothing of its [`StopToken`] (a channel `recv`, a
    /// foreign library's blocking read): the hook wakes that call (sends a
    /// message, closes a handle, sets a flag), `execute` returns, and
    /// [`Agent::on_stop`](super::Agent::on_stop) follows on the agent's own
    /// thread. It runs even for an agent stuck in such a call, which
    /// `on_stop` cannot reach.
    ///
    /// Rules for `hook`:
    /// - it must be quick and must not block: it runs inside the stop
    ///   request, holding up the orchestrator (and the other hooks);
    /// - it may run on any thread, possibly while the agent's hooks run;
    /// - it cannot touch the agent's `&mut self` state: share what it needs
    ///   through an `Arc`, an atomic or a channel;
    /// - a panic in it is contained and reported, and the run ends
    ///   `Critical`.
    ///
    /// A hook does not end the agent by itself: if the agent has not ended
    /// within its stop timeout, it is still stopped by force.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use reqrep_agents::runtime::{Agent, AgentContext, AgentError};
    ///
    /// /// Blocks on a channel that knows nothing of stop tokens.
    /// struct Listener;
    ///
    /// impl Agent for Listener {
    ///     fn execute(&mut self, ctx: &AgentContext) -> Result<(), AgentError> {
    ///         let (wake, woken) = mpsc::channel::<()>();
    ///         // Dropping the sender ends the `recv` below.
    ///         ctx.on_stop_requested(move || drop(wake));
    ///         let _ = woken.recv();
    ///         Ok(())
    ///     }
    /// }
    /// ```
    pub fn on_stop_requested(&self, hook: impl FnOnce() + Send + 'static) {
        // A weak reference: the registration lives in `inner`, and the
        // token it is registered on must not keep `inner` alive.
        let inner = Arc::downgrade(&self.inner);
        let guard = self.inner.stop.on_stop(move || run_stop_hook(&inner, hook));
        self.inner
            .stop_hooks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(guard);
    }

    /// Which run this is: 1, then +1 per restart.
    pub fn attempt(&self) -> u32 {
        self.inner.attempt
    }

    /// The agent's tracing span (`agent{name, attempt}`).
    pub fn span(&self) -> &tracing::Span {
        &self.inner.span
    }

    /// Reports that the agent is alive. Heartbeats closer together than the
    /// agent's heartbeat interval are dropped; the first always passes.
    pub fn heartbeat(&self) {
        let now = Instant::now();
        let mut last = self
            .inner
            .last_heartbeat
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let due = last.is_none_or(|at| now.duration_since(at) >= self.inner.heartbeat_interval);
        if due {
            *last = Some(now);
            drop(last);
            (self.inner.sink)(EventKind::Heartbeat);
        }
    }

    /// Reports a problem the agent carries on after; the run then ends with
    /// at least `Warning`.
    pub fn warn(&self, message: impl Into<String>) {
        let message = message.into();
        self.inner
            .span
            .in_scope(|| tracing::warn!(%message, "agent warning"));
        self.inner.warned.store(true, Ordering::SeqCst);
        (self.inner.sink)(EventKind::Warning(message));
    }

    /// Drops the hooks of [`Self::on_stop_requested`] that have not run:
    /// the attempt is over.
    pub(crate) fn release_stop_hooks(&self) {
        let hooks = std::mem::take(
            &mut *self
                .inner
                .stop_hooks
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        drop(hooks);
    }

    /// Whether a hook of [`Self::on_stop_requested`] panicked.
    pub(crate) fn stop_hook_panicked(&self) -> bool {
        self.inner.stop_hook_panicked.load(Ordering::SeqCst)
    }

    /// Whether [`Self::warn`] was called.
    pub(crate) fn warned(&self) -> bool {
        self.inner.warned.load(Ordering::SeqCst)
    }

    /// Reports that plugins and `setup` are done.
    pub(crate) fn ready(&self) {
        (self.inner.sink)(EventKind::Ready);
    }

    /// Reports the cause of a failure.
    pub(crate) fn fail(&self, cause: String) {
        self.inner
            .span
            .in_scope(|| tracing::error!(%cause, "agent failed"));
        (self.inner.sink)(EventKind::Failed(cause));
    }
}

/// Runs a hook of [`AgentContext::on_stop_requested`], containing and
/// reporting its panic: it runs on the stopping thread, which must not
/// unwind.
fn run_stop_hook(inner: &Weak<Inner>, hook: impl FnOnce()) {
    let Err(payload) = panic::catch_unwind(AssertUnwindSafe(hook)) else {
        return;
    };
    let message = lifecycle::panic_message(payload.as_ref());
    if let Some(inner) = inner.upgrade() {
        let ctx = AgentContext { inner };
        ctx.inner.stop_hook_panicked.store(true, Ordering::SeqCst);
        ctx.fail(format!("on_stop_requested hook panicked: {message}"));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::mpsc;

    /// A context whose events land in the returned receiver.
    pub(crate) fn recording(
        name: &str,
        heartbeat_interval: Duration,
    ) -> (AgentContext, mpsc::Receiver<EventKind>) {
        let (tx, rx) = mpsc::channel();
        let sink: EventSink = Arc::new(move |kind| {
            let _ = tx.send(kind);
        });
        let ctx = AgentContext::new(name.into(), StopToken::new(), 1, heartbeat_interval, sink);
        (ctx, rx)
    }

    #[test]
    fn heartbeats_are_rate_limited() {
        let (ctx, events) = recording("hb", Duration::from_secs(3600));
        ctx.heartbeat();
        ctx.heartbeat();
        ctx.heartbeat();
        let beats: Vec<_> = events.try_iter().collect();
        assert_eq!(beats, vec![EventKind::Heartbeat], "only the first passes");
    }

    #[test]
    fn warnings_mark_the_run_and_are_reported() {
        let (ctx, events) = recording("w", Duration::ZERO);
        assert!(!ctx.warned());
        ctx.warn("disk almost full");
        assert!(ctx.warned());
        assert_eq!(
            events.try_recv().ok(),
            Some(EventKind::Warning("disk almost full".into()))
        );
    }

    #[test]
    fn request_stop_stops_the_token() {
        let ctx = AgentContext::standalone("s", StopToken::new());
        assert!(!ctx.is_stopped());
        ctx.request_stop();
        assert!(ctx.stop_token().is_stopped());
        assert_eq!(ctx.name(), "s");
        assert_eq!(ctx.attempt(), 1);
    }

    /// A hook that counts its runs and names the thread it ran on.
    fn counting_hook(
        ctx: &AgentContext,
    ) -> (Arc<std::sync::atomic::AtomicUsize>, mpsc::Receiver<String>) {
        let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (tx, on_thread) = mpsc::channel();
        let counted = Arc::clone(&runs);
        ctx.on_stop_requested(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            let name = std::thread::current().name().unwrap_or("").to_owned();
            let _ = tx.send(name);
        });
        (runs, on_thread)
    }

    #[test]
    fn a_stop_hook_runs_once_on_the_stopping_thread() {
        let stop = StopToken::new();
        let ctx = AgentContext::standalone("h", stop.clone());
        let (runs, on_thread) = counting_hook(&ctx);
        assert_eq!(runs.load(Ordering::SeqCst), 0, "not before the stop");
        std::thread::Builder::new()
            .name("stopper".into())
            .spawn(move || {
                stop.stop();
                stop.stop();
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(on_thread.try_recv().as_deref(), Ok("stopper"));
        ctx.request_stop();
        assert_eq!(runs.load(Ordering::SeqCst), 1, "once");
    }

    #[test]
    fn a_stop_hook_registered_after_the_stop_runs_at_once() {
        let ctx = AgentContext::standalone("h", StopToken::new());
        ctx.request_stop();
        let (runs, _on_thread) = counting_hook(&ctx);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn released_stop_hooks_do_not_run_nor_keep_the_context_alive() {
        let stop = StopToken::new();
        let ctx = AgentContext::standalone("h", stop.clone());
        let (runs, _on_thread) = counting_hook(&ctx);
        let held = ctx.clone();
        ctx.on_stop_requested(move || drop(held));
        assert_eq!(Arc::strong_count(&ctx.inner), 2, "the hook holds a clone");
        ctx.release_stop_hooks();
        assert_eq!(Arc::strong_count(&ctx.inner), 1, "released with the hook");
        stop.stop();
        assert_eq!(runs.load(Ordering::SeqCst), 0);
        assert!(!ctx.stop_hook_panicked());
    }

    #[test]
    fn a_panicking_stop_hook_is_contained_and_reported() {
        let (ctx, events) = recording("p", Duration::ZERO);
        ctx.on_stop_requested(|| panic!("hook exploded"));
        let (runs, _on_thread) = counting_hook(&ctx);
        ctx.request_stop();
        assert!(ctx.stop_hook_panicked());
        assert_eq!(runs.load(Ordering::SeqCst), 1, "the next hook still ran");
        assert_eq!(
            events.try_recv().ok(),
            Some(EventKind::Failed(
                "on_stop_requested hook panicked: hook exploded".into()
            ))
        );
    }
}
