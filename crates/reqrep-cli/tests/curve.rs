//! `reqrep keygen` and `--server-key`: a broker that requires CURVE, a
//! worker process and a request process that know its public key (the
//! request with an identity of its own from `--key-file`).

mod common;

use std::time::Duration;

use common::{reqrep, worker};
use reqrep_agents::ClientOptions;
use reqrep_core::curve::{Curve, CurveKey, CurveKeyPair};
use reqrep_core::socket::curve_supported;
use reqrep_tests::broker::curve_broker;
use reqrep_tests::process::run;
use reqrep_tests::{TempFile, wait_for_workers_with};

#[test]
fn keygen_keys_secure_a_broker_its_worker_and_a_request() {
    if !curve_supported() {
        let out = run(reqrep(&["keygen"]), b"");
        assert_eq!(out.code, Some(3), "{}", out.describe());
        assert!(out.stderr.contains("CURVE"), "{}", out.describe());
        return;
    }
    // Both keys printed, each 40 Z85 characters.
    let out = run(reqrep(&["keygen"]), b"");
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let text = out.stdout_text();
    let keys: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_once(": ").map(|(_, k)| k))
        .collect();
    assert_eq!(keys.len(), 2, "{text}");
    assert!(keys.iter().all(|k| k.parse::<CurveKey>().is_ok()), "{text}");

    // With --secret-file only the public key is printed; the key pair is in
    // a new owner-only file, which is never overwritten.
    let secret_file = TempFile::path("broker.key");
    let out = run(
        reqrep(&["keygen", "--secret-file", secret_file.as_str()]),
        b"",
    );
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let public = out
        .stdout_text()
        .trim()
        .strip_prefix("public-key: ")
        .expect("public key line")
        .to_owned();
    let server_key: CurveKey = public.parse().expect("public key");
    let written = std::fs::read_to_string(&*secret_file).expect("secret file");
    let pair = CurveKeyPair::load(&secret_file).expect("the key file loads");
    assert_eq!(pair.public, server_key, "{written:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&*secret_file)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let again = run(
        reqrep(&["keygen", "--secret-file", secret_file.as_str()]),
        b"",
    );
    assert_eq!(again.code, Some(3), "{}", again.describe());
    assert_eq!(
        std::fs::read_to_string(&*secret_file).expect("secret file"),
        written
    );

    // The broker's key file reader takes a bare secret key (a key file
    // `CurveKeyPair::load` reads too).
    let broker_key =
        TempFile::with_text("broker-secret.key", &format!("{}\n", pair.secret.to_z85()));
    let broker = curve_broker(&broker_key)
        .expect("bind")
        .spawn()
        .expect("spawn");
    let echo = worker(broker.backend(), "echo", 1, &["--server-key", &public]);
    // Discovery goes through CURVE too; it shows the worker registered.
    wait_for_workers_with(
        broker.frontend(),
        "echo",
        1,
        ClientOptions::default()
            .timeout(Duration::from_secs(2))
            .curve(Curve::client(server_key).expect("client keys")),
    );

    // A client identity of its own.
    let identity = TempFile::path("client.key");
    let out = run(reqrep(&["keygen", "--secret-file", identity.as_str()]), b"");
    assert_eq!(out.code, Some(0), "{}", out.describe());

    let request = |key: Option<&str>, extra: &[&str]| {
        let mut args = vec![
            "request",
            "--broker",
            broker.frontend(),
            "--service",
            "echo",
            "--timeout-ms",
            "1000",
            "--retries",
            "1",
        ];
        if let Some(key) = key {
            args.extend(["--server-key", key]);
        }
        args.extend(extra);
        args.push("sealed");
        run(reqrep(&args), b"")
    };
    for extra in [&[][..], &["--key-file", identity.as_str()]] {
        let out = request(Some(&public), extra);
        assert_eq!(out.code, Some(0), "{extra:?}: {}", out.describe());
        assert_eq!(out.stdout, b"sealed", "{extra:?}: {}", out.describe());
    }
    // Without the key the broker never hears the request: a timeout.
    let out = request(None, &[]);
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(
        out.stderr.contains("DEADLINE_EXCEEDED"),
        "{}",
        out.describe()
    );
    drop(echo);
}

#[test]
fn a_malformed_server_key_is_a_usage_error() {
    let out = run(
        reqrep(&["request", "--service", "echo", "--server-key", "short", "x"]),
        b"",
    );
    assert_eq!(out.code, Some(2), "{}", out.describe());
    assert!(
        out.stderr.contains("40 Z85 characters"),
        "{}",
        out.describe()
    );
}
