//! Routes: how to reach a peer through a ROUTER socket.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

use reqrep_core::Frame;

/// Packed routes up to this many bytes are stored inline.
const INLINE: usize = 22;

/// The routing frames of a peer, packed: each frame as a length byte
/// followed by its bytes. ZeroMQ routing ids are 1 to 255 bytes, so a length
/// byte always suffices. A route may end with the empty delimiter (length 0)
/// when the peer sent one, so replies carry it back.
///
/// Routes of up to 22 packed bytes (a libzmq-generated 5-byte id and a
/// delimiter, a 16-byte UUID, or a few ids through proxies) are kept
/// inline: creating, cloning and dropping them never allocates, and the
/// broker holds one per request. Longer ones take one allocation.
#[derive(Clone)]
pub struct Route(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl Route {
    /// Packs `frames`; `None` when there are none, when one is longer than
    /// 255 bytes (not a routing id), or when one is empty other than the last
    /// (the delimiter) or the first (a route needs an id).
    pub fn from_frames<'a>(frames: impl IntoIterator<Item = &'a [u8]>) -> Option<Self> {
        let mut bytes = [0u8; INLINE];
        let mut len = 0;
        let mut heap: Option<Vec<u8>> = None;
        let mut ended = false;
        for frame in frames {
            if ended {
                return None;
            }
            let n = u8::try_from(frame.len()).ok()?;
            if n == 0 {
                if len == 0 && heap.is_none() {
                    return None;
                }
                ended = true;
            }
            match &mut heap {
                Some(packed) => {
                    packed.push(n);
                    packed.extend_from_slice(frame);
                }
                None if len + 1 + frame.len() <= INLINE => {
                    bytes[len] = n;
                    bytes[len + 1..len + 1 + frame.len()].copy_from_slice(frame);
                    len += 1 + frame.len();
                }
                None => {
                    let mut packed = Vec::with_capacity(len + 1 + frame.len());
                    packed.extend_from_slice(&bytes[..len]);
                    packed.push(n);
                    packed.extend_from_slice(frame);
                    heap = Some(packed);
                }
            }
        }
        match heap {
            Some(packed) => Some(Self(Repr::Heap(packed.into_boxed_slice()))),
            None => {
                let len = u8::try_from(len).ok().filter(|l| *l > 0)?;
                Some(Self(Repr::Inline { len, bytes }))
            }
        }
    }

    /// A single-frame route (a directly connected peer).
    pub fn single(id: &[u8]) -> Option<Self> {
        Self::from_frames([id])
    }

    /// The packed bytes.
    fn packed(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Repr::Heap(packed) => packed,
        }
    }

    /// The frames, in order.
    pub fn frames(&self) -> impl Iterator<Item = &[u8]> + Clone {
        let mut rest = self.packed();
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

// Equality, order and hash are those of the packed bytes, whichever way
// they are stored.

impl PartialEq for Route {
    fn eq(&self, other: &Self) -> bool {
        self.packed() == other.packed()
    }
}

impl Eq for Route {}

impl Hash for Route {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.packed().hash(state);
    }
}

impl PartialOrd for Route {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Route {
    fn cmp(&self, other: &Self) -> Ordering {
        self.packed().cmp(other.packed())
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
    fn long_routes_spill_to_the_heap_and_compare_by_bytes() {
        let short = Route::from_frames([&[1u8; 10][..], &[2u8; 10][..]]).unwrap();
        assert!(matches!(short.0, Repr::Inline { .. }));
        let long = Route::from_frames([&[1u8; 10][..], &[2u8; 10][..], &[3u8; 10][..]]).unwrap();
        assert!(matches!(long.0, Repr::Heap(_)));
        let frames: Vec<&[u8]> = long.frames().collect();
        assert_eq!(frames, vec![&[1u8; 10][..], &[2u8; 10][..], &[3u8; 10][..]]);
        assert!(short < long);
        assert_eq!(
            Route::single(&[7u8; 255])
                .unwrap()
                .frames()
                .next()
                .unwrap()
                .len(),
            255
        );
        assert!(std::mem::size_of::<Route>() <= 24);
    }

    #[test]
    fn equal_frames_make_equal_routes() {
        assert_eq!(Route::single(b"a"), Route::single(b"a"));
        assert_ne!(Route::single(b"ab"), Route::from_frames([&b"a"[..], b"b"]));
    }
}
