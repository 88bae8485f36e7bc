//! # reqrep-bench
//!
//! Measures reqrep against raw-libzmq baselines of the same paths in the
//! same run, and writes the result as a Markdown table (`BENCHMARKS.md`),
//! a JSON file with every measurement (`benchmarks.json`) and an SVG chart
//! (`benchmarks.svg`).
//!
//! ```sh
//! cargo run --release -p reqrep-bench -- --out docs   # the full run
//! cargo run --release -p reqrep-bench -- --quick      # a smoke run, under a minute
//! ```
//!
//! Paths, each as reqrep and as a raw baseline written with the `zmq`
//! crate alone: direct lockstep REQ/REP; brokered lockstep through a
//! load-balancing broker; brokered pipelined through a credit broker, with
//! worker and client scaling; the broker's memory per queued request; and
//! what CURVE and an access policy cost (CURVE needs the system libzmq
//! build: `--config build/system-libzmq.toml`).
//! Runs alternate reqrep / raw and the medians are reported, with the
//! ratio reqrep/raw and whether each target is met. Targets are reported,
//! never asserted: the program exits 0 unless a row could not be measured
//! at all or the output could not be written.
//!
//! ## Layout
//! - `args`: the command line. `plan`: the rows and request counts.
//! - `scenario`: what a row measures. `runner`: the A/B pairs.
//! - `stack`: the reqrep side. `raw`: the raw-libzmq baselines.
//! - `load`: the lockstep loop, payloads, stop flags and bounded waits.
//! - `latency`, `sample`, `stats`, `usage`: measuring and summarising.
//! - `memory`: the broker memory probe. `machine`: the machine description.
//! - `security`: plaintext against CURVE against CURVE with an access
//!   policy, on the pipelined path (system libzmq build only).
//! - `scale_out`: the pipelined path over 1, 2 and 3 brokers.
//! - `deployed`: the deployed shape, every role a process: the broker
//!   binary, `reqrep worker` and `reqrep bench` against raw processes.
//! - `process`: child processes, their output and their CPU time.
//! - `nats`: the NATS request-reply peer rows (when `nats-server` is on
//!   `PATH`).
//! - `variants`: alternating runs of variants of one reqrep setup.
//! - `report`: Markdown, JSON, SVG and the target verdicts.

mod args;
mod deployed;
mod error;
mod latency;
mod load;
mod machine;
mod memory;
mod nats;
mod plan;
mod process;
mod raw;
mod report;
mod runner;
mod sample;
mod scale_out;
mod scenario;
mod security;
mod stack;
mod stats;
mod usage;
mod variants;

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

pub use args::{Args, WorkerKind};
pub use deployed::Role;
pub use error::BenchError;

use plan::Budget;
use report::Report;

