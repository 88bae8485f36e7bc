//! `reqrep services` against an in-process broker with a worker process.

mod common;

use common::{reqrep, worker};
use reqrep_tests::broker::broker;
use reqrep_tests::process::run;
use reqrep_tests::wait_for_workers;

/// The rows of the services table, split into columns.
fn rows(stdout: &str) -> Vec<Vec<String>> {
    stdout
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect()
}

#[test]
fn services_lists_a_registered_worker() {
    let broker = broker(|_| {});
    let _echo = worker(broker.backend(), "echo", 3, &[]);
    wait_for_workers(broker.frontend(), "echo", 1);

    let out = run(reqrep(&["services", "--broker", broker.frontend()]), b"");
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let stdout = out.stdout_text();
    let header: Vec<&str> = stdout
        .lines()
        .next()
        .unwrap_or("")
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        header,
        [
            "NAME",
            "WORKERS",
            "FREE CREDITS",
            "QUEUE DEPTH",
            "IN FLIGHT"
        ],
        "{stdout}"
    );
    let rows = rows(&stdout);
    let echo_row = rows
        .iter()
        .find(|r| r.first().is_some_and(|name| name == "echo"))
        .unwrap_or_else(|| panic!("no echo row:\n{stdout}"));
    assert_eq!(echo_row, &["echo", "1", "3", "0", "0"], "{stdout}");
}

#[test]
fn an_idle_broker_lists_no_worker() {
    let broker = broker(|_| {});
    let out = run(reqrep(&["services", "--broker", broker.frontend()]), b"");
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let stdout = out.stdout_text();
    assert!(stdout.starts_with("NAME"), "{stdout}");
    assert!(
        rows(&stdout)
            .iter()
            .all(|r| r.get(1).is_some_and(|w| w == "0")),
        "{stdout}"
    );
}

/// The `echo` row of the table that follows `heading` in `stdout`.
fn echo_row_after(stdout: &str, heading: &str) -> Vec<String> {
    stdout
        .lines()
        .skip_while(|l| *l != heading)
        .skip(2)
        .take_while(|l| !l.is_empty())
        .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .find(|r| r.first().is_some_and(|name| name == "echo"))
        .unwrap_or_else(|| panic!("no echo row after {heading:?}:\n{stdout}"))
}

#[test]
fn services_with_two_brokers_prints_each_view_and_the_merged_one() {
    let (a, b) = (broker(|_| {}), broker(|_| {}));
    let _on_a = worker(a.backend(), "echo", 3, &[]);
    let _on_b = worker(b.backend(), "echo", 5, &[]);
    let _other_on_b = worker(b.backend(), "echo", 2, &[]);
    wait_for_workers(a.frontend(), "echo", 1);
    wait_for_workers(b.frontend(), "echo", 2);

    let comma = format!("{},{}", a.frontend(), b.frontend());
    let repeated = ["--broker", a.frontend(), "--broker", b.frontend()];
    for args in [vec!["services", "--broker", &comma], {
        let mut v = vec!["services"];
        v.extend(repeated);
        v
    }] {
        let out = run(reqrep(&args), b"");
        assert_eq!(out.code, Some(0), "{}", out.describe());
        let stdout = out.stdout_text();
        let view_a = format!("broker {}:", a.frontend());
        let view_b = format!("broker {}:", b.frontend());
        assert_eq!(
            echo_row_after(&stdout, &view_a),
            ["echo", "1", "3", "0", "0"]
        );
        assert_eq!(
            echo_row_after(&stdout, &view_b),
            ["echo", "2", "7", "0", "0"]
        );
        assert_eq!(
            echo_row_after(&stdout, "merged (2 of 2 brokers):"),
            ["echo", "3", "10", "0", "0"],
            "{stdout}"
        );
    }
}
