//! Load balancing through a real broker over TCP.

use std::collections::HashMap;
use std::time::Duration;

use reqrep_core::{CorrelationId, Request};
use reqrep_tests::broker::{EPHEMERAL, broker};
use reqrep_tests::{Client, WorkerOptions, WorkerThread, wait_for_workers};

#[test]
fn four_workers_with_equal_slow_work_share_the_load_evenly() {
    let ctx = zmq::Context::new();
    let broker = broker(|_| {});
    let options = WorkerOptions {
        delay: Duration::from_millis(5),
        ..WorkerOptions::default()
    };
    let _workers = WorkerThread::start_many(&ctx, broker.backend(), 4, &options);
    let client = Client::connect(&ctx, broker.frontend());
    wait_for_workers(broker.frontend(), "echo", 4);

    // Keep 8 requests in flight over 400 requests.
    let total: u32 = 400;
    let mut sent = 0;
    let mut counts: HashMap<String, u32> = HashMap::new();
    while sent < 8 {
        client.send(
            Request::new(CorrelationId::new(), "echo").timeout(Duration::from_secs(10)),
            b"x",
        );
        sent += 1;
    }
    for _ in 0..total {
        let (reply, body) = client.recv().expect("reply");
        assert!(reply.status.is_ok(), "{:?}", reply.status);
        assert_eq!(body[1], b"x");
        *counts
            .entry(String::from_utf8_lossy(&body[0]).into_owned())
            .or_default() += 1;
        if sent < total {
            client.send(
                Request::new(CorrelationId::new(), "echo").timeout(Duration::from_secs(10)),
                b"x",
            );
            sent += 1;
        }
    }
    let mean = f64::from(total) / 4.0;
    assert_eq!(counts.len(), 4, "{counts:?}");
    for (worker, n) in &counts {
        let off = (f64::from(*n) - mean).abs() / mean;
        assert!(off <= 0.20, "{worker} got {n}, mean {mean}: {counts:?}");
    }
    let stats = broker.stop().expect("stop");
    assert_eq!(stats.replies, u64::from(total));
}

#[test]
fn services_are_isolated() {
    let ctx = zmq::Context::new();
    let broker = broker(|_| {});
    let _a = WorkerThread::start(
        &ctx,
        broker.backend(),
        WorkerOptions {
            service: "a".into(),
            name: "A".into(),
            ..WorkerOptions::default()
        },
    );
    let _b = WorkerThread::start(
        &ctx,
        broker.backend(),
        WorkerOptions {
            service: "b".into(),
            name: "B".into(),
            ..WorkerOptions::default()
        },
    );
    let client = Client::connect(&ctx, broker.frontend());
    for _ in 0..10 {
        let (_, body) = client.call(
            Request::new(CorrelationId::new(), "a").timeout(Duration::from_secs(5)),
            b"1",
        );
        assert_eq!(body[0], b"A");
        let (_, body) = client.call(
            Request::new(CorrelationId::new(), "b").timeout(Duration::from_secs(5)),
            b"2",
        );
        assert_eq!(body[0], b"B");
    }
}

#[test]
fn many_clients_reusing_the_same_correlation_id_get_their_own_replies() {
    let ctx = zmq::Context::new();
    let broker = broker(|_| {});
    let _w = WorkerThread::start(
        &ctx,
        broker.backend(),
        WorkerOptions {
            credits: 8,
            delay: Duration::from_millis(20),
            ..WorkerOptions::default()
        },
    );
    let clients: Vec<Client> = (0..5)
        .map(|_| Client::connect(&ctx, broker.frontend()))
        .collect();
    let id = CorrelationId::new();
    for (i, c) in clients.iter().enumerate() {
        c.send(
            Request::new(id, "echo").timeout(Duration::from_secs(5)),
            format!("client-{i}").as_bytes(),
        );
    }
    for (i, c) in clients.iter().enumerate() {
        let (reply, body) = c.recv().expect("reply");
        assert_eq!(reply.id, id);
        assert_eq!(body[1], format!("client-{i}").as_bytes());
    }
}

#[test]
fn each_side_can_bind_several_endpoints() {
    let ctx = zmq::Context::new();
    let ipc = std::env::temp_dir().join(format!("reqrep-e2e-{}.sock", std::process::id()));
    let ipc = format!("ipc://{}", ipc.display());
    let broker = reqrep_broker::Broker::bind(reqrep_broker::BrokerConfig {
        frontend: vec![EPHEMERAL.into(), ipc.clone()],
        backend: vec![EPHEMERAL.into(), EPHEMERAL.into()],
        metrics_addr: None,
        ..reqrep_broker::BrokerConfig::default()
    })
    .expect("bind");
    let frontends = broker.frontend_endpoints().to_vec();
    let backends = broker.backend_endpoints().to_vec();
    assert_eq!((frontends.len(), backends.len()), (2, 2));
    assert_eq!(frontends[1], ipc);
    let broker = broker.spawn().expect("spawn");
    let _w1 = WorkerThread::start(
        &ctx,
        &backends[0],
        WorkerOptions {
            name: "w1".into(),
            ..WorkerOptions::default()
        },
    );
    let _w2 = WorkerThread::start(
        &ctx,
        &backends[1],
        WorkerOptions {
            name: "w2".into(),
            ..WorkerOptions::default()
        },
    );
    let over_tcp = Client::connect(&ctx, &frontends[0]);
    let over_ipc = Client::connect(&ctx, &frontends[1]);
    wait_for_workers(&frontends[0], "echo", 2);
    for client in [&over_tcp, &over_ipc] {
        let (reply, _) = client.call(
            Request::new(CorrelationId::new(), "echo").timeout(Duration::from_secs(5)),
            b"x",
        );
        assert!(reply.status.is_ok());
    }
    drop(broker);
}
