//! What a row of the table measures: a path, a payload size and a load shape.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A message path, measured once through reqrep and once through raw libzmq.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Path {
    /// REQ -> REP, one request at a time (reqrep: the `ReqRep` plugin).
    Direct,
    /// Client -> broker -> one worker with one credit, one request at a time.
    BrokeredLockstep,
    /// Pipelined clients -> credit broker -> workers with 16 credits each.
    BrokeredPipelined,
}

impl Path {
    /// The short label used in tables.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Direct => "direct lockstep",
            Self::BrokeredLockstep => "brokered lockstep",
            Self::BrokeredPipelined => "brokered pipelined",
        }
    }
}

/// Which implementation a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Side {
    /// The reqrep crates.
    Reqrep,
    /// The `zmq` crate alone, no envelope.
    Raw,
    /// NATS request-reply through a `nats-server`.
    Nats,
}

impl Side {
    /// The label in progress lines.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Reqrep => "reqrep",
            Self::Raw => "raw",
            Self::Nats => "nats",
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Scenario {
    /// The path.
    pub(crate) path: Path,
    /// Request (and reply) payload in bytes.
    pub(crate) payload: usize,
    /// Workers behind the broker (1 on the direct path: the REP).
    pub(crate) workers: usize,
    /// Credits per worker.
    pub(crate) credits: usize,
    /// Client connections.
    pub(crate) clients: usize,
    /// Requests outstanding at any time, split evenly among the clients.
    pub(crate) in_flight: usize,
}

impl Scenario {
    /// A lockstep row (one client, one request at a time).
    pub(crate) fn lockstep(path: Path, payload: usize) -> Self {
        Self {
            path,
            payload,
            workers: 1,
            credits: 1,
            clients: 1,
            in_flight: 1,
        }
    }

    /// A pipelined row: 16 credits per worker, 128 in flight.
    pub(crate) fn pipelined(payload: usize, workers: usize, clients: usize) -> Self {
        Self {
            path: Path::BrokeredPipelined,
            payload,
            workers,
            credits: 16,
            clients,
            in_flight: 128,
        }
    }

    /// Requests in flight per client (at least one).
    pub(crate) fn per_client_in_flight(&self) -> usize {
        (self.in_flight / self.clients.max(1)).max(1)
    }

    /// The row's load shape, as in `4 w x 16, 1 c, 128 in flight`.
    pub(crate) fn shape(&self) -> String {
        match self.path {
            Path::Direct | Path::BrokeredLockstep => "1 in flight".to_owned(),
            Path::BrokeredPipelined => format!(
                "{} w x {}, {} c, {} in flight",
                self.workers, self.credits, self.clients, self.in_flight
            ),
        }
    }
}

/// `64 B`, `4 KiB`.
pub(crate) fn bytes_label(bytes: usize) -> String {
    if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} B")
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}, {}, {}",
            self.path.label(),
            bytes_label(self.payload),
            self.shape()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_read_naturally() {
        assert_eq!(bytes_label(64), "64 B");
        assert_eq!(bytes_label(4096), "4 KiB");
        assert_eq!(
            Scenario::pipelined(64, 4, 16).to_string(),
            "brokered pipelined, 64 B, 4 w x 16, 16 c, 128 in flight"
        );
        assert_eq!(
            Scenario::lockstep(Path::Direct, 4096).to_string(),
            "direct lockstep, 4 KiB, 1 in flight"
        );
    }

    #[test]
    fn in_flight_is_split_among_clients() {
        assert_eq!(Scenario::pipelined(64, 4, 1).per_client_in_flight(), 128);
        assert_eq!(Scenario::pipelined(64, 4, 16).per_client_in_flight(), 8);
        assert_eq!(
            Scenario::lockstep(Path::Direct, 64).per_client_in_flight(),
            1
        );
    }
}
