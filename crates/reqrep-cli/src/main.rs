//! `reqrep`: the reqrep command-line tool. Parses arguments, sets up
//! logging and runs the subcommand; see the `reqrep_cli` crate docs for the
//! subcommands and exit codes.

use std::process::ExitCode;

use clap::Parser;
use reqrep_broker::telemetry::init_tracing_with_default;
use reqrep_cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A terminal tool: only warnings unless RUST_LOG asks for more.
    init_tracing_with_default(cli.log_format, "warn");
    reqrep_cli::run(cli)
}
