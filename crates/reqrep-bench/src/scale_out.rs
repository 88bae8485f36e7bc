//! The pipelined path over 1, 2 and 3 brokers in the same run: every
//! worker serves all brokers (its credits shared among them), the client
//! spreads its requests over all of them. All on one machine, so with few
//! cores this measures what more brokers cost, not what they gain.

use crate::plan::Budget;
use crate::runner::{Metric, SideResult};
use crate::scenario::Scenario;
use crate::stats::ratio;
use crate::{WorkerKind, stack, variants};

/// The broker counts measured, in the order they alternate.
pub(crate) const BROKERS: [usize; 3] = [1, 2, 3];

/// The runs of each broker count, on one scenario.
#[derive(Debug, Clone)]
pub(crate) struct ScaleOutReport {
    /// What every run measures.
    pub(crate) scenario: Scenario,
    /// `(brokers, runs)`, in [`BROKERS`] order.
    pub(crate) rows: Vec<(usize, SideResult)>,
}

impl ScaleOutReport {
    /// `median(n brokers) / median(1 broker)` of `metric`.
    pub(crate) fn versus_one(&self, brokers: usize, metric: Metric) -> Option<f64> {
        let median = |n: usize| {
            self.rows
                .iter()
                .find(|(b, _)| *b == n)
                .and_then(|(_, runs)| runs.median(metric))
        };
        ratio(median(brokers), median(1))
    }
}

/// The scenario of these rows: the headline pipelined row.
pub(crate) fn scenario() -> Scenario {
    Scenario::pipelined(64, 4, 1)
}

/// Measures every broker count `rounds` times, alternating.
pub(crate) fn measure(budget: &Budget, rounds: u32, kind: WorkerKind) -> ScaleOutReport {
    let scenario = scenario();
    let spec = budget.spec(scenario);
    let labels = ["1 broker", "2 brokers", "3 brokers"];
    let runs = variants::alternate("brokers", scenario, rounds, &labels, |i| {
        stack::pipelined_brokers(&spec, kind, BROKERS[i])
    });
    ScaleOutReport {
        scenario,
        rows: BROKERS.into_iter().zip(runs).collect(),
    }
}
