//! The reqrep side of the deployed shape: the `reqrep-broker` binary (JSON
//! logs, metrics served on an ephemeral port, as deployed), `reqrep worker`
//! processes and `reqrep bench` client processes.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use reqrep_agents::{ClientOptions, wait_for_service};

use super::{Binaries, START_TIMEOUT, client};
use crate::BenchError;
use crate::plan::RunSpec;
use crate::process::{Process, Watch};
use crate::sample::Sample;

/// The service the workers serve.
const SERVICE: &str = "echo";

/// One run: a fresh broker and workers, a warm-up client, the measured
/// client.
pub(super) fn run(bins: &Binaries, spec: &RunSpec, scratch: &Path) -> Result<Sample, BenchError> {
    let scenario = spec.scenario;
    let mut broker_cmd = Command::new(&bins.broker);
    broker_cmd
        .args([
            "--frontend",
            "tcp://127.0.0.1:*",
            "--backend",
            "tcp://127.0.0.1:*",
        ])
        .args(["--metrics-addr", "127.0.0.1:0", "--log-format", "json"])
        .env("RUST_LOG", "info");
    let broker = Process::spawn("reqrep-broker", &mut broker_cmd, Watch::Stderr)?;
    let (frontend, backend) = broker.expect("its endpoints", START_TIMEOUT, bound_endpoints)?;
    let mut processes = vec![broker];
    for i in 0..scenario.workers {
        let mut worker = Command::new(&bins.cli);
        worker
            .args(["worker", "--broker", &backend, "--service", SERVICE])
            .args(["--credits", &scenario.credits.to_string()])
            .env("RUST_LOG", "warn");
        processes.push(Process::spawn(
            &format!("reqrep worker {i}"),
            &mut worker,
            Watch::Nothing,
        )?);
    }
    let wanted = u32::try_from(scenario.workers).unwrap_or(u32::MAX);
    let probe = ClientOptions::default().timeout(Duration::from_secs(1));
    wait_for_service(&frontend, SERVICE, wanted, START_TIMEOUT, probe)
        .map_err(BenchError::reqrep)?;

    let json = scratch.join("reqrep-bench.json");
    let bench = |requests: u64| {
        let mut command = Command::new(&bins.cli);
        command
            .args(["bench", "--broker", &frontend, "--service", SERVICE])
            .args(["--requests", &requests.to_string()])
            .args(["--in-flight", &scenario.in_flight.to_string()])
            .args(["--clients", &scenario.clients.to_string()])
            .args(["--payload-bytes", &scenario.payload.to_string()])
            .args([
                "--timeout-ms",
                &spec.request_timeout.as_millis().to_string(),
            ])
            .arg("--json")
            .arg(&json)
            .env("RUST_LOG", "warn");
        command
    };
    client::measure(
        "reqrep bench warm-up",
        &mut bench(spec.warmup),
        &json,
        &mut processes,
        spec.deadline,
    )?;
    client::measure(
        "reqrep bench",
        &mut bench(spec.requests),
        &json,
        &mut processes,
        spec.deadline,
    )
}

/// `(frontend, backend)` from the broker's JSON `broker bound` log line.
fn bound_endpoints(line: &str) -> Option<(String, String)> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let fields = value.get("fields")?;
    if fields.get("message")?.as_str()? != "broker bound" {
        return None;
    }
    let text = |key: &str| fields.get(key)?.as_str().map(str::to_owned);
    Some((text("frontend")?, text("backend")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_line_gives_both_endpoints() {
        let line = r#"{"timestamp":"t","level":"INFO","fields":{"message":"broker bound","frontend":"tcp://127.0.0.1:40001","backend":"tcp://127.0.0.1:40002","metrics":"127.0.0.1:40003"},"target":"reqrep_broker::driver"}"#;
        assert_eq!(
            bound_endpoints(line),
            Some((
                "tcp://127.0.0.1:40001".into(),
                "tcp://127.0.0.1:40002".into()
            ))
        );
        assert_eq!(
            bound_endpoints(r#"{"fields":{"message":"reqrep-broker starting"}}"#),
            None
        );
        assert_eq!(bound_endpoints("not json"), None);
    }
}
