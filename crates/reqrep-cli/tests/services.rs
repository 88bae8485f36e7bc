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
