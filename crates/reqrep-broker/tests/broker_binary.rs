//! The `reqrep-broker` binary as a real process: help, configuration,
//! metrics over HTTP, and graceful shutdown on SIGTERM.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use reqrep_core::{Code, CorrelationId, Request};
use reqrep_tests::broker_process::{BrokerProcess, EPHEMERAL_ENDPOINTS};
use reqrep_tests::process::{Proc, command, run};
use reqrep_tests::wait::recv_matching;
use reqrep_tests::worker::WorkerEvent;
use reqrep_tests::{Client, TempFile, WAIT, WorkerOptions, WorkerThread, wait_for_workers};

/// The binary under test, as cargo built it for this package.
const BROKER: &str = env!("CARGO_BIN_EXE_reqrep-broker");

/// The broker binary with `args`, isolated from the environment's
/// `REQREP_*` settings.
fn broker(args: &[&str]) -> Command {
    let mut command = command(BROKER);
    command.args(args);
    command
}

fn start_broker(extra: &[&str]) -> BrokerProcess {
    BrokerProcess::start(Path::new(BROKER), extra)
}

fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect http");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, response)
}

#[test]
fn help_documents_every_setting() {
    let out = run(broker(&["--help"]), b"");
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let help = out.stdout_text();
    for flag in [
        "--frontend",
        "--backend",
        "--metrics-addr",
        "--config",
        "--print-config",
        "--heartbeat-ms",
        "--liveness",
        "--default-timeout-ms",
        "--max-queue",
        "--max-attempts",
        "--reply-cache-size",
        "--reply-cache-ttl-ms",
        "--drain-timeout-ms",
        "--max-payload-frames",
        "--max-payload-bytes",
        "--max-services",
        "--log-format",
        "--curve-secret-key-file",
        "--access-file",
        "REQREP_FRONTEND",
        "REQREP_ACCESS_FILE",
    ] {
        assert!(
            help.contains(flag),
            "--help does not mention {flag}:\n{help}"
        );
    }
}

#[test]
fn print_config_applies_flags_over_env_over_file() {
    let file = TempFile::with_text(
        "broker.toml",
        "liveness = 7\nmax_queue = 11\nmax_attempts = 5\n",
    );
    let mut command = broker(&[
        "--config",
        file.as_str(),
        "--print-config",
        "--max-queue",
        "22",
    ]);
    command.env("REQREP_MAX_ATTEMPTS", "9");
    let out = run(command, b"");
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let text = out.stdout_text();
    assert!(text.contains("liveness = 7"), "file applies:\n{text}");
    assert!(text.contains("max_attempts = 9"), "env beats file:\n{text}");
    assert!(text.contains("max_queue = 22"), "flag beats file:\n{text}");
    assert!(
        text.contains("tcp://127.0.0.1:5555"),
        "defaults bind loopback:\n{text}"
    );
}

#[test]
fn invalid_setting_is_a_clear_error_naming_it() {
    let out = run(broker(&["--frontend", "localhost:5555"]), b"");
    assert_eq!(out.code, Some(2), "{}", out.describe());
    assert!(out.stderr.contains("frontend"), "{}", out.describe());
    let out = run(broker(&["--liveness", "0", "--print-config"]), b"");
    assert_eq!(out.code, Some(2), "{}", out.describe());
    assert!(out.stderr.contains("liveness"), "{}", out.describe());
}

#[test]
fn a_missing_curve_key_file_stops_the_broker_at_startup() {
    let missing = TempFile::path("no-such.key");
    let path = missing.as_str();
    let mut command = broker(&EPHEMERAL_ENDPOINTS);
    command.args(["--metrics-addr", "off", "--curve-secret-key-file", path]);
    let mut proc = Proc::spawn(command);
    assert_eq!(proc.wait_exit(WAIT), Some(1), "{}", proc.output());
    let output = proc.output();
    assert!(
        output.contains(&format!("cannot use CURVE secret key file {path}")),
        "{output}"
    );
}

#[test]
fn serves_requests_metrics_and_health() {
    let broker = start_broker(&[]);
    let ctx = zmq::Context::new();
    let _w = WorkerThread::start(&ctx, &broker.backend, WorkerOptions::default());
    let client = Client::connect(&ctx, &broker.frontend);
    wait_for_workers(&broker.frontend, "echo", 1);
    for _ in 0..3 {
        let (reply, _) = client.call(
            Request::new(CorrelationId::new(), "echo").timeout(Duration::from_secs(5)),
            b"x",
        );
        assert!(reply.status.is_ok());
    }
    let (reply, _) = client.call(
        Request::new(CorrelationId::new(), "nobody").fail_fast(true),
        b"x",
    );
    assert_eq!(reply.status.code, Code::Unavailable);

    let (status, body) = http_get(&broker.metrics, "/healthz");
    assert_eq!(status, 200, "{body}");
    let (status, body) = http_get(&broker.metrics, "/metrics");
    assert_eq!(status, 200);
    for needle in [
        "reqrep_broker_requests_total{service=\"echo\",outcome=\"ok\"} 3",
        "reqrep_broker_requests_total{service=\"nobody\",outcome=\"unavailable\"} 1",
        "reqrep_broker_request_duration_seconds_bucket",
        "reqrep_broker_workers{service=\"echo\"} 1",
        "reqrep_broker_queue_depth{service=\"echo\"}",
    ] {
        assert!(body.contains(needle), "/metrics lacks {needle}:\n{body}");
    }
}

#[test]
fn sigterm_drains_in_flight_requests_then_exits_zero() {
    let mut broker = start_broker(&["--drain-timeout-ms", "5000"]);
    let ctx = zmq::Context::new();
    let options = WorkerOptions {
        delay: Duration::from_millis(1000),
        ..WorkerOptions::default()
    };
    let (_w, events) = WorkerThread::start_with_events(&ctx, &broker.backend, options);
    let client = Client::connect(&ctx, &broker.frontend);
    wait_for_workers(&broker.frontend, "echo", 1);

    let in_flight = Request::new(CorrelationId::new(), "echo").timeout(Duration::from_secs(10));
    client.send(in_flight.clone(), b"finish me");
    recv_matching(&events, WAIT, |event| {
        *event == WorkerEvent::Request(in_flight.id.to_string())
    })
    .expect("the worker receives the request");
    broker.proc.signal("TERM");
    broker.proc.wait_for_line("shutdown requested", WAIT);

    // Stops taking requests...
    let late = Request::new(CorrelationId::new(), "echo").timeout(Duration::from_secs(10));
    client.send(late.clone(), b"too late");
    // ...but the in-flight one finishes.
    let mut answered = std::collections::HashMap::new();
    for _ in 0..2 {
        let (reply, body) = client.recv().expect("reply");
        answered.insert(reply.id, (reply.status.code, body));
    }
    assert_eq!(answered[&late.id].0, Code::Unavailable);
    assert_eq!(answered[&in_flight.id].0, Code::Ok);
    assert_eq!(answered[&in_flight.id].1[1], b"finish me");
    assert_eq!(
        broker.proc.wait_exit(WAIT),
        Some(0),
        "{}",
        broker.proc.output()
    );
}
