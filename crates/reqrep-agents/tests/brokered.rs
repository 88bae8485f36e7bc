//! Brokered clients and workers (blocking and async) through a real broker.

use std::collections::HashSet;
use std::thread;
use std::time::Duration;

use reqrep_agents::{
    AsyncClient, AsyncWorker, Client, ClientOptions, RequestError, StopToken, Worker,
    WorkerOptions, services,
};
use reqrep_broker::{Broker, BrokerConfig, BrokerThread};
use reqrep_core::{Code, Frame};

fn broker_on(frontend: &str, backend: &str) -> BrokerThread {
    let config = BrokerConfig {
        frontend: vec![frontend.into()],
        backend: vec![backend.into()],
        metrics_addr: None,
        ..BrokerConfig::default()
    };
    Broker::bind(config).expect("bind").spawn().expect("spawn")
}

fn broker() -> BrokerThread {
    broker_on("tcp://127.0.0.1:*", "tcp://127.0.0.1:*")
}

/// Waits (asking discovery, bounded) until `service` has `n` workers.
fn wait_for_workers(frontend: &str, service: &str, n: u32) {
    for _ in 0..500 {
        let list = services(frontend, Duration::from_secs(5)).expect("discovery");
        if list
            .services
            .iter()
            .any(|s| s.name == service && s.workers == n)
        {
            return;
        }
        thread::yield_now();
    }
    panic!("{service} never had {n} workers");
}

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
    let broker = broker();
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
    let broker = broker();
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
    let broker = broker();
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
    let first = broker();
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
    let second = broker_on(&frontend, &backend);
    wait_for_workers(&frontend, "echo", 1);
    let mut client =
        Client::connect(second.frontend(), "echo", ClientOptions::default()).expect("client");
    assert_eq!(client.request(b"back").expect("reply").body(), b"back");
    stop.stop();
    worker.join().expect("worker");
}

#[test]
fn async_client_with_a_thousand_concurrent_requests_matches_every_reply() {
    let broker = broker();
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
    let broker = broker();
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
