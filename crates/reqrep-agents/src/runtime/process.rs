//! The orchestrator's side of a child-process agent: spawning the current
//! program for one agent, reading its events and its close, stopping and
//! killing it.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::attempt::{Launch, Message};
use super::child_wire::{self, ATTEMPT_ENV, CHILD_ENV, PARENT_ENV, Report, STOP_LINE};
use super::event::Ending;
use super::{EventKind, TerminationStatus};

/// How often the waiter looks whether the child has exited.
const EXIT_POLL: Duration = Duration::from_millis(10);
/// How long the waiter lets the reader drain the child's output after exit,
/// looking for its close line.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest stretch of child output held in memory: longer lines are
/// forwarded in pieces (event lines are far shorter).
const MAX_LINE: u64 = 64 * 1024;

/// A running child-process attempt.
pub(crate) struct ChildProcess {
    /// Shared with the waiter thread, which polls it for the exit.
    child: Arc<Mutex<Child>>,
    /// The control pipe; closing it stops the child.
    stdin: Option<ChildStdin>,
}

impl ChildProcess {
    /// Re-executes the current program, with the same arguments, as the
    /// child that runs `launch`'s agent; its events and exit go to
    /// `launch.inbox`.
    ///
    /// # Errors
    /// When the program cannot be found or started, or the threads that
    /// watch it cannot be spawned (the child is then killed).
    pub(crate) fn spawn(launch: &Launch) -> io::Result<Self> {
        let program = std::env::current_exe()?;
        let mut child = Command::new(program)
            .args(std::env::args_os().skip(1))
            .env(CHILD_ENV, &*launch.name)
            .env(ATTEMPT_ENV, launch.attempt.to_string())
            .env(PARENT_ENV, std::process::id().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        tracing::info!(agent = %launch.name, pid = child.id(), "child process started");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let child = Arc::new(Mutex::new(child));
        let watched = watch(launch, stdout, Arc::clone(&child));
        let mut process = Self { child, stdin };
        if let Err(err) = watched {
            process.kill();
            return Err(err);
        }
        Ok(process)
    }

    /// Asks the child to stop: a `stop` line, then the end of its stdin.
    pub(crate) fn signal_stop(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(STOP_LINE).and_then(|()| stdin.flush());
        }
    }

    /// Kills the child and reaps it.
    pub(crate) fn kill(&mut self) {
        self.stdin = None;
        let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(err) = child.kill() {
            tracing::warn!(cause = %err, "cannot kill the child process");
        }
        let _ = child.wait();
    }
}

/// Starts the reader (stdout → events, the close and forwarded output) and
/// the waiter (exit → `Done`) threads.
///
/// The waiter decides whether the child closed only once the reader has
/// passed on the close line, or has read the output to its end without
/// one, or [`DRAIN_TIMEOUT`] after the exit: the reader hands the waiter
/// the close after it has passed on every event before it, so `Done`
/// follows them in the inbox.
fn watch(launch: &Launch, stdout: Option<ChildStdout>, child: Arc<Mutex<Child>>) -> io::Result<()> {
    // Carries the close; disconnected once the reader reached the end of
    // the output.
    let (closes, closed) = mpsc::channel::<TerminationStatus>();
    if let Some(stdout) = stdout {
        let events = launch.sink();
        std::thread::Builder::new()
            .name(format!("agent-{}-out", launch.name))
            .spawn(move || {
                read_output(stdout, |report| match report {
                    Report::Event(kind) => events(kind),
                    Report::Closed(status) => {
                        let _ = closes.send(status);
                    }
                });
            })?;
    }
    let (agent, attempt, inbox) = (launch.agent, launch.attempt, launch.inbox.clone());
    std::thread::Builder::new()
        .name(format!("agent-{}-wait", launch.name))
        .spawn(move || {
            let exit = wait_for_exit(&child);
            let drain = drain(&closed);
            report_exit(exit, drain, agent, attempt, &inbox);
        })?;
    Ok(())
}

