//! Routes: how to reach a peer through a ROUTER socket.

use std::fmt;

use reqrep_core::Frame;

/// The routing frames of a peer, packed into one allocation: each frame as a
/// length byte followed by its bytes. ZeroMQ routing ids are 1 to 255 bytes,
/// so a length byte always suffices. A route may end with the empty
/// delimiter (length 0) when the peer sent one, so replies carry it back.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Route(Box<[u8]>);

impl Route {
    /// Packs `frames`; `None` when there are none, when one is longer than
    /// 255 bytes (not a routing id), or when one is empty other than the last
    /// (the delimiter) or the first (a route needs an id).
    pub fn from_frames<'a>(frames: impl IntoIterator<Item = &'a [u8]>) -> Option<Self> {
        let mut packed = Vec::with_capacity(8);
        let mut ended = false;
        for frame in frames {
            if ended {
                return None;
            }
            let len = u8::try_from(frame.len()).ok()?;
            if len == 0 {
                if packed.is_empty() {
                    return None;
                }
                ended = true;
            }
            packed.push(len);
            packed.extend_from_slice(frame);
        }
        (!packed.is_empty()).then(|| Self(packed.into_boxed_slice()))
    }

    /// A single-frame route (a directly connected peer).
    pub fn single(id: &[u8]) -> Option<Self> {
        Self::from_frames([id])
    }

    /// The frames, in order.
    pub fn frames(&self) -> impl Iterator<Item = &[u8]> {
        let mut rest = &self.0[..];
        std::iter::from_fn(move || {
            let (&len, tail) = rest.split_first()?;
            let (frame, tail) = tail.split_at(usize::from(len).min(tail.len()));
            rest = tail;
            Some(frame)
        })
    }

    /// The frames as ZeroMQ messages, for sending.
    pub fn to_frames(&self) -> Vec<Frame> {
        self.frames().map(Frame::from).collect()
    }

    /// The frames as byte vectors, for a header's `route` field.
    pub fn to_vecs(&self) -> Vec<Vec<u8>> {
        self.frames().map(<[u8]>::to_vec).collect()
    }
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, frame) in self.frames().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            for b in frame {
                write!(f, "{b:02x}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_and_unpacks_frames() {
        let route = Route::from_frames([&b"\x00\x80\x00\x41\xa7"[..], b"proxy"]).unwrap();
        let frames: Vec<&[u8]> = route.frames().collect();
        assert_eq!(frames, vec![&b"\x00\x80\x00\x41\xa7"[..], b"proxy"]);
        assert_eq!(
            route.to_vecs(),
            vec![b"\x00\x80\x00\x41\xa7".to_vec(), b"proxy".to_vec()]
        );
        assert_eq!(route.to_frames().len(), 2);
        assert_eq!(route.to_string(), "00800041a7/70726f7879");
    }

    #[test]
    fn keeps_a_trailing_delimiter() {
        let route = Route::from_frames([&b"\x00id"[..], b""]).unwrap();
        assert_eq!(
            route.frames().collect::<Vec<_>>(),
            vec![&b"\x00id"[..], b""]
        );
        assert_ne!(Some(route), Route::single(b"\x00id"));
        assert_eq!(Route::from_frames([&b"a"[..], b"", b"b"]), None);
    }

    #[test]
    fn rejects_what_cannot_be_a_routing_id() {
        assert_eq!(Route::from_frames(std::iter::empty()), None);
        assert_eq!(Route::single(b""), None);
        assert_eq!(Route::single(&[1u8; 256]), None);
        assert!(Route::single(&[1u8; 255]).is_some());
    }

    #[test]
    fn equal_frames_make_equal_routes() {
        assert_eq!(Route::single(b"a"), Route::single(b"a"));
        assert_ne!(Route::single(b"ab"), Route::from_frames([&b"a"[..], b"b"]));
    }
}
