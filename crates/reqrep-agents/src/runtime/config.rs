//! Typed agent configuration: [`AgentConfig`], the issues its validation
//! reports ([`ConfigIssue`], [`Severity`]) and which of them abort a start
//! ([`ValidationPolicy`]).

use std::fmt;

use super::TerminationStatus;

/// How serious a configuration issue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Severity {
    /// Questionable but workable (for example: a loop limit of 0).
    Warning,
    /// Wrong: the agent would not do what was asked.
    Error,
    /// Dangerous or impossible: the agent must not run.
    Critical,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Warning => "warning",
            Self::Error => "error",
            Self::Critical => "critical",
        })
    }
}

/// One problem found by [`AgentConfig::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// How serious it is.
    pub severity: Severity,
    /// What is wrong, for people.
    pub message: String,
}

impl ConfigIssue {
    /// An issue of `severity`.
    pub fn new(severity: Severity, message: impl Into<String>) -> Self {
        Self {
            severity,
            message: message.into(),
        }
    }

    /// A [`Severity::Warning`] issue.
    pub fn warning(message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, message)
    }

    /// A [`Severity::Error`] issue.
    pub fn error(message: impl Into<String>) -> Self {
        Self::new(Severity::Error, message)
    }

    /// A [`Severity::Critical`] issue.
    pub fn critical(message: impl Into<String>) -> Self {
        Self::new(Severity::Critical, message)
    }
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.severity, self.message)
    }
}

/// An agent's typed configuration: defaults, per-registration overrides and
/// validation.
///
/// Build the value for one registration from the defaults and the overrides
/// of that registration, and let the agent report its issues through
/// [`Agent::validate`](super::Agent::validate):
///
/// ```
/// use std::time::Duration;
/// use reqrep_agents::runtime::{AgentConfig, PeriodicConfig, Severity};
///
/// let config = PeriodicConfig::default().with(|c| c.interval = Duration::ZERO);
/// let issues = config.validate();
/// assert_eq!(issues[0].severity, Severity::Error);
/// ```
pub trait AgentConfig: Default + Clone + Send + 'static {
    /// Checks the values; an empty list means the configuration is sound.
    fn validate(&self) -> Vec<ConfigIssue> {
        Vec::new()
    }

    /// Applies per-registration overrides to this value and returns it.
    fn with(mut self, overrides: impl FnOnce(&mut Self)) -> Self {
        overrides(&mut self);
        self
    }
}

/// Which issue severities stop an agent from starting.
///
/// An aborted agent is not started: its status is `Critical` when a critical
/// issue aborted it and `Error` otherwise. Issues that do not abort are
/// recorded as warnings and its status is at least `Warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidationPolicy {
    warning: bool,
    error: bool,
    critical: bool,
}

impl Default for ValidationPolicy {
    /// Errors and critical issues abort; warnings do not.
    fn default() -> Self {
        Self {
            warning: false,
            error: true,
            critical: true,
        }
    }
}

impl ValidationPolicy {
    /// Every issue aborts, warnings included.
    pub fn strict() -> Self {
        Self {
            warning: true,
            error: true,
            critical: true,
        }
    }

    /// Nothing aborts: every issue is only recorded.
    pub fn permissive() -> Self {
        Self {
            warning: false,
            error: false,
            critical: false,
        }
    }

    /// Sets whether issues of `severity` abort.
    pub fn abort_on(mut self, severity: Severity, abort: bool) -> Self {
        match severity {
            Severity::Warning => self.warning = abort,
            Severity::Error => self.error = abort,
            Severity::Critical => self.critical = abort,
        }
        self
    }

    /// Whether issues of `severity` abort.
    pub fn aborts(&self, severity: Severity) -> bool {
        match severity {
            Severity::Warning => self.warning,
            Severity::Error => self.error,
            Severity::Critical => self.critical,
        }
    }

    /// Applies the policy to `issues`.
    pub fn check(&self, issues: &[ConfigIssue]) -> Verdict {
        let aborting = issues
            .iter()
            .filter(|issue| self.aborts(issue.severity))
            .map(|issue| issue.severity)
            .max();
        match aborting {
            Some(Severity::Critical) => Verdict::Abort(TerminationStatus::Critical),
            Some(_) => Verdict::Abort(TerminationStatus::Error),
            None if issues.is_empty() => Verdict::Start,
            None => Verdict::StartWithWarnings,
        }
    }
}

/// What a [`ValidationPolicy`] decides about a list of issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// No issues: start.
    Start,
    /// Start; the agent ends with at least `Warning`.
    StartWithWarnings,
    /// Do not start; the agent ends with this status.
    Abort(TerminationStatus),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    struct Sample {
        port: u16,
        name: String,
    }

    impl Default for Sample {
        fn default() -> Self {
            Self {
                port: 5555,
                name: "sample".into(),
            }
        }
    }

    impl AgentConfig for Sample {
        fn validate(&self) -> Vec<ConfigIssue> {
            let mut issues = Vec::new();
            if self.port == 0 {
                issues.push(ConfigIssue::error("port must not be 0"));
            }
            if self.name.is_empty() {
                issues.push(ConfigIssue::warning("name is empty"));
            }
            issues
        }
    }

    #[test]
    fn overrides_apply_on_top_of_defaults() {
        let config = Sample::default().with(|c| c.port = 6000);
        assert_eq!(config.port, 6000);
        assert_eq!(
            config.name, "sample",
            "untouched fields keep their defaults"
        );
        assert!(config.validate().is_empty());
    }

    #[test]
    fn default_policy_aborts_on_error_and_critical_only() {
        let policy = ValidationPolicy::default();
        let warning = Sample::default().with(|c| c.name.clear()).validate();
        assert_eq!(policy.check(&warning), Verdict::StartWithWarnings);
        let error = Sample::default().with(|c| c.port = 0).validate();
        assert_eq!(
            policy.check(&error),
            Verdict::Abort(TerminationStatus::Error)
        );
        let critical = [ConfigIssue::critical("no"), ConfigIssue::warning("meh")];
        assert_eq!(
            policy.check(&critical),
            Verdict::Abort(TerminationStatus::Critical)
        );
        assert_eq!(policy.check(&[]), Verdict::Start);
    }

    #[test]
    fn strict_and_permissive_policies() {
        let warning = [ConfigIssue::warning("meh")];
        assert_eq!(
            ValidationPolicy::strict().check(&warning),
            Verdict::Abort(TerminationStatus::Error)
        );
        let critical = [ConfigIssue::critical("no")];
        assert_eq!(
            ValidationPolicy::permissive().check(&critical),
            Verdict::StartWithWarnings
        );
        let custom = ValidationPolicy::permissive().abort_on(Severity::Critical, true);
        assert!(custom.aborts(Severity::Critical) && !custom.aborts(Severity::Error));
    }

    #[test]
    fn issues_display_their_severity() {
        assert_eq!(
            ConfigIssue::error("bad port").to_string(),
            "error: bad port"
        );
    }
}
