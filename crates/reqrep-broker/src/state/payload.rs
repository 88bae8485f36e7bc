//! Payloads the broker holds: of queued requests, of in-flight requests kept
//! for a re-dispatch, of cached replies.
//!
//! A frame received over TCP usually points into libzmq's shared receive
//! buffer (about 18 KiB, for 8 KiB of wire data), and that whole buffer
//! lives as long as any frame in it does. Frames passed straight on cost
//! nothing, but a request that waits in a queue would keep its share of a
//! buffer, several times its own size, for as long as it waits. So what
//! the broker keeps is copied out into an allocation of its own: one frame
//! as plain bytes, several as fresh frames. Payloads over [`COPY_LIMIT`] are
//! kept as received: libzmq gives those an allocation of their own.

use reqrep_core::Frame;

/// Largest payload (all frames) copied when it is kept: libzmq's default
/// receive batch, above which frames get allocations of their own.
const COPY_LIMIT: usize = 8 * 1024;

/// A payload the broker keeps.
pub(super) enum Payload {
    /// Frames (possibly none).
    Frames(Vec<Frame>),
    /// Exactly one frame, as bytes.
    One(Box<[u8]>),
}

impl Payload {
    /// No frames.
    pub(super) fn none() -> Self {
        Self::Frames(Vec::new())
    }

    /// Keeps `frames` for a while: copied out of libzmq's receive buffers
    /// unless large.
    pub(super) fn keep(frames: Vec<Frame>) -> Self {
        let size: usize = frames.iter().map(|f| f.len()).sum();
        if size > COPY_LIMIT {
            Self::Frames(frames)
        } else {
            Self::copy_of(&frames)
        }
    }

    /// A copy of `frames`.
    pub(super) fn copy_of(frames: &[Frame]) -> Self {
        match frames {
            [one] => Self::One(Box::from(&one[..])),
            many => Self::Frames(many.iter().map(|f| Frame::from(&f[..])).collect()),
        }
    }

    /// The frames, leaving none behind.
    pub(super) fn take(&mut self) -> Vec<Frame> {
        match std::mem::replace(self, Self::none()) {
            Self::Frames(frames) => frames,
            Self::One(bytes) => vec![Frame::from(bytes)],
        }
    }

    /// A copy of the frames.
    pub(super) fn to_frames(&self) -> Vec<Frame> {
        match self {
            Self::Frames(frames) => frames.iter().map(|f| Frame::from(&f[..])).collect(),
            Self::One(bytes) => vec![Frame::from(&bytes[..])],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(frames: &[Frame]) -> Vec<Vec<u8>> {
        frames.iter().map(|f| f.to_vec()).collect()
    }

    #[test]
    fn frames_survive_every_form() {
        let cases: Vec<Vec<Frame>> = vec![
            vec![],
            vec![Frame::new()],
            vec![Frame::from(&[1u8; 64][..])],
            vec![Frame::from("a"), Frame::new(), Frame::from(&[2u8; 100][..])],
            vec![Frame::from(&[3u8; COPY_LIMIT + 1][..])],
        ];
        for frames in cases {
            let expected = bytes(&frames);
            assert_eq!(bytes(&Payload::copy_of(&frames).take()), expected);
            let mut kept = Payload::keep(frames);
            assert_eq!(bytes(&kept.to_frames()), expected);
            assert_eq!(bytes(&kept.take()), expected);
            assert!(kept.take().is_empty());
        }
    }

    #[test]
    fn one_frame_is_kept_as_bytes() {
        let kept = Payload::keep(vec![Frame::from(&[1u8; 64][..])]);
        assert!(matches!(kept, Payload::One(_)));
        assert!(std::mem::size_of::<Payload>() <= 24);
    }
}
