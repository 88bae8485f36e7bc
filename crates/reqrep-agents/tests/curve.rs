//! CURVE security end to end: a broker that requires CURVE serves a worker
//! and clients (blocking and async) that know its public key, and nobody
//! else gets through. On a libzmq without CURVE, asking for it is an error
//! at startup, never a plaintext fallback.

use std::thread;
use std::time::Duration;

use reqrep_agents::{
    AsyncClient, Client, ClientOptions, RequestError, StopToken, Worker, WorkerOptions,
};
use reqrep_broker::BrokerError;
use reqrep_core::RetryPolicy;
use reqrep_core::curve::{Curve, CurveKey, CurveKeyPair};
use reqrep_core::socket::{SocketError, curve_supported};
use reqrep_tests::broker::curve_broker;
use reqrep_tests::{TempFile, wait_for_workers_with};

/// One attempt with a short timeout: a peer the broker never hears from
/// times out instead of waiting.
fn once(timeout: Duration) -> ClientOptions {
    ClientOptions::default()
        .timeout(timeout)
        .retry(RetryPolicy::never())
}

#[test]
fn a_curve_broker_serves_peers_that_know_its_key_and_nobody_else() {
    let Ok(server) = CurveKeyPair::generate() else {
        assert!(!curve_supported());
        // Any well-formed key will do: the broker refuses before using it.
        let key_file = TempFile::with_text("curve.key", &"HelloWorld".repeat(4));
        assert!(matches!(
            curve_broker(&key_file),
            Err(BrokerError::Socket(SocketError::CurveUnsupported))
        ));
        let key: CurveKey = "HelloWorld".repeat(4).parse().expect("key");
        let curve = Curve::Client {
            server: key,
            keys: CurveKeyPair {
                public: key,
                secret: key,
            },
        };
        let refused = Client::connect(
            "tcp://127.0.0.1:1",
            "echo",
            once(Duration::from_secs(1)).curve(curve),
        );
        assert!(
            matches!(
                &refused,
                Err(RequestError::Transport(SocketError::CurveUnsupported))
            ),
            "{:?}",
            refused.err()
        );
        return;
    };
    let key_file = TempFile::with_text("curve.key", &format!("{}\n", server.secret.to_z85()));
    let broker = curve_broker(&key_file)
        .expect("bind")
        .spawn()
        .expect("spawn");
    let client_curve = || Curve::client(server.public).expect("client keys");

    let stop = StopToken::new();
    let worker = Worker::new(
        broker.backend(),
        "echo",
        WorkerOptions::default().curve(client_curve()),
    )
    .expect("worker");
    let worker = {
        let stop = stop.clone();
        thread::spawn(move || worker.run(|_, payload| Ok(payload), &stop))
    };
    // Discovery goes through CURVE too; it shows the worker registered.
    wait_for_workers_with(
        broker.frontend(),
        "echo",
        1,
        once(Duration::from_secs(5)).curve(client_curve()),
    );

    let mut client = Client::connect(
        broker.frontend(),
        "echo",
        once(Duration::from_secs(10)).curve(client_curve()),
    )
    .expect("client");
    assert_eq!(client.request(b"sealed").expect("reply").body(), b"sealed");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let body = runtime.block_on(async {
        let client = AsyncClient::connect(
            broker.frontend(),
            "echo",
            once(Duration::from_secs(10)).curve(client_curve()),
        )
        .expect("async client");
        client
            .request(b"async sealed".to_vec())
            .await
            .expect("reply")
            .body()
            .to_vec()
    });
    assert_eq!(body, b"async sealed");

    // A plaintext peer and one that trusts another server's key never get
    // a handshake through: their requests time out.
    let mut plain = Client::connect(broker.frontend(), "echo", once(Duration::from_millis(500)))
        .expect("plain client");
    assert!(matches!(
        plain.request(b"x"),
        Err(RequestError::Timeout { .. })
    ));
    let impostor_of = CurveKeyPair::generate().expect("keys").public;
    let mut wrong = Client::connect(
        broker.frontend(),
        "echo",
        once(Duration::from_millis(500)).curve(Curve::client(impostor_of).expect("keys")),
    )
    .expect("client with the wrong server key");
    assert!(matches!(
        wrong.request(b"x"),
        Err(RequestError::Timeout { .. })
    ));

    stop.stop();
    worker.join().expect("worker thread").expect("worker ran");
    let stats = broker.stop().expect("broker stops");
    assert_eq!(stats.replies, 2, "{stats:?}");
}

#[test]
fn a_missing_or_malformed_key_file_is_a_startup_error() {
    let path = TempFile::path("missing.key");
    let err = curve_broker(&path).err().expect("no key file, no broker");
    assert!(matches!(err, BrokerError::CurveKey { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );

    let bad = TempFile::with_text("bad.key", "not a key");
    let err = curve_broker(&bad).err().expect("a bad key, no broker");
    assert!(matches!(err, BrokerError::CurveKey { .. }), "{err:?}");
    assert!(err.to_string().contains("40 Z85 characters"), "{err}");
}
