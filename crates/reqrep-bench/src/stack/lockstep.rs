//! reqrep brokered lockstep: the blocking `Client` -> in-process `Broker`
//! -> one `Worker` with one credit.

use std::time::Instant;

use reqrep_agents::Client;

use super::{EchoWorkers, SERVICE, client_options, payload_len, start_broker, wait_for_workers};
use crate::load;
use crate::plan::RunSpec;
use crate::sample::Sample;
use crate::{BenchError, WorkerKind};

/// `Client::request` through the broker, one at a time.
pub(super) fn run(spec: &RunSpec) -> Result<Sample, BenchError> {
    let started = Instant::now();
    let broker = start_broker(reqrep_broker::BrokerConfig::default().max_queue)?;
    let frontend = broker.frontend().to_owned();
    let workers = EchoWorkers::start(
        broker.backend(),
        spec.scenario.workers,
        spec.scenario.credits,
        WorkerKind::Inline,
    )?;
    wait_for_workers(&frontend, spec.scenario.workers)?;
    let mut client =
        Client::connect(&frontend, SERVICE, client_options(spec)).map_err(BenchError::reqrep)?;
    let payload = load::payload(spec.scenario.payload);
    let sample = load::lockstep(spec, started, || {
        let reply = client.request(&payload).map_err(BenchError::reqrep)?;
        let got = payload_len(&reply.payload);
        if got == payload.len() {
            Ok(())
        } else {
            Err(BenchError::Mismatch {
                expected: payload.len(),
                got,
            })
        }
    });
    drop(client);
    drop(workers);
    let _ = broker.stop();
    sample
}
