//! `reqrep request` and `reqrep worker` as processes, against an in-process
//! broker on ephemeral ports.

mod common;

use common::{reqrep, worker};
use reqrep_tests::broker::broker;
use reqrep_tests::process::run;
use reqrep_tests::{WAIT, wait_for_workers};

#[test]
fn a_request_is_echoed_by_a_worker_process() {
    let broker = broker(|_| {});
    let mut echo = worker(broker.backend(), "echo", 2, &[]);
    wait_for_workers(broker.frontend(), "echo", 1);

    let out = run(
        reqrep(&[
            "request",
            "--broker",
            broker.frontend(),
            "--service",
            "echo",
            "hello",
        ]),
        b"",
    );
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert_eq!(out.stdout, b"hello", "{}", out.describe());

    // `-` sends stdin as it is, bytes that are not text included.
    let payload = b"line one\nline two\n\x00\xff\xfe".to_vec();
    let out = run(
        reqrep(&[
            "request",
            "--broker",
            broker.frontend(),
            "--service",
            "echo",
            "--idempotent",
            "-",
        ]),
        &payload,
    );
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert_eq!(out.stdout, payload, "{}", out.describe());

    // The worker stops cleanly on SIGTERM.
    assert_eq!(echo.terminate(WAIT), Some(0), "{}", echo.output());
    assert!(
        echo.output().contains("echo worker stopped"),
        "{}",
        echo.output()
    );
}

#[test]
fn fail_fast_without_a_worker_is_unavailable() {
    let broker = broker(|_| {});
    let out = run(
        reqrep(&[
            "request",
            "--broker",
            broker.frontend(),
            "--service",
            "nobody-home",
            "--fail-fast",
            "--retries",
            "1",
            "ping",
        ]),
        b"",
    );
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(out.stdout.is_empty(), "{}", out.describe());
    assert!(
        out.stderr.contains("error: UNAVAILABLE"),
        "{}",
        out.describe()
    );
}

#[test]
fn no_worker_within_the_timeout_is_deadline_exceeded() {
    let broker = broker(|_| {});
    let out = run(
        reqrep(&[
            "request",
            "--broker",
            broker.frontend(),
            "--service",
            "nobody-home",
            "--timeout-ms",
            "300",
            "--retries",
            "1",
            "ping",
        ]),
        b"",
    );
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(out.stdout.is_empty(), "{}", out.describe());
    assert!(
        out.stderr.contains("error: DEADLINE_EXCEEDED"),
        "{}",
        out.describe()
    );
}

/// With two brokers the request goes to the first; the first has no
/// worker and fails fast with UNAVAILABLE, so the idempotent retry goes to
/// the other broker (never the one that just failed) and is served there.
/// Not idempotent, the retry stays on the first broker and the request
/// fails there.
#[test]
fn an_idempotent_retry_goes_to_the_other_broker() {
    let (empty, served) = (broker(|_| {}), broker(|_| {}));
    let _echo = worker(served.backend(), "echo", 2, &[]);
    wait_for_workers(served.frontend(), "echo", 1);
    let brokers = format!("{},{}", empty.frontend(), served.frontend());
    let ask = |extra: &[&str]| {
        let mut args = vec!["request", "--broker", &brokers, "--service", "echo"];
        args.extend(["--fail-fast", "--retries", "2"]);
        args.extend(extra);
        args.push("hello");
        run(reqrep(&args), b"")
    };
    let out = ask(&["--idempotent"]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert_eq!(out.stdout, b"hello", "{}", out.describe());

    let out = ask(&[]);
    assert_ne!(out.code, Some(0), "{}", out.describe());
    assert!(out.stderr.contains("UNAVAILABLE"), "{}", out.describe());
}
