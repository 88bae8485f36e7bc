//! The driver: one thread, one `zmq::poll` loop over the frontend ROUTER
//! (clients), the backend ROUTER (workers) and the [`StopSocket`] of its
//! [`StopToken`]; with an access policy also the ZAP handler, and with
//! CURVE the socket monitors (see `access`).
//!
//! It owns the sockets and the clock and feeds [`BrokerState`]; it never
//! decides anything itself. Payload frames travel as `zmq::Message` from the
//! receiving socket through the state machine to the sending socket.

mod access;
mod allocator;
mod error;
mod thread;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqrep_core::curve::{Curve, CurveKeyPair, KeyFileError};
use reqrep_core::socket::{self, Endpoint, SocketError, SocketOptions};
use reqrep_core::{StopSocket, StopToken};
use tracing::{debug, info, warn};

use self::access::{Access, Monitors};
use crate::access::{AuthCounts, AuthFailure, Denials, Side};
use crate::config::BrokerConfig;
use crate::http::{self, Health, HttpServer};
use crate::signal::ReloadToken;
use crate::state::{Action, BrokerState, Outbound, StateConfig};
use crate::stats::{Exporter, Stats};

pub use self::error::BrokerError;
pub use self::thread::{BrokerThread, run};

/// Messages taken from one socket before looking at the others, so neither
/// side can starve the other.
const BATCH: usize = 256;
/// The longest the loop sleeps, so `/healthz` sees it beat.
const MAX_POLL: Duration = Duration::from_millis(500);
/// How long the broker's sockets may hold its last messages (replies to
/// clients, DISCONNECT to workers) once a drain has finished; the process
/// ends at most this much later.
pub(crate) const SHUTDOWN_LINGER: Duration = Duration::from_secs(1);

/// Whole milliseconds as libzmq's `i32`.
fn ms_i32(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}
/// Table memory the state machine must have given back (after a burst)
/// before the driver asks the allocator to return free memory to the OS.
const TRIM_AFTER: usize = 1 << 20;
/// Least time between two such returns: each walks the whole heap.
const TRIM_INTERVAL: Duration = Duration::from_secs(1);

/// A bound broker, ready to [`run`](Broker::run).
pub struct Broker {
    frontend: zmq::Socket,
    backend: zmq::Socket,
    frontend_endpoints: Vec<String>,
    backend_endpoints: Vec<String>,
    /// A stop drains the broker, then ends [`Broker::run`].
    stop: StopToken,
    config: BrokerConfig,
    state: BrokerState,
    /// Mirrors the state's counts into the metrics registry.
    exporter: Exporter,
    /// Table memory the state machine gave back since the last trim.
    released: usize,
    last_trim: Option<Instant>,
    health: Arc<Health>,
    http: Option<HttpServer>,
    /// The ZAP handler and the access file, with an access policy. After
    /// the frontend and backend: it outlives every handshake on them.
    access: Option<Access>,
    /// Failed handshakes, with CURVE.
    monitors: Option<Monitors>,
    /// Refused handshakes by side and reason.
    auth: AuthCounts,
    /// Which refused handshakes to log.
    auth_log: Denials<(Side, AuthFailure, Option<String>)>,
    /// The `User-Id` of the message being handed to the state machine.
    user: String,
    // Dropped last: terminating the context waits for the sockets above.
    _ctx: zmq::Context,
}

