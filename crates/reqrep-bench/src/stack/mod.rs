//! The reqrep side of every path: the `ReqRep` plugin, the blocking
//! `Client`, `AsyncClient`, the in-process `Broker` and echo workers, all
//! over loopback TCP with ephemeral ports.

mod direct;
mod lockstep;
mod pipelined;
mod workers;

use std::path::PathBuf;
use std::time::Duration;

use reqrep_agents::{ClientOptions, ServiceWaitError, WorkerOptions, wait_for_service};
use reqrep_broker::{Broker, BrokerConfig, BrokerThread};
use reqrep_core::RetryPolicy;
use reqrep_core::curve::{CurveKey, CurveKeyPair};

pub(crate) use pipelined::{run_brokers as pipelined_brokers, run_secured as pipelined_secured};

pub(crate) use workers::EchoWorkers;

use crate::plan::RunSpec;
use crate::sample::Sample;
use crate::scenario::Path;
use crate::{BenchError, WorkerKind};

/// The service the echo workers serve.
pub(crate) const SERVICE: &str = "echo";
/// How long the echo workers may take to register.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(10);

/// How the reqrep stack secures its sockets: nothing (every row but the
/// security rows), CURVE, or CURVE with an access policy.
#[derive(Debug, Clone, Default)]
pub(crate) struct Secured {
    /// The broker's CURVE key file (CURVE on when set).
    pub(crate) broker_key_file: Option<PathBuf>,
    /// The broker's access policy file.
    pub(crate) access_file: Option<PathBuf>,
    /// The broker's public key and the client's identity.
    pub(crate) client: Option<(CurveKey, CurveKeyPair)>,
    /// The broker's public key and the workers' identity.
    pub(crate) worker: Option<(CurveKey, CurveKeyPair)>,
}

impl Secured {
    /// `options` with the client identity, if any.
    fn client(&self, options: ClientOptions) -> ClientOptions {
        match self.client {
            Some((server, keys)) => options.curve_identity(server, keys),
            None => options,
        }
    }

    /// `options` with the worker identity, if any.
    fn worker(&self, options: WorkerOptions) -> WorkerOptions {
        match self.worker {
            Some((server, keys)) => options.curve_identity(server, keys),
            None => options,
        }
    }

    /// `config` with the broker's key and policy, if any.
    fn broker(&self, config: BrokerConfig) -> BrokerConfig {
        BrokerConfig {
            curve_secret_key_file: self.broker_key_file.clone(),
            access_file: self.access_file.clone(),
            ..config
        }
    }
}

/// Measures `spec` through reqrep.
///
/// # Errors
/// Request, worker or broker failures, timeouts, wrong replies.
pub(crate) fn run(spec: &RunSpec, kind: WorkerKind) -> Result<Sample, BenchError> {
    match spec.scenario.path {
        Path::Direct => direct::run(spec),
        Path::BrokeredLockstep => lockstep::run(spec),
        Path::BrokeredPipelined => pipelined::run(spec, kind),
    }
}

/// One attempt per request (a lost reply is an error, not a retry), the
/// run's request timeout, not idempotent (the broker keeps no payload copy
/// and no reply cache entry, as the raw broker does not).
fn client_options(spec: &RunSpec) -> ClientOptions {
    ClientOptions::default()
        .timeout(spec.request_timeout)
        .retry(RetryPolicy::never())
}

/// An in-process broker on ephemeral loopback ports, metrics off.
///
/// # Errors
/// Bind or thread failures.
pub(crate) fn start_broker(max_queue: usize) -> Result<BrokerThread, BenchError> {
    start_secured_broker(max_queue, &Secured::default())
}

/// [`start_broker`] secured as `secured` says.
///
/// # Errors
/// Bind, key or policy file, or thread failures.
fn start_secured_broker(max_queue: usize, secured: &Secured) -> Result<BrokerThread, BenchError> {
    let config = secured.broker(BrokerConfig {
        max_queue,
        drain_timeout: Duration::from_secs(2),
        ..BrokerConfig::ephemeral_loopback()
    });
    Broker::bind(config)
        .map_err(BenchError::reqrep)?
        .spawn()
        .map_err(BenchError::thread)
}

/// Waits until the broker at `frontend` lists `workers` workers for
/// [`SERVICE`] (asking its discovery service).
///
/// # Errors
/// [`BenchError::Timeout`] after 10 s; a failed discovery query.
pub(crate) fn wait_for_workers(frontend: &str, workers: usize) -> Result<(), BenchError> {
    wait_for_secured_workers(frontend, workers, &Secured::default())
}

/// [`wait_for_workers`], asking with the client identity of `secured`.
fn wait_for_secured_workers(
    frontend: &str,
    workers: usize,
    secured: &Secured,
) -> Result<(), BenchError> {
    let wanted = u32::try_from(workers).unwrap_or(u32::MAX);
    let options = secured.client(ClientOptions::default().timeout(Duration::from_secs(1)));
    match wait_for_service(frontend, SERVICE, wanted, REGISTER_TIMEOUT, options) {
        Ok(_) => Ok(()),
        Err(e @ ServiceWaitError::Timeout { .. }) => Err(BenchError::Timeout(e.to_string())),
        Err(e) => Err(BenchError::reqrep(e)),
    }
}

/// The total length of a reply's payload frames.
fn payload_len(frames: &[reqrep_core::Frame]) -> usize {
    frames.iter().map(|f| f.len()).sum()
}
