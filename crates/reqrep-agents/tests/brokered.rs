//! Brokered clients and workers (blocking and async) through a real broker.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use reqrep_agents::{
    AsyncClient, AsyncWorker, Client, ClientOptions, RequestError, StopToken, Worker,
    WorkerOptions, services,
};
use reqrep_broker::BrokerThread;
use reqrep_core::{Code, Frame};
use reqrep_tests::broker::broker;
use reqrep_tests::wait_for_workers;

fn echo_worker(backend: &str, options: WorkerOptions, stop: &StopToken) -> thread::JoinHandle<()> {
    let worker = Worker::new(backend, "echo", options).expect("worker");
    let stop = stop.clone();
    thread::spawn(move || {
        worker
            .run(|_, payload| Ok(payload), &stop)
            .expect("worker runs");
    })
}

#[test]
fn blocking_client_and_worker_through_the_broker() {
    let broker = broker(|_| {});
    let stop = StopToken::new();
    let worker = echo_worker(broker.backend(), WorkerOptions::default().credits(2), &stop);
    wait_for_workers(broker.frontend(), "echo", 1);
    let mut client =
        Client::connect(broker.frontend(), "echo", ClientOptions::default()).expect("client");
    for i in 0..50 {
        let reply = client.request(format!("m{i}").as_bytes()).expect("reply");
        assert_eq!(reply.body(), format!("m{i}").as_bytes());
    }
    let list = services(broker.frontend(), Duration::from_secs(5)).expect("discovery");
    assert_eq!(list.services[0].name, "echo");
    assert_eq!(list.services[0].free_credits, 2);
    stop.stop();
    worker.join().expect("worker");
}

#[test]
fn inline_worker_answers_on_its_socket_thread() {
    let broker = broker(|_| {});
    let stop = StopToken::new();
    let worker = echo_worker(
        broker.backend(),
        WorkerOptions::default().credits(4).inline(true),
        &stop,
    );
    wait_for_workers(broker.frontend(), "echo", 1);
    let mut client =
        Client::connect(broker.frontend(), "echo", ClientOptions::default()).expect("client");
    for i in 0..50 {
        let reply = client
            .request(format!("inline {i}").as_bytes())
            .expect("reply");
        assert_eq!(reply.body(), format!("inline {i}").as_bytes());
    }
    stop.stop();
    worker.join().expect("worker");
}

#[test]
fn handler_errors_and_missing_services_are_typed() {
    let broker = broker(|_| {});
    let stop = StopToken::new();
    let w = Worker::new(broker.backend(), "picky", WorkerOptions::default()).expect("worker");
    let s2 = stop.clone();
    let worker = thread::spawn(move || {
        w.run(
            |_, _| {
                Err(reqrep_core::Status::new(
                    Code::FailedPrecondition,
                    "not today",
                ))
            },
            &s2,
        )
        .expect("run");
    });
    wait_for_workers(broker.frontend(), "picky", 1);
    let mut client =
        Client::connect(broker.frontend(), "picky", ClientOptions::default()).expect("client");
    let err = client.request(b"x").expect_err("handler error");
    assert_eq!(err.code(), Code::FailedPrecondition);

    let options = ClientOptions::default()
        .fail_fast(true)
        .retry(reqrep_core::RetryPolicy::never());
    let mut nobody = Client::connect(broker.frontend(), "nobody", options).expect("client");
    match nobody.request(b"x") {
        Err(RequestError::Status(s)) => assert_eq!(s.code, Code::Unavailable),
        other => panic!("{other:?}"),
    }
    stop.stop();
    worker.join().expect("worker");
}

#[test]
fn worker_reconnects_and_registers_again_after_the_broker_is_lost() {
    let first = broker(|_| {});
    let (frontend, backend) = (first.frontend().to_owned(), first.backend().to_owned());
    let stop = StopToken::new();
    let options = WorkerOptions::default()
        .heartbeat(Duration::from_millis(100))
        .reconnect(
            reqrep_core::RetryPolicy::default()
                .initial_backoff(Duration::from_millis(50))
                .max_backoff(Duration::from_millis(200)),
        );
    let worker = echo_worker(&backend, options, &stop);
    wait_for_workers(&frontend, "echo", 1);
    first.stop().expect("first broker stops");

    // A new broker on the same endpoints: the worker finds it by itself.
    let second = broker(|c| {
        c.frontend = vec![frontend.clone()];
        c.backend = vec![backend.clone()];
    });
    wait_for_workers(&frontend, "echo", 1);
    let mut client =
        Client::connect(second.frontend(), "echo", ClientOptions::default()).expect("client");
    assert_eq!(client.request(b"back").expect("reply").body(), b"back");
    stop.stop();
    worker.join().expect("worker");
}

