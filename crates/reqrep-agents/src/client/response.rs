//! The result of a successful request.

use reqrep_core::{CorrelationId, Frame, Metadata};

/// What a client's successful request returns: the reply's payload and
/// metadata. (The wire command it came in is [`reqrep_core::Reply`].)
#[derive(Debug)]
pub struct Response {
    /// The request's correlation id.
    pub id: CorrelationId,
    /// Payload frames.
    pub payload: Vec<Frame>,
    /// Metadata the replier attached.
    pub metadata: Metadata,
    /// Attempts it took (1 when the first succeeded).
    pub attempts: u32,
}

impl Response {
    /// The first payload frame, or an empty slice.
    pub fn body(&self) -> &[u8] {
        self.payload.first().map_or(&[], |f| &f[..])
    }
}
