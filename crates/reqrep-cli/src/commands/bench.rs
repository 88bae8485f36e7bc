//! `reqrep bench`: a load against any running broker, like `nats bench`:
//! pipelined requests from one or more clients, a progress bar, then a
//! summary of throughput, latency percentiles and errors by status code.
//!
//! Every request is counted: a timeout or an error status is an error in
//! the summary (and exit code 1), never dropped. SIGINT or SIGTERM stop the
//! load; the requests already in flight finish (each within its timeout),
//! and the summary of what was sent is printed.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use reqrep_agents::{AsyncClient, ClientOptions, StopToken};
use reqrep_broker::signal::SignalStop;
use serde::Serialize;

use super::{CurveArgs, DEFAULT_FRONTEND, millis};
use crate::CliError;
use crate::load::{Budget, Load};
use crate::outcome::OutcomeJson;
use crate::progress::{open_bar, requests_bar};
use crate::table::thousands;

/// Requests sent when neither `--requests` nor `--duration` is given.
const DEFAULT_REQUESTS: u64 = 100_000;

/// Arguments of `reqrep bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// A broker's frontend endpoint; repeat `--broker`, or give a comma
    /// list, to spread the load over several brokers.
    #[arg(long, value_name = "ENDPOINT", default_value = DEFAULT_FRONTEND,
          value_delimiter = ',', num_args = 1)]
    pub broker: Vec<String>,

    /// The service to call (`reqrep worker` echoes by default, and the
    /// replies are checked against the requests only when they echo).
    #[arg(long, default_value = "echo")]
    pub service: String,

    /// Requests to send in all (default 100000, unless --duration).
    #[arg(long, value_name = "N", conflicts_with = "duration",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: Option<u64>,

    /// Send for this long instead of a number of requests: `2s`, `500ms`,
    /// `1m`, or seconds.
    #[arg(long, value_name = "TIME", value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Requests outstanding at any time, split among the clients.
    #[arg(long, value_name = "N", default_value_t = 128,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub in_flight: u32,

    /// Client connections (one DEALER socket each).
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub clients: u32,

    /// Bytes in each request payload.
    #[arg(long, value_name = "BYTES", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(0..=16_777_216))]
    pub payload_bytes: u32,

    /// Mark requests idempotent: retried on timeout, answered from the
    /// broker's reply cache when repeated. Default: one attempt each.
    #[arg(long)]
    pub idempotent: bool,

    /// How long each request may wait for its reply, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5000,
          value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub timeout_ms: u64,

    /// Check that every reply carries the request's payload (for echo
    /// services); a reply that does not counts as `PAYLOAD_MISMATCH`.
    #[arg(long)]
    pub check_echo: bool,

    /// Also write the summary as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// CURVE security.
    #[command(flatten)]
    pub curve: CurveArgs,
}

