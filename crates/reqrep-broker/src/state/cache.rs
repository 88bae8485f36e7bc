//! The reply cache: recent worker replies to idempotent requests, so that a
//! retry of a request that just completed is answered without running again.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use reqrep_core::{CorrelationId, Frame, Reply};

use super::payload::Payload;
use super::{HashMap, Route};

type Key = (Route, CorrelationId);

struct Cached {
    reply: Reply,
    payload: Payload,
    stored: Instant,
}

/// A bounded, time-limited map from (client route, correlation id) to reply.
/// Oldest entries go first when it is full or when they expire.
pub(crate) struct ReplyCache {
    capacity: usize,
    ttl: Duration,
    entries: HashMap<Key, Cached>,
    order: VecDeque<(Instant, Key)>,
}

impl ReplyCache {
    pub(crate) fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            capacity,
            ttl,
            entries: HashMap::default(),
            order: VecDeque::new(),
        }
    }

    /// Stores a copy of `payload` with `reply` under `key`.
    pub(crate) fn insert(&mut self, now: Instant, key: Key, reply: Reply, payload: &[Frame]) {
        if self.capacity == 0 {
            return;
        }
        self.evict(now);
        while self.entries.len() >= self.capacity {
            let Some((_, oldest)) = self.order.pop_front() else {
                break;
            };
            self.entries.remove(&oldest);
        }
        let payload = Payload::copy_of(payload);
        self.order.push_back((now, key.clone()));
        self.entries.insert(
            key,
            Cached {
                reply,
                payload,
                stored: now,
            },
        );
    }

    /// The cached reply for `key`, if present and fresh: the header and a
    /// fresh copy of the payload frames.
    pub(crate) fn get(&self, now: Instant, key: &Key) -> Option<(Reply, Vec<Frame>)> {
        let cached = self.entries.get(key)?;
        if now.saturating_duration_since(cached.stored) >= self.ttl {
            return None;
        }
        Some((cached.reply.clone(), cached.payload.to_frames()))
    }

    /// Drops expired entries.
    pub(crate) fn evict(&mut self, now: Instant) {
        while let Some((stored, _)) = self.order.front() {
            if now.saturating_duration_since(*stored) < self.ttl {
                break;
            }
            if let Some((stored, key)) = self.order.pop_front() {
                // Only remove if the entry was not replaced by a newer one.
                if self.entries.get(&key).is_some_and(|c| c.stored == stored) {
                    self.entries.remove(&key);
                }
            }
        }
    }

    /// Whether nothing is cached (no lookup needed).
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Gives memory back once most of it is unused; returns the bytes freed.
    pub(crate) fn shrink(&mut self, slack: usize) -> usize {
        let mut freed = 0;
        let live = self.entries.len();
        if self.entries.capacity() > 4 * live + slack {
            let before = self.entries.capacity();
            self.entries.shrink_to_fit();
            freed += before.saturating_sub(self.entries.capacity()) * size_of::<(Key, Cached)>();
        }
        if self.order.capacity() > 4 * self.order.len() + slack {
            let before = self.order.capacity();
            self.order.shrink_to_fit();
            freed += before.saturating_sub(self.order.capacity()) * size_of::<(Instant, Key)>();
        }
        freed
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqrep_core::Status;

    fn key(n: u8) -> Key {
        (Route::single(&[n]).unwrap(), CorrelationId::from([n; 16]))
    }

    #[test]
    fn hit_then_expire() {
        let t0 = Instant::now();
        let mut cache = ReplyCache::new(4, Duration::from_secs(10));
        let reply = Reply::new(key(1).1, Status::ok());
        cache.insert(t0, key(1), reply.clone(), &[Frame::from("v")]);
        let (got, payload) = cache.get(t0 + Duration::from_secs(9), &key(1)).unwrap();
        assert_eq!(got, reply);
        assert_eq!(&payload[0][..], b"v");
        assert!(cache.get(t0, &key(2)).is_none());
        assert!(cache.get(t0 + Duration::from_secs(10), &key(1)).is_none());
        cache.evict(t0 + Duration::from_secs(10));
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn bounded_by_capacity_oldest_first() {
        let t0 = Instant::now();
        let mut cache = ReplyCache::new(2, Duration::from_secs(10));
        for n in 1..=3 {
            cache.insert(t0, key(n), Reply::new(key(n).1, Status::ok()), &[]);
        }
        assert_eq!(cache.len(), 2);
        assert!(cache.get(t0, &key(1)).is_none());
        assert!(cache.get(t0, &key(3)).is_some());
    }

    #[test]
    fn zero_capacity_disables() {
        let mut cache = ReplyCache::new(0, Duration::from_secs(10));
        cache.insert(
            Instant::now(),
            key(1),
            Reply::new(key(1).1, Status::ok()),
            &[],
        );
        assert_eq!(cache.len(), 0);
    }
}
