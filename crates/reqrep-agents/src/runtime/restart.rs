//! Whether a failed agent is started again: [`RestartPolicy`].

use std::time::Duration;

use reqrep_core::RetryPolicy;

/// What the orchestrator does when an agent fails (ends with `Error` or
/// `Critical`). Agents that end with `Success` or `Warning`, or that were
/// asked to stop, are never restarted.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub enum RestartPolicy {
    /// A failure is final.
    #[default]
    Never,
    /// Start the agent again, up to `max_restarts` times, waiting a jittered
    /// exponential backoff before each restart.
    OnFailure {
        /// How many restarts at most (runs = 1 + restarts).
        max_restarts: u32,
        /// The delays: restart *n* waits `backoff`'s delay after attempt *n*
        /// (`initial_backoff * multiplier^(n-1)`, capped, jittered). Its
        /// attempt bound is not used: `max_restarts` bounds the restarts.
        backoff: RetryPolicy,
    },
}

impl RestartPolicy {
    /// Restarts on failure up to `max_restarts` times with the default
    /// backoff of [`RetryPolicy`] (50 ms doubling up to 2 s, jitter 0.5).
    pub fn on_failure(max_restarts: u32) -> Self {
        Self::OnFailure {
            max_restarts,
            backoff: RetryPolicy::default(),
        }
    }

    /// The delay before restart number `restart` (1-based), or `None` when
    /// the policy allows no more restarts.
    pub fn delay(&self, restart: u32, rng: &mut fastrand::Rng) -> Option<Duration> {
        match self {
            Self::Never => None,
            Self::OnFailure {
                max_restarts,
                backoff,
            } => (restart >= 1 && restart <= *max_restarts).then(|| backoff.delay(restart, rng)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_restarts() {
        let mut rng = fastrand::Rng::with_seed(1);
        assert_eq!(RestartPolicy::Never.delay(1, &mut rng), None);
    }

    #[test]
    fn on_failure_is_bounded_and_backs_off() {
        let mut rng = fastrand::Rng::with_seed(1);
        let policy = RestartPolicy::OnFailure {
            max_restarts: 2,
            backoff: RetryPolicy::default()
                .initial_backoff(Duration::from_millis(10))
                .jitter(0.0),
        };
        assert_eq!(policy.delay(1, &mut rng), Some(Duration::from_millis(10)));
        assert_eq!(policy.delay(2, &mut rng), Some(Duration::from_millis(20)));
        assert_eq!(policy.delay(3, &mut rng), None);
        assert_eq!(RestartPolicy::on_failure(0).delay(1, &mut rng), None);
    }
}
