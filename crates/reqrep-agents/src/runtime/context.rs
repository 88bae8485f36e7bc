//! What every hook receives: [`AgentContext`].

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::EventKind;
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

    /// Whether the agent was asked to stop.
    pub fn is_stopped(&self) -> bool {
        self.inner.stop.is_stopped()
    }

    /// Ends the agent's run from inside: loops stop after the current cycle.
    pub fn request_stop(&self) {
        self.inner.stop.stop();
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
}
