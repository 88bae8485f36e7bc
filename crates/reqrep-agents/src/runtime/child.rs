//! The child's side of a child-process agent: run the one named agent in
//! this process, stop when the orchestrator says so (or goes away), report
//! events on stdout, then the close with its status, and exit with the
//! status's code.

use std::io::{self, BufRead, Write};
use std::sync::Arc;

use super::child_wire::{self, ATTEMPT_ENV, CHILD_ENV, PARENT_ENV, STOP_LINE};
use super::context::EventSink;
use super::{Agent, AgentContext, AgentOptions, EventKind, TerminationStatus, lifecycle, rerun};
use crate::StopToken;

/// The agent this process must run as a child, if it is one: the
/// orchestrator named it, and that orchestrator is this process's parent
/// (not a grandparent whose environment was inherited).
pub(crate) fn requested() -> Option<String> {
    let name = std::env::var(CHILD_ENV).ok()?;
    let parent: u32 = std::env::var(PARENT_ENV).ok()?.parse().ok()?;
    is_parent(parent).then_some(name)
}

#[cfg(unix)]
fn is_parent(pid: u32) -> bool {
    std::os::unix::process::parent_id() == pid
}

#[cfg(not(unix))]
fn is_parent(_pid: u32) -> bool {
    true
}

/// Runs `agent` (the registration named by [`requested`]) to its end,
/// reports the close on stdout and returns the exit code for its status.
pub(crate) fn run(name: &str, agent: &mut dyn Agent, options: &AgentOptions) -> i32 {
    let attempt = std::env::var(ATTEMPT_ENV)
        .ok()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1);
    // Before this runtime starts threads of its own.
    let rerun = rerun::check(name);
    let stop = StopToken::new();
    watch_stdin(stop.clone());
    let sink: EventSink = Arc::new(|kind| {
        if let Some(line) = child_wire::encode(&kind) {
            let mut out = io::stdout().lock();
            let _ = out.write_all(&line).and_then(|()| out.flush());
        }
    });
    if let Some(warning) = rerun {
        // Sent as an event only: advice, it does not change the status.
        sink(EventKind::Warning(warning));
    }
    let ctx = AgentContext::new(name.into(), stop, attempt, options.heartbeat_interval, sink);
    let status = lifecycle::run(agent, &ctx);
    // The last event line: the orchestrator knows from it that the
    // lifecycle closed (an exit without it did not).
    let mut out = io::stdout().lock();
    let _ = out
        .write_all(&child_wire::encode_closed(status))
        .and_then(|()| out.flush());
    status.exit_code()
}

/// The exit code for a name this program did not register.
pub(crate) fn unknown(name: &str) -> i32 {
    tracing::error!(agent = name, "asked to run an agent that is not registered");
    TerminationStatus::Error.exit_code()
}

/// Stops `stop` on a `stop` line or at the end of stdin (the orchestrator
/// closed it, or died).
fn watch_stdin(stop: StopToken) {
    let spawned = std::thread::Builder::new()
        .name("agent-control".into())
        .spawn(move || {
            let stdin = io::stdin();
            let mut line = Vec::new();
            loop {
                line.clear();
                match stdin.lock().read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) if line == STOP_LINE || line == STOP_LINE[..STOP_LINE.len() - 1] => {
                        break;
                    }
                    Ok(_) => {}
                }
            }
            stop.stop();
        });
    if let Err(err) = spawned {
        tracing::error!(cause = %err, "cannot watch stdin: the agent will not hear a stop");
    }
}
