//! A test worker: the agents' socket-free `WorkerSession` (READY with
//! credits, heartbeats both ways, liveness, re-registration after
//! DISCONNECT, stopping when the broker refuses it) driven over a plain
//! DEALER, with concurrent simulated work (each request finishes `delay`
//! after it arrived, so several credits really run at once). It answers
//! each request with `[name, payload...]` and reports what happens, for
//! tests to synchronise on.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqrep_agents::{BrokerLoss, WorkerAction, WorkerSession};
use reqrep_core::socket::{Endpoint, connect, recv_frames, send_frames};
use reqrep_core::{Frame, Message, Request};

use crate::socket;

/// How a test worker behaves.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Service to register for.
    pub service: String,
    /// Credits announced in READY.
    pub credits: u32,
    /// Heartbeat interval announced in READY.
    pub heartbeat: Duration,
    /// Simulated work per request.
    pub delay: Duration,
    /// Name put in the first reply frame.
    pub name: String,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            service: "echo".into(),
            credits: 1,
            heartbeat: Duration::from_millis(250),
            delay: Duration::ZERO,
            name: "worker".into(),
        }
    }
}

/// What the worker reports while it runs (for tests to synchronise on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerEvent {
    /// READY sent.
    Ready,
    /// A request arrived (its correlation id).
    Request(String),
    /// The broker sent DISCONNECT.
    Disconnected,
    /// The broker refused the worker (DISCONNECT with PERMISSION_DENIED or
    /// UNAUTHENTICATED); the worker has stopped.
    Refused(reqrep_core::Status),
}

/// The longest the worker waits before looking at its stop flag again.
const STOP_SLICE: Duration = Duration::from_millis(50);

/// Runs a worker until `stop` is set, or until the broker refuses it.
/// `events` is told what happens.
///
/// # Panics
/// On socket failures (a broken test environment).
pub fn run_worker(
    ctx: &zmq::Context,
    endpoint: &str,
    options: &WorkerOptions,
    stop: &Arc<AtomicBool>,
    mut events: impl FnMut(WorkerEvent),
) {
    let endpoint = Endpoint::parse(endpoint).expect("endpoint");
    let agent_options = reqrep_agents::WorkerOptions::default()
        .credits(options.credits)
        .heartbeat(options.heartbeat);
    let mut session = WorkerSession::new(
        options.service.as_str(),
        &agent_options,
        fastrand_seed(),
        Instant::now(),
    );
    let mut dealer: Option<zmq::Socket> = None;
    let mut working: VecDeque<(Instant, Request, Vec<Frame>)> = VecDeque::new();
    loop {
        while let Some(action) = session.poll_action() {
            match action {
                WorkerAction::Connect => {
                    let fresh = socket(ctx, zmq::DEALER);
                    connect(&fresh, &endpoint).expect("connect");
                    dealer = Some(fresh);
                }
                WorkerAction::Send(out) => {
                    let ready = out.kind == reqrep_core::Kind::Ready;
                    let flags = if out.may_block() { 0 } else { zmq::DONTWAIT };
                    if let Some(d) = &dealer {
                        let _ = send_frames(d, out.frames, flags);
                    }
                    if ready {
                        events(WorkerEvent::Ready);
                    }
                }
                WorkerAction::Deliver(d) => {
                    events(WorkerEvent::Request(d.request.id.to_string()));
                    working.push_back((Instant::now() + options.delay, d.request, d.payload));
                }
                WorkerAction::Reconnect { cause, .. } => {
                    dealer = None;
                    if matches!(cause, BrokerLoss::Disconnected(_)) {
                        events(WorkerEvent::Disconnected);
                    }
                }
                WorkerAction::Refused(status) => {
                    events(WorkerEvent::Refused(status));
                    return;
                }
                WorkerAction::Closed { linger } => {
                    if let Some(d) = dealer.take() {
                        let _ = d.set_linger(crate::ms(linger));
                    }
                    return;
                }
                _ => {}
            }
        }
        let now = Instant::now();
        if stop.load(Ordering::Relaxed) {
            session.stop(now);
            continue;
        }
        if working.front().is_some_and(|(due, _, _)| *due <= now) {
            if let Some((_, request, payload)) = working.pop_front() {
                let mut body = vec![Frame::from(options.name.as_bytes())];
                body.extend(payload);
                session.on_reply(now, Message::reply_ok(&request, body).encode_body());
            }
            continue;
        }
        if session.next_timeout().is_some_and(|t| t <= now) {
            session.on_tick(now);
            continue;
        }
        let mut wake = now + STOP_SLICE;
        for t in [session.next_timeout(), working.front().map(|w| w.0)]
            .into_iter()
            .flatten()
        {
            wake = wake.min(t);
        }
        let timeout = i64::try_from(wake.saturating_duration_since(now).as_millis()).unwrap_or(50);
        let Some(d) = &dealer else {
            std::thread::park_timeout(wake.saturating_duration_since(now));
            continue;
        };
        if d.poll(zmq::POLLIN, timeout).expect("poll") > 0 {
            let frames = recv_frames(d, 0).expect("recv");
            // What the session cannot use it counts and logs itself.
            let _ = session.on_message(Instant::now(), frames);
        }
    }
}

/// A seed for the reconnect jitter.
fn fastrand_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    (nanos as u64) ^ u64::from(std::process::id())
}
