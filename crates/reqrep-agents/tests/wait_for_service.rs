//! `wait_for_service` against a real broker: it returns once the service
//! has enough workers (also when they register while it waits), and gives
//! up with a typed error when the time passes or waiting cannot help.

use std::thread;
use std::time::{Duration, Instant};

use reqrep_agents::{
    ClientOptions, RequestError, ServiceWaitError, StopToken, Worker, WorkerOptions,
    wait_for_service,
};
use reqrep_core::Code;
use reqrep_core::socket::SocketError;
use reqrep_tests::broker::broker;
use reqrep_tests::wait::within;
use reqrep_tests::{WAIT, bind_ephemeral, socket};

/// A timeout short enough for a test that expects it to pass.
const SHORT: Duration = Duration::from_millis(300);

fn echo_worker(backend: &str, stop: &StopToken) -> thread::JoinHandle<()> {
    let worker = Worker::new(backend, "echo", WorkerOptions::default()).expect("worker");
    let stop = stop.clone();
    thread::spawn(move || {
        worker
            .run(|_, payload| Ok(payload), &stop)
            .expect("worker runs");
    })
}

/// `wait_for_service` on its own thread, so a test cannot hang on it.
fn wait_bounded(
    frontend: &str,
    service: &'static str,
    workers: u32,
    timeout: Duration,
    options: ClientOptions,
) -> Result<reqrep_core::pb::ServiceInfo, ServiceWaitError> {
    let frontend = frontend.to_owned();
    within(WAIT + timeout, move || {
        wait_for_service(&frontend, service, workers, timeout, options)
    })
    .expect("wait_for_service returns in time")
}

#[test]
fn returns_the_service_once_enough_workers_registered_even_while_waiting() {
    let broker = broker(|_| {});
    let stop = StopToken::new();
    let first = echo_worker(broker.backend(), &stop);
    let frontend = broker.frontend().to_owned();
    // Waiting for two while only one is started; the second starts after.
    let waiting = thread::spawn(move || {
        wait_for_service(&frontend, "echo", 2, WAIT, ClientOptions::default())
    });
    let second = echo_worker(broker.backend(), &stop);
    let info = within(WAIT * 2, move || waiting.join())
        .expect("the wait returns in time")
        .expect("the waiting thread")
        .expect("both workers registered");
    assert_eq!(info.name, "echo");
    assert!(info.workers >= 2, "{info:?}");

    // Already satisfied: the first answer is enough.
    let info = wait_bounded(broker.frontend(), "echo", 1, WAIT, ClientOptions::default())
        .expect("registered");
    assert_eq!(info.workers, 2);
    stop.stop();
    first.join().expect("first worker");
    second.join().expect("second worker");
}

#[test]
fn too_few_workers_time_out_with_what_was_registered() {
    let broker = broker(|_| {});
    let stop = StopToken::new();
    let worker = echo_worker(broker.backend(), &stop);
    reqrep_tests::wait_for_workers(broker.frontend(), "echo", 1);

    let started = Instant::now();
    let err = wait_bounded(
        broker.frontend(),
        "echo",
        2,
        SHORT,
        ClientOptions::default(),
    )
    .expect_err("only one worker");
    assert!(started.elapsed() >= SHORT, "it waited the whole timeout");
    let ServiceWaitError::Timeout {
        service,
        wanted,
        registered,
        timeout,
        last_error,
    } = &err
    else {
        panic!("not a timeout: {err:?}");
    };
    assert_eq!(
        (service.as_str(), *wanted, *registered, *timeout),
        ("echo", 2, 1, SHORT)
    );
    assert!(last_error.is_none(), "the broker answered: {last_error:?}");
    assert_eq!(err.code(), Code::DeadlineExceeded);
    assert!(
        err.to_string().contains("1 of 2 worker(s) registered"),
        "{err}"
    );
    stop.stop();
    worker.join().expect("worker");
}

#[test]
fn a_service_the_broker_does_not_know_counts_as_no_worker() {
    let broker = broker(|_| {});
    let err = wait_bounded(
        broker.frontend(),
        "nobody",
        1,
        SHORT,
        ClientOptions::default(),
    )
    .expect_err("no worker");
    assert!(
        matches!(
            &err,
            ServiceWaitError::Timeout {
                registered: 0,
                last_error: None,
                ..
            }
        ),
        "{err:?}"
    );
    // Zero workers wanted: any answer is enough, even for an unknown name.
    let info = wait_bounded(
        broker.frontend(),
        "nobody",
        0,
        WAIT,
        ClientOptions::default(),
    )
    .expect("zero workers are always there");
    assert_eq!((info.name.as_str(), info.workers), ("nobody", 0));
}

#[test]
fn a_broker_that_never_answers_times_out_naming_the_last_discovery_error() {
    // A ROUTER that reads requests and never replies.
    let ctx = zmq::Context::new();
    let silent = socket(&ctx, zmq::ROUTER);
    let endpoint = bind_ephemeral(&silent);
    let options = ClientOptions::default().timeout(Duration::from_millis(100));
    let err = wait_bounded(endpoint.as_str(), "echo", 1, SHORT, options).expect_err("no answer");
    assert!(
        matches!(
            &err,
            ServiceWaitError::Timeout {
                registered: 0,
                last_error: Some(RequestError::Timeout { .. }),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("last discovery error"), "{err}");
}

#[test]
fn an_invalid_endpoint_fails_at_once() {
    let err = wait_bounded("localhost:5555", "echo", 1, WAIT, ClientOptions::default())
        .expect_err("no transport");
    assert!(
        matches!(
            &err,
            ServiceWaitError::Discovery(RequestError::Transport(SocketError::Endpoint(_)))
        ),
        "{err:?}"
    );
}
