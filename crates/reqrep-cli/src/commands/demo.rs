//! `reqrep demo`: a broker, echo workers and a client load in one process,
//! then a report of throughput and latency percentiles.
//!
//! The broker binds ephemeral loopback ports with metrics off, so the demo
//! runs anywhere without configuration. It is set up as a user would for
//! throughput, and says so in its report: each echo worker runs its handler
//! on its socket thread (`inline`: no hand-off per request) with
//! `--credits` credits, and the load is one [`AsyncClient`] (one DEALER
//! socket) on a current-thread tokio runtime (request, socket and reply on
//! one thread) with `--in-flight` requests outstanding at any time.
//! With `--key-file` everything runs over CURVE: the broker holds the key
//! pair in the file, and the workers and the client connect with it as
//! their identity.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

use clap::Args;
use indicatif::ProgressBar;
use reqrep_agents::{
    AsyncClient, ClientOptions, ServiceWaitError, StopToken, Worker, WorkerError, WorkerOptions,
};
use reqrep_broker::{Broker, BrokerConfig, BrokerThread};
use reqrep_core::curve::Curve;
use tracing::debug;

use super::worker::echo;
use super::{load_key_file, millis};
use crate::CliError;
use crate::load::{Budget, Load};
use crate::outcome::Outcome;
use crate::progress::requests_bar;
use crate::table::thousands;

/// The service the demo's workers serve.
pub const SERVICE: &str = "echo";
/// How long the workers may take to register before the demo gives up.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(10);

/// Arguments of `reqrep demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Requests to send in all.
    #[arg(long, value_name = "N", default_value_t = 20_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: u64,

    /// Echo workers to start (each one a worker connection with its own
    /// handler threads).
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=256))]
    pub workers: u32,

    /// Brokers to start. With more than one, the workers are shared out
    /// among them (worker i on broker i mod N) and the client spreads its
    /// load over all of them (docs/PROTOCOL.md, section 12). At most
    /// --workers, so that every broker has one.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=16))]
    pub brokers: u32,

    /// Credits (concurrent requests) per worker.
    #[arg(long, value_name = "N", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub credits: u32,

    /// Requests outstanding at any time (at most the broker's queue bound,
    /// 10000).
    #[arg(long, value_name = "N", default_value_t = 128,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub in_flight: u32,

    /// Bytes in each request payload (echoed back and checked).
    #[arg(long, value_name = "BYTES", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(0..=1_048_576))]
    pub payload_bytes: u32,

    /// How long each request may wait for its reply, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5000,
          value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub timeout_ms: u64,

    /// Mark requests idempotent: retried on timeout and answered from the
    /// broker's reply cache when repeated (which costs the broker a cache
    /// entry per request). Default: one attempt each.
    #[arg(long)]
    pub idempotent: bool,

    /// Run over CURVE with the key pair in this key file (as `reqrep keygen
    /// --secret-file` writes it): the demo's broker holds it as its server
    /// key, and its workers and client connect with it as their identity.
    /// Needs a libzmq with CURVE. Default: plaintext.
    #[arg(long, value_name = "PATH")]
    pub key_file: Option<PathBuf>,
}

impl DemoArgs {
    /// The CURVE role of the demo's workers and client: `--key-file`'s key
    /// pair as their identity, with its public key as the broker's; `None`
    /// without `--key-file`.
    ///
    /// # Errors
    /// [`CliError::KeyFile`] for a missing or malformed key file.
    pub fn curve(&self) -> Result<Option<Curve>, CliError> {
        let Some(path) = &self.key_file else {
            return Ok(None);
        };
        let keys = load_key_file(path)?;
        Ok(Some(Curve::client_with(keys.public, keys)))
    }
}

/// Echo workers on threads of their own, stopped and joined on drop.
struct EchoWorkers {
    stop: StopToken,
    threads: Vec<JoinHandle<Result<(), WorkerError>>>,
}

