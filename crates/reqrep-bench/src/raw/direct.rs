//! Raw direct lockstep: a REQ client and an echoing REP server.

use std::time::Instant;

use super::{POLL_MS, bind_loopback, bounded, check_len, socket};
use crate::BenchError;
use crate::load::{self, StopFlag, Threads, stopped};
use crate::plan::RunSpec;
use crate::sample::Sample;

/// REQ -> REP round trips, one at a time.
pub(super) fn run(spec: &RunSpec) -> Result<Sample, BenchError> {
    let started = Instant::now();
    let mut threads = Threads::default();
    let server_ctx = zmq::Context::new();
    let rep = socket(&server_ctx, zmq::REP)?;
    let endpoint = bind_loopback(&rep)?;
    let stop = threads.flag();
    threads.spawn("raw-rep", move || {
        let _ = serve(&rep, &stop);
    })?;

    let ctx = zmq::Context::new();
    let req = socket(&ctx, zmq::REQ)?;
    bounded(&req, spec.request_timeout)?;
    req.connect(&endpoint)?;
    let payload = load::payload(spec.scenario.payload);
    load::lockstep(spec, started, || {
        req.send(&payload[..], 0)?;
        let reply = req.recv_msg(0)?;
        check_len(reply.len(), payload.len())
    })
}

/// Echoes every request until stopped.
fn serve(rep: &zmq::Socket, stop: &StopFlag) -> zmq::Result<()> {
    while !stopped(stop) {
        if rep.poll(zmq::POLLIN, POLL_MS)? == 0 {
            continue;
        }
        let request = rep.recv_msg(0)?;
        rep.send(request, 0)?;
    }
    Ok(())
}
