//! `reqrep keygen`: a CURVE key pair for a broker, a client or a worker.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use reqrep_core::curve::CurveKeyPair;

use crate::CliError;

/// Arguments of `reqrep keygen`.
#[derive(Debug, Clone, Args)]
pub struct KeygenArgs {
    /// Write the key pair to this new file (readable by its owner only)
    /// instead of printing the secret key: the file `--key-file` of a client
    /// or worker reads (its identity), or the broker's
    /// `--curve-secret-key-file`. The printed public-key line is what goes
    /// into a broker's access policy. An existing file is never overwritten.
    #[arg(long, value_name = "PATH")]
    pub secret_file: Option<PathBuf>,
}

/// Generates a key pair and prints `public-key: ...` (and `secret-key: ...`
/// unless the pair went to `--secret-file`).
///
/// # Errors
/// [`CliError::Request`] (exit code 3) on a libzmq without CURVE;
/// [`CliError::Io`] when the key file cannot be created (it exists, say).
pub fn run(args: &KeygenArgs) -> Result<(), CliError> {
    let pair = CurveKeyPair::generate()
        .map_err(|e| CliError::from(reqrep_agents::RequestError::from(e)))?;
    let mut out = format!("public-key: {}\n", pair.public.to_z85());
    match &args.secret_file {
        Some(path) => pair.write_key_file(path).map_err(|e| {
            let named = std::io::Error::new(e.kind(), format!("{}: {e}", path.display()));
            CliError::io("create the key file", named)
        })?,
        None => out.push_str(&format!("secret-key: {}\n", pair.secret.to_z85())),
    }
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| CliError::io("write stdout", e))
}
