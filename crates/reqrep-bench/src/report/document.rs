//! The Markdown document: method, machine, targets, results, scaling and
//! memory.

use std::fmt::Write as _;

use super::Report;
use super::format::{mib, micros, rate, ratio, thousands};
use super::table::{Align, MarkdownTable};
use super::targets::NEAR_BASELINE;
use crate::WorkerKind;
use crate::runner::{Metric, Row};
use crate::scenario::{Path, bytes_label};
use crate::security::Mode;

/// The regenerating command.
pub(crate) const COMMAND: &str = "cargo build --release --config build/system-libzmq.toml -p reqrep-broker -p reqrep-cli\ncargo run --release -p reqrep-bench --config build/system-libzmq.toml -- --pairs 5 --out docs";

/// The whole document.
pub(crate) fn document(report: &Report) -> String {
    let mut out = String::new();
    let _ = write_document(&mut out, report);
    out
}

fn write_document(out: &mut String, r: &Report) -> std::fmt::Result {
    let m = &r.machine;
    let b = &r.budget;
    writeln!(out, "# Benchmarks\n")?;
    writeln!(
        out,
        "reqrep against raw-libzmq baselines of the same paths, measured in the same run.\n"
    )?;
    writeln!(
        out,
        "Regenerate this file, `benchmarks.json` and `benchmarks.svg` with:\n"
    )?;
    writeln!(out, "```sh\n{COMMAND}\n```\n")?;
    writeln!(
        out,
        "(The first command builds the binaries the deployed shape runs, next to `reqrep-bench`. `cargo run --release -p reqrep-bench -- --quick` is the CI smoke run: fewer requests, one pair, output in a temp directory; it reports targets but never fails on them.)\n"
    )?;
    writeln!(out, "## Run\n")?;
    writeln!(out, "- Date (UTC): {}", m.date)?;
    writeln!(
        out,
        "- Machine: {} CPUs (nproc), {}, Linux {}, libzmq {}",
        m.nproc, m.cpu_model, m.kernel, m.libzmq
    )?;
    writeln!(out, "- Command: `{}`", r.command)?;
    writeln!(
        out,
        "- {}: {} A/B pair(s) per row; lockstep runs {} warm-up + {} measured requests, pipelined runs {} + {}; whole run {:.0} s",
        if r.quick { "Quick run" } else { "Full run" },
        r.pairs,
        thousands(b.lockstep_warmup),
        thousands(b.lockstep_requests),
        thousands(b.pipelined_warmup),
        thousands(b.pipelined_requests),
        r.elapsed_s
    )?;
    writeln!(
        out,
        "- reqrep pipelined workers: {}\n",
        match r.worker_kind {
            WorkerKind::Threads => "`Worker` with `credits(16)` (16 handler threads each)",
            WorkerKind::Inline =>
                "`Worker` with `credits(16).inline(true)` (handler on the socket thread)",
            WorkerKind::Async =>
                "`AsyncWorker` with `credits(16)` (tokio tasks, one runtime thread)",
        }
    )?;
    write_method(out)?;

    writeln!(out, "## Targets\n")?;
    let mut t = MarkdownTable::new(&[
        ("target", Align::Left),
        ("limit", Align::Right),
        ("measured", Align::Right),
        ("verdict", Align::Left),
        ("gap", Align::Right),
    ]);
    for target in &r.targets {
        t.row([
            target.name.clone(),
            target.limit_text(),
            target.measured_text(),
            target.verdict().to_owned(),
            target.gap(),
        ]);
    }
    writeln!(out, "{t}")?;

    writeln!(out, "## Results\n")?;
    writeln!(
        out,
        "Medians over the pairs. Latencies in microseconds; CPU is process user+sys time per request (client, broker and workers together); `x` columns are reqrep/raw.\n"
    )?;
    writeln!(out, "{}", results_table(&r.rows))?;

    super::nats::write_nats(out, r)?;
    write_scaling(out, &r.rows)?;
    write_memory(out, r)?;
    write_security(out, r)?;
    write_scale_out(out, r)?;
    super::deployed::write_deployed(out, r)?;
    writeln!(out, "## Profile\n")?;
    writeln!(
        out,
        "Where the CPU goes (per process, per thread and per system call, with perf), why the targets missed here are missed, and the commands that measure it: [PROFILE.md](PROFILE.md).\n"
    )?;

    let failures: Vec<(&Row, &str, &String)> = r
        .rows
        .iter()
        .flat_map(|row| {
            row.reqrep
                .failures
                .iter()
                .map(move |f| (row, "reqrep", f))
                .chain(row.raw.failures.iter().map(move |f| (row, "raw", f)))
        })
        .collect();
    if !failures.is_empty() {
        writeln!(out, "## Failed runs\n")?;
        for (row, side, failure) in failures {
            writeln!(out, "- {} ({side}): {failure}", row.scenario)?;
        }
        writeln!(out)?;
    }
    Ok(())
}

