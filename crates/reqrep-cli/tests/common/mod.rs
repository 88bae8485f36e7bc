//! What the `reqrep` binary tests share beyond the workspace's test support
//! (`reqrep-tests`): the binary itself, which only this package's tests can
//! name (`CARGO_BIN_EXE_reqrep`), and `reqrep worker` processes.

#![allow(dead_code)] // each test file uses a subset

use std::process::Command;

use reqrep_tests::process::{Proc, command};

/// `reqrep` with `args`, isolated from the `REQREP_*` settings of the
/// environment running the tests.
pub(crate) fn reqrep(args: &[&str]) -> Command {
    let mut command = command(env!("CARGO_BIN_EXE_reqrep"));
    command.args(args);
    command
}

/// `reqrep worker` for `service` at the broker backend `backend`, with
/// `extra` flags, running until dropped.
pub(crate) fn worker(backend: &str, service: &str, credits: u32, extra: &[&str]) -> Proc {
    let credits = credits.to_string();
    let mut command = reqrep(&[
        "worker",
        "--broker",
        backend,
        "--service",
        service,
        "--credits",
        &credits,
    ]);
    command.args(extra);
    Proc::spawn(command)
}

/// The value cell of the summary row named `metric` (`reqrep demo`,
/// `reqrep bench`).
pub(crate) fn summary_value(stdout: &str, metric: &str) -> Option<String> {
    stdout.lines().find_map(|line| {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // "| metric | value |" splits into ["", metric, value, ""].
        (cells.len() == 4 && cells[1] == metric).then(|| cells[2].to_owned())
    })
}

/// Asserts that the summary in `stdout` counts `requests` requests (as
/// printed, `2,000`), as many OK replies and no errors.
pub(crate) fn assert_all_answered(stdout: &str, requests: &str) {
    assert_eq!(
        summary_value(stdout, "requests").as_deref(),
        Some(requests),
        "{stdout}"
    );
    assert_eq!(
        summary_value(stdout, "replies OK").as_deref(),
        Some(requests),
        "{stdout}"
    );
    assert_eq!(
        summary_value(stdout, "errors").as_deref(),
        Some("0"),
        "{stdout}"
    );
}
