//! Stopping a [`Broker`] through a shared [`StopToken`].

use std::sync::mpsc;
use std::time::Duration;

use reqrep_broker::{Broker, BrokerConfig, BrokerError, Stats};
use reqrep_core::StopToken;

/// Far longer than a stop takes: reaching it fails the test.
const LIMIT: Duration = Duration::from_secs(30);

fn ephemeral() -> BrokerConfig {
    BrokerConfig {
        frontend: vec!["tcp://127.0.0.1:*".into()],
        backend: vec!["tcp://127.0.0.1:*".into()],
        metrics_addr: None,
        ..BrokerConfig::default()
    }
}

/// Runs `broker` on a thread; the receiver yields what `run` returned.
fn running(broker: Broker) -> mpsc::Receiver<Result<Stats, BrokerError>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(broker.run());
    });
    rx
}

#[test]
fn a_shared_token_stops_a_running_broker() {
    let stop = StopToken::new();
    let broker = Broker::bind(ephemeral()).unwrap().stop_on(stop.clone());
    assert!(!broker.shutdown_handle().is_stopped());
    let done = running(broker);
    assert!(
        done.recv_timeout(Duration::from_millis(1)).is_err(),
        "the broker runs until stopped"
    );
    stop.stop();
    let stats = done.recv_timeout(LIMIT).expect("stopped in time").unwrap();
    assert_eq!(stats, Stats::default(), "no traffic was seen");
}

#[test]
fn a_broker_stopped_before_it_runs_returns_at_once() {
    let broker = Broker::bind(ephemeral()).unwrap();
    broker.shutdown_handle().stop();
    let done = running(broker);
    done.recv_timeout(LIMIT).expect("returned").unwrap();
}

#[test]
fn the_crate_level_run_binds_and_stops_on_the_token() {
    let stop = StopToken::new();
    stop.stop();
    reqrep_broker::run(ephemeral(), &stop).unwrap();
}
