//! Observability over HTTP: `GET /metrics` (Prometheus text format) and
//! `GET /healthz` (whether the broker loop is still turning).
//!
//! The server runs on its own thread with a single-threaded tokio runtime,
//! apart from the broker's poll loop; the only things the two share are the
//! global metrics recorder and a [`Health`] the loop [beats](Health::beat)
//! on every iteration.
//!
//! ```no_run
//! use std::sync::Arc;
//! use reqrep_broker::http::{self, Health};
//!
//! let health = Health::new();
//! http::install_recorder();
//! let server = http::start("127.0.0.1:0".parse().unwrap(), Arc::clone(&health)).unwrap();
//! println!("metrics on http://{}/metrics", server.local_addr());
//! health.beat(); // from the broker loop, every iteration
//! server.shutdown();
//! ```

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::sync::oneshot;
use tracing::{error, warn};

pub use crate::health::Health;
use crate::stats;

/// How long the broker loop may go without a beat before `/healthz` fails.
pub const LIVENESS_WINDOW: Duration = Duration::from_secs(5);

/// Upper bounds (seconds) of the request latency histogram's buckets.
const DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// How often histogram samples are folded into their buckets.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// After shutdown is asked for, how long open connections may take to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// Installs the global Prometheus recorder (once per process) and returns
/// a handle that renders what it holds.
///
/// Calling it again returns the same handle, so several brokers in one
/// process (as in tests) share one recorder. `reqrep_broker_request_duration_seconds`
/// is a histogram with buckets from 0.5 ms to 30 s; every broker metric is
/// described (`# HELP`). If another recorder was installed first, a warning
/// is logged and the handle renders nothing.
pub fn install_recorder() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new();
            let builder = match builder.set_buckets_for_metric(
                Matcher::Full(stats::REQUEST_DURATION_SECONDS.to_owned()),
                DURATION_BUCKETS,
            ) {
                Ok(builder) => builder,
                Err(e) => {
                    warn!(cause = %e, "latency histogram buckets rejected; using summaries");
                    PrometheusBuilder::new()
                }
            };
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => describe_metrics(),
                Err(e) => {
                    warn!(cause = %e, "another metrics recorder is installed; /metrics stays empty")
                }
            }
            handle
        })
        .clone()
}

/// `# HELP` lines for every broker metric.
fn describe_metrics() {
    describe_counter!(
        stats::REQUESTS_TOTAL,
        "Requests answered, by service and outcome (lower-case status code)."
    );
    describe_histogram!(
        stats::REQUEST_DURATION_SECONDS,
        Unit::Seconds,
        "Time from a request's receipt to its reply, by service."
    );
    describe_gauge!(stats::QUEUE_DEPTH, "Requests waiting in a service's queue.");
    describe_gauge!(stats::WORKERS, "Workers registered for a service.");
    describe_counter!(
        stats::MALFORMED_TOTAL,
        "Malformed messages dropped, by side (client or worker)."
    );
    describe_counter!(
        stats::WORKER_EXPIRED_TOTAL,
        "Workers removed after missing heartbeats."
    );
    describe_counter!(
        stats::STALE_REPLIES_TOTAL,
        "Worker replies dropped: unknown, already answered or from the wrong worker."
    );
    describe_counter!(
        stats::DUPLICATES_TOTAL,
        "Requests absorbed because the same correlation id was in flight."
    );
    describe_counter!(
        stats::REDISPATCHED_TOTAL,
        "Idempotent requests re-dispatched after their worker was lost."
    );
    describe_counter!(
        stats::REPLY_CACHE_HITS_TOTAL,
        "Retries answered from the reply cache."
    );
    describe_counter!(
        stats::UNROUTABLE_TOTAL,
        "Sends that failed because the peer was gone or full, by side."
    );
}

