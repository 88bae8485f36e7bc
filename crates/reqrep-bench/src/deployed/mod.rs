//! The deployed shape: every role a process of its own, as a user deploys
//! it. reqrep: the `reqrep-broker` binary, `reqrep worker` processes and a
//! `reqrep bench` client process. Raw: the raw credit broker, raw workers
//! and the raw pipelined client, each a `reqrep-bench raw-...` process
//! (the same code as the in-process raw rows). Everything over loopback
//! TCP on ephemeral ports.
//!
//! Each run starts a fresh set of processes, waits until the workers are
//! registered, runs a warm-up client process, then the measured client
//! process. Throughput and latency are the client's own figures (from the
//! first request to the last reply); CPU is every process's user + system
//! time over the measured client's life: the client's from
//! `getrusage(RUSAGE_CHILDREN)` once it is reaped, the broker's and the
//! workers' from `/proc/<pid>/stat`. Process start-up is inside both
//! sides' figures alike.

mod client;
mod raw;
mod reqrep;
mod roles;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use roles::Role;

use crate::plan::Budget;
use crate::runner::{Metric, SideResult};
use crate::scenario::Scenario;
use crate::stats::ratio;
use crate::variants;

/// How long a broker may take to report its endpoints, and its workers to
/// register.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Makes a run without the reqrep binaries an error instead of a "not
/// measured" section (CI sets it).
pub(crate) const REQUIRE: &str = "REQREP_REQUIRE_DEPLOYED";

/// Whether [`REQUIRE`] is set to `1`.
pub(crate) fn required() -> bool {
    std::env::var(REQUIRE).is_ok_and(|v| v == "1")
}

/// Runs a raw role in this process (a `reqrep-bench raw-...` child).
///
/// # Errors
/// Whatever the role fails with.
pub(crate) fn run_role(role: &Role) -> Result<(), crate::BenchError> {
    roles::run(role)
}

/// The programs the deployed shape starts.
#[derive(Debug, Clone)]
pub(crate) struct Binaries {
    /// This program (the raw roles).
    pub(crate) bench: PathBuf,
    /// `reqrep-broker`.
    pub(crate) broker: PathBuf,
    /// `reqrep` (the CLI: `worker`, `bench`).
    pub(crate) cli: PathBuf,
}

impl Binaries {
    /// This program, and `reqrep-broker` and `reqrep` next to it (the same
    /// cargo target directory and profile).
    ///
    /// # Errors
    /// Why they are not there, and how to build them.
    pub(crate) fn locate() -> Result<Self, String> {
        let bench = std::env::current_exe().map_err(|e| format!("this program's path: {e}"))?;
        let dir = bench.parent().unwrap_or_else(|| Path::new("."));
        let (broker, cli) = (dir.join("reqrep-broker"), dir.join("reqrep"));
        let missing: Vec<String> = [&broker, &cli]
            .into_iter()
            .filter(|p| !p.is_file())
            .map(|p| p.display().to_string())
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "{} not built (build them with the same profile and config as this program: cargo build --release -p reqrep-broker -p reqrep-cli)",
                missing.join(" and ")
            ));
        }
        Ok(Self { bench, broker, cli })
    }
}

/// The deployed-shape runs of both sides.
#[derive(Debug, Clone)]
pub(crate) struct DeployedReport {
    /// What every run measures.
    pub(crate) scenario: Scenario,
    /// reqrep's runs.
    pub(crate) reqrep: SideResult,
    /// The raw processes' runs.
    pub(crate) raw: SideResult,
}

impl DeployedReport {
    /// `median(reqrep) / median(raw)` of `metric`.
    pub(crate) fn ratio(&self, metric: Metric) -> Option<f64> {
        ratio(self.reqrep.median(metric), self.raw.median(metric))
    }
}

/// The scenario of the deployed shape: the headline pipelined row.
pub(crate) fn scenario() -> Scenario {
    Scenario::pipelined(64, 4, 1)
}

/// Measures both sides `pairs` times, alternating reqrep and raw.
///
/// # Errors
/// Why the shape cannot be measured at all (binaries missing, no scratch
/// directory); failed runs are kept in the report instead.
pub(crate) fn measure(budget: &Budget, pairs: u32) -> Result<DeployedReport, String> {
    let bins = Binaries::locate()?;
    let scenario = scenario();
    let spec = budget.spec(scenario);
    let scratch =
        std::env::temp_dir().join(format!("reqrep-bench-deployed-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    let labels = ["reqrep processes", "raw processes"];
    let mut runs = variants::alternate("deployed", scenario, pairs, &labels, |i| match i {
        0 => reqrep::run(&bins, &spec, &scratch),
        _ => raw::run(&bins, &spec, &scratch),
    })
    .into_iter();
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(DeployedReport {
        scenario,
        reqrep: runs.next().unwrap_or_default(),
        raw: runs.next().unwrap_or_default(),
    })
}
