//! Command-line arguments.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// Which reqrep worker serves the pipelined rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerKind {
    /// `Worker` with `credits(16)`: one handler thread per credit.
    Threads,
    /// `AsyncWorker`: handlers as tokio tasks.
    Async,
    /// `Worker` with `credits(16).inline(true)`: the handler runs on the
    /// socket thread, no hand-off per request.
    Inline,
}

/// The one side `--profile-side` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProfileSide {
    /// Only reqrep's runs.
    Reqrep,
    /// Only the raw baseline's runs.
    Raw,
    /// Only the NATS runs.
    Nats,
}

impl ProfileSide {
    /// The side it runs.
    pub(crate) fn side(self) -> crate::scenario::Side {
        match self {
            Self::Reqrep => crate::scenario::Side::Reqrep,
            Self::Raw => crate::scenario::Side::Raw,
            Self::Nats => crate::scenario::Side::Nats,
        }
    }
}

/// reqrep against raw-libzmq baselines of the same paths, measured in the
/// same run (alternating A B A B ...), with a Markdown table, a JSON file
/// and an SVG chart as output.
#[derive(Debug, Clone, Parser)]
#[command(name = "reqrep-bench", version)]
pub struct Args {
    /// A smoke run: fewer requests and one A/B pair (under a minute).
    #[arg(long)]
    pub quick: bool,

    /// Directory for BENCHMARKS.md, benchmarks.json and benchmarks.svg.
    /// Default: `reqrep-bench` in the system temp directory.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// A/B pairs per row; medians are reported. Default: 3 (1 with --quick).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=50))]
    pub pairs: Option<u32>,

    /// Which reqrep worker serves the pipelined rows. The default, `inline`,
    /// runs the handler on the socket thread as the raw worker does; `async`
    /// and `threads` measure the cost of handing requests off.
    #[arg(long, value_enum, default_value_t = WorkerKind::Inline)]
    pub reqrep_worker: WorkerKind,

    /// Only rows whose label contains this text (the memory probe is then
    /// skipped unless the text is "memory").
    #[arg(long, value_name = "TEXT")]
    pub only: Option<String>,

    /// Requests queued by the broker memory probe.
    #[arg(long, value_name = "N", default_value_t = 100_000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub memory_requests: u64,

    /// Runs only this side of each row, for profiling one implementation
    /// (`perf record -- reqrep-bench --only ... --profile-side reqrep`):
    /// ratios are then not measured.
    #[arg(long, value_enum, hide = true)]
    pub profile_side: Option<ProfileSide>,

    /// Runs the broker memory probe in this process and prints its JSON
    /// (the main run starts itself this way, for a clean baseline).
    #[arg(long, hide = true)]
    pub memory_probe: bool,

    /// Runs one raw role of the deployed shape in this process (the main
    /// run starts its raw broker, workers and client this way).
    #[command(subcommand)]
    pub role: Option<crate::Role>,
}
