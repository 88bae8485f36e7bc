//! The raw side of the deployed shape: the raw credit broker, raw workers
//! and raw pipelined clients, each a `reqrep-bench raw-...` process.

use std::path::Path;
use std::process::Command;

use super::roles::{BACKEND, FRONTEND, REGISTERED};
use super::{Binaries, START_TIMEOUT, client};
use crate::BenchError;
use crate::plan::RunSpec;
use crate::process::{Process, Watch};
use crate::sample::Sample;

/// One run: a fresh broker and workers, a warm-up client, the measured
/// client.
pub(super) fn run(bins: &Binaries, spec: &RunSpec, scratch: &Path) -> Result<Sample, BenchError> {
    let scenario = spec.scenario;
    let role = |name: &str| {
        let mut command = Command::new(&bins.bench);
        command.arg(name);
        command
    };
    let mut broker_cmd = role("raw-broker");
    broker_cmd.args(["--workers", &scenario.workers.to_string()]);
    let broker = Process::spawn("raw broker", &mut broker_cmd, Watch::Stdout)?;
    let after =
        |prefix: &'static str| move |line: &str| line.strip_prefix(prefix).map(str::to_owned);
    let frontend = broker.expect("its frontend", START_TIMEOUT, after(FRONTEND))?;
    let backend = broker.expect("its backend", START_TIMEOUT, after(BACKEND))?;
    let mut processes = Vec::new();
    for i in 0..scenario.workers {
        let mut worker = role("raw-worker");
        worker.args([
            "--connect",
            &backend,
            "--credits",
            &scenario.credits.to_string(),
        ]);
        processes.push(Process::spawn(
            &format!("raw worker {i}"),
            &mut worker,
            Watch::Nothing,
        )?);
    }
    broker.expect("its workers registered", START_TIMEOUT, |line| {
        (line == REGISTERED).then_some(())
    })?;
    processes.insert(0, broker);

    let json = scratch.join("raw-client.json");
    let per_client = scenario.per_client_in_flight();
    let client_cmd = |requests: u64| {
        let mut command = role("raw-client");
        command
            .args(["--connect", &frontend, "--requests", &requests.to_string()])
            .args(["--in-flight", &per_client.to_string()])
            .args(["--payload-bytes", &scenario.payload.to_string()])
            .args([
                "--timeout-ms",
                &spec.request_timeout.as_millis().to_string(),
            ])
            .arg("--json")
            .arg(&json);
        command
    };
    client::measure(
        "raw client warm-up",
        &mut client_cmd(spec.warmup),
        &json,
        &mut processes,
        spec.deadline,
    )?;
    client::measure(
        "raw client",
        &mut client_cmd(spec.requests),
        &json,
        &mut processes,
        spec.deadline,
    )
}