impl EchoWorkers {
    /// `count` workers, worker `i` on `backends[i % backends.len()]`.
    fn start(
        backends: &[String],
        count: u32,
        credits: u32,
        curve: Option<&Curve>,
    ) -> Result<Self, CliError> {
        let mut workers = Self {
            stop: StopToken::new(),
            threads: Vec::new(),
        };
        for i in 0..count {
            let mut options = WorkerOptions::default().credits(credits).inline(true);
            if let Some(curve) = curve {
                options = options.curve(curve.clone());
            }
            let backend = &backends[i as usize % backends.len()];
            let worker = Worker::new(backend, SERVICE, options)?;
            let stop = workers.stop.clone();
            let thread = std::thread::Builder::new()
                .name(format!("reqrep-demo-worker-{i}"))
                .spawn(move || {
                    let stats = worker.run(echo(Duration::ZERO), &stop)?;
                    debug!(worker = i, ?stats, "demo worker stopped");
                    Ok(())
                })
                .map_err(|e| CliError::io("start a worker thread", e))?;
            workers.threads.push(thread);
        }
        Ok(workers)
    }

    /// Stops every worker and waits for it; returns the first failure.
    fn stop(mut self) -> Result<(), CliError> {
        self.stop.stop();
        let mut result = Ok(());
        for thread in self.threads.drain(..) {
            match thread.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    if result.is_ok() {
                        result = Err(e.into());
                    }
                }
                Err(_) => {
                    if result.is_ok() {
                        result = Err(CliError::io(
                            "run a worker",
                            std::io::Error::other("worker thread panicked"),
                        ));
                    }
                }
            }
        }
        result
    }
}

impl Drop for EchoWorkers {
    fn drop(&mut self) {
        self.stop.stop();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Waits until the broker at `frontend` reports `workers` workers for
/// [`SERVICE`], asking its discovery service.
fn wait_for_workers(frontend: &str, workers: u32, curve: Option<&Curve>) -> Result<(), CliError> {
    let options = with_curve(
        ClientOptions::default().timeout(Duration::from_secs(1)),
        curve,
    );
    match reqrep_agents::wait_for_service(frontend, SERVICE, workers, REGISTER_TIMEOUT, options) {
        Ok(_) => Ok(()),
        Err(ServiceWaitError::Timeout { registered, .. }) => Err(CliError::io(
            "start the demo workers",
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "{registered} of {workers} registered within {} s",
                    REGISTER_TIMEOUT.as_secs()
                ),
            ),
        )),
        Err(ServiceWaitError::Discovery(e)) => Err(e.into()),
        Err(e) => Err(CliError::io(
            "start the demo workers",
            std::io::Error::other(e.to_string()),
        )),
    }
}

/// `options` with `curve`, if any.
fn with_curve(options: ClientOptions, curve: Option<&Curve>) -> ClientOptions {
    match curve {
        Some(curve) => options.curve(curve.clone()),
        None => options,
    }
}

/// The demo broker: ephemeral loopback ports, metrics off; CURVE with the
/// key pair in `key_file`, if any.
fn start_broker(key_file: Option<&Path>) -> Result<BrokerThread, CliError> {
    let config = BrokerConfig {
        curve_secret_key_file: key_file.map(Path::to_owned),
        ..BrokerConfig::ephemeral_loopback()
    };
    Broker::bind(config)?
        .spawn()
        .map_err(|e| CliError::io("start the broker thread", e))
}

/// Sends `args.requests` requests through `frontends` with
/// `args.in_flight` outstanding, counting on `bar`.
fn load(
    frontends: &[String],
    args: &DemoArgs,
    curve: Option<&Curve>,
    bar: &ProgressBar,
) -> Result<Outcome, CliError> {
    // One thread for the requests and the client's socket: no hand-off.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::io("start the client runtime", e))?;
    let options = with_curve(
        ClientOptions::default()
            .timeout(millis(args.timeout_ms))
            .idempotent(args.idempotent),
        curve,
    );
    let client = {
        // Connected inside the runtime: the client's I/O runs on it.
        let _entered = runtime.enter();
        AsyncClient::connect_all(frontends, SERVICE, options)?
    };
    let payload = crate::load::payload(args.payload_bytes);
    let outcome = runtime.block_on(
        Load {
            clients: std::slice::from_ref(&client),
            in_flight: args.in_flight,
            budget: Budget::Requests(args.requests),
            payload,
            check_echo: true,
            stop: StopToken::new(),
            bar: bar.clone(),
        }
        .run(),
    );
    Ok(outcome)
}