/// What the reader found in the child's output by the time the waiter
/// decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Drain {
    /// The close line, with the status the child reported.
    Closed(TerminationStatus),
    /// The end of the output, without a close line.
    Ended,
    /// Neither, [`DRAIN_TIMEOUT`] after the exit: the output is still open
    /// (a process the child started holds it) or the reader is held up.
    Open,
}

/// Waits, at most [`DRAIN_TIMEOUT`], for the reader to pass on the close or
/// reach the end of the output.
fn drain(closed: &Receiver<TerminationStatus>) -> Drain {
    match closed.recv_timeout(DRAIN_TIMEOUT) {
        Ok(status) => Drain::Closed(status),
        Err(RecvTimeoutError::Disconnected) => Drain::Ended,
        Err(RecvTimeoutError::Timeout) => Drain::Open,
    }
}

/// Forwards the child's output to ours and its event lines to `reports`.
fn read_output(stdout: impl Read, reports: impl Fn(Report)) {
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut reader).take(MAX_LINE).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let complete = line.last() == Some(&b'\n');
        if complete {
            line.pop();
        }
        let (output, report) = child_wire::split_line(&line);
        if !output.is_empty() || (complete && report.is_none()) {
            let mut out = io::stdout().lock();
            let _ = out.write_all(output);
            if complete && report.is_none() {
                let _ = out.write_all(b"\n");
            }
            let _ = out.flush();
        }
        if let Some(report) = report {
            reports(report);
        }
    }
}

fn wait_for_exit(child: &Mutex<Child>) -> io::Result<ExitStatus> {
    loop {
        let polled = child
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .try_wait();
        match polled {
            Ok(Some(exit)) => return Ok(exit),
            Ok(None) => std::thread::sleep(EXIT_POLL),
            Err(err) => return Err(err),
        }
    }
}

/// Turns the child's exit and what its output said into the attempt's end
/// and reports it: `Closed` with the worse of the reported status and the
/// exit code's when the close line came, `Unclosed` (`Critical`) when not.
fn report_exit(
    exit: io::Result<ExitStatus>,
    drain: Drain,
    agent: usize,
    attempt: u32,
    inbox: &Sender<Message>,
) {
    let (status, ending, cause) = judge(exit, drain);
    if let Some(cause) = cause {
        let _ = inbox.send(Message::Event {
            agent,
            attempt,
            kind: EventKind::Failed(cause),
        });
    }
    let _ = inbox.send(Message::Done {
        agent,
        attempt,
        status,
        ending,
        returned: None,
    });
}

/// The status and ending of a child's attempt, and the cause to report
/// when something went wrong.
fn judge(
    exit: io::Result<ExitStatus>,
    drain: Drain,
) -> (TerminationStatus, Ending, Option<String>) {
    let exit = match exit {
        Ok(exit) => exit,
        Err(err) => {
            let cause = Some(format!("lost track of the child process: {err}"));
            return match drain {
                Drain::Closed(_) => (TerminationStatus::Critical, Ending::Closed, cause),
                Drain::Ended | Drain::Open => (
                    TerminationStatus::Critical,
                    Ending::Unclosed { code: None },
                    cause,
                ),
            };
        }
    };
    let code = exit.code();
    let by_code = code.and_then(TerminationStatus::from_exit_code);
    match drain {
        Drain::Closed(reported) => match by_code {
            Some(status) if status <= reported => (reported, Ending::Closed, None),
            Some(status) => (
                status,
                Ending::Closed,
                Some(format!(
                    "child process closed with status {reported} but exited with {status}"
                )),
            ),
            None => (
                TerminationStatus::Critical,
                Ending::Closed,
                Some(format!("child process {} after closing", ended(exit))),
            ),
        },
        Drain::Ended | Drain::Open => {
            let mut cause = match code {
                Some(code) => format!(
                    "child process exited with code {code} without closing \
                     (std::process::exit in a hook?)"
                ),
                None => format!("child process {}", ended(exit)),
            };
            if drain == Drain::Open {
                cause.push_str(&format!(
                    "; its output was still open {DRAIN_TIMEOUT:?} after it ended"
                ));
            }
            (
                TerminationStatus::Critical,
                Ending::Unclosed { code },
                Some(cause),
            )
        }
    }
}

