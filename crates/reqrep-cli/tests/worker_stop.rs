//! `reqrep worker` stopped by SIGTERM: its DISCONNECT reaches the broker
//! before the process exits, every time.

mod common;

use common::worker;
use reqrep_broker::BrokerThread;
use reqrep_tests::broker::broker;
use reqrep_tests::process::Proc;
use reqrep_tests::{WAIT, wait_for_worker_count, wait_for_workers};

/// Stops in a row: a lost DISCONNECT used to show up in about half of them.
const ROUNDS: usize = 6;
/// Stops under load, each behind a queue of replies.
const LOADED_ROUNDS: usize = 3;

/// `reqrep worker` for `echo` with a 10-minute heartbeat: the broker would
/// take half an hour (liveness 3) to expire it had it left without a word,
/// so its worker count drops within a test's wait only through DISCONNECT.
fn slow_heartbeat_worker(broker: &BrokerThread) -> Proc {
    worker(broker.backend(), "echo", 16, &["--heartbeat-ms", "600000"])
}

/// SIGTERM to `worker`, a clean exit, and the broker's count back to 0.
fn stop_and_see_it_leave(broker: &BrokerThread, worker: &mut Proc, round: usize) {
    let code = worker.terminate(WAIT);
    assert_eq!(code, Some(0), "round {round}: {}", worker.output());
    wait_for_worker_count(broker.frontend(), "echo", 0);
}

#[test]
fn spec_6_9_sigterm_disconnects_the_worker_from_the_broker_at_once() {
    let broker = broker(|_| {});
    for round in 0..ROUNDS {
        let mut worker = slow_heartbeat_worker(&broker);
        wait_for_workers(broker.frontend(), "echo", 1);
        stop_and_see_it_leave(&broker, &mut worker, round);
    }
    let stats = broker.stop().expect("broker stops");
    assert_eq!(stats.workers_expired, 0, "{stats:?}");
    assert_eq!(stats.malformed_worker, 0, "{stats:?}");
}

#[test]
fn spec_6_9_sigterm_under_load_still_disconnects_the_worker_at_once() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    use reqrep_agents::{AsyncClient, ClientOptions};
    use reqrep_core::RetryPolicy;

    let broker = broker(|_| {});
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let client = {
        let _entered = runtime.enter();
        AsyncClient::connect(
            broker.frontend(),
            "echo",
            ClientOptions::default()
                .timeout(Duration::from_secs(5))
                .retry(RetryPolicy::never())
                .fail_fast(true),
        )
        .expect("client")
    };
    let (done, answered) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    for round in 0..LOADED_ROUNDS {
        let mut worker = slow_heartbeat_worker(&broker);
        wait_for_workers(broker.frontend(), "echo", 1);
        done.store(false, Ordering::SeqCst);
        let start = answered.load(Ordering::SeqCst);
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let (client, done, answered) =
                    (client.clone(), Arc::clone(&done), Arc::clone(&answered));
                runtime.spawn(async move {
                    while !done.load(Ordering::SeqCst) {
                        if client.request(vec![7; 64]).await.is_ok() {
                            answered.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
        let until = Instant::now() + WAIT;
        while answered.load(Ordering::SeqCst) < start + 500 {
            assert!(Instant::now() < until, "round {round}: the worker answers");
            std::thread::yield_now();
        }
        stop_and_see_it_leave(&broker, &mut worker, round);
        done.store(true, Ordering::SeqCst);
        runtime.block_on(async {
            for task in tasks {
                let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
            }
        });
    }
    let stats = broker.stop().expect("broker stops");
    assert_eq!(stats.workers_expired, 0, "{stats:?}");
}
