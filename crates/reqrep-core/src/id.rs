//! Correlation ids.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

/// Identifies one request and its reply: a 16-byte UUID, version 7 when
/// generated here (time-ordered, so ids sort by creation time in logs).
///
/// The broker keys in-flight requests by (client route, correlation id), so
/// two clients reusing the same id never receive each other's replies.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CorrelationId(Uuid);

/// A byte string that is not a 16-byte correlation id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("correlation id must be 16 bytes, got {len}")]
pub struct InvalidCorrelationId {
    /// Length of the rejected input.
    pub len: usize,
}

impl CorrelationId {
    /// The length of a correlation id on the wire.
    pub const LEN: usize = 16;

    /// A fresh, time-ordered UUID v7.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    /// Builds an id from exactly 16 bytes.
    ///
    /// # Errors
    /// [`InvalidCorrelationId`] when `bytes` is not 16 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, InvalidCorrelationId> {
        let raw: [u8; 16] = bytes
            .try_into()
            .map_err(|_| InvalidCorrelationId { len: bytes.len() })?;
        Ok(Self(Uuid::from_bytes(raw)))
    }

    /// The 16 wire bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }

    /// The id as a [`Uuid`].
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl Default for CorrelationId {
    fn default() -> Self {
        Self::new()
    }
}

impl From<Uuid> for CorrelationId {
    fn from(uuid: Uuid) -> Self {
        Self(uuid)
    }
}

impl From<[u8; 16]> for CorrelationId {
    fn from(bytes: [u8; 16]) -> Self {
        Self(Uuid::from_bytes(bytes))
    }
}

impl FromStr for CorrelationId {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

impl fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl fmt::Debug for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CorrelationId({})", self.0.hyphenated())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_v7_unique_and_time_ordered() {
        let a = CorrelationId::new();
        let b = CorrelationId::new();
        assert_ne!(a, b);
        assert_eq!(a.as_uuid().get_version_num(), 7);
        assert!(a < b, "v7 ids generated in sequence sort in order");
    }

    #[test]
    fn slice_round_trip_and_wrong_lengths() {
        let id = CorrelationId::new();
        assert_eq!(CorrelationId::from_slice(id.as_bytes()), Ok(id));
        assert_eq!(
            CorrelationId::from_slice(&[0; 15]),
            Err(InvalidCorrelationId { len: 15 })
        );
        assert_eq!(
            CorrelationId::from_slice(&[]),
            Err(InvalidCorrelationId { len: 0 })
        );
        assert_eq!(
            CorrelationId::from_slice(&[0; 17]),
            Err(InvalidCorrelationId { len: 17 })
        );
    }

    #[test]
    fn display_parses_back() {
        let id = CorrelationId::new();
        let text = id.to_string();
        assert_eq!(text.len(), 36);
        assert_eq!(text.parse::<CorrelationId>().ok(), Some(id));
        assert!("not-a-uuid".parse::<CorrelationId>().is_err());
    }
}