/// How a process ended, for a cause: `exited with code 3`, `crashed
/// (signal 6)`.
fn ended(exit: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = exit.signal() {
            return format!("crashed (signal {signal})");
        }
    }
    match exit.code() {
        Some(code) => format!("exited with code {code}"),
        None => format!("crashed ({exit})"),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::process::ExitStatusExt;
    use std::sync::Mutex;

    use super::*;

    fn exited(code: i32) -> io::Result<ExitStatus> {
        Ok(ExitStatus::from_raw(code << 8))
    }

    fn signalled(signal: i32) -> io::Result<ExitStatus> {
        Ok(ExitStatus::from_raw(signal))
    }

    #[test]
    fn a_closed_child_ends_with_its_reported_status() {
        let closed = Drain::Closed(TerminationStatus::Error);
        assert_eq!(
            judge(exited(11), closed),
            (TerminationStatus::Error, Ending::Closed, None)
        );
        let (status, ending, cause) = judge(exited(12), Drain::Closed(TerminationStatus::Success));
        assert_eq!(
            (status, ending),
            (TerminationStatus::Critical, Ending::Closed)
        );
        assert_eq!(
            cause.as_deref(),
            Some("child process closed with status SUCCESS but exited with CRITICAL"),
            "the worse of the two"
        );
    }

    #[test]
    fn a_crash_after_the_close_is_critical_but_closed() {
        let (status, ending, cause) =
            judge(signalled(11), Drain::Closed(TerminationStatus::Success));
        assert_eq!(
            (status, ending),
            (TerminationStatus::Critical, Ending::Closed)
        );
        assert_eq!(
            cause.as_deref(),
            Some("child process crashed (signal 11) after closing")
        );
    }

    #[test]
    fn an_exit_without_the_close_line_is_unclosed_whatever_its_code() {
        let (status, ending, cause) = judge(exited(0), Drain::Ended);
        assert_eq!(status, TerminationStatus::Critical);
        assert_eq!(ending, Ending::Unclosed { code: Some(0) });
        assert_eq!(
            cause.as_deref(),
            Some(
                "child process exited with code 0 without closing (std::process::exit in a hook?)"
            )
        );
        let (_, ending, cause) = judge(signalled(6), Drain::Ended);
        assert_eq!(ending, Ending::Unclosed { code: None });
        assert_eq!(cause.as_deref(), Some("child process crashed (signal 6)"));
        let (_, _, cause) = judge(exited(0), Drain::Open);
        assert!(cause.is_some_and(|c| c.ends_with("its output was still open 1s after it ended")),);
        let lost = judge(Err(io::Error::other("gone")), Drain::Ended);
        assert_eq!(lost.1, Ending::Unclosed { code: None });
    }

    #[test]
    fn the_reader_passes_on_events_then_the_close() {
        let mut output = child_wire::encode(&EventKind::Ready).unwrap();
        output.extend(child_wire::encode_closed(TerminationStatus::Warning));
        let reports = Mutex::new(Vec::new());
        read_output(&output[..], |report| reports.lock().unwrap().push(report));
        assert_eq!(
            reports.into_inner().unwrap(),
            [
                Report::Event(EventKind::Ready),
                Report::Closed(TerminationStatus::Warning)
            ]
        );
    }

    #[test]
    fn the_waiter_tells_an_ended_output_from_a_close() {
        let (closes, closed) = mpsc::channel();
        closes.send(TerminationStatus::Success).unwrap();
        drop(closes);
        assert_eq!(drain(&closed), Drain::Closed(TerminationStatus::Success));
        assert_eq!(drain(&closed), Drain::Ended);
    }
}
