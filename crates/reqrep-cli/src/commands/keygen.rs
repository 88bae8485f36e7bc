//! `reqrep keygen`: a CURVE key pair for a broker (or any CURVE server).

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use reqrep_core::curve::CurveKeyPair;

use crate::CliError;

/// Arguments of `reqrep keygen`.
#[derive(Debug, Clone, Args)]
pub struct KeygenArgs {
    /// Write the secret key to this new file (readable by its owner only)
    /// instead of printing it; the broker reads it with
    /// `--curve-secret-key-file`. An existing file is never overwritten.
    #[arg(long, value_name = "PATH")]
    pub secret_file: Option<PathBuf>,
}

/// Generates a key pair and prints `public-key: ...` (and `secret-key: ...`
/// unless it went to `--secret-file`).
///
/// # Errors
/// [`CliError::Request`] (exit code 3) on a libzmq without CURVE;
/// [`CliError::Io`] when the secret file cannot be created.
pub fn run(args: &KeygenArgs) -> Result<(), CliError> {
    let pair = CurveKeyPair::generate()
        .map_err(|e| CliError::from(reqrep_agents::RequestError::from(e)))?;
    let mut out = format!("public-key: {}\n", pair.public.to_z85());
    match &args.secret_file {
        Some(path) => write_secret(path, &format!("{}\n", pair.secret.to_z85()))
            .map_err(|e| CliError::io("create the secret key file", e))?,
        None => out.push_str(&format!("secret-key: {}\n", pair.secret.to_z85())),
    }
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| CliError::io("write stdout", e))
}

/// Creates `path` (which must not exist) with owner-only permissions and
/// writes `text` to it.
fn write_secret(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(text.as_bytes())
}
