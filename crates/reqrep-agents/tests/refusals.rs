//! Refusals by the broker's access policy, as clients and workers see them,
//! against a fake broker (a plain ROUTER speaking the wire protocol, no
//! CURVE needed): a REPLY with PERMISSION_DENIED is
//! [`RequestError::PermissionDenied`] after one attempt, in the blocking and
//! async clients; a DISCONNECT with PERMISSION_DENIED (or UNAUTHENTICATED)
//! stops a worker with [`WorkerError::Refused`] instead of reconnecting.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use reqrep_agents::{
    AsyncClient, AsyncWorker, Client, ClientOptions, RequestError, StopToken, Worker, WorkerError,
    WorkerOptions,
};
use reqrep_core::{Code, Command, Frame, Kind, Message, RetryPolicy, Status};
use reqrep_tests::WAIT;
use reqrep_tests::fake_broker::{FakeBroker, count};

fn denied() -> Status {
    Status::new(
        Code::PermissionDenied,
        "identity checkout-web may not call billing",
    )
}

/// Three attempts allowed: a PERMISSION_DENIED must take only one.
fn client_options() -> ClientOptions {
    ClientOptions::default()
        .timeout(Duration::from_secs(2))
        .retry(RetryPolicy::default().max_attempts(3))
}

/// Answers the next REQUEST with PERMISSION_DENIED and returns its attempt.
fn deny_next_request(broker: &FakeBroker) -> u32 {
    let got = broker.next();
    let Command::Request(request) = got.message.command else {
        panic!("not a request: {:?}", got.message.command);
    };
    assert_eq!(request.service, "billing");
    broker.send(got.route, Message::reply_error(&request, denied()));
    request.attempt
}

fn assert_denied(result: Result<reqrep_agents::Response, RequestError>) {
    match result {
        Err(RequestError::PermissionDenied(status)) => assert_eq!(status, denied()),
        other => panic!("expected PermissionDenied, got {other:?}"),
    }
}

#[test]
fn a_blocking_client_gets_permission_denied_after_one_attempt() {
    let broker = FakeBroker::bind();
    let endpoint = broker.endpoint().to_owned();
    let (tx, rx) = mpsc::channel();
    let client = thread::spawn(move || {
        let mut client = Client::connect(&endpoint, "billing", client_options()).expect("client");
        let _ = tx.send(client.request(b"charge"));
    });
    assert_eq!(deny_next_request(&broker), 1);
    let result = rx.recv_timeout(WAIT).expect("the client returned in time");
    let err = result.as_ref().expect_err("denied");
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_denied(result);
    client.join().expect("client thread");
    broker.assert_quiet();
}

#[test]
fn an_async_client_gets_permission_denied_after_one_attempt() {
    let broker = FakeBroker::bind();
    let endpoint = broker.endpoint().to_owned();
    let (tx, rx) = mpsc::channel();
    let client = thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let client =
                AsyncClient::connect(&endpoint, "billing", client_options()).expect("client");
            let _ = tx.send(client.request(b"charge".to_vec()).await);
        });
    });
    assert_eq!(deny_next_request(&broker), 1);
    assert_denied(rx.recv_timeout(WAIT).expect("the client returned in time"));
    client.join().expect("client thread");
    broker.assert_quiet();
}

/// A heartbeat far longer than [`WAIT`]: a worker that only noticed the
/// refusal through the broker's silence could not stop in time.
fn worker_options() -> WorkerOptions {
    WorkerOptions::default()
        .heartbeat(Duration::from_secs(60))
        .reconnect(RetryPolicy::default().initial_backoff(Duration::from_millis(1)))
}

#[test]
fn a_worker_refused_at_ready_stops_with_the_reason_and_never_registers_again() {
    let broker = FakeBroker::bind();
    let worker = Worker::new(broker.endpoint(), "billing", worker_options()).expect("worker");
    let (tx, done) = mpsc::channel();
    let runner = thread::spawn(move || {
        let _ = tx.send(worker.run(|_, payload| Ok(payload), &StopToken::new()));
    });
    let refusal = Status::new(
        Code::PermissionDenied,
        "identity orders-svc may not serve billing",
    );
    let (result, kinds) = broker.serve_until(&done, |broker, got| {
        assert_eq!(got.message.kind(), Kind::Ready, "{:?}", got.message);
        broker.send(got.route, Message::disconnect(Some(refusal.clone())));
    });
    runner.join().expect("worker thread");
    assert_eq!(kinds, [Kind::Ready], "READY once, no reconnect");
    match result {
        Err(WorkerError::Refused(status)) => assert_eq!(status, refusal),
        other => panic!("expected Refused, got {other:?}"),
    }
    let shown = WorkerError::Refused(refusal).to_string();
    assert_eq!(
        shown,
        "the broker refused this worker: PERMISSION_DENIED: identity orders-svc may not \
         serve billing; check the broker's access policy"
    );
}

#[test]
fn an_async_worker_revoked_after_serving_stops_with_the_reason() {
    let broker = FakeBroker::bind();
    let worker = AsyncWorker::new(broker.endpoint(), "billing", worker_options()).expect("worker");
    let (tx, done) = mpsc::channel();
    let runner = thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let result =
            runtime.block_on(worker.run(|_, payload| async move { Ok(payload) }, StopToken::new()));
        let _ = tx.send(result);
    });
    let revoked = Status::new(Code::Unauthenticated, "identity orders-svc revoked");
    let request = reqrep_core::Request::new(reqrep_core::CorrelationId::new(), "billing");
    let mut replies = 0;
    let (result, kinds) = broker.serve_until(&done, |broker, got| {
        match got.message.command {
            // Registered: one request, then the revocation at its reply.
            Command::Ready(_) => broker.send(
                got.route,
                Message::request(request.clone(), vec![Frame::from(&b"charge"[..])]),
            ),
            Command::Reply(reply) => {
                assert_eq!(reply.id, request.id);
                replies += 1;
                broker.send(got.route, Message::disconnect(Some(revoked.clone())));
            }
            other => panic!("unexpected {other:?}"),
        }
    });
    runner.join().expect("worker thread");
    assert_eq!(kinds, [Kind::Ready, Kind::Reply]);
    assert_eq!(replies, 1);
    match result {
        Err(WorkerError::Refused(status)) => assert_eq!(status, revoked),
        other => panic!("expected Refused, got {other:?}"),
    }
}

#[test]
fn a_worker_told_to_go_for_another_reason_registers_again() {
    let broker = FakeBroker::bind();
    let worker = Worker::new(broker.endpoint(), "billing", worker_options()).expect("worker");
    let stop = StopToken::new();
    let (tx, done) = mpsc::channel();
    let runner = {
        let stop = stop.clone();
        thread::spawn(move || {
            let _ = tx.send(worker.run(|_, payload| Ok(payload), &stop));
        })
    };
    let mut seen = 0;
    let (result, kinds) = broker.serve_until(&done, |broker, got| match got.message.kind() {
        Kind::Ready => {
            seen += 1;
            if seen == 1 {
                let bye = Status::unavailable("broker restarting");
                broker.send(got.route, Message::disconnect(Some(bye)));
            } else {
                stop.stop();
            }
        }
        Kind::Disconnect => {}
        other => panic!("unexpected {other}"),
    });
    runner.join().expect("worker thread");
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        count(&kinds, Kind::Ready),
        2,
        "registered again after an ordinary DISCONNECT"
    );
}
