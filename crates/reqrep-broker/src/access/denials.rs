//! Rate-limited logging of refusals: a refusal is logged the first time
//! its key (an identity and a service, or a reason and a key) is seen, and
//! then at most once per [`WINDOW`] with the number of refusals that went
//! unlogged in between. Refusals are always counted (in metrics); this only
//! keeps a peer that retries in a loop from flooding the log.
//!
//! Pure: fed `now`, no clock of its own. Memory is bounded: keys not seen
//! for a window or two are forgotten, and at most [`MAX_KEYS`] are tracked (past
//! that, new keys are not logged until old ones age out, and the refusals
//! are counted in [`Denials::untracked`]).

use std::hash::Hash;
use std::time::{Duration, Instant};

/// Hash maps with a fast, randomly seeded hasher (keys come from peers).
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// At most one log line per key per window.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Most keys tracked at once.
pub const MAX_KEYS: usize = 4096;

/// One key's last log line and the refusals since.
#[derive(Debug, Clone, Copy)]
struct Seen {
    logged: Instant,
    suppressed: u64,
}

/// Decides which refusals to log.
#[derive(Debug)]
pub struct Denials<K> {
    seen: HashMap<K, Seen>,
    /// When keys older than a window were last dropped.
    swept: Option<Instant>,
    untracked: u64,
}

impl<K> Default for Denials<K> {
    fn default() -> Self {
        Self {
            seen: HashMap::default(),
            swept: None,
            untracked: 0,
        }
    }
}

impl<K: Hash + Eq> Denials<K> {
    /// A refusal for `key` at `now`. `Some(n)` when it is to be logged, `n`
    /// being how many refusals for `key` went unlogged since its last line;
    /// `None` when it is to stay silent.
    pub fn note(&mut self, now: Instant, key: K) -> Option<u64> {
        self.sweep(now);
        if let Some(seen) = self.seen.get_mut(&key) {
            if now.saturating_duration_since(seen.logged) < WINDOW {
                seen.suppressed += 1;
                return None;
            }
            let suppressed = std::mem::take(&mut seen.suppressed);
            seen.logged = now;
            return Some(suppressed);
        }
        if self.seen.len() >= MAX_KEYS {
            self.untracked += 1;
            return None;
        }
        self.seen.insert(
            key,
            Seen {
                logged: now,
                suppressed: 0,
            },
        );
        Some(0)
    }

    /// Refusals never logged because [`MAX_KEYS`] keys were tracked.
    pub fn untracked(&self) -> u64 {
        self.untracked
    }

    /// Keys tracked now.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// At most once per window, forgets keys last logged a window ago or
    /// more with no refusal since (their next refusal is logged anyway),
    /// and keys last logged two windows ago or more.
    fn sweep(&mut self, now: Instant) {
        if self
            .swept
            .is_some_and(|t| now.saturating_duration_since(t) < WINDOW)
        {
            return;
        }
        self.swept = Some(now);
        self.seen.retain(|_, seen| {
            let age = now.saturating_duration_since(seen.logged);
            age < WINDOW || (seen.suppressed > 0 && age < 2 * WINDOW)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn once_per_key_per_window_with_the_count_in_between() {
        let t0 = Instant::now();
        let mut d = Denials::default();
        assert_eq!(d.note(t0, ("web", "billing")), Some(0));
        for i in 1..=5 {
            assert_eq!(d.note(t0 + i * S, ("web", "billing")), None);
        }
        assert_eq!(d.note(t0, ("web", "orders")), Some(0), "another service");
        assert_eq!(d.note(t0, ("svc", "billing")), Some(0), "another identity");
        assert_eq!(d.note(t0 + 59 * S, ("web", "billing")), None);
        assert_eq!(d.note(t0 + 60 * S, ("web", "billing")), Some(6));
        assert_eq!(d.note(t0 + 61 * S, ("web", "billing")), None);
        assert_eq!(d.note(t0 + 120 * S, ("web", "billing")), Some(1));
    }

    #[test]
    fn keys_age_out_and_their_number_is_bounded() {
        let t0 = Instant::now();
        let mut d = Denials::default();
        for n in 0..MAX_KEYS {
            assert_eq!(d.note(t0, n), Some(0));
        }
        assert_eq!(d.note(t0, MAX_KEYS), None, "past the bound: silent");
        assert_eq!(d.untracked(), 1);
        assert_eq!(d.len(), MAX_KEYS);
        // A window later the old keys are dropped and new ones logged.
        assert_eq!(d.note(t0 + WINDOW, MAX_KEYS), Some(0));
        assert_eq!(d.len(), 1);
        assert!(!d.is_empty());
    }
}
