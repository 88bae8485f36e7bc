//! Whether the broker loop is still turning: the loop [beats](Health::beat)
//! on every iteration, and `/healthz` (see the `http` module) asks how long
//! ago the last beat was.

// Without the `http` feature nothing reads the beats, and the type is not
// exported.
#![cfg_attr(not(feature = "http"), allow(dead_code, unreachable_pub))]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Whether the broker loop is alive: the loop beats, `/healthz` checks how
/// long ago the last beat was.
#[derive(Debug)]
pub struct Health {
    /// The instant beats are measured from.
    origin: Instant,
    /// Nanoseconds from `origin` to the last beat, plus one; 0 before the
    /// first beat.
    last_beat: AtomicU64,
}

impl Health {
    /// A health record with no beat yet: not live until the first
    /// [`beat`](Self::beat).
    pub fn new() -> Arc<Health> {
        Arc::new(Health {
            origin: Instant::now(),
            last_beat: AtomicU64::new(0),
        })
    }

    /// Records that the loop is alive now. Cheap: one atomic store.
    pub fn beat(&self) {
        self.beat_at(Instant::now());
    }

    /// Whether the last beat was at most `max_silence` ago.
    pub fn is_live(&self, max_silence: Duration) -> bool {
        self.is_live_at(Instant::now(), max_silence)
    }

    fn beat_at(&self, now: Instant) {
        let since = now.saturating_duration_since(self.origin).as_nanos();
        let stamp = u64::try_from(since).unwrap_or(u64::MAX - 1) + 1;
        self.last_beat.fetch_max(stamp, Ordering::Relaxed);
    }

    fn is_live_at(&self, now: Instant, max_silence: Duration) -> bool {
        match self.last_beat.load(Ordering::Relaxed) {
            0 => false,
            stamp => {
                let beat = self.origin + Duration::from_nanos(stamp - 1);
                now.saturating_duration_since(beat) <= max_silence
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_is_live_only_within_the_window_after_a_beat() {
        let health = Health::new();
        let t0 = Instant::now();
        assert!(
            !health.is_live_at(t0, Duration::from_secs(3600)),
            "no beat yet"
        );
        health.beat_at(t0);
        assert!(health.is_live_at(t0, Duration::ZERO));
        assert!(health.is_live_at(t0 + Duration::from_secs(5), Duration::from_secs(5)));
        assert!(!health.is_live_at(t0 + Duration::from_millis(5001), Duration::from_secs(5)));
        health.beat_at(t0 + Duration::from_secs(10));
        assert!(health.is_live_at(t0 + Duration::from_secs(12), Duration::from_secs(5)));
        // A late beat from another thread never moves the record backwards.
        health.beat_at(t0);
        assert!(health.is_live_at(t0 + Duration::from_secs(12), Duration::from_secs(5)));
        health.beat();
        assert!(health.is_live(Duration::from_secs(3600)));
    }
}
