//! The final verdict on an agent run: [`TerminationStatus`].

use std::fmt;

/// How an agent ended, from best to worst (the order is meaningful: the
/// worse of two statuses is their maximum).
///
/// - `Success`: every hook returned without error.
/// - `Warning`: it ended normally but something was off: a configuration
///   warning, a recoverable error in a cycle, a call to
///   [`AgentContext::warn`](super::AgentContext::warn), or failures that a
///   restart recovered from.
/// - `Error`: a hook or plugin failed, its configuration was rejected, a
///   dependency failed, or it did not become ready in time.
/// - `Critical`: it panicked, its process crashed, or it had to be stopped by
///   force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[non_exhaustive]
pub enum TerminationStatus {
    /// Ended normally.
    #[default]
    Success,
    /// Ended normally, with warnings.
    Warning,
    /// Failed.
    Error,
    /// Crashed or was stopped by force.
    Critical,
}

/// Exit code of a child-process agent that ended with [`TerminationStatus::Success`].
pub const EXIT_SUCCESS: i32 = 0;
/// Exit code of a child-process agent that ended with [`TerminationStatus::Warning`].
pub const EXIT_WARNING: i32 = 10;
/// Exit code of a child-process agent that ended with [`TerminationStatus::Error`].
pub const EXIT_ERROR: i32 = 11;
/// Exit code of a child-process agent that ended with [`TerminationStatus::Critical`].
pub const EXIT_CRITICAL: i32 = 12;

impl TerminationStatus {
    /// Whether this status counts as a failure (`Error` or `Critical`): the
    /// ones a [`RestartPolicy::OnFailure`](super::RestartPolicy::OnFailure)
    /// restarts.
    pub fn is_failure(self) -> bool {
        self >= Self::Error
    }

    /// The exit code a child process reports this status with.
    pub fn exit_code(self) -> i32 {
        match self {
            Self::Success => EXIT_SUCCESS,
            Self::Warning => EXIT_WARNING,
            Self::Error => EXIT_ERROR,
            Self::Critical => EXIT_CRITICAL,
        }
    }

    /// The status a child's exit code stands for; `None` for codes the
    /// runtime does not use (the child crashed or exited on its own).
    pub fn from_exit_code(code: i32) -> Option<Self> {
        match code {
            EXIT_SUCCESS => Some(Self::Success),
            EXIT_WARNING => Some(Self::Warning),
            EXIT_ERROR => Some(Self::Error),
            EXIT_CRITICAL => Some(Self::Critical),
            _ => None,
        }
    }
}

impl fmt::Display for TerminationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Success => "SUCCESS",
            Self::Warning => "WARNING",
            Self::Error => "ERROR",
            Self::Critical => "CRITICAL",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [TerminationStatus; 4] = [
        TerminationStatus::Success,
        TerminationStatus::Warning,
        TerminationStatus::Error,
        TerminationStatus::Critical,
    ];

    #[test]
    fn exit_codes_round_trip() {
        for status in ALL {
            assert_eq!(
                TerminationStatus::from_exit_code(status.exit_code()),
                Some(status)
            );
        }
        assert_eq!(
            TerminationStatus::from_exit_code(101),
            None,
            "a Rust panic exit"
        );
        assert_eq!(TerminationStatus::from_exit_code(1), None);
    }

    #[test]
    fn order_is_from_best_to_worst() {
        assert!(ALL.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(
            TerminationStatus::Warning.max(TerminationStatus::Error),
            TerminationStatus::Error
        );
        assert!(!TerminationStatus::Warning.is_failure());
        assert!(TerminationStatus::Error.is_failure());
        assert_eq!(TerminationStatus::Critical.to_string(), "CRITICAL");
    }
}