impl Broker {
    /// Creates and binds the sockets (and the metrics endpoint, when
    /// configured). Wildcard ports are resolved: see
    /// [`frontend_endpoints`](Self::frontend_endpoints).
    ///
    /// # Errors
    /// An invalid endpoint, a bind failure (address in use), or the metrics
    /// address being unavailable.
    pub fn bind(config: BrokerConfig) -> Result<Self, BrokerError> {
        let now = Instant::now();
        // The policy first: a malformed file is a configuration error on
        // every build, CURVE or not.
        let policy = match &config.access_file {
            Some(path) => {
                if config.curve_secret_key_file.is_none() {
                    return Err(BrokerError::AccessWithoutCurve);
                }
                Some((path.clone(), access::load_policy(path)?))
            }
            None => None,
        };
        let curve = match &config.curve_secret_key_file {
            Some(path) => {
                let keys = read_key_pair(path)?;
                info!(public_key = %keys.public.to_z85(), "CURVE on: clients and workers need this server public key");
                Some(Curve::server(keys.secret))
            }
            None => None,
        };
        let ctx = zmq::Context::new();
        let options = SocketOptions {
            max_msg_size: Some(
                i64::try_from(config.max_payload_bytes.saturating_add(64 * 1024))
                    .unwrap_or(i64::MAX),
            ),
            curve,
            // Under a policy a connection must not take over another's
            // routing id (and with it, its replies or requests).
            router_handover: policy.is_none(),
            ..SocketOptions::default()
        };
        // The ZAP handler is bound before any CURVE socket can handshake.
        let access = match policy {
            Some((path, policy)) => Some(Access::bind(&ctx, path, policy, now)?),
            None => None,
        };
        let frontend = ctx.socket(zmq::ROUTER)?;
        options.apply(&frontend)?;
        let backend = ctx.socket(zmq::ROUTER)?;
        options.apply(&backend)?;
        let monitors = if options.curve.is_some() {
            frontend.set_zap_domain(Side::Frontend.label())?;
            backend.set_zap_domain(Side::Backend.label())?;
            Some(Monitors::start(&ctx, &frontend, &backend)?)
        } else {
            None
        };
        let frontend_endpoints = bind_all(&frontend, &config.frontend)?;
        let backend_endpoints = bind_all(&backend, &config.backend)?;

        let health = Health::new();
        let http = match config.metrics_addr {
            Some(addr) => {
                http::install_recorder();
                let server = http::start(addr, Arc::clone(&health))
                    .map_err(|source| BrokerError::Http { addr, source })?;
                Some(server)
            }
            None => None,
        };
        // Metric handles bind to the recorder installed above.
        let mut state = BrokerState::new(StateConfig::from(&config), Instant::now());
        if let Some(access) = &access {
            state.set_policy(now, Some(Arc::clone(access.policy())));
        }
        let exporter = Exporter::new();
        let metrics = http
            .as_ref()
            .map_or_else(|| "off".to_owned(), |h| h.local_addr().to_string());
        info!(
            frontend = %frontend_endpoints.join(","),
            backend = %backend_endpoints.join(","),
            metrics = %metrics,
            "broker bound"
        );
        Ok(Self {
            frontend,
            backend,
            frontend_endpoints,
            backend_endpoints,
            stop: StopToken::new(),
            config,
            state,
            exporter,
            released: 0,
            last_trim: None,
            health,
            http,
            access,
            monitors,
            auth: AuthCounts::default(),
            auth_log: Denials::default(),
            user: String::with_capacity(40),
            _ctx: ctx,
        })
    }

    /// The endpoints clients connect to, with wildcard ports resolved.
    pub fn frontend_endpoints(&self) -> &[String] {
        &self.frontend_endpoints
    }

    /// The endpoints workers connect to, with wildcard ports resolved.
    pub fn backend_endpoints(&self) -> &[String] {
        &self.backend_endpoints
    }

