//! reqrep direct lockstep: the `ReqRep` plugin, `request()` on a REQ,
//! `serve()` on a REP in a thread, enveloped (ids, deadlines, status).

use std::time::Instant;

use reqrep_agents::{Plugin, ReqRep, SocketKind, StopToken};

use super::{client_options, payload_len};
use crate::BenchError;
use crate::load;
use crate::plan::RunSpec;
use crate::sample::Sample;

/// Stops the REP thread and joins it on drop.
struct Server {
    stop: StopToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `ReqRep::request` -> `ReqRep::serve`, one at a time.
pub(super) fn run(spec: &RunSpec) -> Result<Sample, BenchError> {
    let started = Instant::now();
    let stop = StopToken::new();
    let mut rep = ReqRep::new("tcp://127.0.0.1:*", SocketKind::Rep);
    rep.init(&stop).map_err(BenchError::reqrep)?;
    let endpoint = rep
        .bound_endpoint()
        .ok_or_else(|| BenchError::Reqrep("REP bound no endpoint".into()))?
        .to_owned();
    let thread = std::thread::Builder::new()
        .name("bench-rep".into())
        .spawn(move || {
            let _ = rep.serve(|_, payload| Ok(payload));
            rep.finalize();
        })
        .map_err(BenchError::thread)?;
    let _server = Server {
        stop,
        thread: Some(thread),
    };

    let mut req = ReqRep::new(endpoint, SocketKind::Req).options(client_options(spec));
    req.init(&StopToken::new()).map_err(BenchError::reqrep)?;
    let payload = load::payload(spec.scenario.payload);
    let sample = load::lockstep(spec, started, || {
        let reply = req.request(&payload).map_err(BenchError::reqrep)?;
        check(payload_len(&reply.payload), payload.len())
    });
    req.finalize();
    sample
}

fn check(got: usize, expected: usize) -> Result<(), BenchError> {
    if got == expected {
        Ok(())
    } else {
        Err(BenchError::Mismatch { expected, got })
    }
}
