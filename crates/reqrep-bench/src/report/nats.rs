//! The NATS section: reqrep beside NATS request-reply on the rows NATS
//! has the shape of, with the ratios reqrep/NATS.

use std::fmt::Write as _;

use super::Report;
use super::format::{micros, rate, ratio};
use super::table::{Align, MarkdownTable};
use crate::nats::Availability;
use crate::runner::{Metric, Peer, Row};
use crate::scenario::bytes_label;

/// The NATS table, one line per row NATS has the shape of; a measured
/// side's cells, or `not measured` with the reason.
pub(crate) fn nats_table(rows: &[Row]) -> MarkdownTable {
    let mut t = MarkdownTable::new(&[
        ("path", Align::Left),
        ("payload", Align::Right),
        ("load", Align::Left),
        ("reqrep req/s", Align::Right),
        ("NATS req/s", Align::Right),
        ("x req/s", Align::Right),
        ("reqrep p50", Align::Right),
        ("NATS p50", Align::Right),
        ("x p50", Align::Right),
        ("reqrep p99", Align::Right),
        ("NATS p99", Align::Right),
        ("reqrep CPU/req", Align::Right),
        ("NATS CPU/req", Align::Right),
        ("x CPU", Align::Right),
    ]);
    for row in rows {
        let head = [
            row.scenario.path.label().to_owned(),
            bytes_label(row.scenario.payload),
            row.scenario.shape(),
        ];
        let a = &row.reqrep;
        match &row.nats {
            Peer::NotApplicable => {}
            Peer::NotMeasured(why) => t.row(head.into_iter().chain([
                rate(a.median(Metric::Throughput)),
                format!("not measured: {why}"),
            ])),
            Peer::Measured(n) => t.row(head.into_iter().chain([
                rate(a.median(Metric::Throughput)),
                rate(n.median(Metric::Throughput)),
                ratio(row.nats_ratio(Metric::Throughput)),
                micros(a.median(Metric::P50)),
                micros(n.median(Metric::P50)),
                ratio(row.nats_ratio(Metric::P50)),
                micros(a.median(Metric::P99)),
                micros(n.median(Metric::P99)),
                micros(a.median(Metric::Cpu)),
                micros(n.median(Metric::Cpu)),
                ratio(row.nats_ratio(Metric::Cpu)),
            ])),
        }
    }
    t
}

/// The section: how NATS was run, the table, and its failed runs.
pub(crate) fn write_nats(out: &mut String, r: &Report) -> std::fmt::Result {
    writeln!(out, "## NATS request-reply\n")?;
    match &r.nats {
        Availability::Missing(why) => {
            writeln!(out, "Not measured in this run: {why}.\n")?;
        }
        Availability::Server(path) => writeln!(
            out,
            "The same shapes over NATS request-reply, in the same run: reqrep, raw and NATS alternate in every pair (A B C A B C ...). A `{}` is started for each run on `127.0.0.1` (port chosen by the server); the responders are async-nats connections in one queue group, each on its own thread with a current-thread tokio runtime, echoing every request; the requesters are tokio tasks on one current-thread runtime sharing one connection (`Client::request`, a fresh payload copy per request, 10 s timeout). CPU per request is this process's user+sys time plus the server's (`/proc/<pid>/stat`). `x` columns are reqrep/NATS: above 1.00x for req/s, below for p50 and CPU, reqrep is ahead.\n",
            path.display()
        )?,
    }
    writeln!(out, "{}", nats_table(&r.rows))?;
    let failures: Vec<String> = r
        .rows
        .iter()
        .filter_map(|row| row.nats.runs().map(|n| (row, n)))
        .flat_map(|(row, n)| {
            n.failures
                .iter()
                .map(move |f| format!("- {}: {f}", row.scenario))
        })
        .collect();
    if !failures.is_empty() {
        writeln!(out, "Failed NATS runs:\n\n{}\n", failures.join("\n"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::SideResult;
    use crate::sample::Sample;
    use crate::scenario::{Path, Scenario};

    fn runs(rps: f64, cpu: f64) -> SideResult {
        SideResult {
            samples: vec![Sample {
                requests: 1000,
                errors: 0,
                elapsed_s: 1.0,
                throughput_rps: rps,
                p50_us: 50.0,
                p99_us: 100.0,
                p999_us: 150.0,
                cpu_us_per_request: cpu,
            }],
            failures: vec![],
        }
    }

    fn row(scenario: Scenario, nats: Peer) -> Row {
        Row {
            scenario,
            reqrep: runs(1200.0, 20.0),
            raw: runs(1500.0, 15.0),
            nats,
        }
    }

    #[test]
    fn rows_show_ratios_or_why_nats_is_missing() {
        let rows = [
            row(Scenario::lockstep(Path::Direct, 64), Peer::NotApplicable),
            row(
                Scenario::pipelined(64, 4, 1),
                Peer::Measured(runs(1000.0, 25.0)),
            ),
            row(
                Scenario::pipelined(4096, 4, 1),
                Peer::NotMeasured("nats-server is not on PATH".to_owned()),
            ),
        ];
        let text = nats_table(&rows).to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(!text.contains("direct lockstep"), "{text}");
        let cells: Vec<&str> = lines[2].split('|').map(str::trim).collect();
        assert_eq!(cells[4..7], ["1,200", "1,000", "1.20x"], "{text}");
        assert_eq!(cells[14], "0.80x", "{text}");
        assert!(
            lines[3].contains("not measured: nats-server is not on PATH"),
            "{text}"
        );
    }
}
