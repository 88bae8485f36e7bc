//! The broker binary as a child process for tests: started on ephemeral
//! loopback ports (and an ephemeral metrics port), its endpoints read back
//! from its JSON `broker bound` log line, never fixed.
//!
//! The binary's path comes from the caller: cargo gives it only to the
//! broker package's own integration tests, as `CARGO_BIN_EXE_reqrep-broker`.

use std::path::Path;

use crate::WAIT;
use crate::broker::EPHEMERAL;
use crate::process::{Proc, command};

/// Flags that bind both sides of the broker to ephemeral loopback ports.
pub const EPHEMERAL_ENDPOINTS: [&str; 4] = ["--frontend", EPHEMERAL, "--backend", EPHEMERAL];

/// A running broker process with the endpoints it bound.
pub struct BrokerProcess {
    /// The process (killed on drop).
    pub proc: Proc,
    /// Where clients connect.
    pub frontend: String,
    /// Where workers connect.
    pub backend: String,
    /// The metrics and health HTTP address (`host:port`).
    pub metrics: String,
}

impl BrokerProcess {
    /// Starts the broker binary at `binary` on ephemeral ports with JSON
    /// logs, `extra` flags appended, and waits for it to have bound.
    ///
    /// # Panics
    /// When it does not report its endpoints within [`WAIT`].
    pub fn start(binary: &Path, extra: &[&str]) -> Self {
        let mut command = command(binary);
        command.args(EPHEMERAL_ENDPOINTS);
        command.args(["--metrics-addr", "127.0.0.1:0", "--log-format", "json"]);
        command.args(extra);
        Self::spawn(command)
    }

    /// Starts `command`, a broker logging JSON (`--log-format json`), and
    /// waits for it to have bound: for a broker started some other way
    /// (inside a network namespace, say).
    ///
    /// # Panics
    /// When it does not report its endpoints within [`WAIT`].
    pub fn spawn(command: std::process::Command) -> Self {
        let mut proc = Proc::spawn(command);
        let line = proc.wait_for_line("broker bound", WAIT);
        let json: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        let field = |name: &str| {
            json["fields"][name]
                .as_str()
                .unwrap_or_else(|| panic!("no {name} in {line}"))
                .to_owned()
        };
        Self {
            frontend: field("frontend"),
            backend: field("backend"),
            metrics: field("metrics"),
            proc,
        }
    }
}
