//! The retry loop both clients share, without sockets or clocks: attempt
//! counting, which outcomes are retried, jittered backoff, the total budget,
//! each attempt's timeout clipped to what remains of it, and the error that
//! ends the request. The blocking requester and the async client only drive
//! it, each with its own I/O and timer:
//!
//! ```text
//! let mut retry = RetryLoop::new(&options, now);
//! let mut event = Event::Ready;
//! loop {
//!     match retry.next(now, event) {
//!         Step::Attempt { attempt, timeout } => match send_and_wait(attempt, timeout) {
//!             Ok(response) => return Ok(response),
//!             Err(err) => event = Event::Failed(err),
//!         },
//!         Step::Wait(backoff) => { sleep(backoff); event = Event::Ready }
//!         Step::GiveUp(err) => return Err(err),
//!     }
//! }
//! ```

use std::time::{Duration, Instant};

use metrics::counter;
use reqrep_core::{CorrelationId, Deadline, RetryPolicy};
use tracing::debug;

use super::ClientOptions;
use crate::RequestError;

/// Requests retried after a timeout or a retryable status.
pub(crate) const RETRIES_TOTAL: &str = "reqrep_agents_retries_total";

/// What the driver reports to [`RetryLoop::next`].
#[derive(Debug)]
pub(crate) enum Event {
    /// Ready for the next attempt: at the start, or after a [`Step::Wait`].
    Ready,
    /// The attempt failed. [`RequestError::Timeout`] means "no reply within
    /// the attempt's timeout" (its fields are filled in by the loop); a
    /// [`RequestError::Status`] with a retryable code is retried; anything
    /// else ends the request as it is.
    Failed(RequestError),
}

/// What the driver does next.
#[derive(Debug)]
pub(crate) enum Step {
    /// Send attempt `attempt` (1-based) with `timeout` in its header, and
    /// wait for its reply that long.
    Attempt {
        /// The attempt's number, for its header.
        attempt: u32,
        /// The per-attempt timeout, clipped to what remains of the budget.
        timeout: Duration,
    },
    /// Sleep this long, then report [`Event::Ready`].
    Wait(Duration),
    /// The request has failed with this error.
    GiveUp(RequestError),
}

/// One request's retry state.
#[derive(Debug)]
pub(crate) struct RetryLoop {
    policy: RetryPolicy,
    /// The per-attempt timeout.
    timeout: Duration,
    /// The total budget, for the error that reports it.
    budget: Duration,
    started: Instant,
    deadline: Deadline,
    /// Attempts started so far.
    attempts: u32,
    rng: fastrand::Rng,
}

impl RetryLoop {
    /// A request started at `now` under `options`.
    pub(crate) fn new(options: &ClientOptions, now: Instant) -> Self {
        Self::with_budget(options, options.get_total_timeout(), now)
    }

    /// [`RetryLoop::new`] with `budget`, the options' total timeout, worked
    /// out before (a client that sends many requests computes it once).
    pub(crate) fn with_budget(options: &ClientOptions, budget: Duration, now: Instant) -> Self {
        Self::with_rng(options, budget, now, fastrand::Rng::new())
    }

    /// [`RetryLoop::with_budget`] with the jitter drawn from `rng`.
    pub(crate) fn with_rng(
        options: &ClientOptions,
        budget: Duration,
        now: Instant,
        rng: fastrand::Rng,
    ) -> Self {
        Self {
            policy: options.retry.clone(),
            timeout: options.timeout,
            budget,
            started: now,
            deadline: Deadline::after(now, budget),
            attempts: 0,
            rng,
        }
    }

    /// Attempts started so far.
    pub(crate) fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The next step after `event` at `now`.
    pub(crate) fn next(&mut self, now: Instant, event: Event) -> Step {
        match event {
            Event::Ready => self.attempt(now),
            Event::Failed(err) => self.failed(now, err),
        }
    }

    fn attempt(&mut self, now: Instant) -> Step {
        let left = self.deadline.remaining(now);
        if left.is_zero() {
            return Step::GiveUp(self.budget_exhausted(now));
        }
        self.attempts += 1;
        Step::Attempt {
            attempt: self.attempts,
            timeout: self.timeout.min(left),
        }
    }

    fn failed(&mut self, now: Instant, err: RequestError) -> Step {
        let timed_out = match &err {
            RequestError::Timeout { .. } => true,
            RequestError::Status(status) if status.code.is_retryable() => false,
            _ => return Step::GiveUp(err),
        };
        if self.attempts >= self.policy.attempts() {
            return Step::GiveUp(if timed_out {
                RequestError::Timeout {
                    attempts: self.attempts,
                    elapsed: now.saturating_duration_since(self.started),
                }
            } else {
                err
            });
        }
        match self
            .policy
            .next_delay(self.attempts, now, Some(self.deadline), &mut self.rng)
        {
            Some(delay) => Step::Wait(delay),
            None if timed_out => Step::GiveUp(self.budget_exhausted(now)),
            // The peer's answer says more than the budget would.
            None => Step::GiveUp(err),
        }
    }

    fn budget_exhausted(&self, now: Instant) -> RequestError {
        RequestError::BudgetExhausted {
            attempts: self.attempts,
            elapsed: now.saturating_duration_since(self.started),
            budget: self.budget,
        }
    }
}

/// Logs and counts a retry the driver is about to wait for.
pub(crate) fn note_retry(id: CorrelationId, attempt: u32, delay: Duration) {
    debug!(correlation_id = %id, attempt, delay_ms = delay.as_millis() as u64, "retrying");
    counter!(RETRIES_TOTAL).increment(1);
}

#[cfg(test)]
#[path = "retry_tests.rs"]
mod tests;