fn write_method(out: &mut String) -> std::fmt::Result {
    writeln!(out, "## Method\n")?;
    for line in [
        "Everything runs in one process over loopback TCP (`tcp://127.0.0.1:*`, ports read back after binding), reqrep and raw alike. Each role (client, broker, each worker) has its own ZeroMQ context, as separate processes would.",
        "Rows run as alternating pairs, reqrep then raw, A B A B ...; every run builds its sockets, threads and broker afresh, warms up, measures, and shuts everything down. The tables show the median of each quantity over the pairs.",
        "Latency is per request, from just before the send to the reply in hand, in an HDR histogram (3 significant digits). Throughput is correct replies per second of the measured phase. CPU per request is the `getrusage(RUSAGE_SELF)` user+sys delta over the measured phase divided by the replies.",
        "Every wait is bounded: requests time out after 10 s, a run after its time limit, and a failed run is reported, never hung on.",
        "**Direct lockstep.** reqrep: the `ReqRep` plugin, `request()` on a REQ and `serve()` on a REP in a thread (enveloped: id, deadline, status, correlation check, no retries). Raw: a REQ sending the bare payload to a REP that echoes it.",
        "**Brokered lockstep.** reqrep: the blocking `Client` -> in-process `Broker` -> one `Worker` with one credit, its handler inline on the socket thread as the raw worker does. Raw: the Guide's load-balancing broker (ROUTER frontend, ROUTER backend, REQ workers that say READY, a least-recently-used queue of idle workers; the frontend is polled only while a worker is idle) with a REQ client.",
        "**Brokered pipelined.** reqrep: `AsyncClient`s (one per client connection, each socket driven by an I/O task on the same runtime through `ZMQ_FD`) with 128 requests in flight split among them as tasks on a current-thread tokio runtime, through the `Broker`, to workers with 16 credits each. Raw: a credit-based load-balancing broker (ROUTER/ROUTER; DEALER workers announce their credits in READY; workers with a free credit wait in an LRU queue; replies return credits; both loops take up to 256 messages per socket per wake-up, as reqrep's broker does) with DEALER clients pipelining their share of the 128; each raw request carries its send time in its first 8 payload bytes, so replies need no matching.",
        "reqrep clients send non-idempotent requests with one attempt, so the broker keeps no payload copy and no reply cache entry (the raw broker has neither).",
        "**Security.** The headline pipelined row three ways, reqrep only: plaintext; CURVE on the broker's sockets (one broker key pair; client and workers with key pairs of their own, which the broker accepts whatever they are); and CURVE with an access policy (`access_file`: the broker's ZAP handler admits only the listed client and worker keys, and every REQUEST and READY is checked against what the identity may call or serve). The three alternate in each round. CURVE needs the system libzmq build (`--config build/system-libzmq.toml`); the bundled build reports the section as not measured.",
        "**Several brokers.** The headline pipelined row over 1, 2 and 3 in-process brokers, reqrep only: each of the 4 workers serves every broker (`Worker::connect_all`, its 16 credits shared among them), the client spreads its requests over all of them (`AsyncClient::connect_all`). The broker counts alternate in each round.",
        "**Broker memory.** A child process (this binary, `--memory-probe`) runs only a broker, with no workers and `max_queue` above the request count. In the parent, a DEALER client queues N requests of 64 B with 600 s timeouts for one service, discovery (`reqrep.services`) confirms the queue depth, then one worker with 64 credits answers them all and the client reads every reply. The broker process reads its own RSS (VmRSS) when the parent asks: before, when queued, and after draining (the broker gives freed memory back to the system after a drain).",
    ] {
        writeln!(out, "- {line}")?;
    }
    writeln!(out)
}

