//! A `nats-server` process on an ephemeral loopback port, killed on drop.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::BenchError;
use crate::process::{Process, Watch};

/// How long the server may take to report its port.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// What the server logs once it accepts clients, before `host:port`.
const LISTENING: &str = "Listening for client connections on ";

/// A running `nats-server`.
pub(crate) struct NatsServer {
    process: Process,
    url: String,
}

impl NatsServer {
    /// Starts `binary` on `127.0.0.1` with a port of the kernel's choosing
    /// and waits until it logs the port.
    ///
    /// # Errors
    /// [`BenchError::Nats`] when it cannot start or does not report a port
    /// within 10 s.
    pub(crate) fn start(binary: &Path) -> Result<Self, BenchError> {
        let mut command = Command::new(binary);
        command.args(["-a", "127.0.0.1", "-p", "-1", "--no_advertise"]);
        let nats = |e: BenchError| BenchError::Nats(e.to_string());
        let process = Process::spawn("nats-server", &mut command, Watch::Stderr).map_err(nats)?;
        let addr = process
            .expect("a client port", START_TIMEOUT, |line| {
                line.split(LISTENING).nth(1).map(|a| a.trim().to_owned())
            })
            .map_err(nats)?;
        Ok(Self {
            process,
            url: format!("nats://{addr}"),
        })
    }

    /// The client URL, `nats://127.0.0.1:PORT`.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The server's process id, for its CPU time.
    pub(crate) fn pid(&self) -> u32 {
        self.process.pid()
    }
}
