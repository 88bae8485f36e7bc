//! The orchestrator's side of a child-process agent: spawning the current
//! program for one agent, reading its events, stopping and killing it.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::attempt::{Launch, Message};
use super::child_wire::{self, ATTEMPT_ENV, CHILD_ENV, PARENT_ENV, STOP_LINE};
use super::event::Ending;
use super::{EventKind, TerminationStatus};

/// How often the waiter looks whether the child has exited.
const EXIT_POLL: Duration = Duration::from_millis(10);
/// How long the waiter lets the reader drain the child's output after exit.
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

/// Starts the reader (stdout → events and forwarded output) and the waiter
/// (exit → `Done`) threads.
fn watch(launch: &Launch, stdout: Option<ChildStdout>, child: Arc<Mutex<Child>>) -> io::Result<()> {
    let (drained, drained_rx) = mpsc::channel::<()>();
    if let Some(stdout) = stdout {
        let events = launch.sink();
        std::thread::Builder::new()
            .name(format!("agent-{}-out", launch.name))
            .spawn(move || {
                read_output(stdout, |kind| events(kind));
                drop(drained);
            })?;
    }
    let (agent, attempt, inbox) = (launch.agent, launch.attempt, launch.inbox.clone());
    std::thread::Builder::new()
        .name(format!("agent-{}-wait", launch.name))
        .spawn(move || {
            let exit = wait_for_exit(&child);
            // Let the reader pass on the last events before the end.
            let _ = drained_rx.recv_timeout(DRAIN_TIMEOUT);
            report_exit(exit, agent, attempt, &inbox);
        })?;
    Ok(())
}

/// Forwards the child's output to ours and its event lines to `events`.
fn read_output(stdout: ChildStdout, events: impl Fn(EventKind)) {
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
        let (output, event) = child_wire::split_line(&line);
        if !output.is_empty() || (complete && event.is_none()) {
            let mut out = io::stdout().lock();
            let _ = out.write_all(output);
            if complete && event.is_none() {
                let _ = out.write_all(b"\n");
            }
            let _ = out.flush();
        }
        if let Some(kind) = event {
            events(kind);
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

/// Turns the child's exit into its status and reports it.
fn report_exit(exit: io::Result<ExitStatus>, agent: usize, attempt: u32, inbox: &Sender<Message>) {
    let (status, ending, cause) = match exit {
        Ok(exit) => match exit.code().and_then(TerminationStatus::from_exit_code) {
            Some(status) => (status, Ending::Closed, None),
            None => (
                TerminationStatus::Critical,
                Ending::Unclosed { code: exit.code() },
                Some(format!("child process crashed ({exit})")),
            ),
        },
        Err(err) => (
            TerminationStatus::Critical,
            Ending::Unclosed { code: None },
            Some(format!("lost track of the child process: {err}")),
        ),
    };
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
