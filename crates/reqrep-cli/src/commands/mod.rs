//! One module per subcommand: its arguments (clap derive) and its `run`.

pub mod bench;
pub mod demo;
pub mod keygen;
pub mod request;
pub mod services;
pub mod worker;

use std::path::PathBuf;
use std::time::Duration;

/// The broker frontend clients connect to, as the broker binds it by default.
pub const DEFAULT_FRONTEND: &str = "tcp://127.0.0.1:5555";
/// The broker backend workers connect to, as the broker binds it by default.
pub const DEFAULT_BACKEND: &str = "tcp://127.0.0.1:5556";

/// Whole milliseconds from the command line as a [`Duration`].
fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// `--server-key` and `--key-file`: CURVE for commands that connect to a
/// broker that requires it.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CurveArgs {
    /// The broker's CURVE public key (40 Z85 characters, as `reqrep keygen`
    /// prints it): connect with CURVE encryption, as the identity in
    /// --key-file, or else with a fresh key pair of our own (which a broker
    /// with an access policy refuses). Needs a libzmq with CURVE. Default:
    /// plaintext.
    #[arg(long, value_name = "KEY", value_parser = parse_key)]
    pub server_key: Option<reqrep_core::curve::CurveKey>,

    /// A key file (as `reqrep keygen --secret-file` writes it) holding this
    /// client's or worker's CURVE key pair: its identity, whose public key a
    /// broker's access policy lists. Needs --server-key. Default: a fresh
    /// key pair.
    #[arg(long, value_name = "PATH", requires = "server_key")]
    pub key_file: Option<PathBuf>,
}

impl CurveArgs {
    /// `options` with the CURVE client role these arguments ask for (the
    /// key pair in `--key-file`, else a fresh one), set by `set`
    /// (`ClientOptions::curve`, `WorkerOptions::curve`); `options` unchanged
    /// without `--server-key`.
    ///
    /// # Errors
    /// [`CliError::KeyFile`](crate::CliError::KeyFile) (exit code 2) for a
    /// missing or malformed key file;
    /// [`CliError::Request`](crate::CliError::Request) (exit code 3) on a
    /// libzmq without CURVE.
    pub fn apply<O>(
        &self,
        options: O,
        set: impl FnOnce(O, reqrep_core::curve::Curve) -> O,
    ) -> Result<O, crate::CliError> {
        let Some(key) = self.server_key else {
            return Ok(options);
        };
        let curve = match &self.key_file {
            Some(path) => reqrep_core::curve::Curve::client_with(key, load_key_file(path)?),
            None => reqrep_core::curve::Curve::client(key)
                .map_err(reqrep_agents::RequestError::Transport)?,
        };
        Ok(set(options, curve))
    }
}

/// The key pair in the key file at `path`.
///
/// # Errors
/// [`CliError::KeyFile`](crate::CliError::KeyFile), naming the file (and
/// the line, for a malformed one).
pub fn load_key_file(
    path: &std::path::Path,
) -> Result<reqrep_core::curve::CurveKeyPair, crate::CliError> {
    Ok(reqrep_core::curve::CurveKeyPair::load(path)?)
}

fn parse_key(text: &str) -> Result<reqrep_core::curve::CurveKey, String> {
    text.parse()
        .map_err(|e: reqrep_core::curve::CurveKeyError| e.to_string())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::{Cli, CliCommand, exit};

    const KEY: &str = "HelloWorldHelloWorldHelloWorldHelloWorld";

    fn curve_of(argv: &[&str]) -> super::CurveArgs {
        match Cli::try_parse_from(argv).expect("parses").command {
            CliCommand::Request(args) => args.curve,
            CliCommand::Worker(args) => args.curve,
            CliCommand::Services(args) => args.curve,
            CliCommand::Bench(args) => args.curve,
            other => panic!("no CURVE arguments: {other:?}"),
        }
    }

    #[test]
    fn a_key_file_needs_the_server_key_on_every_command() {
        for command in [
            &["reqrep", "request", "--service", "echo"][..],
            &["reqrep", "worker", "--service", "echo"],
            &["reqrep", "services"],
        ] {
            let mut argv = command.to_vec();
            argv.extend(["--key-file", "me.key"]);
            let err = Cli::try_parse_from(&argv).expect_err("needs --server-key");
            assert_eq!(err.exit_code(), i32::from(exit::USAGE), "{argv:?}");
            assert!(err.to_string().contains("--server-key"), "{err}");

            argv.extend(["--server-key", KEY]);
            let curve = curve_of(&argv);
            assert_eq!(curve.key_file.as_deref(), Some("me.key".as_ref()));
            assert!(curve.server_key.is_some());
        }
    }

    #[test]
    fn a_missing_key_file_is_a_usage_error_naming_it() {
        let curve = curve_of(&[
            "reqrep",
            "services",
            "--server-key",
            KEY,
            "--key-file",
            "/nonexistent/reqrep/me.key",
        ]);
        let err = curve.apply((), |(), _| ()).expect_err("no such key file");
        assert_eq!(err.exit_code(), exit::USAGE);
        assert!(
            err.to_string().contains("/nonexistent/reqrep/me.key"),
            "{err}"
        );
    }
}