#[test]
fn async_client_with_a_thousand_concurrent_requests_matches_every_reply() {
    let broker = broker(|_| {});
    let stop = StopToken::new();
    let workers: Vec<_> = (0..2)
        .map(|_| {
            echo_worker(
                broker.backend(),
                WorkerOptions::default().credits(16),
                &stop,
            )
        })
        .collect();
    wait_for_workers(broker.frontend(), "echo", 2);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let client = AsyncClient::connect(
        broker.frontend(),
        "echo",
        ClientOptions::default().timeout(Duration::from_secs(20)),
    )
    .expect("client");
    let results = runtime.block_on(async {
        let tasks: Vec<_> = (0..1000)
            .map(|i| {
                let client = client.clone();
                tokio::spawn(async move {
                    let body = format!("request-{i}").into_bytes();
                    let reply = client.request(body.clone()).await.expect("reply");
                    assert_eq!(
                        reply.body(),
                        body.as_slice(),
                        "reply matched to its own request"
                    );
                    i
                })
            })
            .collect();
        let mut done = HashSet::new();
        for task in tasks {
            done.insert(
                tokio::time::timeout(Duration::from_secs(60), task)
                    .await
                    .expect("in time")
                    .expect("task"),
            );
        }
        done
    });
    assert_eq!(results.len(), 1000);
    assert_eq!(client.stale_replies(), 0);
    stop.stop();
    for w in workers {
        w.join().expect("worker");
    }
}

#[test]
fn async_worker_runs_handlers_concurrently() {
    let broker = broker(|_| {});
    let stop = StopToken::new();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let worker = AsyncWorker::new(
        broker.backend(),
        "slow",
        WorkerOptions::default().credits(8),
    )
    .expect("worker");
    let worker_stop = stop.clone();
    let handle = runtime.spawn(worker.run(
        |_, payload: Vec<Frame>| async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok(payload)
        },
        worker_stop,
    ));
    wait_for_workers(broker.frontend(), "slow", 1);
    let client = AsyncClient::connect(
        broker.frontend(),
        "slow",
        ClientOptions::default().timeout(Duration::from_secs(10)),
    )
    .expect("client");
    let started = std::time::Instant::now();
    runtime.block_on(async {
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let c = client.clone();
                tokio::spawn(async move { c.request(vec![i]).await.expect("reply") })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
    });
    // Eight 300 ms handlers at once take far less than 8 x 300 ms.
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    stop.stop();
    runtime
        .block_on(handle)
        .expect("join")
        .expect("worker result");
}

/// A broker with `workers` echo workers (16 credits each) registered.
fn echo_service(workers: usize) -> (BrokerThread, StopToken, Vec<thread::JoinHandle<()>>) {
    let broker = broker(|_| {});
    let stop = StopToken::new();
    let handles = (0..workers)
        .map(|_| {
            echo_worker(
                broker.backend(),
                WorkerOptions::default().credits(16),
                &stop,
            )
        })
        .collect();
    wait_for_workers(
        broker.frontend(),
        "echo",
        u32::try_from(workers).expect("few"),
    );
    (broker, stop, handles)
}

fn stop_workers(stop: &StopToken, workers: Vec<thread::JoinHandle<()>>) {
    stop.stop();
    for w in workers {
        w.join().expect("worker");
    }
}

/// `clones` clones of `client` with `per_clone` requests each, all in flight
/// at once as tasks; every reply must echo its own request's payload.
/// Returns how many came back, within a minute at most.
async fn echo_concurrently(client: &AsyncClient, clones: usize, per_clone: usize) -> usize {
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clones {
        let clone = client.clone();
        for i in 0..per_clone {
            let client = clone.clone();
            tasks.spawn(async move {
                let body = format!("clone {c} request {i}").into_bytes();
                let reply = client.request(body.clone()).await.expect("reply");
                assert_eq!(
                    reply.body(),
                    body.as_slice(),
                    "reply matched to its request"
                );
                (c, i)
            });
        }
    }
    let done = tokio::time::timeout(Duration::from_secs(60), async {
        let mut done = HashSet::new();
        while let Some(task) = tasks.join_next().await {
            assert!(
                done.insert(task.expect("task")),
                "each request answered once"
            );
        }
        done
    })
    .await
    .expect("all replies in time");
    done.len()
}

fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn multi_thread_runtime(threads: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Waits (yielding, bounded) until `runtime` runs no task: the client's I/O
/// task has ended.
async fn until_no_task_is_alive(runtime: &tokio::runtime::Handle) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while runtime.metrics().num_alive_tasks() > 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the I/O task ended");
}

/// What a [`SilentPeer`] saw.
#[derive(Debug, PartialEq, Eq)]
enum PeerEvent {
    Request,
    Disconnected,
}

/// A ROUTER that takes requests and never answers, on its own thread; it
/// reports each request, then the client's disconnection (its socket closed).
struct SilentPeer {
    endpoint: String,
    events: tokio::sync::mpsc::UnboundedReceiver<PeerEvent>,
    thread: thread::JoinHandle<()>,
}

impl SilentPeer {
    fn start(requests: usize) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let ctx = zmq::Context::new();
        let router = ctx.socket(zmq::ROUTER).expect("router");
        router.set_linger(0).expect("linger");
        let monitor_endpoint = format!(
            "inproc://silent-peer-monitor-{}",
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        router
            .monitor(&monitor_endpoint, zmq::SocketEvent::DISCONNECTED as i32)
            .expect("monitor");
        let monitor = ctx.socket(zmq::PAIR).expect("pair");
        monitor.connect(&monitor_endpoint).expect("monitor connect");
        router.bind("tcp://127.0.0.1:*").expect("bind");
        let endpoint = router
            .get_last_endpoint()
            .expect("endpoint")
            .expect("utf-8");
        let (tx, events) = tokio::sync::mpsc::unbounded_channel();
        let thread = thread::spawn(move || {
            for _ in 0..requests {
                assert!(
                    router.poll(zmq::POLLIN, 10_000).expect("poll") > 0,
                    "request in time"
                );
                router.recv_multipart(0).expect("request");
                let _ = tx.send(PeerEvent::Request);
            }
            assert!(
                monitor.poll(zmq::POLLIN, 20_000).expect("poll") > 0,
                "disconnect in time"
            );
            let event = monitor.recv_multipart(0).expect("event");
            let id = u16::from_le_bytes([event[0][0], event[0][1]]);
            assert_eq!(id, zmq::SocketEvent::DISCONNECTED as u16);
            let _ = tx.send(PeerEvent::Disconnected);
            drop((router, monitor, ctx));
        });
        Self {
            endpoint,
            events,
            thread,
        }
    }

    async fn next(&mut self) -> PeerEvent {
        tokio::time::timeout(Duration::from_secs(30), self.events.recv())
            .await
            .expect("peer event in time")
            .expect("peer thread alive")
    }

    async fn requests(&mut self, n: usize) {
        for _ in 0..n {
            assert_eq!(self.next().await, PeerEvent::Request);
        }
    }

    fn join(self) {
        self.thread.join().expect("silent peer");
    }
}

fn silent_options(timeout: Duration) -> ClientOptions {
    ClientOptions::default()
        .timeout(timeout)
        .retry(reqrep_core::RetryPolicy::never())
}

#[test]
fn async_client_connected_outside_a_runtime_serves_runtimes_built_later() {
    let (broker, stop, workers) = echo_service(2);
    // No runtime here: the client runs its I/O on a thread of its own.
    let client =
        AsyncClient::connect(broker.frontend(), "echo", ClientOptions::default()).expect("client");

    let first = current_thread_runtime();
    first.block_on(async {
        for i in 0..20 {
            let body = format!("one by one {i}").into_bytes();
            let reply = tokio::time::timeout(Duration::from_secs(10), client.request(body.clone()))
                .await
                .expect("in time")
                .expect("reply");
            assert_eq!(reply.body(), body.as_slice());
        }
        assert_eq!(echo_concurrently(&client, 4, 32).await, 128);
    });
    drop(first);

    // The client outlives the runtime it was used from.
    let second = multi_thread_runtime(2);
    assert_eq!(second.block_on(echo_concurrently(&client, 4, 64)), 256);
    assert_eq!(client.stale_replies(), 0);
    drop(client);
    stop_workers(&stop, workers);
}

#[test]
fn async_client_clones_on_a_multi_thread_runtime_each_get_their_own_reply() {
    let (broker, stop, workers) = echo_service(4);
    let runtime = multi_thread_runtime(4);
    let frontend = broker.frontend().to_owned();
    let (done, stale) = runtime.block_on(async move {
        // Connected inside the runtime: the I/O task runs on its workers.
        let client = AsyncClient::connect(
            &frontend,
            "echo",
            ClientOptions::default().timeout(Duration::from_secs(20)),
        )
        .expect("client");
        let done = echo_concurrently(&client, 8, 250).await;
        (done, client.stale_replies())
    });
    assert_eq!(done, 2000);
    assert_eq!(stale, 0);
    stop_workers(&stop, workers);
}