/// `2s`, `500ms`, `1m`, `1.5` (seconds).
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a time like 2s, 500ms or 1m"))?;
    let secs = value * scale;
    if !(secs.is_finite() && secs > 0.0 && secs <= 86_400.0) {
        return Err(format!("`{text}` must be above zero and at most a day"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// The JSON file: the load's settings and its outcome.
#[derive(Debug, Serialize)]
struct Report<'a> {
    brokers: &'a [String],
    service: &'a str,
    clients: u32,
    in_flight: u32,
    payload_bytes: u32,
    idempotent: bool,
    interrupted: bool,
    #[serde(flatten)]
    outcome: OutcomeJson,
}

/// Runs the load and prints its summary on stdout (and to `--json`).
///
/// # Errors
/// [`CliError::RequestsFailed`] when any request failed (after the
/// summary); usage errors for bad endpoints or key files; local failures
/// setting up sockets, the runtime, signals or the JSON file.
pub fn run(args: &BenchArgs) -> Result<(), CliError> {
    let stop = StopToken::new();
    let _signals =
        SignalStop::install(stop.clone()).map_err(|e| CliError::io("listen for signals", e))?;
    let options = args.curve.apply(
        ClientOptions::default()
            .timeout(millis(args.timeout_ms))
            .idempotent(args.idempotent),
        ClientOptions::curve,
    )?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::io("start the client runtime", e))?;
    let clients = {
        // Connected inside the runtime: each client's I/O runs on it.
        let _entered = runtime.enter();
        (0..args.clients)
            .map(|_| match args.broker.as_slice() {
                [one] => AsyncClient::connect(one, &args.service, options.clone()),
                all => AsyncClient::connect_all(all, &args.service, options.clone()),
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    let budget = match (args.requests, args.duration) {
        (_, Some(d)) => Budget::Until(Instant::now() + d),
        (Some(n), None) => Budget::Requests(n),
        (None, None) => Budget::Requests(DEFAULT_REQUESTS),
    };
    let bar = match budget {
        Budget::Requests(n) => requests_bar(n),
        Budget::Until(_) => open_bar(),
    };
    let payload = crate::load::payload(args.payload_bytes);
    let outcome = runtime.block_on(
        Load {
            clients: &clients,
            in_flight: args.in_flight,
            budget,
            payload,
            check_echo: args.check_echo,
            stop: stop.clone(),
            bar: bar.clone(),
        }
        .run(),
    );
    bar.finish_and_clear();
    drop(clients);
    drop(runtime);
    let interrupted = stop.is_stopped();

    let mut stdout = std::io::stdout().lock();
    write!(
        stdout,
        "reqrep bench: {} of {} B to {} on {}, {} in flight over {} client(s){}{}\n{}",
        thousands(outcome.requests),
        args.payload_bytes,
        args.service,
        args.broker.join(","),
        thousands(args.in_flight.into()),
        args.clients,
        if args.idempotent { ", idempotent" } else { "" },
        if interrupted { ", interrupted" } else { "" },
        outcome.summary()
    )
    .and_then(|()| stdout.flush())
    .map_err(|e| CliError::io("write stdout", e))?;
    if let Some(path) = &args.json {
        let report = Report {
            brokers: &args.broker,
            service: &args.service,
            clients: args.clients,
            in_flight: args.in_flight,
            payload_bytes: args.payload_bytes,
            idempotent: args.idempotent,
            interrupted,
            outcome: outcome.to_json(),
        };
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| CliError::io("encode the JSON summary", std::io::Error::other(e)))?;
        std::fs::write(path, text + "\n").map_err(|e| {
            let named = std::io::Error::new(e.kind(), format!("{}: {e}", path.display()));
            CliError::io("write the --json file", named)
        })?;
    }
    match outcome.failed() {
        0 => Ok(()),
        failed => Err(CliError::RequestsFailed {
            failed,
            total: outcome.requests,
        }),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::{Cli, CliCommand};

    fn parse(argv: &[&str]) -> BenchArgs {
        let mut all = vec!["reqrep", "bench"];
        all.extend_from_slice(argv);
        match Cli::try_parse_from(all).unwrap().command {
            CliCommand::Bench(args) => args,
            other => panic!("not the bench command: {other:?}"),
        }
    }

    #[test]
    fn defaults_and_flags() {
        let args = parse(&[]);
        assert_eq!(args.broker, [DEFAULT_FRONTEND]);
        assert_eq!(
            (args.in_flight, args.clients, args.payload_bytes),
            (128, 1, 64)
        );
        assert_eq!((args.requests, args.duration), (None, None));
        assert!(!args.idempotent);
        let args = parse(&[
            "--broker",
            "tcp://a:1,tcp://b:2",
            "--duration",
            "2s",
            "--idempotent",
        ]);
        assert_eq!(args.broker.len(), 2);
        assert_eq!(args.duration, Some(Duration::from_secs(2)));
        assert!(args.idempotent);
        assert!(
            Cli::try_parse_from(["reqrep", "bench", "--requests", "5", "--duration", "1s"])
                .is_err()
        );
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
