//! One module per subcommand: its arguments (clap derive) and its `run`.

pub mod demo;
pub mod keygen;
pub mod request;
pub mod services;
pub mod worker;

use std::time::Duration;

/// The broker frontend clients connect to, as the broker binds it by default.
pub const DEFAULT_FRONTEND: &str = "tcp://127.0.0.1:5555";
/// The broker backend workers connect to, as the broker binds it by default.
pub const DEFAULT_BACKEND: &str = "tcp://127.0.0.1:5556";

/// Whole milliseconds from the command line as a [`Duration`].
fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// `--server-key`: the broker's CURVE public key, for commands that connect
/// to a broker that requires CURVE.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CurveArgs {
    /// The broker's CURVE public key (40 Z85 characters, as `reqrep keygen`
    /// prints it): connect with CURVE encryption, using a fresh key pair of
    /// our own. Needs a libzmq with CURVE. Default: plaintext.
    #[arg(long, value_name = "KEY", value_parser = parse_key)]
    pub server_key: Option<reqrep_core::curve::CurveKey>,
}

impl CurveArgs {
    /// `options` with the CURVE client role these arguments ask for (a fresh
    /// key pair of our own), set by `set` (`ClientOptions::curve`,
    /// `WorkerOptions::curve`); `options` unchanged without `--server-key`.
    ///
    /// # Errors
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
        let curve = reqrep_core::curve::Curve::client(key)
            .map_err(reqrep_agents::RequestError::Transport)?;
        Ok(set(options, curve))
    }
}

fn parse_key(text: &str) -> Result<reqrep_core::curve::CurveKey, String> {
    text.parse()
        .map_err(|e: reqrep_core::curve::CurveKeyError| e.to_string())
}
