//! Broker memory per queued request: a broker with no workers, a DEALER
//! client queueing N requests of 64 B for one service, then one worker
//! draining them.
//!
//! The broker runs alone in a child process (this binary with
//! `--memory-probe`), and the figures are that process's RSS (VmRSS), read
//! by the child itself when the parent asks. The client and the worker run
//! in the parent, as they would in production: their own libzmq queues,
//! buffers and malloc arenas are not the broker's. An earlier version ran
//! client, worker and broker in one process and counted them all; on the
//! same broker that read 982 B per request and 71 % left after draining,
//! against 975 B and 68 % for the broker alone.
//!
//! The exchange over the child's stdin and stdout, one line each:
//! the child prints `<frontend> <backend>`; the parent sends `before`,
//! `queued` and `drained` at the three points, each answered with the RSS
//! in bytes; the parent closes stdin, and the child stops its broker and
//! prints its [`MemoryReport`] (the RSS figures; the parent adds what it
//! counted itself).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqrep_core::{CorrelationId, Frame, Limits, Message, Request, decode};
use serde::{Deserialize, Serialize};

use crate::load::wait_until;
use crate::stack::{EchoWorkers, SERVICE, start_broker};
use crate::{BenchError, WorkerKind, usage};

/// Payload bytes of each queued request.
pub(crate) const PAYLOAD: usize = 64;
/// How long the requests may wait in the queue.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(600);
/// Bound on each wait of the probe.
const WAIT: Duration = Duration::from_secs(60);
/// Bound on the whole child process.
const CHILD_BOUND: Duration = Duration::from_secs(240);
/// Time given to the broker to settle before each RSS reading.
const SETTLE: Duration = Duration::from_millis(200);

/// What the memory probe measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct MemoryReport {
    /// Requests queued.
    pub(crate) requests: u64,
    /// Payload bytes per request.
    pub(crate) payload: usize,
    /// RSS with the broker and client up, nothing queued.
    pub(crate) rss_before: u64,
    /// RSS with every request queued (confirmed by discovery).
    pub(crate) rss_queued: u64,
    /// RSS after one worker answered every request.
    pub(crate) rss_drained: u64,
    /// The queue depth discovery reported before draining.
    pub(crate) queue_depth: u64,
    /// Replies received (all OK).
    pub(crate) replies: u64,
    /// Seconds to queue every request.
    pub(crate) queue_s: f64,
    /// Seconds to drain the queue.
    pub(crate) drain_s: f64,
}

impl MemoryReport {
    /// `(rss_queued - rss_before) / requests - payload`.
    pub(crate) fn bytes_per_request_beyond_payload(&self) -> f64 {
        let grown = self.rss_queued.saturating_sub(self.rss_before) as f64;
        grown / self.requests.max(1) as f64 - self.payload as f64
    }

    /// RSS left above the baseline after draining.
    pub(crate) fn residual_bytes(&self) -> i64 {
        i64::try_from(self.rss_drained).unwrap_or(i64::MAX)
            - i64::try_from(self.rss_before).unwrap_or(i64::MAX)
    }

    /// The residual as a share of the growth while queued (0 = back to the
    /// baseline, 1 = nothing returned).
    pub(crate) fn residual_share(&self) -> f64 {
        let grown = self.rss_queued.saturating_sub(self.rss_before) as f64;
        if grown > 0.0 {
            self.residual_bytes().max(0) as f64 / grown
        } else {
            0.0
        }
    }
}