    /// Where `/metrics` and `/healthz` are served, when enabled.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(HttpServer::local_addr)
    }

    /// The token that stops the broker gracefully: a stop drains it (see
    /// [`BrokerConfig::drain_timeout`]) and then ends [`Self::run`].
    pub fn shutdown_handle(&self) -> StopToken {
        self.stop.clone()
    }

    /// Makes `stop` the broker's shutdown signal (see
    /// [`Self::shutdown_handle`]), e.g. a token shared with a signal listener
    /// or an agent's own. Default: a token of the broker's own.
    #[must_use]
    pub fn stop_on(mut self, stop: StopToken) -> Self {
        self.stop = stop;
        self
    }

    /// Re-reads the access file whenever a reload is requested on `reload`
    /// (the binary requests one on SIGHUP), within one turn of the loop.
    /// The file is also re-read, at most once a second, when it changes
    /// on disk. Without an access file there is nothing to reload. Default:
    /// a token of the broker's own.
    #[must_use]
    pub fn reload_on(mut self, reload: ReloadToken) -> Self {
        match &mut self.access {
            Some(access) => access.reload_on(reload),
            None => drop(reload),
        }
        self
    }

    /// Runs the broker on a new thread.
    ///
    /// # Errors
    /// When the thread cannot be spawned.
    pub fn spawn(self) -> std::io::Result<BrokerThread> {
        let stop = self.shutdown_handle();
        let frontend = self.frontend_endpoints.clone();
        let backend = self.backend_endpoints.clone();
        let metrics = self.metrics_addr();
        let join = std::thread::Builder::new()
            .name("reqrep-broker".into())
            .spawn(move || self.run())?;
        Ok(BrokerThread {
            stop,
            join: Some(join),
            frontend,
            backend,
            metrics,
        })
    }

    /// Runs the poll loop until [`Self::shutdown_handle`] is stopped and the
    /// drain ends. Returns the final counters.
    ///
    /// # Errors
    /// [`BrokerError::Socket`] when the stop socket cannot be set up;
    /// [`BrokerError::Poll`] when libzmq fails in a way the loop cannot
    /// recover from (the context was terminated).
    pub fn run(mut self) -> Result<Stats, BrokerError> {
        let stop_socket = StopSocket::new(&self._ctx, &self.stop)?;
        let mut drain_until: Option<Instant> = None;
        loop {
            self.health.beat();
            let now = Instant::now();
            if drain_until.is_none() && self.stop.is_stopped() {
                info!(
                    drain_timeout_ms = self.config.drain_timeout.as_millis() as u64,
                    "shutdown requested"
                );
                self.state.begin_drain(now);
                self.flush(now);
                drain_until = Some(now + self.config.drain_timeout);
            }
            if let Some(access) = &mut self.access
                && access.maybe_reload(now, &mut self.state)
            {
                self.exporter.export_reloads(access.reloads());
                self.flush(now);
            }
            if self.state.next_timeout().is_some_and(|t| t <= now) {
                self.state.on_tick(now);
                self.flush(now);
            }
            if let Some(until) = drain_until
                && (self.state.pending() == 0 || now >= until)
            {
                self.state.finish_drain(now);
                self.flush(now);
                // The last UNAVAILABLE replies and the workers' DISCONNECTs
                // are queued in libzmq: give them a bounded time to leave
                // before the sockets close (PROTOCOL.md section 6.9).
                let linger = ms_i32(SHUTDOWN_LINGER);
                for socket in [&self.frontend, &self.backend] {
                    if let Err(err) = socket.set_linger(linger) {
                        warn!(cause = %err, "cannot set the shutdown linger");
                    }
                }
                break;
            }

            let mut wake = now + MAX_POLL;
            if let Some(t) = self.state.next_timeout() {
                wake = wake.min(t);
            }
            if let Some(until) = drain_until {
                wake = wake.min(until);
            }
            let timeout = wake.saturating_duration_since(now);
            let timeout_ms =
                i64::try_from(timeout.as_nanos().div_ceil(1_000_000)).unwrap_or(i64::MAX);

            // The stop socket stays readable once stopped: it is polled
            // only until the drain begins.
            let stop_events = if drain_until.is_none() {
                zmq::POLLIN
            } else {
                zmq::PollEvents::empty()
            };
            let mut items = Vec::with_capacity(6);
            items.extend([
                self.backend.as_poll_item(zmq::POLLIN),
                self.frontend.as_poll_item(zmq::POLLIN),
                stop_socket.as_poll_item(stop_events),
            ]);
            // The ZAP handler: handshakes wait on its answers.
            if let Some(access) = &self.access {
                items.push(access.zap().as_poll_item(zmq::POLLIN));
            }
            if let Some(monitors) = &self.monitors {
                items.extend(monitors.sockets().map(|s| s.as_poll_item(zmq::POLLIN)));
            }
            match zmq::poll(&mut items, timeout_ms) {
                Ok(_) => {}
                Err(zmq::Error::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
            // A readable stop socket needs nothing here: the next turn
            // begins the drain.
            let readable: Vec<bool> = items.iter().map(zmq::PollItem::is_readable).collect();
            drop(items);
            let (backend_ready, frontend_ready) = (readable[0], readable[1]);
            let mut extra = readable[3..].iter().copied();
            let now = Instant::now();
            if let Some(access) = &self.access
                && extra.next() == Some(true)
            {
                access.serve_zap(now, &mut self.auth, &mut self.auth_log);
            }
            if let Some(monitors) = &self.monitors {
                for (index, ready) in extra.enumerate() {
                    if ready {
                        monitors.drain(index, now, &mut self.auth, &mut self.auth_log);
                    }
                }
            }
            self.exporter.export_auth(&self.auth);
            // Workers first: their replies free credits for queued requests.
            if backend_ready {
                self.pump(Side::Backend)?;
            }
            if frontend_ready {
                self.pump(Side::Frontend)?;
            }
            self.return_memory(Instant::now());
        }
        self.exporter.export(&mut self.state);
        let stats = self.state.stats();
        info!(?stats, "broker stopped");
        Ok(stats)
    }

    /// Once a burst is over and the state machine has shrunk its tables,
    /// asks the allocator to return free memory to the OS (see
    /// [`allocator::trim`]), at most once per [`TRIM_INTERVAL`].
    fn return_memory(&mut self, now: Instant) {
        self.released = self
            .released
            .saturating_add(self.state.take_released_memory());
        if self.released < TRIM_AFTER
            || self
                .last_trim
                .is_some_and(|t| now.saturating_duration_since(t) < TRIM_INTERVAL)
        {
            return;
        }
        let released = std::mem::take(&mut self.released);
        self.last_trim = Some(now);
        let returned = allocator::trim();
        debug!(
            released,
            returned,
            took_us = now.elapsed().as_micros() as u64,
            "free memory returned to the OS"
        );
    }

    /// Takes up to [`BATCH`] messages from one socket into the state machine.
    fn pump(&mut self, side: Side) -> Result<(), BrokerError> {
        for _ in 0..BATCH {
            let socket = match side {
                Side::Frontend => &self.frontend,
                Side::Backend => &self.backend,
            };
            let mut frames = match socket::recv_frames(socket, zmq::DONTWAIT) {
                Ok(frames) => frames,
                Err(zmq::Error::EAGAIN) => break,
                Err(zmq::Error::EINTR) => continue,
                Err(e) => return Err(e.into()),
            };
            let now = Instant::now();
            // Every frame the peer sent carries its connection's metadata;
            // the routing id frame the ROUTER adds does not once the socket
            // was polled (pinned by tests/zap_metadata.rs): read the last.
            let user = if self.access.is_some() {
                self.user.clear();
                match frames.last_mut().and_then(|f| f.gets("User-Id")) {
                    Some(id) => {
                        self.user.push_str(id);
                        Some(self.user.as_str())
                    }
                    None => None,
                }
            } else {
                None
            };
            match side {
                Side::Frontend => self.state.on_client_from(now, frames, user),
                Side::Backend => self.state.on_worker_from(now, frames, user),
            }
        }
        self.flush(Instant::now());
        Ok(())
    }

    /// Sends every pending action. A peer that cannot be reached is reported
    /// back to the state machine (with the undelivered message), which may
    /// queue further actions.
    fn flush(&mut self, now: Instant) {
        // Counts first: a client that has its reply sees them in /metrics.
        self.exporter.export(&mut self.state);
        while let Some(action) = self.state.poll_action() {
            match action {
                Action::ToClient { route, message } => {
                    if let Err(failed) = send_routed(&self.frontend, &route, message) {
                        let (e, _) = *failed;
                        if !matches!(e, zmq::Error::EHOSTUNREACH | zmq::Error::EAGAIN) {
                            warn!(cause = %e, "send to client failed");
                        }
                        self.state.on_client_unreachable(&route);
                    }
                }
                Action::ToWorker { worker, message } => {
                    if let Err(failed) = send_routed(&self.backend, &worker, message) {
                        let (e, message) = *failed;
                        if !matches!(e, zmq::Error::EHOSTUNREACH | zmq::Error::EAGAIN) {
                            warn!(cause = %e, "send to worker failed");
                        }
                        self.state
                            .on_worker_unreachable(now, &worker, Some(message));
                    }
                }
            }
        }
    }
}

/// Reads the broker's CURVE key pair from the key file at `path` (a key
/// pair, or a bare secret key: see [`CurveKeyPair::load`]).
fn read_key_pair(path: &Path) -> Result<CurveKeyPair, BrokerError> {
    let reason = match CurveKeyPair::load(path) {
        Ok(keys) => return Ok(keys),
        // Deriving the public key needs CURVE, as the sockets do.
        Err(KeyFileError::Curve { source, .. }) => return Err(source.into()),
        Err(KeyFileError::Read { source, .. }) => source.to_string(),
        Err(KeyFileError::Malformed { line, reason, .. }) => format!("line {line}: {reason}"),
        Err(KeyFileError::NoSecret { .. }) => "it holds no secret key".to_owned(),
        Err(other) => other.to_string(),
    };
    Err(BrokerError::CurveKey {
        path: path.to_owned(),
        reason,
    })
}

/// Sends `message` to `route` on a ROUTER without blocking. The routing
/// frames go first: with `ROUTER_MANDATORY`, an unknown or full peer fails
/// right there, before any of the message is taken, so the message is handed
/// back intact. Once the first frame is accepted, libzmq takes the whole
/// multipart message.
fn send_routed(
    socket: &zmq::Socket,
    route: &crate::state::Route,
    message: Outbound,
) -> Result<(), Box<(zmq::Error, Outbound)>> {
    let mut frames = route.frames();
    if let Some(first) = frames.next() {
        if let Err(e) = socket.send(first, zmq::SNDMORE | zmq::DONTWAIT) {
            return Err(Box::new((e, message)));
        }
        for frame in frames {
            // Routing frames after the first cannot fail on their own.
            let _ = socket.send(frame, zmq::SNDMORE | zmq::DONTWAIT);
        }
    }
    let _ = match message {
        Outbound::Message(message) => {
            socket::send_frames(socket, message.encode_body(), zmq::DONTWAIT)
        }
        Outbound::Encoded { header, payload } => {
            let more = if payload.is_empty() { 0 } else { zmq::SNDMORE };
            socket
                .send(header, zmq::DONTWAIT | more)
                .and_then(|()| socket::send_frames(socket, payload, zmq::DONTWAIT))
        }
    };
    Ok(())
}

fn bind_all(socket: &zmq::Socket, endpoints: &[String]) -> Result<Vec<String>, BrokerError> {
    endpoints
        .iter()
        .map(|text| {
            let endpoint = Endpoint::parse(text).map_err(SocketError::from)?;
            Ok(socket::bind(socket, &endpoint)?)
        })
        .collect()
}
