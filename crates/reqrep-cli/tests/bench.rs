//! `reqrep bench` as a process against a broker with `reqrep worker`
//! processes: every request counted, the summary and the JSON file agree,
//! errors are reported by status code, SIGINT prints the summary so far.

mod common;

use std::time::Duration;

use common::{assert_all_answered, reqrep, summary_value, worker};
use reqrep_tests::broker::broker;
use reqrep_tests::process::{Proc, run};
use reqrep_tests::{WAIT, wait_for_workers};

#[test]
fn a_counted_load_is_answered_in_full_and_written_as_json() {
    let broker = broker(|_| {});
    let _echo = worker(broker.backend(), "echo", 8, &[]);
    wait_for_workers(broker.frontend(), "echo", 1);
    let json = reqrep_tests::TempFile::path("bench.json");
    let out = run(
        reqrep(&[
            "bench",
            "--broker",
            broker.frontend(),
            "--requests",
            "2000",
            "--in-flight",
            "32",
            "--clients",
            "2",
            "--payload-bytes",
            "100",
            "--check-echo",
            "--json",
            json.as_str(),
        ]),
        b"",
    );
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let stdout = out.stdout_text();
    assert_all_answered(&stdout, "2,000");
    for metric in [
        "latency p50",
        "latency p90",
        "latency p99",
        "latency p99.9",
        "latency max",
    ] {
        assert!(
            summary_value(&stdout, metric).is_some(),
            "{metric}: {stdout}"
        );
    }
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json.as_str()).expect("the JSON file"))
            .expect("JSON");
    assert_eq!(written["requests"], 2000, "{written}");
    assert_eq!(written["ok"], 2000, "{written}");
    assert_eq!(written["clients"], 2, "{written}");
    assert_eq!(written["interrupted"], false, "{written}");
    assert!(
        written["throughput_rps"].as_f64().unwrap_or(0.0) > 0.0,
        "{written}"
    );
    assert!(
        written["latency_us"]["p99.9"].as_u64().is_some(),
        "{written}"
    );
}

#[test]
fn failed_requests_are_counted_by_status_code_and_exit_1() {
    let broker = broker(|_| {});
    // No worker for the service: every request times out at the broker.
    let out = run(
        reqrep(&[
            "bench",
            "--broker",
            broker.frontend(),
            "--service",
            "nobody-home",
            "--requests",
            "20",
            "--in-flight",
            "4",
            "--timeout-ms",
            "200",
        ]),
        b"",
    );
    assert_eq!(out.code, Some(1), "{}", out.describe());
    let stdout = out.stdout_text();
    assert_eq!(
        summary_value(&stdout, "requests").as_deref(),
        Some("20"),
        "{stdout}"
    );
    assert_eq!(
        summary_value(&stdout, "errors DEADLINE_EXCEEDED").as_deref(),
        Some("20"),
        "{stdout}"
    );
}

#[test]
fn sigint_stops_a_timed_load_and_prints_the_summary_so_far() {
    let broker = broker(|_| {});
    let _echo = worker(broker.backend(), "echo", 4, &[]);
    wait_for_workers(broker.frontend(), "echo", 1);
    let mut bench = Proc::spawn(reqrep(&[
        "bench",
        "--broker",
        broker.frontend(),
        "--duration",
        "10m",
        "--in-flight",
        "8",
    ]));
    bench.wait_for_line("first reply received", WAIT);
    bench.signal("INT");
    assert_eq!(
        bench.wait_exit(Duration::from_secs(30)),
        Some(0),
        "{}",
        bench.output()
    );
    let output = bench.output();
    assert!(output.contains("interrupted"), "{output}");
    let ok = summary_value(&output, "replies OK").expect("a summary");
    assert_ne!(ok, "0", "{output}");
    assert_eq!(
        summary_value(&output, "errors").as_deref(),
        Some("0"),
        "{output}"
    );
}