/// Runs the probe: the broker in a child process (this executable,
/// `--memory-probe`), the client and the worker here.
///
/// # Errors
/// [`BenchError::Probe`] when the child fails, outlives its bound, or
/// reports nothing; client or worker failures; a queue that never reaches
/// `requests`; replies that do not all arrive within the bounds.
pub(crate) fn measure_in_child(requests: u64) -> Result<MemoryReport, BenchError> {
    let mut child = BrokerChild::spawn(requests)?;
    let line = child.line()?;
    let Some((frontend, backend)) = line.split_once(' ') else {
        return Err(BenchError::Probe(format!("bad endpoints line {line:?}")));
    };
    let (frontend, backend) = (frontend.to_owned(), backend.to_owned());

    let ctx = zmq::Context::new();
    let dealer = ctx.socket(zmq::DEALER)?;
    dealer.set_linger(0)?;
    dealer.set_sndtimeo(i32::try_from(WAIT.as_millis()).unwrap_or(i32::MAX))?;
    dealer.connect(&frontend)?;
    // Discovery once, so the broker and its connections exist before the
    // baseline is read.
    let _ = depth(&frontend)?;
    std::thread::sleep(SETTLE);
    child.sample("before")?;

    let started = Instant::now();
    let payload = [0x5a_u8; PAYLOAD];
    for _ in 0..requests {
        let request = Request::new(CorrelationId::new(), SERVICE).timeout(REQUEST_TIMEOUT);
        let frames = Message::request(request, vec![Frame::from(&payload[..])]).encode();
        reqrep_core::socket::send_frames(&dealer, frames, 0)?;
    }
    let mut queue_depth = 0;
    wait_until("every request queued", WAIT, || {
        queue_depth = depth(&frontend)?.0;
        Ok(queue_depth >= requests)
    })?;
    let queue_s = started.elapsed().as_secs_f64();
    std::thread::sleep(SETTLE);
    child.sample("queued")?;

    let started = Instant::now();
    let workers = EchoWorkers::start(&backend, 1, 64, WorkerKind::Threads)?;
    let mut replies = 0u64;
    let until = Instant::now() + WAIT;
    while replies < requests {
        if dealer.poll(zmq::POLLIN, 100)? == 0 {
            if Instant::now() > until {
                return Err(BenchError::Timeout(format!(
                    "{replies} of {requests} queued requests answered"
                )));
            }
            continue;
        }
        let frames = reqrep_core::socket::recv_frames(&dealer, 0)?;
        let decoded = decode(frames, &Limits::default()).map_err(BenchError::reqrep)?;
        if let reqrep_core::Command::Reply(reply) = decoded.message.command
            && !reply.status.is_ok()
        {
            return Err(BenchError::Reqrep(format!(
                "queued request failed: {}",
                reply.status
            )));
        }
        replies += 1;
    }
    drop(workers);
    wait_until("queue and in-flight empty", WAIT, || {
        Ok(depth(&frontend)? == (0, 0))
    })?;
    let drain_s = started.elapsed().as_secs_f64();
    std::thread::sleep(SETTLE);
    child.sample("drained")?;

    let measured = child.finish()?;
    Ok(MemoryReport {
        queue_depth,
        replies,
        queue_s,
        drain_s,
        ..measured
    })
}

/// The broker child process, its stdin, and its stdout as lines.
struct BrokerChild {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    until: Instant,
}

impl BrokerChild {
    fn spawn(requests: u64) -> Result<Self, BenchError> {
        let exe = std::env::current_exe().map_err(|e| BenchError::Probe(e.to_string()))?;
        let mut child = Command::new(exe)
            .args(["--memory-probe", "--memory-requests", &requests.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| BenchError::Probe(format!("cannot start: {e}")))?;
        let stdin = child.stdin.take();
        let (send, lines) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            std::thread::Builder::new()
                .name("memory-probe-stdout".into())
                .spawn(move || {
                    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                        if send.send(line).is_err() {
                            break;
                        }
                    }
                })
                .map_err(BenchError::thread)?;
        }
        Ok(Self {
            child,
            stdin,
            lines,
            until: Instant::now() + CHILD_BOUND,
        })
    }

    /// The child's next line, within the bounds.
    fn line(&mut self) -> Result<String, BenchError> {
        let bound = WAIT.min(self.until.saturating_duration_since(Instant::now()));
        self.lines.recv_timeout(bound).map_err(|e| match e {
            mpsc::RecvTimeoutError::Timeout => {
                BenchError::Probe(format!("no answer within {} ms", bound.as_millis()))
            }
            mpsc::RecvTimeoutError::Disconnected => BenchError::Probe("child exited early".into()),
        })
    }

    /// Asks the child to read its RSS now, and waits until it has.
    fn sample(&mut self, point: &str) -> Result<u64, BenchError> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| BenchError::Probe("stdin closed".into()))?;
        writeln!(stdin, "{point}")
            .and_then(|()| stdin.flush())
            .map_err(|e| BenchError::Probe(format!("cannot write to the child: {e}")))?;
        let line = self.line()?;
        line.trim()
            .parse()
            .map_err(|_| BenchError::Probe(format!("bad RSS line {line:?}")))
    }

    /// Closes stdin, then reads the child's report and waits for its exit.
    fn finish(mut self) -> Result<MemoryReport, BenchError> {
        drop(self.stdin.take());
        let line = self.line()?;
        let report = serde_json::from_str(line.trim())
            .map_err(|e| BenchError::Probe(format!("bad report: {e}")))?;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(report),
                Ok(Some(status)) => {
                    return Err(BenchError::Probe(format!("child exited with {status}")));
                }
                Ok(None) if Instant::now() < self.until => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(None) => {
                    return Err(BenchError::Probe(format!(
                        "no exit within {} s",
                        CHILD_BOUND.as_secs()
                    )));
                }
                Err(e) => return Err(BenchError::Probe(e.to_string())),
            }
        }
    }
}

