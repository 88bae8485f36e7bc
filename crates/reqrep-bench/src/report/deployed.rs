//! The deployed-shape section: every role a process, reqrep's binaries
//! against raw processes, beside the in-process row of the same shape.

use std::fmt::Write as _;

use super::Report;
use super::format::{micros, rate, ratio};
use super::table::{Align, MarkdownTable};
use crate::deployed::DeployedReport;
use crate::runner::{Metric, SideResult};

/// Writes the section.
pub(crate) fn write_deployed(out: &mut String, r: &Report) -> std::fmt::Result {
    writeln!(out, "## Deployed shape: every role a process\n")?;
    let Some(d) = super::document::measured(out, r.deployed.as_ref())? else {
        return Ok(());
    };
    writeln!(
        out,
        "{}. reqrep: the `reqrep-broker` binary (JSON logs, metrics served), {} `reqrep worker` processes (`--credits {}`) and one `reqrep bench` process (`--in-flight {}`). Raw: the raw credit broker, raw workers and the raw pipelined client, each a process of its own. Loopback TCP; the two sides alternate in each pair; throughput and latency are the client process's own figures, CPU is every process's user+sys time over the measured client's life (process start-up included on both sides). The in-process rows of the same shape are shown beside them.\n",
        d.scenario, d.scenario.workers, d.scenario.credits, d.scenario.in_flight
    )?;
    writeln!(out, "{}", table(d, r))?;
    for (side, runs) in [("reqrep", &d.reqrep), ("raw", &d.raw)] {
        for failure in &runs.failures {
            writeln!(out, "- {side} processes failed: {failure}")?;
        }
    }
    writeln!(out)
}

fn table(d: &DeployedReport, r: &Report) -> MarkdownTable {
    let mut t = MarkdownTable::new(&[
        ("setup", Align::Left),
        ("req/s", Align::Right),
        ("p50 us", Align::Right),
        ("p99 us", Align::Right),
        ("CPU us/req", Align::Right),
        ("throughput / raw", Align::Right),
        ("CPU / raw", Align::Right),
    ]);
    let line = |t: &mut MarkdownTable, name: &str, runs: &SideResult, of: Option<(f64, f64)>| {
        t.row([
            name.to_owned(),
            rate(runs.median(Metric::Throughput)),
            micros(runs.median(Metric::P50)),
            micros(runs.median(Metric::P99)),
            micros(runs.median(Metric::Cpu)),
            ratio(of.map(|o| o.0)),
            ratio(of.map(|o| o.1)),
        ]);
    };
    let versus = |a: &SideResult, b: &SideResult| {
        let over = |m: Metric| crate::stats::ratio(a.median(m), b.median(m));
        over(Metric::Throughput).zip(over(Metric::Cpu))
    };
    line(
        &mut t,
        "reqrep, processes",
        &d.reqrep,
        versus(&d.reqrep, &d.raw),
    );
    line(&mut t, "raw, processes", &d.raw, None);
    if let Some(row) = r.rows.iter().find(|row| row.scenario == d.scenario) {
        line(
            &mut t,
            "reqrep, in process",
            &row.reqrep,
            versus(&row.reqrep, &row.raw),
        );
        line(&mut t, "raw, in process", &row.raw, None);
    }
    t
}