/// The main table: one line per row, both sides and their ratios.
pub(crate) fn results_table(rows: &[Row]) -> String {
    let mut t = MarkdownTable::new(&[
        ("path", Align::Left),
        ("payload", Align::Right),
        ("load", Align::Left),
        ("reqrep req/s", Align::Right),
        ("raw req/s", Align::Right),
        ("x req/s", Align::Right),
        ("reqrep p50", Align::Right),
        ("raw p50", Align::Right),
        ("x p50", Align::Right),
        ("reqrep p99", Align::Right),
        ("raw p99", Align::Right),
        ("reqrep p99.9", Align::Right),
        ("raw p99.9", Align::Right),
        ("reqrep CPU/req", Align::Right),
        ("raw CPU/req", Align::Right),
        ("x CPU", Align::Right),
    ]);
    for row in rows {
        let (a, b) = (&row.reqrep, &row.raw);
        let with_errors = |text: String, errors: u64| {
            if errors > 0 {
                format!("{text} ({errors} err)")
            } else {
                text
            }
        };
        t.row([
            row.scenario.path.label().to_owned(),
            bytes_label(row.scenario.payload),
            row.scenario.shape(),
            with_errors(rate(a.median(Metric::Throughput)), a.errors()),
            with_errors(rate(b.median(Metric::Throughput)), b.errors()),
            ratio(row.ratio(Metric::Throughput)),
            micros(a.median(Metric::P50)),
            micros(b.median(Metric::P50)),
            ratio(row.ratio(Metric::P50)),
            micros(a.median(Metric::P99)),
            micros(b.median(Metric::P99)),
            micros(a.median(Metric::P999)),
            micros(b.median(Metric::P999)),
            micros(a.median(Metric::Cpu)),
            micros(b.median(Metric::Cpu)),
            ratio(row.ratio(Metric::Cpu)),
        ]);
    }
    t.to_string()
}

/// The pipelined 64 B rows with 1 client, by worker count.
pub(crate) fn worker_scaling(rows: &[Row]) -> Vec<&Row> {
    let mut picked: Vec<&Row> = rows
        .iter()
        .filter(|r| {
            r.scenario.path == Path::BrokeredPipelined
                && r.scenario.payload == 64
                && r.scenario.clients == 1
        })
        .collect();
    picked.sort_by_key(|r| r.scenario.workers);
    picked
}

/// The pipelined 64 B rows with 4 workers, by client count.
pub(crate) fn client_scaling(rows: &[Row]) -> Vec<&Row> {
    let mut picked: Vec<&Row> = rows
        .iter()
        .filter(|r| {
            r.scenario.path == Path::BrokeredPipelined
                && r.scenario.payload == 64
                && r.scenario.workers == 4
        })
        .collect();
    picked.sort_by_key(|r| r.scenario.clients);
    picked
}

fn scaling_table(first: &str, rows: &[&Row], key: impl Fn(&Row) -> usize) -> MarkdownTable {
    let mut t = MarkdownTable::new(&[
        (first, Align::Right),
        ("reqrep req/s", Align::Right),
        ("raw req/s", Align::Right),
        ("x req/s", Align::Right),
        ("reqrep p99", Align::Right),
        ("raw p99", Align::Right),
        ("reqrep CPU/req", Align::Right),
        ("raw CPU/req", Align::Right),
        ("x CPU", Align::Right),
    ]);
    for row in rows {
        t.row([
            key(row).to_string(),
            rate(row.reqrep.median(Metric::Throughput)),
            rate(row.raw.median(Metric::Throughput)),
            ratio(row.ratio(Metric::Throughput)),
            micros(row.reqrep.median(Metric::P99)),
            micros(row.raw.median(Metric::P99)),
            micros(row.reqrep.median(Metric::Cpu)),
            micros(row.raw.median(Metric::Cpu)),
            ratio(row.ratio(Metric::Cpu)),
        ]);
    }
    t
}

