//! `reqrep-bench`: reqrep against raw-libzmq baselines of the same paths.
//! See the library docs for what it measures.

use std::process::ExitCode;

use clap::Parser;
use reqrep_bench::Args;

fn main() -> ExitCode {
    let args = Args::parse();
    match reqrep_bench::run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reqrep-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
