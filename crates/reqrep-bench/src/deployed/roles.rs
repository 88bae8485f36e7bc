//! The raw baseline's roles as processes of their own, started as hidden
//! `reqrep-bench raw-...` subcommands: the raw credit broker, a raw worker
//! and the raw pipelined client, the same code as the in-process raw rows.
//! The broker and workers run until killed.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::Subcommand;

use super::client::ClientSummary;
use crate::BenchError;
use crate::load::{Threads, wait_until};
use crate::raw::credit_broker::{self, CreditBroker};
use crate::raw::pipelined::Client;

/// What the raw broker prints before its frontend endpoint.
pub(crate) const FRONTEND: &str = "frontend ";
/// What the raw broker prints before its backend endpoint.
pub(crate) const BACKEND: &str = "backend ";
/// What the raw broker prints once every expected worker said READY.
pub(crate) const REGISTERED: &str = "registered";
/// How long the raw client's whole run may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the raw broker waits for its workers.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(10);

/// A raw role run as this process.
#[derive(Debug, Clone, Subcommand)]
pub enum Role {
    /// The raw credit broker on ephemeral loopback ports; prints
    /// `frontend EP`, `backend EP`, then `registered` once `workers`
    /// workers are there.
    #[command(hide = true)]
    RawBroker {
        /// Workers to wait for.
        #[arg(long)]
        workers: usize,
    },
    /// A raw DEALER worker echoing requests, announcing `credits`.
    #[command(hide = true)]
    RawWorker {
        /// The broker's backend.
        #[arg(long)]
        connect: String,
        /// Credits announced in READY.
        #[arg(long)]
        credits: usize,
    },
    /// The raw pipelined client: `requests` with `in_flight` outstanding;
    /// writes its summary (as `reqrep bench --json` does) to `json`.
    #[command(hide = true)]
    RawClient {
        /// The broker's frontend.
        #[arg(long)]
        connect: String,
        /// Requests to send.
        #[arg(long)]
        requests: u64,
        /// Requests outstanding.
        #[arg(long)]
        in_flight: usize,
        /// Payload bytes (at least 8).
        #[arg(long)]
        payload_bytes: usize,
        /// How long one send or receive may block, in milliseconds.
        #[arg(long)]
        timeout_ms: u64,
        /// Where the summary goes.
        #[arg(long)]
        json: PathBuf,
    },
}

/// Runs `role` in this process.
///
/// # Errors
/// Socket failures, a worker that does not register, a client that fails
/// or cannot write its summary.
pub(crate) fn run(role: &Role) -> Result<(), BenchError> {
    match role {
        Role::RawBroker { workers } => broker(*workers),
        Role::RawWorker { connect, credits } => {
            // Never stopped: the worker runs until the process is killed.
            let threads = Threads::default();
            credit_broker::worker(connect, *credits, &threads.flag())
        }
        Role::RawClient {
            connect,
            requests,
            in_flight,
            payload_bytes,
            timeout_ms,
            json,
        } => {
            let timeout = Duration::from_millis(*timeout_ms);
            let mut client = Client::connect(connect, *in_flight, *payload_bytes, timeout)?;
            let started = Instant::now();
            let deadline = started + RUN_TIMEOUT;
            let latencies = client.drive(*requests, deadline, started)?;
            let summary = ClientSummary::new(*requests, &latencies, started.elapsed());
            let text = serde_json::to_string(&summary).map_err(BenchError::reqrep)?;
            std::fs::write(json, text).map_err(|source| BenchError::Write {
                path: json.clone(),
                source,
            })
        }
    }
}

/// The raw broker role.
fn broker(workers: usize) -> Result<(), BenchError> {
    let mut threads = Threads::default();
    let broker = CreditBroker::start(&mut threads)?;
    let mut stdout = std::io::stdout().lock();
    let say = |out: &mut std::io::StdoutLock<'_>, line: String| {
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .map_err(|e| BenchError::Process(format!("raw broker stdout: {e}")))
    };
    say(&mut stdout, format!("{FRONTEND}{}", broker.frontend))?;
    say(&mut stdout, format!("{BACKEND}{}", broker.backend))?;
    wait_until("raw workers registered", REGISTER_TIMEOUT, || {
        Ok(broker.registered.load(Ordering::SeqCst) >= workers)
    })?;
    say(&mut stdout, REGISTERED.to_owned())?;
    drop(stdout);
    // The broker thread runs until the process is killed.
    loop {
        std::thread::park();
    }
}