fn write_scaling(out: &mut String, rows: &[Row]) -> std::fmt::Result {
    let by_workers = worker_scaling(rows);
    let by_clients = client_scaling(rows);
    if by_workers.is_empty() && by_clients.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "## Scaling (brokered pipelined, 64 B, 128 in flight)\n"
    )?;
    if !by_workers.is_empty() {
        writeln!(out, "By workers (16 credits each, 1 client):\n")?;
        writeln!(
            out,
            "{}",
            scaling_table("workers", &by_workers, |r| r.scenario.workers)
        )?;
        writeln!(
            out,
            "![throughput and p99 against worker count](benchmarks.svg)\n"
        )?;
    }
    if !by_clients.is_empty() {
        writeln!(
            out,
            "By clients (4 workers x 16 credits, in-flight split among the clients):\n"
        )?;
        writeln!(
            out,
            "{}",
            scaling_table("clients", &by_clients, |r| r.scenario.clients)
        )?;
    }
    Ok(())
}

fn write_memory(out: &mut String, r: &Report) -> std::fmt::Result {
    writeln!(out, "## Broker memory\n")?;
    match &r.memory {
        None => writeln!(out, "Not measured in this run.\n"),
        Some(Err(e)) => writeln!(out, "The probe failed: {e}\n"),
        Some(Ok(m)) => {
            let mut t = MarkdownTable::new(&[("quantity", Align::Left), ("value", Align::Right)]);
            t.row(["requests queued (64 B each)".into(), thousands(m.requests)]);
            t.row([
                "queue depth seen by discovery".into(),
                thousands(m.queue_depth),
            ]);
            t.row(["RSS before".into(), mib(as_i64(m.rss_before))]);
            t.row(["RSS with all queued".into(), mib(as_i64(m.rss_queued))]);
            t.row(["RSS after draining".into(), mib(as_i64(m.rss_drained))]);
            t.row([
                "bytes per queued request beyond payload".into(),
                format!("{:.0} B", m.bytes_per_request_beyond_payload()),
            ]);
            t.row([
                "left above baseline after draining".into(),
                format!(
                    "{} ({:.0} % of the queued growth; near = at most {:.0} %)",
                    mib(m.residual_bytes()),
                    m.residual_share() * 100.0,
                    NEAR_BASELINE * 100.0
                ),
            ]);
            t.row(["replies received".into(), thousands(m.replies)]);
            t.row([
                "time to queue / to drain".into(),
                format!("{:.2} s / {:.2} s", m.queue_s, m.drain_s),
            ]);
            writeln!(out, "{t}")
        }
    }
}

/// A section's result when it was measured; otherwise writes why not and
/// gives `None`.
pub(super) fn measured<'a, T, E: std::fmt::Display>(
    out: &mut String,
    section: Option<&'a Result<T, E>>,
) -> Result<Option<&'a T>, std::fmt::Error> {
    match section {
        None => writeln!(out, "Not measured in this run.\n").map(|()| None),
        Some(Err(e)) => writeln!(out, "Not measured: {e}.\n").map(|()| None),
        Some(Ok(measured)) => Ok(Some(measured)),
    }
}

fn write_security(out: &mut String, r: &Report) -> std::fmt::Result {
    writeln!(
        out,
        "## Security: plaintext, CURVE, CURVE + access policy\n"
    )?;
    let Some(s) = measured(out, r.security.as_ref())? else {
        return Ok(());
    };
    writeln!(
        out,
        "{}, reqrep only, the modes alternating in each round; medians over the rounds.\n",
        s.scenario
    )?;
    let mut t = MarkdownTable::new(&[
        ("mode", Align::Left),
        ("req/s", Align::Right),
        ("p50 us", Align::Right),
        ("p99 us", Align::Right),
        ("CPU us/req", Align::Right),
        ("throughput / plaintext", Align::Right),
        ("throughput / CURVE", Align::Right),
    ]);
    for m in &s.modes {
        let median = |metric| m.runs.median(metric);
        t.row([
            m.mode.label().to_owned(),
            rate(median(Metric::Throughput)),
            micros(median(Metric::P50)),
            micros(median(Metric::P99)),
            micros(median(Metric::Cpu)),
            ratio(s.ratio(m.mode, Mode::Plaintext, Metric::Throughput)),
            ratio(s.ratio(m.mode, Mode::Curve, Metric::Throughput)),
        ]);
    }
    writeln!(out, "{t}")?;
    let failures: Vec<String> = s
        .modes
        .iter()
        .flat_map(|m| {
            m.runs
                .failures
                .iter()
                .map(move |f| format!("- {}: {f}", m.mode.label()))
        })
        .collect();
    if !failures.is_empty() {
        writeln!(out, "Failed runs:\n\n{}\n", failures.join("\n"))?;
    }
    Ok(())
}