/// Runs the benchmark `args` asks for, prints the Markdown table on stdout
/// and writes the three output files.
///
/// # Errors
/// A row that could not be measured at all (after the output is written),
/// an output file that cannot be written, or a failed memory probe when
/// running as the probe child.
pub fn run(args: &Args) -> Result<(), BenchError> {
    if let Some(role) = &args.role {
        return deployed::run_role(role);
    }
    if args.memory_probe {
        let report = memory::probe(args.memory_requests)?;
        let text = serde_json::to_string(&report).map_err(BenchError::reqrep)?;
        #[allow(clippy::print_stdout)]
        {
            println!("{text}");
        }
        return Ok(());
    }
    let started = Instant::now();
    let quick = args.quick;
    let pairs = args.pairs.unwrap_or(if quick { 1 } else { 3 });
    let budget = if quick { Budget::QUICK } else { Budget::FULL };
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("reqrep-bench"));
    std::fs::create_dir_all(&out_dir).map_err(|source| BenchError::Write {
        path: out_dir.clone(),
        source,
    })?;

    let scenarios: Vec<_> = plan::scenarios()
        .into_iter()
        .filter(|s| {
            args.only
                .as_ref()
                .is_none_or(|t| s.to_string().contains(t.as_str()))
        })
        .collect();
    let peer = nats::Availability::detect();
    match &peer {
        nats::Availability::Server(path) => eprintln!("NATS rows: {}", path.display()),
        nats::Availability::Missing(why) if nats::required() => {
            return Err(BenchError::Nats(format!("{}=1: {why}", nats::REQUIRE)));
        }
        nats::Availability::Missing(why) => eprintln!("NATS rows: not measured: {why}"),
    }
    let rows = runner::measure(
        &scenarios,
        &budget,
        pairs,
        args.reqrep_worker,
        args.profile_side,
        &peer,
    );
    let memory = match args.only.as_deref() {
        Some(text) if !"memory".contains(text) => None,
        _ => {
            eprintln!(
                "broker memory: {} queued requests ...",
                args.memory_requests
            );
            let result = memory::measure_in_child(args.memory_requests).map_err(|e| e.to_string());
            match &result {
                Ok(m) => eprintln!(
                    "broker memory: {:.0} B per queued request beyond payload",
                    m.bytes_per_request_beyond_payload()
                ),
                Err(e) => eprintln!("broker memory: FAILED: {e}"),
            }
            Some(result)
        }
    };
    let security = match args.only.as_deref() {
        Some(text) if !"security".contains(text) => None,
        _ => {
            let result = security::measure(&budget, pairs, args.reqrep_worker);
            if let Err(e) = &result {
                eprintln!("security: not measured: {e}");
            }
            Some(result)
        }
    };
    let scale_out = match args.only.as_deref() {
        Some(text) if !"brokers".contains(text) => None,
        _ => Some(scale_out::measure(&budget, pairs, args.reqrep_worker)),
    };
    let deployed = match args.only.as_deref() {
        Some(text) if !"deployed".contains(text) => None,
        _ => {
            let result = deployed::measure(&budget, pairs);
            match &result {
                Err(why) if deployed::required() => {
                    return Err(BenchError::Process(format!(
                        "{}=1: {why}",
                        deployed::REQUIRE
                    )));
                }
                Err(why) => eprintln!("deployed shape: not measured: {why}"),
                Ok(_) => {}
            }
            Some(result)
        }
    };
    let targets = report::evaluate(
        &rows,
        memory.as_ref().and_then(|m| m.as_ref().ok()),
        security.as_ref().and_then(|s| s.as_ref().ok()),
        deployed.as_ref().and_then(|d| d.as_ref().ok()),
    );
    let report = Report {
        machine: machine::Machine::detect(),
        command: command_line(),
        quick,
        pairs,
        budget,
        worker_kind: args.reqrep_worker,
        rows,
        nats: peer,
        memory,
        security,
        scale_out,
        deployed,
        targets,
        elapsed_s: started.elapsed().as_secs_f64(),
    };

    let markdown = report::document(&report);
    let md_path = out_dir.join("BENCHMARKS.md");
    let json_path = out_dir.join("benchmarks.json");
    let svg_path = out_dir.join("benchmarks.svg");
    report::write(&md_path, &markdown)?;
    report::write(&json_path, &report::to_json(&report))?;
    let charted = report::write_chart(&svg_path, &report.rows)?;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{markdown}");
    let _ = stdout.flush();
    let written: Vec<PathBuf> = [Some(md_path), Some(json_path), charted.then_some(svg_path)]
        .into_iter()
        .flatten()
        .collect();
    for path in written {
        eprintln!("wrote {}", path.display());
    }
    eprintln!("took {:.1} s", report.elapsed_s);

    let unmeasured = report.rows.iter().filter(|r| !r.complete()).count();
    if unmeasured > 0 {
        return Err(BenchError::Unmeasured(unmeasured));
    }
    Ok(())
}

/// The command line as typed, for the report.
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("reqrep-bench {}", args.join(" "))
        .trim_end()
        .to_owned()
}
