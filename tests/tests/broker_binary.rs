//! The `reqrep-broker` binary as a real process: help, configuration,
//! metrics over HTTP, and graceful shutdown on SIGTERM.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use reqrep_core::{Code, CorrelationId, Request};
use reqrep_tests::harness::{WorkerThread, wait_for_workers};
use reqrep_tests::process::Proc;
use reqrep_tests::worker::WorkerEvent;
use reqrep_tests::{Client, WorkerOptions};

const WAIT: Duration = Duration::from_secs(15);

fn broker_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_e2e-broker"));
    // Never inherit settings from the environment running the tests.
    for (key, _) in std::env::vars() {
        if key.starts_with("REQREP_") {
            command.env_remove(key);
        }
    }
    command.env("RUST_LOG", "info");
    command
}

/// A broker process on ephemeral ports, with its resolved endpoints.
struct Running {
    proc: Proc,
    frontend: String,
    backend: String,
    metrics: String,
}

/// Both sides on ephemeral loopback ports.
const EPHEMERAL_ENDPOINTS: [&str; 4] = [
    "--frontend",
    "tcp://127.0.0.1:*",
    "--backend",
    "tcp://127.0.0.1:*",
];

fn start_broker(extra: &[&str]) -> Running {
    let mut command = broker_command();
    command.args(EPHEMERAL_ENDPOINTS);
    command.args(["--metrics-addr", "127.0.0.1:0", "--log-format", "json"]);
    command.args(extra);
    let mut proc = Proc::spawn(command);
    let line = proc.wait_for_line("broker bound", WAIT);
    let json: serde_json::Value = serde_json::from_str(&line).expect("json log line");
    let field = |name: &str| json["fields"][name].as_str().expect(name).to_owned();
    Running {
        frontend: field("frontend"),
        backend: field("backend"),
        metrics: field("metrics"),
        proc,
    }
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
    let output = broker_command().arg("--help").output().expect("run --help");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
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
        "REQREP_FRONTEND",
    ] {
        assert!(
            help.contains(flag),
            "--help does not mention {flag}:\n{help}"
        );
    }
}

#[test]
fn print_config_applies_flags_over_env_over_file() {
    let dir = std::env::temp_dir().join(format!("reqrep-broker-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("broker.toml");
    std::fs::write(&file, "liveness = 7\nmax_queue = 11\nmax_attempts = 5\n")
        .expect("write config");
    let output = broker_command()
        .args([
            "--config",
            file.to_str().expect("utf-8 path"),
            "--print-config",
            "--max-queue",
            "22",
        ])
        .env("REQREP_MAX_ATTEMPTS", "9")
        .output()
        .expect("run --print-config");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("liveness = 7"), "file applies:\n{text}");
    assert!(text.contains("max_attempts = 9"), "env beats file:\n{text}");
    assert!(text.contains("max_queue = 22"), "flag beats file:\n{text}");
    assert!(
        text.contains("tcp://127.0.0.1:5555"),
        "defaults bind loopback:\n{text}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn invalid_setting_is_a_clear_error_naming_it() {
    let output = broker_command()
        .args(["--frontend", "localhost:5555"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("frontend"), "{err}");
    let output = broker_command()
        .args(["--liveness", "0", "--print-config"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("liveness"));
}

#[test]
fn a_missing_curve_key_file_stops_the_broker_at_startup() {
    let path =
        std::env::temp_dir().join(format!("reqrep-e2e-no-such-key-{}.key", std::process::id()));
    let path = path.to_str().expect("utf-8 temp path");
    let mut command = broker_command();
    command.args(EPHEMERAL_ENDPOINTS);
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
    wait_for_workers(&client, "echo", 1);
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
    wait_for_workers(&client, "echo", 1);

    let in_flight = Request::new(CorrelationId::new(), "echo").timeout(Duration::from_secs(10));
    client.send(in_flight.clone(), b"finish me");
    let until = Instant::now() + WAIT;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match events
            .recv_timeout(left)
            .expect("worker receives the request")
        {
            WorkerEvent::Request(id) if id == in_flight.id.to_string() => break,
            _ => {}
        }
    }
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