fn write_scale_out(out: &mut String, r: &Report) -> std::fmt::Result {
    writeln!(out, "## Several brokers: 1, 2 and 3\n")?;
    let Some(s) = &r.scale_out else {
        return writeln!(out, "Not measured in this run.\n");
    };
    writeln!(
        out,
        "{}, reqrep only: every worker serves all the brokers (its 16 credits shared among them), the client spreads over all of them; the broker counts alternate in each round, medians over the rounds. Everything shares this machine's {} CPUs, so this measures what each added broker costs (one more poll loop, libzmq I/O thread and set of sockets per process), not the speed-up separate hosts would give.\n",
        s.scenario, r.machine.nproc
    )?;
    let mut t = MarkdownTable::new(&[
        ("brokers", Align::Right),
        ("req/s", Align::Right),
        ("p50 us", Align::Right),
        ("p99 us", Align::Right),
        ("CPU us/req", Align::Right),
        ("throughput / 1 broker", Align::Right),
        ("CPU / 1 broker", Align::Right),
    ]);
    for (brokers, runs) in &s.rows {
        t.row([
            brokers.to_string(),
            rate(runs.median(Metric::Throughput)),
            micros(runs.median(Metric::P50)),
            micros(runs.median(Metric::P99)),
            micros(runs.median(Metric::Cpu)),
            ratio(s.versus_one(*brokers, Metric::Throughput)),
            ratio(s.versus_one(*brokers, Metric::Cpu)),
        ]);
    }
    writeln!(out, "{t}")?;
    for (brokers, runs) in &s.rows {
        for failure in &runs.failures {
            writeln!(out, "- {brokers} broker(s) failed: {failure}")?;
        }
    }
    writeln!(out)
}

fn as_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::SideResult;
    use crate::sample::Sample;
    use crate::scenario::Scenario;

    fn sample(rps: f64, p50: f64) -> Sample {
        Sample {
            requests: 1000,
            errors: 0,
            elapsed_s: 1.0,
            throughput_rps: rps,
            p50_us: p50,
            p99_us: p50 * 2.0,
            p999_us: p50 * 3.0,
            cpu_us_per_request: 10.0,
        }
    }

    fn row(scenario: Scenario) -> Row {
        Row {
            scenario,
            reqrep: SideResult {
                samples: vec![
                    sample(900.0, 55.0),
                    sample(1000.0, 50.0),
                    sample(800.0, 60.0),
                ],
                failures: vec![],
            },
            raw: SideResult {
                samples: vec![sample(1000.0, 50.0)],
                failures: vec![],
            },
            nats: crate::runner::Peer::NotApplicable,
        }
    }

    #[test]
    fn the_results_table_shows_medians_and_ratios() {
        let text = results_table(&[row(Scenario::lockstep(Path::Direct, 64))]);
        let line = text.lines().nth(2).unwrap();
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        assert_eq!(
            cells[1..cells.len() - 1],
            [
                "direct lockstep",
                "64 B",
                "1 in flight",
                "900",
                "1,000",
                "0.90x",
                "55.0",
                "50.0",
                "1.10x",
                "110.0",
                "100.0",
                "165.0",
                "150.0",
                "10.0",
                "10.0",
                "1.00x",
            ]
        );
    }

    #[test]
    fn scaling_views_pick_and_sort_rows() {
        let rows = vec![
            row(Scenario::pipelined(64, 4, 1)),
            row(Scenario::pipelined(64, 1, 1)),
            row(Scenario::pipelined(4096, 4, 1)),
            row(Scenario::pipelined(64, 4, 16)),
        ];
        let w: Vec<usize> = worker_scaling(&rows)
            .iter()
            .map(|r| r.scenario.workers)
            .collect();
        assert_eq!(w, vec![1, 4]);
        let c: Vec<usize> = client_scaling(&rows)
            .iter()
            .map(|r| r.scenario.clients)
            .collect();
        assert_eq!(c, vec![1, 16]);
    }
}