/// How the demo is set up for throughput, for its report.
fn configuration(args: &DemoArgs) -> String {
    format!(
        "configured for throughput: each worker runs its handler inline (on its socket thread, no hand-off) with {}; the client is one AsyncClient on a current-thread tokio runtime with {} in flight; {}",
        plural(args.credits.into(), "credit"),
        thousands(args.in_flight.into()),
        if args.idempotent {
            "requests idempotent (retried, answered from the broker's reply cache)"
        } else {
            "one attempt per request (--idempotent for retries and the reply cache)"
        }
    )
}

/// `1 request`, `20,000 requests`.
fn plural(n: u64, noun: &str) -> String {
    let s = if n == 1 { "" } else { "s" };
    format!("{} {noun}{s}", thousands(n))
}

/// Runs the demo and prints its summary on stdout.
///
/// # Errors
/// [`CliError::RequestsFailed`] when any request failed (after the
/// summary is printed); [`CliError::KeyFile`] for a missing or malformed
/// `--key-file`; local failures starting the broker or workers.
pub fn run(args: &DemoArgs) -> Result<(), CliError> {
    // A bad key file is a usage error before anything starts.
    let curve = args.curve()?;
    if args.brokers > args.workers {
        return Err(CliError::Usage(format!(
            "--brokers {} needs at least as many --workers (got {})",
            args.brokers, args.workers
        )));
    }
    let brokers = (0..args.brokers)
        .map(|_| start_broker(args.key_file.as_deref()))
        .collect::<Result<Vec<_>, _>>()?;
    let frontends: Vec<String> = brokers.iter().map(|b| b.frontend().to_owned()).collect();
    let backends: Vec<String> = brokers.iter().map(|b| b.backend().to_owned()).collect();
    let workers = EchoWorkers::start(&backends, args.workers, args.credits, curve.as_ref())?;
    for (i, frontend) in frontends.iter().enumerate() {
        // Worker j is on broker j mod N.
        let on_this = (args.workers - 1 - i as u32) / args.brokers + 1;
        wait_for_workers(frontend, on_this, curve.as_ref())?;
    }

    let bar = requests_bar(args.requests);
    let outcome = load(&frontends, args, curve.as_ref(), &bar);
    bar.finish_and_clear();

    // Workers leave first (DISCONNECT), then the brokers drain an empty
    // house and stop; the report comes last, after their log lines.
    let stopped_workers = workers.stop();
    let stopped_brokers: Vec<_> = brokers.into_iter().map(BrokerThread::stop).collect();
    let outcome = outcome?;
    stopped_workers?;
    for stopped in stopped_brokers {
        stopped?;
    }

    let mut stdout = std::io::stdout().lock();
    write!(
        stdout,
        "reqrep demo: {} of {} B, {} in flight, {} x {}{}{}\n{}\n{}",
        plural(args.requests, "request"),
        args.payload_bytes,
        thousands(args.in_flight.into()),
        plural(args.workers.into(), "echo worker"),
        plural(args.credits.into(), "credit"),
        if args.brokers > 1 {
            format!(", {}", plural(args.brokers.into(), "broker"))
        } else {
            String::new()
        },
        if curve.is_some() { ", CURVE" } else { "" },
        configuration(args),
        outcome.summary()
    )
    .and_then(|()| stdout.flush())
    .map_err(|e| CliError::io("write stdout", e))?;

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
    use super::*;
    use crate::{Cli, CliCommand};
    use clap::Parser;

    #[test]
    fn defaults_run_the_documented_load() {
        let cli = Cli::try_parse_from(["reqrep", "demo"]).unwrap();
        let CliCommand::Demo(args) = cli.command else {
            panic!("not the demo command");
        };
        assert_eq!(args.requests, 20_000);
        assert_eq!((args.workers, args.credits, args.in_flight), (4, 16, 128));
        assert_eq!(args.payload_bytes, 64);
        assert!(!args.idempotent);
        let said = configuration(&args);
        assert!(
            said.contains("inline") && said.contains("16 credits"),
            "{said}"
        );
        assert!(
            said.contains("current-thread") && said.contains("128 in flight"),
            "{said}"
        );
        assert!(Cli::try_parse_from(["reqrep", "demo", "--requests", "0"]).is_err());
        assert!(Cli::try_parse_from(["reqrep", "demo", "--in-flight", "0"]).is_err());
    }

    #[test]
    fn counts_read_naturally() {
        assert_eq!(plural(1, "echo worker"), "1 echo worker");
        assert_eq!(plural(20_000, "request"), "20,000 requests");
    }
}
