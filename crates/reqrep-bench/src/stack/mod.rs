//! The reqrep side of every path: the `ReqRep` plugin, the blocking
//! `Client`, `AsyncClient`, the in-process `Broker` and echo workers, all
//! over loopback TCP with ephemeral ports.

mod direct;
mod lockstep;
mod pipelined;
mod workers;

use std::time::Duration;

use reqrep_agents::{ClientOptions, ServiceWaitError, wait_for_service};
use reqrep_broker::{Broker, BrokerConfig, BrokerThread};
use reqrep_core::RetryPolicy;

pub(crate) use workers::EchoWorkers;

use crate::plan::RunSpec;
use crate::sample::Sample;
use crate::scenario::Path;
use crate::{BenchError, WorkerKind};

/// The service the echo workers serve.
pub(crate) const SERVICE: &str = "echo";
/// How long the echo workers may take to register.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(10);

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
    let config = BrokerConfig {
        max_queue,
        drain_timeout: Duration::from_secs(2),
        ..BrokerConfig::ephemeral_loopback()
    };
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
    let wanted = u32::try_from(workers).unwrap_or(u32::MAX);
    let options = ClientOptions::default().timeout(Duration::from_secs(1));
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
