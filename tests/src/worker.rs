//! A protocol-complete test worker: READY with credits, heartbeats both
//! ways, concurrent simulated work (each request finishes `delay` after it
//! arrived, so several credits really run at once), re-registration after
//! DISCONNECT. It answers each request with `[name, payload...]`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqrep_core::socket::{Endpoint, connect, recv_frames, send_frames};
use reqrep_core::{Command, Frame, Limits, Message, Request, decode};

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
}

/// Runs a worker until `stop` is set. `events` is told what happens.
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
    'session: while !stop.load(Ordering::Relaxed) {
        let dealer = socket(ctx, zmq::DEALER);
        connect(&dealer, &endpoint).expect("connect");
        let ready = Message::ready(&options.service, options.credits, Some(options.heartbeat));
        send_frames(&dealer, ready.encode_body(), 0).expect("send READY");
        events(WorkerEvent::Ready);
        let mut next_beat = Instant::now() + options.heartbeat;
        let mut working: VecDeque<(Instant, Request, Vec<Frame>)> = VecDeque::new();
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            while working.front().is_some_and(|(due, _, _)| *due <= now) {
                let Some((_, request, payload)) = working.pop_front() else {
                    break;
                };
                let mut body = vec![Frame::from(options.name.as_bytes())];
                body.extend(payload);
                send_frames(&dealer, Message::reply_ok(&request, body).encode_body(), 0)
                    .expect("send REPLY");
                next_beat = now + options.heartbeat;
            }
            if now >= next_beat {
                send_frames(&dealer, Message::heartbeat().encode_body(), 0)
                    .expect("send HEARTBEAT");
                next_beat = now + options.heartbeat;
            }
            let mut wake = next_beat.min(now + Duration::from_millis(50));
            if let Some((due, _, _)) = working.front() {
                wake = wake.min(*due);
            }
            let timeout =
                i64::try_from(wake.saturating_duration_since(now).as_millis()).unwrap_or(50);
            if dealer.poll(zmq::POLLIN, timeout).expect("poll") == 0 {
                continue;
            }
            let frames = recv_frames(&dealer, 0).expect("recv");
            let Ok(decoded) = decode(frames, &Limits::default()) else {
                continue;
            };
            match decoded.message.command {
                Command::Request(request) => {
                    events(WorkerEvent::Request(request.id.to_string()));
                    let due = Instant::now() + options.delay;
                    working.push_back((due, request, decoded.message.payload));
                }
                Command::Disconnect(_) => {
                    events(WorkerEvent::Disconnected);
                    continue 'session;
                }
                _ => {}
            }
        }
        let _ = send_frames(
            &dealer,
            Message::disconnect(None).encode_body(),
            zmq::DONTWAIT,
        );
    }
}
