//! Per-identity access control: who may connect, call and serve.
//!
//! An identity is a CURVE public key. With an access policy
//! ([`AccessPolicy`], read from the `access_file`), the broker's ZAP
//! handler ([`zap`]) lets a peer complete its CURVE handshake only when its
//! key is in the policy, and gives it the key's Z85 text as `User-Id`.
//! libzmq attaches that `User-Id` to every message of the connection; the
//! state machine looks it up in the *current* policy for every message
//! (so a reload that removes an identity refuses its connected peers from
//! their next message on) and checks [`Identity::may_call`] for REQUESTs
//! and [`Identity::may_serve`] for workers.
//!
//! Everything here is pure: values and decisions, fed `now` where time
//! matters; the driver owns the sockets and the clock.
//!
//! - [`policy`]: identities, patterns, lookups.
//! - [`file`]: the TOML policy file (needs the `config-file` feature).
//! - [`zap`]: ZAP requests and replies, and the broker's answer.
//! - [`denials`]: logging a refusal once per key per minute.
//! - [`monitor`]: socket monitor events that count failed handshakes.

pub mod denials;
pub mod file;
pub mod monitor;
pub mod policy;
pub mod zap;

pub use denials::Denials;
pub use file::AccessFileError;
pub use policy::{AccessPolicy, Identity, Pattern, PatternError, PolicyError};

/// A side of the broker: the frontend (clients) or the backend (workers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    /// The client-facing ROUTER.
    Frontend,
    /// The worker-facing ROUTER.
    Backend,
}

impl Side {
    /// Both sides.
    pub const ALL: [Side; 2] = [Side::Frontend, Side::Backend];

    /// The metric label and ZAP domain: `frontend` or `backend`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Frontend => "frontend",
            Self::Backend => "backend",
        }
    }

    /// The side whose ZAP domain is `domain`.
    pub fn from_domain(domain: &[u8]) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|side| side.label().as_bytes() == domain)
    }
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// Why a handshake was refused: the `reason` label of
/// `reqrep_broker_auth_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthFailure {
    /// A CURVE key that is not (or no longer) in the policy.
    UnknownKey,
    /// A mechanism other than CURVE asked ZAP (never with the broker's
    /// sockets, which are CURVE servers).
    Mechanism,
    /// A ZAP request that could not be read.
    Malformed,
    /// The handshake failed before ZAP: a plaintext peer, a peer expecting
    /// another server key, or garbage (seen by the socket monitor).
    Handshake,
}

impl AuthFailure {
    /// Every reason.
    pub const ALL: [AuthFailure; 4] = [
        AuthFailure::UnknownKey,
        AuthFailure::Mechanism,
        AuthFailure::Malformed,
        AuthFailure::Handshake,
    ];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Self::UnknownKey => "unknown_key",
            Self::Mechanism => "mechanism",
            Self::Malformed => "malformed",
            Self::Handshake => "handshake",
        }
    }
}

/// Refused handshakes by side and reason, as plain counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthCounts {
    counts: [[u64; AuthFailure::ALL.len()]; Side::ALL.len()],
}

impl AuthCounts {
    /// Counts one refusal.
    pub fn add(&mut self, side: Side, reason: AuthFailure) {
        self.counts[side as usize][reason as usize] += 1;
    }

    /// Refusals so far on `side` for `reason`.
    pub fn get(&self, side: Side, reason: AuthFailure) -> u64 {
        self.counts[side as usize][reason as usize]
    }

    /// Every refusal so far, on both sides.
    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_are_named_by_their_zap_domain() {
        assert_eq!(Side::from_domain(b"frontend"), Some(Side::Frontend));
        assert_eq!(Side::from_domain(b"backend"), Some(Side::Backend));
        assert_eq!(Side::from_domain(b""), None);
        assert_eq!(Side::Backend.to_string(), "backend");
    }

    #[test]
    fn auth_counts_by_side_and_reason() {
        let mut counts = AuthCounts::default();
        counts.add(Side::Frontend, AuthFailure::UnknownKey);
        counts.add(Side::Frontend, AuthFailure::UnknownKey);
        counts.add(Side::Backend, AuthFailure::Handshake);
        assert_eq!(counts.get(Side::Frontend, AuthFailure::UnknownKey), 2);
        assert_eq!(counts.get(Side::Backend, AuthFailure::UnknownKey), 0);
        assert_eq!(counts.get(Side::Backend, AuthFailure::Handshake), 1);
        assert_eq!(counts.total(), 3);
        let labels: Vec<_> = AuthFailure::ALL.iter().map(|r| r.label()).collect();
        assert_eq!(
            labels,
            ["unknown_key", "mechanism", "malformed", "handshake"]
        );
    }
}