impl Drop for BrokerChild {
    fn drop(&mut self) {
        // Reached after `finish` too, where the child has exited already.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// The child's side: a broker alone in this process, reading its own RSS
/// whenever the parent asks (see the module docs). Returns the RSS figures
/// once the parent closes stdin.
///
/// # Errors
/// The broker failing to start, stdout failing, or the parent asking for
/// an unknown point.
pub(crate) fn probe(requests: u64) -> Result<MemoryReport, BenchError> {
    let queue_bound = usize::try_from(requests)
        .unwrap_or(usize::MAX)
        .saturating_mul(2);
    let broker = start_broker(queue_bound)?;
    let mut stdout = std::io::stdout().lock();
    let out_error = |e: std::io::Error| BenchError::Probe(format!("stdout: {e}"));
    writeln!(stdout, "{} {}", broker.frontend(), broker.backend()).map_err(out_error)?;
    stdout.flush().map_err(out_error)?;
    let mut report = MemoryReport {
        requests,
        payload: PAYLOAD,
        rss_before: 0,
        rss_queued: 0,
        rss_drained: 0,
        queue_depth: 0,
        replies: 0,
        queue_s: 0.0,
        drain_s: 0.0,
    };
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| BenchError::Probe(format!("stdin: {e}")))?;
        let rss = rss()?;
        match line.trim() {
            "before" => report.rss_before = rss,
            "queued" => report.rss_queued = rss,
            "drained" => report.rss_drained = rss,
            other => return Err(BenchError::Probe(format!("unknown point {other:?}"))),
        }
        writeln!(stdout, "{rss}").map_err(out_error)?;
        stdout.flush().map_err(out_error)?;
    }
    drop(stdout);
    let _ = broker.stop();
    Ok(report)
}

/// `(queue_depth, in_flight)` of [`SERVICE`] by discovery.
fn depth(frontend: &str) -> Result<(u64, u64), BenchError> {
    let list =
        reqrep_agents::services(frontend, Duration::from_secs(5)).map_err(BenchError::reqrep)?;
    Ok(list
        .services
        .iter()
        .find(|s| s.name == SERVICE)
        .map_or((0, 0), |s| {
            (u64::from(s.queue_depth), u64::from(s.in_flight))
        }))
}

fn rss() -> Result<u64, BenchError> {
    usage::rss_bytes().ok_or_else(|| BenchError::Probe("no VmRSS in /proc/self/status".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(before: u64, queued: u64, drained: u64) -> MemoryReport {
        MemoryReport {
            requests: 100_000,
            payload: 64,
            rss_before: before,
            rss_queued: queued,
            rss_drained: drained,
            queue_depth: 100_000,
            replies: 100_000,
            queue_s: 1.0,
            drain_s: 1.0,
        }
    }

    #[test]
    fn per_request_overhead_and_residual() {
        let r = report(10_000_000, 40_000_000, 13_000_000);
        assert!((r.bytes_per_request_beyond_payload() - 236.0).abs() < 1e-9);
        assert_eq!(r.residual_bytes(), 3_000_000);
        assert!((r.residual_share() - 0.1).abs() < 1e-9);
        let shrunk = report(10_000_000, 40_000_000, 9_000_000);
        assert_eq!(shrunk.residual_bytes(), -1_000_000);
        assert_eq!(shrunk.residual_share(), 0.0);
    }
}
