//! `reqrep worker`: an echo worker for one service, until SIGINT or SIGTERM.

use std::time::Duration;

use clap::{Args, ValueEnum};
use reqrep_agents::{StopToken, Worker, WorkerError, WorkerOptions};
use reqrep_broker::signal::SignalStop;
use reqrep_core::{Frame, Request, Status};
use tracing::info;

use super::{CurveArgs, DEFAULT_BACKEND, millis};
use crate::CliError;

/// Arguments of `reqrep worker`.
#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// A broker's backend endpoint; repeat `--broker`, or give a comma
    /// list, to serve several brokers at once with the credits shared among
    /// them (at least one credit per broker).
    #[arg(long, value_name = "ENDPOINT", default_value = DEFAULT_BACKEND,
          value_delimiter = ',', num_args = 1)]
    pub broker: Vec<String>,

    /// The service to serve.
    #[arg(long)]
    pub service: String,

    /// Requests taken at once (announced to the broker; with `--handler
    /// threads`, one handler thread each).
    #[arg(long, value_name = "N", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub credits: u32,

    /// Milliseconds each request takes before its echo is sent, to simulate
    /// work.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub delay_ms: u64,

    /// Where the echo handler runs: `inline` on the socket thread (no
    /// hand-off per request: the fastest for quick handlers), or `threads`,
    /// one handler thread per credit. Default: inline, or threads with
    /// `--delay-ms` (a slow inline handler would hold up heartbeats and the
    /// other credits).
    #[arg(long, value_enum, value_name = "HOW")]
    pub handler: Option<Handler>,

    /// Heartbeat interval announced to the broker, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
    pub heartbeat_ms: u64,

    /// Serve `GET /healthz` (200 while the worker runs) on this address,
    /// for liveness and readiness probes; port 0 picks one (logged).
    /// Default: none.
    #[arg(long, value_name = "ADDR")]
    pub health_addr: Option<std::net::SocketAddr>,

    /// CURVE security.
    #[command(flatten)]
    pub curve: CurveArgs,
}

/// Where a worker's handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Handler {
    /// On the socket thread.
    Inline,
    /// On one handler thread per credit.
    Threads,
}

impl WorkerArgs {
    /// Where the handler runs: `--handler`, or its default.
    pub fn handler(&self) -> Handler {
        self.handler.unwrap_or(if self.delay_ms == 0 {
            Handler::Inline
        } else {
            Handler::Threads
        })
    }

    /// The worker options these arguments ask for.
    pub fn options(&self) -> WorkerOptions {
        WorkerOptions::default()
            .credits(self.credits)
            .inline(self.handler() == Handler::Inline)
            .heartbeat(millis(self.heartbeat_ms))
    }
}

/// The echo handler: answers every request with its own payload, after
/// `delay` (none when zero).
pub fn echo(
    delay: Duration,
) -> impl Fn(&Request, Vec<Frame>) -> Result<Vec<Frame>, Status> + Send + Sync + 'static {
    move |_request, payload| {
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        Ok(payload)
    }
}

/// Serves `args.service` with the echo handler until SIGINT or SIGTERM.
///
/// # Errors
/// An invalid endpoint, signal handlers or sockets that cannot be set up;
/// [`CliError::KeyFile`] for a missing or malformed `--key-file`;
/// [`CliError::Usage`] for fewer `--credits` than brokers;
/// [`WorkerError::Refused`] (exit
/// code 1), at once and without reconnecting, when the broker refuses this
/// worker's identity.
pub fn run(args: &WorkerArgs) -> Result<(), CliError> {
    let stop = StopToken::new();
    let _signals =
        SignalStop::install(stop.clone()).map_err(|e| CliError::io("listen for signals", e))?;
    let options = args.curve.apply(args.options(), WorkerOptions::curve)?;
    let brokers: Vec<&str> = args.broker.iter().map(String::as_str).collect();
    let worker = match brokers.as_slice() {
        [one] => Worker::new(one, &args.service, options)?,
        many => Worker::connect_all(many, &args.service, options).map_err(|e| match e {
            // A flag mismatch: a usage error (exit 2), not a failure.
            e @ WorkerError::TooFewCredits { .. } => CliError::Usage(e.to_string()),
            e => e.into(),
        })?,
    };
    if let Some(addr) = args.health_addr {
        let bound =
            crate::health::serve(addr).map_err(|e| CliError::io("serve the health endpoint", e))?;
        info!(addr = %bound, "health endpoint bound");
    }
    info!(
        broker = %args.broker.join(","),
        service = %args.service,
        credits = args.credits,
        delay_ms = args.delay_ms,
        handler = ?args.handler(),
        "echo worker started"
    );
    let stats = worker.run(echo(millis(args.delay_ms)), &stop)?;
    info!(
        requests = stats.requests,
        replies = stats.replies,
        sessions = stats.sessions,
        "echo worker stopped"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use reqrep_core::CorrelationId;

    use super::*;
    use crate::{Cli, CliCommand};

    #[test]
    fn defaults() {
        let cli = Cli::try_parse_from(["reqrep", "worker", "--service", "echo"]).unwrap();
        let CliCommand::Worker(args) = cli.command else {
            panic!("not the worker command");
        };
        assert_eq!(args.broker, [DEFAULT_BACKEND]);
        assert_eq!(
            (args.credits, args.delay_ms, args.heartbeat_ms),
            (16, 0, 1000)
        );
        assert_eq!(args.handler(), Handler::Inline);
        let slow = |extra: &[&str]| {
            let mut all = vec!["reqrep", "worker", "--service", "echo", "--delay-ms", "5"];
            all.extend_from_slice(extra);
            let CliCommand::Worker(args) = Cli::try_parse_from(all).unwrap().command else {
                panic!("not the worker command");
            };
            args.handler()
        };
        assert_eq!(slow(&[]), Handler::Threads);
        assert_eq!(slow(&["--handler", "inline"]), Handler::Inline);
        assert!(
            Cli::try_parse_from(["reqrep", "worker", "--service", "e", "--credits", "0"]).is_err()
        );
    }

    #[test]
    fn brokers_repeat_or_come_as_a_comma_list() {
        let parse = |argv: &[&str]| -> Vec<String> {
            let mut all = vec!["reqrep", "worker", "--service", "echo"];
            all.extend_from_slice(argv);
            let CliCommand::Worker(args) = Cli::try_parse_from(all).unwrap().command else {
                panic!("not the worker command");
            };
            args.broker
        };
        let both = ["tcp://a:1", "tcp://b:2"];
        assert_eq!(
            parse(&["--broker", "tcp://a:1", "--broker", "tcp://b:2"]),
            both
        );
        assert_eq!(parse(&["--broker", "tcp://a:1,tcp://b:2"]), both);
        assert_eq!(
            parse(&["--broker", "tcp://a:1,tcp://b:2", "--broker", "tcp://c:3"]),
            ["tcp://a:1", "tcp://b:2", "tcp://c:3"]
        );
    }

    #[test]
    fn echo_returns_the_payload() {
        let handler = echo(Duration::ZERO);
        let request = Request::new(CorrelationId::new(), "echo");
        let reply = handler(
            &request,
            vec![Frame::from(&b"ping"[..]), Frame::from(&b"2"[..])],
        )
        .unwrap();
        let bytes: Vec<&[u8]> = reply.iter().map(|f| &f[..]).collect();
        assert_eq!(bytes, [&b"ping"[..], b"2"]);
    }
}
