//! Why the broker could not start or stopped abnormally.

use std::net::SocketAddr;
use std::path::PathBuf;

use reqrep_core::socket::SocketError;

use crate::access::AccessFileError;

/// Why the broker could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// A socket could not be created, configured or bound.
    #[error(transparent)]
    Socket(#[from] SocketError),
    /// The metrics HTTP server could not start.
    #[error("cannot serve metrics on {addr}: {source}")]
    Http {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The poll loop failed.
    #[error("broker loop failed: {0}")]
    Poll(#[from] zmq::Error),
    /// The broker thread panicked.
    #[error("broker thread panicked")]
    Panicked,
    /// The CURVE secret key file could not be read or holds no key.
    #[error("cannot use CURVE secret key file {}: {reason}", path.display())]
    CurveKey {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The access file could not be read or is not a valid policy.
    #[error(transparent)]
    AccessFile(#[from] AccessFileError),
    /// An access file without a CURVE secret key: identities without
    /// encryption would only pretend to be secure.
    #[error(
        "an access policy without CURVE would only pretend to be secure: set curve_secret_key_file too"
    )]
    AccessWithoutCurve,
}

impl BrokerError {
    /// Whether the error is in the settings or files the broker was given
    /// (nothing was started): the binary exits 2 for these.
    pub fn is_configuration(&self) -> bool {
        matches!(self, Self::AccessFile(_) | Self::AccessWithoutCurve)
    }
}
