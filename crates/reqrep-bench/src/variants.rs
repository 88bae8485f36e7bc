//! Rows that compare variants of one reqrep setup with each other (not
//! with raw libzmq): the variants alternate in every round, A B C A B C ...

use std::time::{Duration, Instant};

use crate::BenchError;
use crate::runner::SideResult;
use crate::sample::Sample;
use crate::scenario::Scenario;

/// Pause between runs, so sockets and threads of the last one are gone.
const SETTLE: Duration = Duration::from_millis(100);

/// Runs variant `i` (labelled `labels[i]`) through `run(i)` for `rounds`
/// rounds, alternating, reporting progress on stderr as `[tag] ...`;
/// returns the runs of each variant, in `labels` order.
pub(crate) fn alternate(
    tag: &str,
    scenario: Scenario,
    rounds: u32,
    labels: &[&str],
    mut run: impl FnMut(usize) -> Result<Sample, BenchError>,
) -> Vec<SideResult> {
    let mut results = vec![SideResult::default(); labels.len()];
    for round in 1..=rounds {
        for (i, label) in labels.iter().enumerate() {
            let started = Instant::now();
            let outcome = run(i);
            let took = started.elapsed().as_secs_f64();
            match outcome {
                Ok(sample) => {
                    eprintln!(
                        "[{tag}] {scenario} | round {round}/{rounds} {label:22} | {:>9.0} req/s  p50 {:>8.1} us  p99 {:>8.1} us  cpu {:>6.1} us/req  ({took:.1} s)",
                        sample.throughput_rps,
                        sample.p50_us,
                        sample.p99_us,
                        sample.cpu_us_per_request,
                    );
                    results[i].samples.push(sample);
                }
                Err(e) => {
                    eprintln!(
                        "[{tag}] {scenario} | round {round}/{rounds} {label:22} | FAILED: {e}"
                    );
                    results[i].failures.push(e.to_string());
                }
            }
            std::thread::sleep(SETTLE);
        }
    }
    results
}
