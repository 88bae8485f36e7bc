//! Identities on the command line: `reqrep keygen --secret-file` writes a
//! key file, `--key-file` makes it the identity of `request`, `worker`,
//! `services` and `demo`, bad key files are usage errors naming the file,
//! and the broker's refusals (PERMISSION_DENIED to a request, DISCONNECT
//! PERMISSION_DENIED to a worker) end the command with exit code 1 and the
//! reason. The refusals come from a fake broker (a plain ROUTER), in
//! plaintext or, on a libzmq with CURVE, as a CURVE server whose ZAP handler
//! records the client keys it is shown.

mod common;

use std::sync::mpsc;
use std::thread;

use common::reqrep;
use reqrep_core::curve::{Curve, CurveKey, CurveKeyPair};
use reqrep_core::socket::{SocketOptions, curve_supported};
use reqrep_core::{Code, Command, Kind, Message, Status};
use reqrep_tests::TempFile;
use reqrep_tests::fake_broker::FakeBroker;
use reqrep_tests::process::run;

/// A well-formed key (the Z85 test vector, four times).
const KEY: &str = "HelloWorldHelloWorldHelloWorldHelloWorld";

/// Whether this build has CURVE. CI's system build sets
/// `REQREP_EXPECT_CURVE=1`, and then it must: a CURVE test never silently
/// takes the no-CURVE branch there.
fn curve_build() -> bool {
    let supported = curve_supported();
    if std::env::var("REQREP_EXPECT_CURVE").as_deref() == Ok("1") {
        assert!(supported, "REQREP_EXPECT_CURVE=1, but libzmq has no CURVE");
    }
    supported
}

/// The arguments of each command that takes `--key-file`, up to it.
fn commands(broker: &str) -> Vec<Vec<String>> {
    let with = |args: &[&str]| args.iter().map(|a| (*a).to_owned()).collect();
    vec![
        with(&[
            "request",
            "--broker",
            broker,
            "--service",
            "echo",
            "--server-key",
            KEY,
        ]),
        with(&[
            "worker",
            "--broker",
            broker,
            "--service",
            "echo",
            "--server-key",
            KEY,
        ]),
        with(&["services", "--broker", broker, "--server-key", KEY]),
        with(&["demo", "--requests", "1", "--workers", "1"]),
    ]
}

fn run_args(args: &[String]) -> reqrep_tests::process::Finished {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(reqrep(&args), b"")
}

#[test]
fn keygen_writes_a_key_file_that_loads_back_with_the_printed_public_key() {
    let file = TempFile::path("identity.key");
    let out = run(reqrep(&["keygen", "--secret-file", file.as_str()]), b"");
    if !curve_build() {
        assert_eq!(out.code, Some(3), "{}", out.describe());
        assert!(out.stderr.contains("CURVE"), "{}", out.describe());
        assert!(!file.as_ref().exists(), "nothing written");
        return;
    }
    assert_eq!(out.code, Some(0), "{}", out.describe());
    // One line, to paste into the access policy.
    let text = out.stdout_text();
    let [line] = text.lines().collect::<Vec<_>>()[..] else {
        panic!("one line expected: {text:?}");
    };
    let public: CurveKey = line
        .strip_prefix("public-key: ")
        .expect("a public-key line")
        .parse()
        .expect("a key");
    let pair = CurveKeyPair::load(&file).expect("the key file loads");
    assert_eq!(pair.public, public, "the printed key is the file's");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "owner only");
    }
    // Never overwritten.
    let written = std::fs::read_to_string(&file).expect("key file");
    let again = run(reqrep(&["keygen", "--secret-file", file.as_str()]), b"");
    assert_eq!(again.code, Some(3), "{}", again.describe());
    assert!(again.stderr.contains(file.as_str()), "{}", again.describe());
    assert_eq!(std::fs::read_to_string(&file).expect("key file"), written);
}

#[test]
fn a_missing_key_file_is_a_usage_error_naming_it() {
    let missing = TempFile::path("missing.key");
    for mut args in commands("tcp://127.0.0.1:1") {
        args.extend(["--key-file".to_owned(), missing.as_str().to_owned()]);
        let out = run_args(&args);
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.describe());
        assert!(
            out.stderr
                .contains(&format!("cannot read key file {}", missing.as_str())),
            "{args:?}: {}",
            out.describe()
        );
    }
}

