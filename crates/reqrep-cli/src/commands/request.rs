//! `reqrep request`: one request through a broker, the reply payload on
//! stdout.

use std::io::{IsTerminal, Read, Write};

use clap::Args;
use reqrep_agents::{Client, ClientOptions, Response};
use reqrep_core::RetryPolicy;
use tracing::debug;

use super::{CurveArgs, DEFAULT_FRONTEND, millis};
use crate::CliError;

/// Arguments of `reqrep request`.
#[derive(Debug, Clone, Args)]
pub struct RequestArgs {
    /// The broker's frontend endpoint. Repeat it (or give a comma list) to
    /// use several brokers: the request goes to one of them, an idempotent
    /// retry to another (docs/PROTOCOL.md, section 12).
    #[arg(long, value_name = "ENDPOINT", default_value = DEFAULT_FRONTEND,
          value_delimiter = ',', required = false)]
    pub broker: Vec<String>,

    /// The service to ask.
    #[arg(long)]
    pub service: String,

    /// How long each attempt waits for the reply, in milliseconds; also the
    /// deadline the broker enforces.
    #[arg(long, value_name = "MS", default_value_t = 2500,
          value_parser = clap::value_parser!(u64).range(1..=86_400_000))]
    pub timeout_ms: u64,

    /// Attempts in all, the first included (retries follow timeouts and
    /// UNAVAILABLE / RESOURCE_EXHAUSTED answers, with jittered backoff).
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub retries: u32,

    /// Mark the request safe to run twice: the broker may re-dispatch it
    /// after a worker is lost and answer retries from its reply cache.
    #[arg(long)]
    pub idempotent: bool,

    /// Fail at once with UNAVAILABLE when the service has no worker, instead
    /// of waiting in the broker's queue.
    #[arg(long)]
    pub fail_fast: bool,

    /// The request payload; `-` reads it from stdin. Empty when omitted.
    #[arg(value_name = "DATA")]
    pub data: Option<String>,

    /// CURVE security.
    #[command(flatten)]
    pub curve: CurveArgs,
}

impl RequestArgs {
    /// The client options these arguments ask for.
    pub fn options(&self) -> ClientOptions {
        ClientOptions::default()
            .timeout(millis(self.timeout_ms))
            .retry(RetryPolicy::default().max_attempts(self.retries))
            .idempotent(self.idempotent)
            .fail_fast(self.fail_fast)
    }

    /// The payload: the argument's bytes, stdin's for `-`, or nothing.
    ///
    /// # Errors
    /// When stdin cannot be read.
    pub fn payload(&self, stdin: impl Read) -> Result<Vec<u8>, CliError> {
        match self.data.as_deref() {
            None => Ok(Vec::new()),
            Some("-") => {
                let mut payload = Vec::new();
                let mut stdin = stdin;
                stdin
                    .read_to_end(&mut payload)
                    .map_err(|e| CliError::io("read stdin", e))?;
                Ok(payload)
            }
            Some(data) => Ok(data.as_bytes().to_vec()),
        }
    }
}

/// Sends the request and writes the reply payload's frames, back to back, to
/// stdout. On a terminal a newline follows, unless the payload ends in one.
///
/// # Errors
/// [`CliError::Request`] for an error status (`PERMISSION_DENIED` when the
/// broker's access policy refuses this identity) or a timeout;
/// [`CliError::KeyFile`] for a missing or malformed `--key-file`; I/O errors
/// for stdin and stdout.
pub fn run(args: &RequestArgs) -> Result<(), CliError> {
    let payload = args.payload(std::io::stdin().lock())?;
    let options = args.curve.apply(args.options(), ClientOptions::curve)?;
    let reply = send(&args.broker, &args.service, options, &payload)?;
    debug!(
        correlation_id = %reply.id,
        attempts = reply.attempts,
        frames = reply.payload.len(),
        "reply received"
    );

    let mut stdout = std::io::stdout().lock();
    let mut last = None;
    for frame in &reply.payload {
        stdout
            .write_all(frame)
            .map_err(|e| CliError::io("write stdout", e))?;
        last = frame.last().copied().or(last);
    }
    if stdout.is_terminal() && last.is_some_and(|b| b != b'\n') {
        stdout
            .write_all(b"\n")
            .map_err(|e| CliError::io("write stdout", e))?;
    }
    stdout.flush().map_err(|e| CliError::io("write stdout", e))
}

/// One request through `brokers` (see [`Client::connect_all`]).
fn send(
    brokers: &[String],
    service: &str,
    options: ClientOptions,
    payload: &[u8],
) -> Result<Response, CliError> {
    Ok(Client::connect_all(brokers, service, options)?.request(payload)?)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::{Cli, CliCommand};

    fn parse(args: &[&str]) -> RequestArgs {
        let argv = ["reqrep", "request"]
            .into_iter()
            .chain(args.iter().copied());
        match Cli::try_parse_from(argv).unwrap().command {
            CliCommand::Request(args) => args,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn defaults_match_the_client_library() {
        let args = parse(&["--service", "echo"]);
        assert_eq!(args.broker, [DEFAULT_FRONTEND]);
        assert_eq!(args.timeout_ms, 2500);
        assert_eq!(args.retries, 3);
        assert!(!args.idempotent && !args.fail_fast);
        assert_eq!(args.data, None);
        let options = args.options();
        assert_eq!(options.get_timeout(), millis(2500));
    }

    #[test]
    fn every_flag_is_read() {
        let args = parse(&[
            "--broker",
            "tcp://10.0.0.5:7000",
            "--service",
            "billing",
            "--timeout-ms",
            "300",
            "--retries",
            "1",
            "--idempotent",
            "--fail-fast",
            "hello",
        ]);
        assert_eq!(args.broker, ["tcp://10.0.0.5:7000"]);
        assert_eq!(args.service, "billing");
        assert_eq!((args.timeout_ms, args.retries), (300, 1));
        assert!(args.idempotent && args.fail_fast);
        assert_eq!(args.payload(std::io::empty()).unwrap(), b"hello");
    }

    #[test]
    fn brokers_repeat_or_come_as_a_comma_list() {
        let want = ["tcp://a:1", "tcp://b:2", "tcp://c:3"];
        let args = parse(&[
            "--service",
            "echo",
            "--broker",
            "tcp://a:1,tcp://b:2",
            "--broker",
            "tcp://c:3",
        ]);
        assert_eq!(args.broker, want);
    }

    #[test]
    fn a_dash_reads_stdin() {
        let args = parse(&["--service", "echo", "-"]);
        assert_eq!(args.payload(&b"from stdin\n"[..]).unwrap(), b"from stdin\n");
        let empty = parse(&["--service", "echo"]);
        assert_eq!(empty.payload(&b"ignored"[..]).unwrap(), b"");
    }

    #[test]
    fn out_of_range_values_are_usage_errors() {
        for args in [
            &["request", "--service", "echo", "--retries", "0"][..],
            &["request", "--service", "echo", "--timeout-ms", "0"],
            &["request"],
        ] {
            let argv = std::iter::once("reqrep").chain(args.iter().copied());
            assert!(Cli::try_parse_from(argv).is_err(), "{args:?}");
        }
    }
}
