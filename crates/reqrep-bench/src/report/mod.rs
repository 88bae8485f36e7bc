//! Everything written out: the Markdown document, the JSON file, the SVG
//! chart, and the target verdicts they share.

mod chart;
mod deployed;
mod document;
mod format;
mod json;
mod nats;
mod table;
mod targets;

use std::path::Path;

pub(crate) use chart::write_chart;
pub(crate) use document::document;
pub(crate) use json::to_json;
pub(crate) use targets::{Target, evaluate};

use crate::BenchError;
use crate::WorkerKind;
use crate::deployed::DeployedReport;
use crate::machine::Machine;
use crate::memory::MemoryReport;
use crate::plan::Budget;
use crate::runner::Row;
use crate::scale_out::ScaleOutReport;
use crate::security::SecurityReport;

/// Everything one run produced.
pub(crate) struct Report {
    /// Where and when.
    pub(crate) machine: Machine,
    /// The command line that produced it.
    pub(crate) command: String,
    /// Whether this was a `--quick` run.
    pub(crate) quick: bool,
    /// A/B pairs per row.
    pub(crate) pairs: u32,
    /// Requests per run.
    pub(crate) budget: Budget,
    /// The reqrep worker of the pipelined rows.
    pub(crate) worker_kind: WorkerKind,
    /// Every row.
    pub(crate) rows: Vec<Row>,
    /// Whether the NATS peer rows were measured.
    pub(crate) nats: crate::nats::Availability,
    /// The broker memory probe, or why it failed.
    pub(crate) memory: Option<Result<MemoryReport, String>>,
    /// The security rows, or why they were not measured.
    pub(crate) security: Option<Result<SecurityReport, String>>,
    /// The rows over 1, 2 and 3 brokers, when measured.
    pub(crate) scale_out: Option<ScaleOutReport>,
    /// The deployed shape, or why it was not measured.
    pub(crate) deployed: Option<Result<DeployedReport, String>>,
    /// Verdicts.
    pub(crate) targets: Vec<Target>,
    /// Wall time of the whole run.
    pub(crate) elapsed_s: f64,
}

/// Writes `text` to `path`.
pub(crate) fn write(path: &Path, text: &str) -> Result<(), BenchError> {
    std::fs::write(path, text).map_err(|source| BenchError::Write {
        path: path.to_owned(),
        source,
    })
}
