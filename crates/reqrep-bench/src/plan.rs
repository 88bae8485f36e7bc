//! The rows to measure and how many requests each run sends.

use std::time::Duration;

use crate::scenario::{Path, Scenario};

/// One run's load: warm-up, measured requests and a time bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RunSpec {
    /// The row.
    pub(crate) scenario: Scenario,
    /// Requests sent and answered before measuring.
    pub(crate) warmup: u64,
    /// Requests measured.
    pub(crate) requests: u64,
    /// The whole run (setup, warm-up, measured phase) must finish within
    /// this, or it fails.
    pub(crate) deadline: Duration,
    /// How long one request may wait for its reply.
    pub(crate) request_timeout: Duration,
}

/// Request counts for a full or a quick run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Budget {
    /// Warm-up requests on a lockstep path.
    pub(crate) lockstep_warmup: u64,
    /// Measured requests on a lockstep path.
    pub(crate) lockstep_requests: u64,
    /// Warm-up requests on the pipelined path.
    pub(crate) pipelined_warmup: u64,
    /// Measured requests on the pipelined path.
    pub(crate) pipelined_requests: u64,
    /// Time bound of one run.
    pub(crate) deadline: Duration,
}

impl Budget {
    /// The full run.
    pub(crate) const FULL: Self = Self {
        lockstep_warmup: 2_000,
        lockstep_requests: 20_000,
        pipelined_warmup: 20_000,
        pipelined_requests: 150_000,
        deadline: Duration::from_secs(120),
    };

    /// The `--quick` smoke run.
    pub(crate) const QUICK: Self = Self {
        lockstep_warmup: 500,
        lockstep_requests: 3_000,
        pipelined_warmup: 5_000,
        pipelined_requests: 30_000,
        deadline: Duration::from_secs(20),
    };

    /// The load of one run of `scenario`.
    pub(crate) fn spec(&self, scenario: Scenario) -> RunSpec {
        let (warmup, requests) = match scenario.path {
            Path::Direct | Path::BrokeredLockstep => (self.lockstep_warmup, self.lockstep_requests),
            Path::BrokeredPipelined => (self.pipelined_warmup, self.pipelined_requests),
        };
        RunSpec {
            scenario,
            warmup,
            requests,
            deadline: self.deadline,
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// Every row, each measured once: the headline rows first, then the
/// scaling rows not already among them (4 workers and 1 client is the
/// headline pipelined 64 B row).
pub(crate) fn scenarios() -> Vec<Scenario> {
    let mut rows = vec![
        Scenario::lockstep(Path::Direct, 64),
        Scenario::lockstep(Path::Direct, 4096),
        Scenario::lockstep(Path::BrokeredLockstep, 64),
        Scenario::lockstep(Path::BrokeredLockstep, 4096),
        Scenario::pipelined(64, 4, 1),
        Scenario::pipelined(4096, 4, 1),
    ];
    for workers in [1, 2, 4, 8] {
        rows.push(Scenario::pipelined(64, workers, 1));
    }
    for clients in [1, 4, 16] {
        rows.push(Scenario::pipelined(64, 4, clients));
    }
    let mut unique: Vec<Scenario> = Vec::new();
    for row in rows {
        if !unique.contains(&row) {
            unique.push(row);
        }
    }
    unique
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_appears_once() {
        let rows = scenarios();
        assert_eq!(rows.len(), 11);
        assert_eq!(rows[0], Scenario::lockstep(Path::Direct, 64));
        let pipelined = rows
            .iter()
            .filter(|s| s.path == Path::BrokeredPipelined)
            .count();
        assert_eq!(pipelined, 7);
    }

    #[test]
    fn quick_is_smaller_than_full() {
        let row = Scenario::pipelined(64, 4, 1);
        assert!(Budget::QUICK.spec(row).requests < Budget::FULL.spec(row).requests);
        assert_eq!(Budget::FULL.spec(row).requests, 150_000);
    }
}