#[test]
fn a_malformed_key_file_is_a_usage_error_naming_file_and_line() {
    let bad = TempFile::with_text("bad.key", "# my identity\nsecret-key: too-short\n");
    for mut args in commands("tcp://127.0.0.1:1") {
        args.extend(["--key-file".to_owned(), bad.as_str().to_owned()]);
        let out = run_args(&args);
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.describe());
        assert!(
            out.stderr
                .contains(&format!("key file {}, line 2: ", bad.as_str())),
            "{args:?}: {}",
            out.describe()
        );
    }
}

#[test]
fn a_key_file_without_the_server_key_is_a_usage_error() {
    let file = TempFile::with_text("lonely.key", &format!("{KEY}\n"));
    for args in [
        &["request", "--service", "echo", "x"][..],
        &["worker", "--service", "echo"],
        &["services"],
    ] {
        let mut args = args.to_vec();
        args.extend(["--key-file", file.as_str()]);
        let out = run(reqrep(&args), b"");
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.describe());
        assert!(
            out.stderr.contains("--server-key"),
            "{args:?}: {}",
            out.describe()
        );
    }
}

fn denied() -> Status {
    Status::new(
        Code::PermissionDenied,
        "identity checkout-web may not call billing",
    )
}

/// Answers every REQUEST with PERMISSION_DENIED.
fn deny_requests(broker: &FakeBroker, got: reqrep_core::Decoded) {
    let Command::Request(request) = got.message.command else {
        panic!("not a request: {:?}", got.message.command);
    };
    broker.send(got.route, Message::reply_error(&request, denied()));
}

/// Answers every READY with DISCONNECT PERMISSION_DENIED.
fn refuse_workers(broker: &FakeBroker, got: reqrep_core::Decoded) {
    assert_eq!(got.message.kind(), Kind::Ready, "{:?}", got.message);
    let refusal = Status::new(
        Code::PermissionDenied,
        "identity orders-svc may not serve billing",
    );
    broker.send(got.route, Message::disconnect(Some(refusal)));
}

fn request_billing(broker: &str, extra: &[&str]) -> reqrep_tests::process::Finished {
    let mut args = vec![
        "request",
        "--broker",
        broker,
        "--service",
        "billing",
        "--retries",
        "3",
        "--timeout-ms",
        "2000",
    ];
    args.extend(extra);
    args.push("charge");
    run(reqrep(&args), b"")
}

/// `reqrep worker` for billing with a heartbeat far beyond the run's time
/// bound: only the refusal itself can stop it in time.
fn serve_billing(broker: &str, extra: &[&str]) -> reqrep_tests::process::Finished {
    let mut args = vec![
        "worker",
        "--broker",
        broker,
        "--service",
        "billing",
        "--heartbeat-ms",
        "3600000",
    ];
    args.extend(extra);
    run(reqrep(&args), b"")
}

fn assert_request_denied(out: &reqrep_tests::process::Finished, kinds: &[Kind]) {
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(
        out.stderr
            .contains("error: PERMISSION_DENIED: identity checkout-web may not call billing"),
        "{}",
        out.describe()
    );
    assert!(out.stdout.is_empty(), "{}", out.describe());
    assert_eq!(kinds, [Kind::Request], "one attempt, never retried");
}

fn assert_worker_refused(out: &reqrep_tests::process::Finished, kinds: &[Kind]) {
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(
        out.stderr.contains(
            "the broker refused this worker: PERMISSION_DENIED: identity orders-svc may not \
             serve billing; check the broker's access policy"
        ),
        "{}",
        out.describe()
    );
    assert_eq!(kinds, [Kind::Ready], "registered once, no reconnect");
}

#[test]
fn a_denied_request_exits_1_printing_permission_denied() {
    let broker = FakeBroker::bind();
    let endpoint = broker.endpoint().to_owned();
    let serving = broker.spawn(deny_requests);
    let out = request_billing(&endpoint, &[]);
    assert_request_denied(&out, &serving.finish());
}

#[test]
fn a_refused_worker_exits_1_at_once_with_the_reason() {
    let broker = FakeBroker::bind();
    let endpoint = broker.endpoint().to_owned();
    let serving = broker.spawn(refuse_workers);
    let out = serve_billing(&endpoint, &[]);
    assert_worker_refused(&out, &serving.finish());
}

