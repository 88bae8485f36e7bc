//! A `nats-server` process on an ephemeral loopback port, killed on drop.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::BenchError;

/// How long the server may take to report its port.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// What the server logs once it accepts clients, before `host:port`.
const LISTENING: &str = "Listening for client connections on ";

/// A running `nats-server`.
pub(crate) struct NatsServer {
    child: Child,
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
        let mut child = Command::new(binary)
            .args(["-a", "127.0.0.1", "-p", "-1", "--no_advertise"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| BenchError::Nats(format!("start {}: {e}", binary.display())))?;
        let Some(stderr) = child.stderr.take() else {
            let _ = child.kill();
            return Err(BenchError::Nats("no stderr pipe".to_owned()));
        };
        let (tx, rx) = mpsc::channel();
        // Reads the log to the end, so the server never blocks on a full
        // pipe; the first LISTENING line gives the port.
        std::thread::Builder::new()
            .name("nats-server-log".to_owned())
            .spawn(move || {
                let mut tx = Some(tx);
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Some(addr) = line.split(LISTENING).nth(1)
                        && let Some(tx) = tx.take()
                    {
                        let _ = tx.send(addr.trim().to_owned());
                    }
                }
            })
            .map_err(BenchError::thread)?;
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => Ok(Self {
                child,
                url: format!("nats://{addr}"),
            }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(BenchError::Nats(format!(
                    "{} reported no client port within {} s",
                    binary.display(),
                    START_TIMEOUT.as_secs()
                )))
            }
        }
    }

    /// The client URL, `nats://127.0.0.1:PORT`.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The server's process id, for its CPU time.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
