//! What can go wrong in a subcommand, and the exit code each failure maps to.

use reqrep_agents::{RequestError, WorkerError};
use reqrep_broker::BrokerError;
use reqrep_core::curve::KeyFileError;
use reqrep_core::socket::SocketError;

use crate::table::thousands;

/// The process exit codes of `reqrep`.
pub mod exit {
    /// A request failed: an error status (`PERMISSION_DENIED` among them), a
    /// timeout, or failed demo requests; or the broker refused a worker.
    pub const REQUEST: u8 = 1;
    /// Invalid arguments (clap uses the same code for its usage errors).
    pub const USAGE: u8 = 2;
    /// A local failure: I/O, sockets, threads, the demo broker.
    pub const LOCAL: u8 = 3;
}

/// Why a subcommand failed. The `Display` text is what follows `error: ` on
/// stderr.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// A request (or the discovery query) got no successful reply.
    #[error("{}", describe_request_error(.0))]
    Request(#[from] RequestError),
    /// A worker could not run.
    #[error("worker failed: {0}")]
    Worker(#[from] WorkerError),
    /// The demo's broker could not start or stopped abnormally.
    #[error("broker failed: {0}")]
    Broker(#[from] BrokerError),
    /// Reading input, writing output, or starting a thread failed.
    #[error("cannot {what}: {source}")]
    Io {
        /// What was being done, e.g. `read stdin`.
        what: &'static str,
        /// The cause.
        source: std::io::Error,
    },
    /// Some of the demo's requests failed (the summary shows which codes).
    #[error("{} of {} requests failed", thousands(*.failed), thousands(*.total))]
    RequestsFailed {
        /// Requests without a correct reply.
        failed: u64,
        /// Requests sent.
        total: u64,
    },
    /// The arguments make no sense together.
    #[error("{0}")]
    Usage(String),
    /// A `--key-file` cannot be used: missing, unreadable or malformed (a
    /// usage error), or its public key cannot be derived on a libzmq
    /// without CURVE (a local failure). The message names the file, and the
    /// line for a malformed one.
    #[error("{0}")]
    KeyFile(#[from] KeyFileError),
}

impl CliError {
    /// An I/O failure while doing `what`.
    pub fn io(what: &'static str, source: std::io::Error) -> Self {
        Self::Io { what, source }
    }

    /// The process exit code for this error (see [`exit`]).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Request(RequestError::Transport(SocketError::Endpoint(_)))
            | Self::Worker(WorkerError::Transport(SocketError::Endpoint(_)))
            | Self::Usage(_) => exit::USAGE,
            Self::KeyFile(KeyFileError::Curve { .. }) => exit::LOCAL,
            Self::KeyFile(_) => exit::USAGE,
            Self::Request(
                RequestError::Timeout { .. }
                | RequestError::BudgetExhausted { .. }
                | RequestError::Status(_)
                | RequestError::PermissionDenied(_)
                | RequestError::TooLarge { .. }
                | RequestError::Stopped,
            )
            | Self::Worker(WorkerError::Refused(_))
            | Self::RequestsFailed { .. } => exit::REQUEST,
            _ => exit::LOCAL,
        }
    }
}

/// `CODE: message` for failures that have a status code; the plain error for
/// local ones (a bad endpoint is not `UNAVAILABLE`).
fn describe_request_error(e: &RequestError) -> String {
    match e {
        RequestError::Status(status) | RequestError::PermissionDenied(status)
            if status.message.is_empty() =>
        {
            status.code.to_string()
        }
        RequestError::Status(status) | RequestError::PermissionDenied(status) => status.to_string(),
        RequestError::Timeout { attempts, elapsed } => format!(
            "{}: no reply after {attempts} attempt{} within {} ms",
            e.code(),
            if *attempts == 1 { "" } else { "s" },
            elapsed.as_millis()
        ),
        RequestError::BudgetExhausted {
            attempts, budget, ..
        } => format!(
            "{}: no reply after {attempts} attempt{} within the total budget of {} ms",
            e.code(),
            if *attempts == 1 { "" } else { "s" },
            budget.as_millis()
        ),
        RequestError::TooLarge { .. } | RequestError::Stopped => format!("{}: {e}", e.code()),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use reqrep_core::socket::Endpoint;
    use reqrep_core::{Code, Status};

    use super::*;

    #[test]
    fn error_statuses_print_code_and_message_and_exit_1() {
        let e = CliError::from(RequestError::Status(Status::deadline_exceeded(
            "expired after 2500 ms waiting for a worker",
        )));
        assert_eq!(
            e.to_string(),
            "DEADLINE_EXCEEDED: expired after 2500 ms waiting for a worker"
        );
        assert_eq!(e.exit_code(), exit::REQUEST);

        let bare = CliError::from(RequestError::Status(Status::new(Code::Unavailable, "")));
        assert_eq!(bare.to_string(), "UNAVAILABLE");
    }

    #[test]
    fn permission_denied_prints_its_code_and_exits_1() {
        let status = Status::new(
            Code::PermissionDenied,
            "identity checkout-web may not call billing",
        );
        let e = CliError::from(RequestError::PermissionDenied(status.clone()));
        assert_eq!(
            e.to_string(),
            "PERMISSION_DENIED: identity checkout-web may not call billing"
        );
        assert_eq!(e.exit_code(), exit::REQUEST);
        let bare = CliError::from(RequestError::PermissionDenied(Status::new(
            Code::PermissionDenied,
            "",
        )));
        assert_eq!(bare.to_string(), "PERMISSION_DENIED");

        let refused = CliError::from(WorkerError::Refused(status));
        assert_eq!(refused.exit_code(), exit::REQUEST);
        assert!(
            refused.to_string().contains(
                "refused this worker: PERMISSION_DENIED: identity checkout-web may not call billing"
            ),
            "{refused}"
        );
    }

    #[test]
    fn unusable_key_files_are_usage_errors_naming_the_file() {
        let missing = std::env::temp_dir().join("reqrep-cli-no-such-dir/none.key");
        let e = CliError::from(reqrep_core::curve::CurveKeyPair::load(&missing).unwrap_err());
        assert_eq!(e.exit_code(), exit::USAGE);
        assert!(e.to_string().contains("none.key"), "{e}");
    }

    #[test]
    fn timeouts_read_as_deadline_exceeded() {
        let e = CliError::from(RequestError::Timeout {
            attempts: 2,
            elapsed: Duration::from_millis(650),
        });
        assert_eq!(
            e.to_string(),
            "DEADLINE_EXCEEDED: no reply after 2 attempts within 650 ms"
        );
        let once = CliError::from(RequestError::Timeout {
            attempts: 1,
            elapsed: Duration::from_micros(300_934),
        });
        assert_eq!(
            once.to_string(),
            "DEADLINE_EXCEEDED: no reply after 1 attempt within 300 ms"
        );
        assert_eq!(e.exit_code(), exit::REQUEST);
    }

    #[test]
    fn an_exhausted_budget_reads_as_deadline_exceeded() {
        let e = CliError::from(RequestError::BudgetExhausted {
            attempts: 3,
            elapsed: Duration::from_millis(700),
            budget: Duration::from_millis(700),
        });
        assert_eq!(
            e.to_string(),
            "DEADLINE_EXCEEDED: no reply after 3 attempts within the total budget of 700 ms"
        );
        assert_eq!(e.exit_code(), exit::REQUEST);
    }

    #[test]
    fn invalid_endpoints_are_usage_errors() {
        let Err(cause) = Endpoint::parse("localhost:5555") else {
            panic!("an endpoint without a transport parses");
        };
        let e = CliError::from(RequestError::Transport(SocketError::from(cause)));
        assert_eq!(e.exit_code(), exit::USAGE);
        assert!(e.to_string().contains("localhost:5555"), "{e}");
    }

    #[test]
    fn local_failures_exit_3() {
        let e = CliError::io("read stdin", std::io::Error::other("closed"));
        assert_eq!(e.to_string(), "cannot read stdin: closed");
        assert_eq!(e.exit_code(), exit::LOCAL);
        assert_eq!(
            CliError::from(RequestError::Closed).exit_code(),
            exit::LOCAL
        );
    }

    #[test]
    fn failed_demo_requests_exit_1() {
        let e = CliError::RequestsFailed {
            failed: 3,
            total: 20_000,
        };
        assert_eq!(e.to_string(), "3 of 20,000 requests failed");
        assert_eq!(e.exit_code(), exit::REQUEST);
    }
}
