//! `reqrep keygen` and `--server-key`: a broker that requires CURVE, a
//! worker process and a request process that know its public key.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{Background, WAIT, reqrep, run};
use reqrep_agents::{ClientOptions, services_with};
use reqrep_broker::{Broker, BrokerConfig};
use reqrep_core::curve::{Curve, CurveKey};
use reqrep_core::socket::curve_supported;

/// A path in the temp directory for this test, removed on drop.
struct TempPath(PathBuf);

impl TempPath {
    fn new(name: &str) -> Self {
        Self(std::env::temp_dir().join(format!("reqrep-cli-{}-{name}", std::process::id())))
    }

    fn as_str(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

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
    let secret_file = TempPath::new("broker.key");
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
    let written = std::fs::read_to_string(&secret_file.0).expect("secret file");
    assert!(written.parse::<CurveKey>().is_ok(), "{written:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret_file.0)
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
        std::fs::read_to_string(&secret_file.0).expect("secret file"),
        written
    );

    let broker = Broker::bind(BrokerConfig {
        frontend: vec!["tcp://127.0.0.1:*".into()],
        backend: vec!["tcp://127.0.0.1:*".into()],
        metrics_addr: None,
        curve_secret_key_file: Some(secret_file.0.clone()),
        ..BrokerConfig::default()
    })
    .expect("bind")
    .spawn()
    .expect("spawn");
    let echo = Background::spawn(reqrep(&[
        "worker",
        "--broker",
        broker.backend(),
        "--service",
        "echo",
        "--server-key",
        &public,
    ]));
    let until = Instant::now() + WAIT;
    loop {
        let options = ClientOptions::default()
            .timeout(Duration::from_secs(2))
            .curve(Curve::client(server_key).expect("client keys"));
        let list = services_with(broker.frontend(), options).expect("discovery over CURVE");
        if list
            .services
            .iter()
            .any(|s| s.name == "echo" && s.workers == 1)
        {
            break;
        }
        assert!(Instant::now() < until, "worker stderr:\n{}", echo.stderr());
        std::thread::yield_now();
    }

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