/// The running `/metrics` and `/healthz` server. Stops on
/// [`shutdown`](Self::shutdown) or when dropped.
#[derive(Debug)]
pub struct HttpServer {
    /// The bound address (the real port when 0 was asked for).
    local_addr: SocketAddr,
    /// Tells the server to stop; `None` once sent.
    stop: Option<oneshot::Sender<()>>,
    /// The server thread; `None` once joined.
    thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting connections, lets open ones finish (for at most one
    /// second) and waits for the server thread to end.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            error!("metrics HTTP server thread panicked");
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// What the request handlers share.
#[derive(Clone)]
struct AppState {
    /// Renders the metrics.
    metrics: PrometheusHandle,
    /// The broker loop's beat.
    health: Arc<Health>,
}

/// Binds `addr` and serves `GET /metrics` and `GET /healthz` on a thread of
/// its own. Installs the metrics recorder if that has not happened yet.
///
/// `/healthz` answers 200 `ok` while `health` has beaten within
/// [`LIVENESS_WINDOW`], else 503. Other paths answer 404.
///
/// # Errors
/// Binding failed (address in use, permission denied), or the runtime or
/// thread could not be created. The address is bound before this returns,
/// so a bind error is never deferred.
pub fn start(addr: SocketAddr, health: Arc<Health>) -> Result<HttpServer, std::io::Error> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let local_addr = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let state = AppState {
        metrics: install_recorder(),
        health,
    };
    let (stop, stopped) = oneshot::channel();
    let thread = std::thread::Builder::new()
        .name("reqrep-http".into())
        .spawn(move || runtime.block_on(serve(listener, state, stopped)))?;
    Ok(HttpServer {
        local_addr,
        stop: Some(stop),
        thread: Some(thread),
    })
}

/// Serves until `stopped` fires (or its sender is dropped), then gives open
/// connections [`SHUTDOWN_GRACE`] to finish.
async fn serve(listener: std::net::TcpListener, state: AppState, stopped: oneshot::Receiver<()>) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => {
            error!(cause = %e, "metrics HTTP server cannot use its socket");
            return;
        }
    };
    let upkeep = state.metrics.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(UPKEEP_INTERVAL);
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });

    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .with_state(state);
    let (draining, drain_started) = oneshot::channel::<()>();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = stopped.await;
        let _ = draining.send(());
    });
    let server = std::future::IntoFuture::into_future(server);
    tokio::pin!(server);
    let result = tokio::select! {
        result = &mut server => result,
        _ = drain_started => match tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await {
            Ok(result) => result,
            Err(_) => {
                warn!("metrics HTTP connections still open after shutdown; closing them");
                Ok(())
            }
        },
    };
    if let Err(e) = result {
        error!(cause = %e, "metrics HTTP server failed");
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

async fn healthz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.health.is_live(LIVENESS_WINDOW) {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "broker loop stalled")
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Instant;

    use super::*;

    const IO_TIMEOUT: Duration = Duration::from_secs(10);

    /// One `GET` over a fresh connection: (status, headers and body).
    fn get(addr: SocketAddr, path: &str) -> (u16, String) {
        let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap();
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, response)
    }

    fn loopback() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 0))
    }

    #[test]
    fn recorder_installs_once() {
        let a = install_recorder();
        let b = install_recorder();
        metrics::counter!("reqrep_broker_test_install_once_total").increment(1);
        assert!(
            a.render()
                .contains("reqrep_broker_test_install_once_total 1")
        );
        assert!(
            b.render()
                .contains("reqrep_broker_test_install_once_total 1")
        );
    }

    #[test]
    fn metrics_endpoint_serves_prometheus_text() {
        install_recorder();
        let server = start(loopback(), Health::new()).unwrap();
        metrics::counter!("reqrep_broker_test_http_total", "service" => "echo").increment(3);
        metrics::histogram!(stats::REQUEST_DURATION_SECONDS, "service" => "echo").record(0.002);
        let (status, body) = get(server.local_addr(), "/metrics");
        assert_eq!(status, 200, "{body}");
        assert!(
            body.contains("content-type: text/plain; version=0.0.4"),
            "{body}"
        );
        assert!(
            body.contains("reqrep_broker_test_http_total{service=\"echo\"} 3"),
            "{body}"
        );
        assert!(
            body.contains(
                "reqrep_broker_request_duration_seconds_bucket{service=\"echo\",le=\"0.0025\"}"
            ),
            "{body}"
        );
        assert!(
            body.contains("# HELP reqrep_broker_request_duration_seconds "),
            "{body}"
        );
        server.shutdown();
    }

    #[test]
    fn healthz_follows_the_beat() {
        let health = Health::new();
        let server = start(loopback(), Arc::clone(&health)).unwrap();
        let (status, body) = get(server.local_addr(), "/healthz");
        assert_eq!(status, 503, "no beat yet: {body}");
        health.beat();
        let (status, body) = get(server.local_addr(), "/healthz");
        assert_eq!(status, 200, "{body}");
        assert!(body.ends_with("\r\n\r\nok"), "{body}");
    }

    #[test]
    fn unknown_path_is_not_found() {
        let server = start(loopback(), Health::new()).unwrap();
        let (status, body) = get(server.local_addr(), "/nothing-here");
        assert_eq!(status, 404, "{body}");
    }

    #[test]
    fn bind_errors_reach_the_caller() {
        let taken = std::net::TcpListener::bind(loopback()).unwrap();
        let err = start(taken.local_addr().unwrap(), Health::new()).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    }

    #[test]
    fn shutdown_and_drop_release_the_port() {
        let server = start(loopback(), Health::new()).unwrap();
        let addr = server.local_addr();
        assert_ne!(addr.port(), 0);
        server.shutdown();
        assert!(TcpStream::connect_timeout(&addr, IO_TIMEOUT).is_err());
        // The port is free again.
        let server = start(addr, Health::new()).unwrap();
        drop(server);
        std::net::TcpListener::bind(addr).unwrap();
    }

    #[test]
    fn shutdown_is_bounded_with_a_connection_left_open() {
        let server = start(loopback(), Health::new()).unwrap();
        // A client that sends half a request and then waits.
        let mut idle = TcpStream::connect_timeout(&server.local_addr(), IO_TIMEOUT).unwrap();
        idle.write_all(b"GET /metrics HTTP/1.1\r\n").unwrap();
        let (status, _) = get(server.local_addr(), "/healthz");
        assert_eq!(status, 503);
        let started = Instant::now();
        server.shutdown();
        assert!(started.elapsed() < SHUTDOWN_GRACE + Duration::from_secs(5));
    }
}
