//! `reqrep demo` end to end: broker, workers and load in one process.

mod common;

use common::{assert_all_answered, reqrep, summary_value};
use reqrep_tests::process::run;

#[test]
fn a_short_demo_answers_every_request() {
    let out = run(reqrep(&["demo", "--requests", "500"]), b"");
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let stdout = out.stdout_text();
    assert_all_answered(&stdout, "500");
    for metric in [
        "elapsed",
        "throughput",
        "latency p50",
        "latency p99",
        "latency p99.9",
    ] {
        assert!(
            summary_value(&stdout, metric).is_some(),
            "no {metric}: {stdout}"
        );
    }
    assert!(
        summary_value(&stdout, "throughput").is_some_and(|v| v.ends_with(" req/s")),
        "{stdout}"
    );
    // It says how it is set up for throughput.
    assert!(
        stdout.contains("configured for throughput: each worker runs its handler inline")
            && stdout.contains("current-thread tokio runtime with 128 in flight"),
        "{stdout}"
    );
    // Not a terminal: no progress bar, no escape sequences anywhere.
    assert!(!stdout.contains('\x1b'), "{stdout:?}");
    assert!(!out.stderr.contains('\r'), "{}", out.stderr);
    // And the broker shut down cleanly.
    assert!(out.stderr.contains("broker stopped"), "{}", out.describe());
}

#[test]
fn the_demo_honours_its_load_settings() {
    let out = run(
        reqrep(&[
            "demo",
            "--requests",
            "300",
            "--workers",
            "2",
            "--credits",
            "3",
            "--in-flight",
            "7",
            "--payload-bytes",
            "1000",
        ]),
        b"",
    );
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let stdout = out.stdout_text();
    assert!(
        stdout.starts_with(
            "reqrep demo: 300 requests of 1000 B, 7 in flight, 2 echo workers x 3 credits"
        ),
        "{stdout}"
    );
    assert_eq!(
        summary_value(&stdout, "replies OK").as_deref(),
        Some("300"),
        "{stdout}"
    );
}

#[test]
fn the_demo_spreads_its_load_over_several_brokers() {
    let out = run(
        reqrep(&[
            "demo",
            "--requests",
            "300",
            "--brokers",
            "3",
            "--workers",
            "4",
        ]),
        b"",
    );
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let stdout = out.stdout_text();
    assert!(
        stdout.starts_with(
            "reqrep demo: 300 requests of 64 B, 128 in flight, 4 echo workers x 16 credits, 3 brokers"
        ),
        "{stdout}"
    );
    assert_eq!(
        summary_value(&stdout, "replies OK").as_deref(),
        Some("300"),
        "{stdout}"
    );
    assert_eq!(
        out.stderr.matches("broker stopped").count(),
        3,
        "every broker ran and stopped: {}",
        out.describe()
    );

    let out = run(reqrep(&["demo", "--brokers", "3", "--workers", "2"]), b"");
    assert_eq!(out.code, Some(2), "{}", out.describe());
}