#[test]
fn async_client_inside_a_current_thread_runtime_runs_its_io_task_there() {
    let (broker, stop, workers) = echo_service(4);
    let runtime = current_thread_runtime();
    let client = runtime.block_on(async {
        AsyncClient::connect(broker.frontend(), "echo", ClientOptions::default()).expect("client")
    });
    assert_eq!(runtime.metrics().num_alive_tasks(), 1, "the I/O task");
    // 128 in flight, as the pipelined benchmark has them.
    let done = runtime.block_on(echo_concurrently(&client, 1, 128));
    assert_eq!(done, 128);
    assert_eq!(runtime.block_on(echo_concurrently(&client, 4, 256)), 1024);
    assert_eq!(client.stale_replies(), 0);
    drop(client);
    runtime.block_on(until_no_task_is_alive(runtime.handle()));
    stop_workers(&stop, workers);
}

#[test]
fn dropping_every_async_client_handle_ends_its_io_task_with_requests_pending() {
    let mut peer = SilentPeer::start(8);
    let runtime = current_thread_runtime();
    runtime.block_on(async {
        let client = AsyncClient::connect(
            &peer.endpoint,
            "",
            silent_options(Duration::from_millis(500)),
        )
        .expect("client");
        let request = |client: &AsyncClient| {
            let client = client.clone();
            tokio::spawn(async move { client.request(b"never answered".to_vec()).await })
        };
        let timing_out: Vec<_> = (0..4).map(|_| request(&client)).collect();
        let abandoned: Vec<_> = (0..4).map(|_| request(&client)).collect();
        peer.requests(8).await;
        // Four callers give up (their requests stay pending in the task),
        // the last handles go with the four that time out.
        for task in &abandoned {
            task.abort();
        }
        drop(client);
        for task in timing_out {
            let outcome = tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("in time")
                .expect("task");
            assert!(
                matches!(outcome, Err(RequestError::Timeout { attempts: 1, .. })),
                "{outcome:?}"
            );
        }
        until_no_task_is_alive(&tokio::runtime::Handle::current()).await;
        assert_eq!(peer.next().await, PeerEvent::Disconnected, "socket closed");
    });
    peer.join();
}

#[test]
fn async_client_thread_ends_when_every_handle_is_dropped() {
    let mut peer = SilentPeer::start(2);
    // Outside a runtime: the dedicated I/O thread.
    let client = AsyncClient::connect(
        &peer.endpoint,
        "",
        silent_options(Duration::from_millis(300)),
    )
    .expect("client");
    let runtime = current_thread_runtime();
    runtime.block_on(async {
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let client = client.clone();
                tokio::spawn(async move { client.request(b"x".to_vec()).await })
            })
            .collect();
        drop(client);
        peer.requests(2).await;
        for task in tasks {
            let outcome = tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("in time")
                .expect("task");
            assert!(
                matches!(outcome, Err(RequestError::Timeout { .. })),
                "{outcome:?}"
            );
        }
        assert_eq!(peer.next().await, PeerEvent::Disconnected, "socket closed");
    });
    peer.join();
}

#[test]
fn async_client_requests_fail_closed_when_their_io_runtime_shuts_down() {
    let mut peer = SilentPeer::start(4);
    let io_runtime = multi_thread_runtime(1);
    let client = io_runtime.block_on(async {
        AsyncClient::connect(&peer.endpoint, "", silent_options(Duration::from_secs(60)))
            .expect("client")
    });
    let callers = current_thread_runtime();
    callers.block_on(async {
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let client = client.clone();
                tokio::spawn(async move { client.request(b"x".to_vec()).await })
            })
            .collect();
        peer.requests(4).await;
        io_runtime.shutdown_background();
        // Long before their 60 s timeout.
        for task in tasks {
            let outcome = tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("in time")
                .expect("task");
            assert!(matches!(outcome, Err(RequestError::Closed)), "{outcome:?}");
        }
        let later = tokio::time::timeout(Duration::from_secs(10), client.request(b"y".to_vec()))
            .await
            .expect("in time");
        assert!(matches!(later, Err(RequestError::Closed)), "{later:?}");
        assert_eq!(peer.next().await, PeerEvent::Disconnected, "socket closed");
    });
    peer.join();
}
