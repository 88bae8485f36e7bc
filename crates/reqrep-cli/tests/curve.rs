//! `reqrep keygen` and `--server-key`: a broker that requires CURVE, a
//! worker process and a request process that know its public key.

mod common;

use std::time::Duration;

use common::{reqrep, worker};
use reqrep_agents::ClientOptions;
use reqrep_core::curve::{Curve, CurveKey};
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

    // With --secret-file only the public key is printed; the secret is in a
    // new owner-only file, which is never overwritten.
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
    assert!(written.parse::<CurveKey>().is_ok(), "{written:?}");
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

    let broker = curve_broker(&secret_file)
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

    let request = |key: Option<&str>| {
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
        args.push("sealed");
        run(reqrep(&args), b"")
    };
    let out = request(Some(&public));
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert_eq!(out.stdout, b"sealed", "{}", out.describe());
    // Without the key the broker never hears the request: a timeout.
    let out = request(None);
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
