//! NATS request-reply as a peer of the reqrep rows: the same shapes (one
//! request at a time through one responder; K requests in flight through a
//! queue group of responders) over a `nats-server` started for each run on
//! loopback, with async-nats clients. CPU per request counts this process
//! and the server process, as the reqrep rows count the broker.
//!
//! Measured only when `nats-server` is on `PATH` (Debian's package
//! `nats-server`); otherwise the rows say "not measured".
//! `REQREP_REQUIRE_NATS=1` turns a missing server into a failed run.

mod load;
mod server;

use std::path::PathBuf;

pub(crate) use load::run;
pub(crate) use server::NatsServer;

use crate::scenario::{Path, Scenario};

/// The environment variable that makes a missing `nats-server` an error.
pub(crate) const REQUIRE: &str = "REQREP_REQUIRE_NATS";

/// Whether `scenario` has a NATS shape: the brokered lockstep rows and the
/// pipelined rows with one client (NATS has no brokerless REQ/REP).
pub(crate) fn applies(scenario: &Scenario) -> bool {
    match scenario.path {
        Path::Direct => false,
        Path::BrokeredLockstep => true,
        Path::BrokeredPipelined => scenario.clients == 1 && scenario.workers == 4,
    }
}

/// Where NATS rows stand in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Availability {
    /// Measured with this server binary.
    Server(PathBuf),
    /// Not measured, and why.
    Missing(String),
}

impl Availability {
    /// Looks for `nats-server` on `PATH` (and in `/usr/sbin`, where Debian
    /// puts it).
    pub(crate) fn detect() -> Self {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let dirs = std::env::split_paths(&path).chain([PathBuf::from("/usr/sbin")]);
        for dir in dirs {
            let candidate = dir.join("nats-server");
            if candidate.is_file() {
                return Self::Server(candidate);
            }
        }
        Self::Missing("nats-server is not on PATH (Debian package nats-server)".to_owned())
    }

    /// The server binary, when there is one.
    pub(crate) fn server(&self) -> Option<&std::path::Path> {
        match self {
            Self::Server(path) => Some(path),
            Self::Missing(_) => None,
        }
    }
}

/// Whether [`REQUIRE`] is set to `1`.
pub(crate) fn required() -> bool {
    std::env::var(REQUIRE).is_ok_and(|v| v == "1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Budget;

    #[test]
    fn nats_rows_are_the_brokered_shapes() {
        assert!(!applies(&Scenario::lockstep(Path::Direct, 64)));
        assert!(applies(&Scenario::lockstep(Path::BrokeredLockstep, 4096)));
        assert!(applies(&Scenario::pipelined(64, 4, 1)));
        assert!(!applies(&Scenario::pipelined(64, 4, 16)));
        assert!(!applies(&Scenario::pipelined(64, 8, 1)));
    }

    /// A real run over a real `nats-server`, when one is installed (CI
    /// installs it and sets `REQREP_REQUIRE_NATS=1`, so it cannot skip
    /// there).
    #[test]
    fn a_small_run_over_a_real_server_measures_every_request() {
        let Availability::Server(binary) = Availability::detect() else {
            assert!(!required(), "{REQUIRE}=1 but nats-server is not installed");
            eprintln!("skipped: nats-server not installed");
            return;
        };
        let budget = Budget {
            lockstep_warmup: 10,
            lockstep_requests: 200,
            pipelined_warmup: 100,
            pipelined_requests: 2_000,
            deadline: std::time::Duration::from_secs(30),
        };
        for scenario in [
            Scenario::lockstep(Path::BrokeredLockstep, 64),
            Scenario::pipelined(4096, 4, 1),
        ] {
            let spec = budget.spec(scenario);
            let sample = run(&spec, &binary).expect("a NATS run");
            assert_eq!(sample.requests, spec.requests, "{scenario}");
            assert_eq!(sample.errors, 0, "{scenario}");
            assert!(sample.cpu_us_per_request > 0.0, "{scenario}");
        }
    }
}
