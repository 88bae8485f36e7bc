//! Stopping a [`Broker`] through a shared [`StopToken`].

use std::sync::mpsc;
use std::time::Duration;

use reqrep_broker::{Broker, BrokerError, Stats};
use reqrep_core::socket::{recv_frames, send_frames};
use reqrep_core::{Code, Command, Limits, Message, StopToken, decode_body};
use reqrep_tests::broker::ephemeral_config as ephemeral;
use reqrep_tests::{socket, wait_for_workers};

/// Far longer than a stop takes: reaching it fails the test.
const LIMIT: Duration = Duration::from_secs(30);

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

#[test]
fn spec_6_9_a_stopped_broker_sends_every_worker_disconnect_unavailable() {
    let stop = StopToken::new();
    let broker = Broker::bind(ephemeral()).unwrap().stop_on(stop.clone());
    let (frontend, backend) = (
        broker.frontend_endpoints()[0].clone(),
        broker.backend_endpoints()[0].clone(),
    );
    let done = running(broker);
    let ctx = zmq::Context::new();
    let worker = socket(&ctx, zmq::DEALER);
    worker.connect(&backend).unwrap();
    let ready = Message::ready("svc", 1, Some(Duration::from_secs(60)));
    send_frames(&worker, ready.encode_body(), 0).unwrap();
    wait_for_workers(&frontend, "svc", 1);

    stop.stop();
    done.recv_timeout(LIMIT).expect("stopped in time").unwrap();
    // The broker has returned and closed its sockets: the DISCONNECT was
    // delivered before they closed, not lost with them.
    let frames = recv_frames(&worker, 0).expect("a DISCONNECT from the broker");
    let message = decode_body(frames, &Limits::default()).expect("it decodes");
    match message.command {
        Command::Disconnect(disconnect) => {
            let status = disconnect.reason.expect("a status");
            assert_eq!(status.code, Code::Unavailable, "{status}");
        }
        other => panic!("expected DISCONNECT, got {other:?}"),
    }
}
