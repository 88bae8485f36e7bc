//! Shared helpers for reqrep's end-to-end tests (one test file per concern
//! under `tests/tests/`): sockets with receive timeouts, a blocking DEALER
//! client, a protocol-complete test worker, and child-process management.
//!
//! Every socket made here has a receive timeout, so a test that would
//! otherwise hang fails instead.

pub mod client;
pub mod process;
pub mod worker;

use std::time::Duration;

use reqrep_core::socket::{self, Endpoint, SocketOptions};

pub use client::Client;
pub use worker::{WorkerOptions, run_worker};

/// The longest any single receive in a test may block.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(10);

/// A socket of `kind` with reqrep's options and a receive timeout.
///
/// # Panics
/// When libzmq refuses the socket or an option: a broken test environment.
pub fn socket(ctx: &zmq::Context, kind: zmq::SocketType) -> zmq::Socket {
    let s = ctx.socket(kind).expect("create socket");
    SocketOptions::default().apply(&s).expect("socket options");
    s.set_rcvtimeo(ms(RECV_TIMEOUT)).expect("rcvtimeo");
    s
}

/// Binds `s` to an ephemeral loopback TCP port and returns the endpoint.
///
/// # Panics
/// When binding fails.
pub fn bind_ephemeral(s: &zmq::Socket) -> Endpoint {
    let any = Endpoint::parse("tcp://127.0.0.1:*").expect("endpoint");
    let bound = socket::bind(s, &any).expect("bind");
    Endpoint::parse(&bound).expect("bound endpoint")
}

/// Whole milliseconds as libzmq's `i32`.
pub fn ms(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

/// Broker and worker helpers for in-process end-to-end tests.
pub mod harness {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc::{self, Receiver};
    use std::thread::JoinHandle;
    use std::time::{Duration, Instant};

    use prost::Message as _;
    use reqrep_broker::{Broker, BrokerConfig, BrokerThread};
    use reqrep_core::{CorrelationId, Request, pb};

    use crate::Client;
    use crate::worker::{WorkerEvent, WorkerOptions, run_worker};

    /// A broker on ephemeral loopback ports, metrics off, with `tweak` applied.
    ///
    /// # Panics
    /// When it cannot bind.
    pub fn broker(tweak: impl FnOnce(&mut BrokerConfig)) -> BrokerThread {
        let mut config = BrokerConfig {
            frontend: vec!["tcp://127.0.0.1:*".into()],
            backend: vec!["tcp://127.0.0.1:*".into()],
            metrics_addr: None,
            ..BrokerConfig::default()
        };
        tweak(&mut config);
        Broker::bind(config)
            .expect("bind broker")
            .spawn()
            .expect("spawn broker")
    }

    /// A worker running on its own thread until dropped.
    pub struct WorkerThread {
        stop: Arc<AtomicBool>,
        join: Option<JoinHandle<()>>,
    }

    impl WorkerThread {
        /// Starts a worker connected to `backend`.
        pub fn start(ctx: &zmq::Context, backend: &str, options: WorkerOptions) -> Self {
            Self::start_with_events(ctx, backend, options).0
        }

        /// Starts a worker and returns what it reports as it runs.
        pub fn start_with_events(
            ctx: &zmq::Context,
            backend: &str,
            options: WorkerOptions,
        ) -> (Self, Receiver<WorkerEvent>) {
            let stop = Arc::new(AtomicBool::new(false));
            let (tx, rx) = mpsc::channel();
            let (ctx, backend, flag) = (ctx.clone(), backend.to_owned(), Arc::clone(&stop));
            let join = std::thread::spawn(move || {
                run_worker(&ctx, &backend, &options, &flag, |event| {
                    let _ = tx.send(event);
                });
            });
            (
                Self {
                    stop,
                    join: Some(join),
                },
                rx,
            )
        }
    }

    impl Drop for WorkerThread {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::Relaxed);
            if let Some(join) = self.join.take() {
                let _ = join.join();
            }
        }
    }

    /// Asks the broker's discovery service about `service`.
    ///
    /// # Panics
    /// When no reply arrives.
    pub fn service_info(client: &Client, service: &str) -> Option<pb::ServiceInfo> {
        let request = Request::new(CorrelationId::new(), reqrep_core::DISCOVERY_SERVICE);
        let (reply, body) = client.call(request, service.as_bytes());
        if !reply.status.is_ok() {
            return None;
        }
        pb::ServiceList::decode(&body[0][..])
            .ok()?
            .services
            .into_iter()
            .next()
    }

    /// Waits (by asking discovery, never by sleeping blindly) until
    /// `service` has `workers` registered.
    ///
    /// # Panics
    /// When that does not happen within 10 s.
    pub fn wait_for_workers(client: &Client, service: &str, workers: u32) {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let got = service_info(client, service).map_or(0, |s| s.workers);
            if got == workers {
                return;
            }
            assert!(
                Instant::now() < until,
                "{service}: {got} workers, wanted {workers}"
            );
            std::thread::yield_now();
        }
    }
}
