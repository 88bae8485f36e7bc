//! The fast path in: REQUESTs and REPLYs the broker passes on without
//! decoding their headers.
//!
//! Nearly every message a broker handles is a plain REQUEST on its way to
//! a worker or a plain REPLY on its way back. Their headers are only
//! scanned ([`reqrep_core::scan`]), and go on as they came: a REQUEST's
//! with the broker's fields appended, a REPLY's with its `route` cut off.
//! Whatever a scan does not read in full (metadata, a status, unknown
//! fields, a limit exceeded) takes the decoding path, which validates it
//! and names what is wrong; both paths give the receiver the same header.

use reqrep_core::scan::{self, HeaderScan};
use reqrep_core::{CorrelationId, Frame, Limits, Request, header_index};

use super::Route;

/// A REPLY read by a scan: OK, no metadata.
pub(super) struct PlainReply {
    /// Its correlation id.
    pub(super) id: CorrelationId,
    /// The client route it echoes; `None` when it has none (or not a valid
    /// one), so it matches no request.
    pub(super) route: Option<Route>,
    /// The header for the client: the worker's, its `route` cut off.
    pub(super) header: Frame,
}

/// A REQUEST that needs no decoding, and where its header frame is.
pub(super) fn plain_request(frames: &[Frame], limits: &Limits) -> Option<(usize, Request)> {
    let at = header_index(frames)?;
    scan_within(frames, at, limits)?
        .to_request()
        .map(|r| (at, r))
}

/// A worker's REPLY (`[worker id, header, payload...]`) that needs no
/// decoding.
pub(super) fn plain_reply(frames: &[Frame], limits: &Limits) -> Option<PlainReply> {
    // Exactly one routing frame, as `decode` requires of a worker.
    if header_index(frames)? != 1 {
        return None;
    }
    let s = scan_within(frames, 1, limits)?;
    if !s.is_plain_reply() {
        return None;
    }
    Some(PlainReply {
        id: s.id()?,
        route: Route::from_frames(s.route()),
        header: s.without_route(),
    })
}

/// The scan of header frame `at`, when the message is within every limit.
fn scan_within<'a>(frames: &'a [Frame], at: usize, limits: &Limits) -> Option<HeaderScan<'a>> {
    let header = frames.get(at)?;
    if header.len() > limits.max_header_bytes {
        return None;
    }
    let payload = &frames[at + 1..];
    let size: usize = payload.iter().map(|f| f.len()).sum();
    if payload.len() > limits.max_payload_frames || size > limits.max_payload_bytes {
        return None;
    }
    scan::scan(header)
}
