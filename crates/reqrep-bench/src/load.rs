//! Load helpers shared by both sides: payloads, the lockstep loop, time
//! stamps carried in raw payloads, and thread plumbing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::BenchError;
use crate::latency::Latencies;
use crate::plan::RunSpec;
use crate::sample::{Meter, Sample};

/// A payload of `len` bytes (a repeating pattern, never all zero).
pub(crate) fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

/// Sends `spec.warmup` then `spec.requests` requests one at a time through
/// `once`, timing each of the measured ones.
///
/// # Errors
/// The first failed request, or [`BenchError::Timeout`] past the deadline.
pub(crate) fn lockstep(
    spec: &RunSpec,
    started: Instant,
    mut once: impl FnMut() -> Result<(), BenchError>,
) -> Result<Sample, BenchError> {
    let deadline = started + spec.deadline;
    let past = || BenchError::Timeout(format!("run exceeded {} s", spec.deadline.as_secs()));
    for i in 0..spec.warmup {
        once()?;
        if i % 256 == 0 && Instant::now() > deadline {
            return Err(past());
        }
    }
    let mut latencies = Latencies::new();
    let meter = Meter::start();
    for i in 0..spec.requests {
        let sent = Instant::now();
        once()?;
        latencies.record(sent.elapsed());
        if i % 256 == 0 && Instant::now() > deadline {
            return Err(past());
        }
    }
    Ok(meter.finish(&latencies, 0))
}

/// Nanoseconds since `epoch` written into the first 8 bytes of `payload`
/// (raw pipelined clients time requests this way: no id, no map).
pub(crate) fn stamp(payload: &mut [u8], epoch: Instant) {
    let nanos = u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
    if let Some(head) = payload.get_mut(..8) {
        head.copy_from_slice(&nanos.to_le_bytes());
    }
}

/// The latency of a reply carrying a [`stamp`]ed payload.
pub(crate) fn since_stamp(payload: &[u8], epoch: Instant) -> Option<Duration> {
    let head: [u8; 8] = payload.get(..8)?.try_into().ok()?;
    let sent = Duration::from_nanos(u64::from_le_bytes(head));
    Some(epoch.elapsed().saturating_sub(sent))
}

/// A stop flag shared with helper threads, which poll it between waits.
pub(crate) type StopFlag = Arc<AtomicBool>;

/// Helper threads stopped (flag set) and joined on drop, so a failed run
/// leaves nothing behind.
#[derive(Default)]
pub(crate) struct Threads {
    stop: StopFlag,
    handles: Vec<JoinHandle<()>>,
}

impl Threads {
    /// The flag the threads must watch.
    pub(crate) fn flag(&self) -> StopFlag {
        Arc::clone(&self.stop)
    }

    /// Starts a named thread.
    ///
    /// # Errors
    /// When the thread cannot be spawned.
    pub(crate) fn spawn(
        &mut self,
        name: &str,
        body: impl FnOnce() + Send + 'static,
    ) -> Result<(), BenchError> {
        let handle = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(body)
            .map_err(BenchError::thread)?;
        self.handles.push(handle);
        Ok(())
    }
}

impl Drop for Threads {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for handle in self.handles.drain(..) {
            let _ = handle.join();
        }
    }
}

/// Whether the flag is set.
pub(crate) fn stopped(flag: &StopFlag) -> bool {
    flag.load(Ordering::Relaxed)
}

/// Waits until `ready()` holds, checking every millisecond, for at most
/// `bound`.
///
/// # Errors
/// [`BenchError::Timeout`] naming `what`.
pub(crate) fn wait_until(
    what: &str,
    bound: Duration,
    mut ready: impl FnMut() -> Result<bool, BenchError>,
) -> Result<(), BenchError> {
    let until = Instant::now() + bound;
    loop {
        if ready()? {
            return Ok(());
        }
        if Instant::now() >= until {
            return Err(BenchError::Timeout(format!(
                "{what} within {} ms",
                bound.as_millis()
            )));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_round_trips() {
        let epoch = Instant::now() - Duration::from_millis(5);
        let mut p = payload(64);
        stamp(&mut p, epoch);
        let latency = since_stamp(&p, epoch).unwrap();
        assert!(latency < Duration::from_secs(1));
        assert!(since_stamp(&p[..4], epoch).is_none());
        assert_eq!(payload(3), b"abc");
    }
}
