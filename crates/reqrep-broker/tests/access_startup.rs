//! The broker binary refuses to start with an access policy it cannot
//! enforce: a malformed policy file (exit 2, naming the file, the line and
//! the entry), an access file without CURVE (exit 2), and on a libzmq
//! without CURVE a valid policy too (exit 1, as any CURVE setting there).
//! On every build.

use std::process::Command;

use reqrep_core::socket::curve_supported;
use reqrep_tests::TempFile;
use reqrep_tests::broker_process::EPHEMERAL_ENDPOINTS;
use reqrep_tests::process::{command, run};

const BROKER: &str = env!("CARGO_BIN_EXE_reqrep-broker");

fn broker(args: &[&str]) -> Command {
    let mut command = command(BROKER);
    command.args(EPHEMERAL_ENDPOINTS);
    command.args(["--metrics-addr", "off"]);
    command.args(args);
    command
}

#[test]
fn policy_file_errors_exit_2_naming_the_file_line_and_entry() {
    // Any well-formed key will do: the policy is read first.
    let key = TempFile::with_text("broker.key", &"HelloWorld".repeat(4));
    let web = "HelloWorld".repeat(4);
    let cases = [
        (
            format!(
                "[[identity]]\nname = \"web\"\nkey = \"{web}\"\ncall = [\"a\"]\n\n[[identity]]\nname = \"app\"\nkey = \"{web}\"\ncall = [\"b\"]\n"
            ),
            "line 8, identity #2 (\"app\"): duplicate key",
        ),
        (
            format!("[[identity]]\nname = \"web\"\nkey = \"{web}\"\ncall = [\"pay*ments\"]\n"),
            "line 4, identity #1 (\"web\"): call pattern: pattern \"pay*ments\"",
        ),
        (
            format!("[[identity]]\nname = \"web\"\nkey = \"{web}\"\ncalls = [\"a\"]\n"),
            "line 4, identity #1 (\"web\"): unknown field `calls`",
        ),
        ("not toml at all\n".to_owned(), "line 1"),
    ];
    for (text, expected) in cases {
        let policy = TempFile::with_text("access.toml", &text);
        let out = run(
            broker(&[
                "--curve-secret-key-file",
                key.as_str(),
                "--access-file",
                policy.as_str(),
            ]),
            b"",
        );
        assert_eq!(out.code, Some(2), "{}", out.describe());
        let named = format!("access file {}, {expected}", policy.as_str());
        assert!(
            out.stderr.contains(&named),
            "wanted {named:?}: {}",
            out.describe()
        );
    }
    let missing = TempFile::path("none.toml");
    let out = run(
        broker(&[
            "--curve-secret-key-file",
            key.as_str(),
            "--access-file",
            missing.as_str(),
        ]),
        b"",
    );
    assert_eq!(out.code, Some(2), "{}", out.describe());
    assert!(
        out.stderr
            .contains(&format!("cannot read access file {}", missing.as_str())),
        "{}",
        out.describe()
    );
}

#[test]
fn an_access_file_without_curve_exits_2() {
    let policy = TempFile::with_text("access.toml", "");
    let out = run(broker(&["--access-file", policy.as_str()]), b"");
    assert_eq!(out.code, Some(2), "{}", out.describe());
    assert!(
        out.stderr.contains(
            "invalid setting access_file: an access policy without CURVE would only pretend to be secure"
        ),
        "{}",
        out.describe()
    );
}

#[test]
fn a_valid_policy_on_a_build_without_curve_is_refused_at_startup() {
    if curve_supported() {
        return;
    }
    assert_ne!(
        std::env::var("REQREP_EXPECT_CURVE").as_deref(),
        Ok("1"),
        "CURVE expected but the linked libzmq has none"
    );
    let key = TempFile::with_text("broker.key", &"HelloWorld".repeat(4));
    let policy = TempFile::with_text(
        "access.toml",
        &format!(
            "[[identity]]\nname = \"web\"\nkey = \"{}\"\ncall = [\"*\"]\n",
            "HelloWorld".repeat(4)
        ),
    );
    let out = run(
        broker(&[
            "--curve-secret-key-file",
            key.as_str(),
            "--access-file",
            policy.as_str(),
        ]),
        b"",
    );
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(
        out.stderr.contains("no CURVE support"),
        "{}",
        out.describe()
    );
}
