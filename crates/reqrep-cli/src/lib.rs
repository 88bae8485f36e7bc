//! # reqrep-cli
//!
//! The `reqrep` command-line tool: the logic behind its subcommands, with a
//! thin `main` that parses arguments, sets up tracing and calls [`run`].
//!
//! | Subcommand | What it does |
//! |---|---|
//! | `reqrep request` | sends one request through a broker and prints the reply payload |
//! | `reqrep worker` | runs an echo worker for a service until SIGINT or SIGTERM |
//! | `reqrep services` | lists the services a broker knows, with workers, credits and queues |
//! | `reqrep bench` | loads a running broker (requests or a duration, in flight, clients, payload size) and reports throughput, p50/p90/p99/p99.9/max and errors by status code, also as `--json` |
//! | `reqrep demo` | broker, echo workers and a client load in one process, with a latency report |
//! | `reqrep keygen` | a CURVE key pair: printed, or with `--secret-file` written to a key file (mode 0600) for a broker (`--curve-secret-key-file`), a client or a worker (`--key-file`), its public key printed for the broker's access policy |
//!
//! `request`, `worker` and `services` connect with CURVE given the broker's
//! public key (`--server-key`), as the identity in `--key-file` if given (a
//! broker with an access policy refuses any other); `demo --key-file` runs
//! the whole demo over CURVE with that key pair.
//!
//! ```sh
//! cargo run --release --bin reqrep -- demo
//! reqrep worker --broker tcp://127.0.0.1:5556 --service echo &
//! reqrep request --broker tcp://127.0.0.1:5555 --service echo hello
//! echo hello | reqrep request --broker tcp://127.0.0.1:5555 --service echo -
//! reqrep services --broker tcp://127.0.0.1:5555
//! reqrep keygen --secret-file checkout-web.key   # prints public-key: ...
//! reqrep request --server-key "$BROKER_PUBLIC" --key-file checkout-web.key --service orders hi
//! ```
//!
//! ## Exit codes
//!
//! | Code | Meaning |
//! |---|---|
//! | 0 | Success: a reply was printed, a worker stopped after a signal, every demo request succeeded. |
//! | 1 | A request failed: an error status from the broker or the worker (printed as `error: CODE: message`, `PERMISSION_DENIED` when the broker's access policy refuses the identity), a timeout, or demo requests that failed; or the broker refused a worker (DISCONNECT with `PERMISSION_DENIED`), which then stops. |
//! | 2 | Usage error: an unknown flag, a missing or invalid value, an invalid endpoint, `--key-file` without `--server-key`, a missing or malformed key file (named, with its line). |
//! | 3 | A local failure: stdin or stdout unusable, a socket that cannot be set up, a demo broker that cannot start. |
//!
//! ## Layout
//! - [`commands`]: one module per subcommand.
//! - [`error`]: [`CliError`] and the exit code each error maps to.
//! - [`table`]: aligned text tables.
//! - [`latency`]: latency histograms and percentiles.
//! - [`load`]: the pipelined load of `bench` and `demo`.
//! - [`outcome`]: what a load run produced, as a table and as JSON.
//! - [`progress`]: the progress bar of `demo` and `bench`.
//!
//! SIGINT and SIGTERM stop a command through
//! [`reqrep_broker::signal::SignalStop`].

pub mod commands;
pub mod error;
pub mod health;
pub mod latency;
pub mod load;
pub mod outcome;
pub mod progress;
pub mod table;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use reqrep_broker::config::LogFormat;

pub use error::{CliError, exit};

/// Reliable ZeroMQ request-reply from the command line: send requests through
/// a reqrep broker, run echo workers, list services, or run a self-contained
/// load demo.
#[derive(Debug, Parser)]
#[command(
    name = "reqrep",
    version,
    about,
    long_about,
    after_help = "Exit codes:\n  \
                  0  success\n  \
                  1  the request failed: an error status (printed as `error: CODE: message`, \
                  e.g. PERMISSION_DENIED) or a timeout; failed demo requests; a worker the \
                  broker refused\n  \
                  2  usage error: invalid flags, values, endpoints or key files\n  \
                  3  local failure: stdin/stdout, sockets, signals, the demo broker"
)]
pub struct Cli {
    /// How log lines on stderr are written (level from RUST_LOG, default info).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// What to do.
    #[command(subcommand)]
    pub command: CliCommand,
}

/// The subcommands (named apart from the wire protocol's
/// `reqrep_core::Command`).
#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Send one request through a broker and print the reply payload.
    Request(commands::request::RequestArgs),
    /// Run an echo worker for a service until SIGINT or SIGTERM.
    Worker(commands::worker::WorkerArgs),
    /// List the broker's services: workers, free credits, queue depth, in flight.
    Services(commands::services::ServicesArgs),
    /// Run a broker, echo workers and a client load in one process and report
    /// throughput and latency percentiles.
    Demo(commands::demo::DemoArgs),
    /// Load a running broker like `nats bench`: pipelined requests from
    /// one or more clients, then throughput, latency percentiles and errors
    /// by status code (`--json` writes them to a file).
    Bench(commands::bench::BenchArgs),
    /// Generate a CURVE key pair for a broker, a client or a worker (print
    /// it, or write it to a key file and print its public key).
    Keygen(commands::keygen::KeygenArgs),
}

/// Runs the parsed command line and returns the process exit code. Errors
/// are printed to stderr as `error: ...`.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        CliCommand::Request(args) => commands::request::run(&args),
        CliCommand::Worker(args) => commands::worker::run(&args),
        CliCommand::Services(args) => commands::services::run(&args),
        CliCommand::Demo(args) => commands::demo::run(&args),
        CliCommand::Bench(args) => commands::bench::run(&args),
        CliCommand::Keygen(args) => commands::keygen::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn usage_errors_exit_2_like_clap() {
        let err = Cli::try_parse_from(["reqrep", "request", "--retries", "many"]).unwrap_err();
        assert_eq!(err.exit_code(), i32::from(exit::USAGE));
    }
}
