//! `reqrep --help` and usage errors, from the real binary.

mod common;

use common::reqrep;
use reqrep_tests::process::run;

#[test]
fn help_lists_every_subcommand_and_the_exit_codes() {
    let out = run(reqrep(&["--help"]), b"");
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let text = out.stdout_text();
    for subcommand in ["request", "worker", "services", "demo"] {
        assert!(
            text.lines()
                .any(|l| l.trim_start().starts_with(&format!("{subcommand} "))),
            "--help does not list {subcommand}:\n{text}"
        );
    }
    assert!(text.contains("Exit codes"), "{text}");
}

#[test]
fn every_subcommand_has_help() {
    for subcommand in ["request", "worker", "services", "demo"] {
        let out = run(reqrep(&[subcommand, "--help"]), b"");
        assert_eq!(out.code, Some(0), "{subcommand}: {}", out.describe());
        let text = out.stdout_text();
        assert!(text.contains("--broker") || subcommand == "demo");
        assert!(text.contains("--key-file"), "{subcommand}: {text}");
    }
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["--no-such-flag"][..],
        &["request"],
        &["request", "--service", "echo", "--retries", "zero"],
        &["demo", "--requests", "0"],
    ] {
        let out = run(reqrep(args), b"");
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.describe());
    }
}

#[test]
fn an_endpoint_without_a_transport_is_a_usage_error() {
    let out = run(
        reqrep(&[
            "request",
            "--broker",
            "localhost:5555",
            "--service",
            "echo",
            "x",
        ]),
        b"",
    );
    assert_eq!(out.code, Some(2), "{}", out.describe());
    assert!(out.stderr.contains("error: "), "{}", out.describe());
    assert!(out.stderr.contains("localhost:5555"), "{}", out.describe());
}