/// A ZAP handler (ZeroMQ RFC 27) in `ctx` that accepts every CURVE client
/// and sends each client's public key to the returned receiver. It runs
/// until the returned sender is dropped.
fn record_client_keys(ctx: &zmq::Context) -> (mpsc::Receiver<[u8; 32]>, mpsc::Sender<()>) {
    let handler = ctx.socket(zmq::REP).expect("zap socket");
    handler.set_linger(0).expect("linger");
    handler.bind("inproc://zeromq.zap.01").expect("bind zap");
    let (keys_tx, keys) = mpsc::channel();
    let (stop, stopped) = mpsc::channel::<()>();
    thread::spawn(move || {
        while matches!(stopped.try_recv(), Err(mpsc::TryRecvError::Empty)) {
            if handler.poll(zmq::POLLIN, 20).expect("poll") == 0 {
                continue;
            }
            let frames = handler.recv_multipart(0).expect("zap request");
            // version, request id, domain, address, routing id, mechanism,
            // then the CURVE client's public key.
            assert_eq!(frames.get(5).map(Vec::as_slice), Some(&b"CURVE"[..]));
            let key: [u8; 32] = frames[6].as_slice().try_into().expect("a 32-byte key");
            let _ = keys_tx.send(key);
            let reply: [&[u8]; 6] = [b"1.0", &frames[1], b"200", b"OK", b"", b""];
            handler.send_multipart(reply, 0).expect("zap reply");
        }
    });
    (keys, stop)
}

#[test]
fn the_key_file_is_the_identity_the_broker_sees() {
    let identity = TempFile::path("checkout-web.key");
    if !curve_build() {
        std::fs::write(&identity, format!("{KEY}\n")).expect("key file");
        // The public key cannot be derived without CURVE: a local failure.
        let out = request_billing(
            "tcp://127.0.0.1:1",
            &["--server-key", KEY, "--key-file", identity.as_str()],
        );
        assert_eq!(out.code, Some(3), "{}", out.describe());
        assert!(out.stderr.contains("CURVE"), "{}", out.describe());
        return;
    }
    let out = run(reqrep(&["keygen", "--secret-file", identity.as_str()]), b"");
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let client = CurveKeyPair::load(&identity).expect("identity");
    let server = CurveKeyPair::generate().expect("server keys");
    let server_public = server.public.to_z85();
    let curve_args = [
        "--server-key",
        server_public.as_str(),
        "--key-file",
        identity.as_str(),
    ];
    let options = SocketOptions {
        curve: Some(Curve::server(server.secret)),
        ..SocketOptions::default()
    };

    // A client: the handshake shows the key file's public key, then the
    // request is denied.
    let ctx = zmq::Context::new();
    let (keys, _stop_zap) = record_client_keys(&ctx);
    let broker = FakeBroker::bind_with(&ctx, &options);
    let endpoint = broker.endpoint().to_owned();
    let serving = broker.spawn(deny_requests);
    let out = request_billing(&endpoint, &curve_args);
    assert_request_denied(&out, &serving.finish());
    let shown = keys.try_recv().expect("a CURVE handshake");
    assert_eq!(
        shown,
        *client.public.as_bytes(),
        "the key file's public key"
    );

    // A worker likewise, refused at READY.
    let broker = FakeBroker::bind_with(&ctx, &options);
    let endpoint = broker.endpoint().to_owned();
    let serving = broker.spawn(refuse_workers);
    let out = serve_billing(&endpoint, &curve_args);
    assert_worker_refused(&out, &serving.finish());
    let shown = keys.try_recv().expect("a CURVE handshake");
    assert_eq!(
        shown,
        *client.public.as_bytes(),
        "the key file's public key"
    );
}

#[test]
fn the_demo_runs_over_curve_with_a_key_file() {
    let demo = |file: &TempFile| {
        run(
            reqrep(&[
                "demo",
                "--requests",
                "50",
                "--workers",
                "1",
                "--key-file",
                file.as_str(),
            ]),
            b"",
        )
    };
    if !curve_build() {
        let file = TempFile::with_text("demo.key", &format!("{KEY}\n"));
        let out = demo(&file);
        assert_eq!(out.code, Some(3), "{}", out.describe());
        assert!(out.stderr.contains("CURVE"), "{}", out.describe());
        return;
    }
    let pair = CurveKeyPair::generate().expect("keys");
    // A secret key alone is a key file too (the broker's older format).
    let file = TempFile::with_text("demo.key", &format!("{}\n", pair.secret.to_z85()));
    let out = demo(&file);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let stdout = out.stdout_text();
    assert!(
        stdout.starts_with(
            "reqrep demo: 50 requests of 64 B, 128 in flight, 1 echo worker x 16 credits, CURVE"
        ),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("replies OK") && l.contains(" 50 ")),
        "{stdout}"
    );
}
