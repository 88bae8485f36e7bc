//! Child processes for tests: workspace binaries started isolated from the
//! environment running the tests, either run to completion with a time
//! bound ([`run`]) or kept running ([`Proc`]: killed on drop, output
//! readable line by line with a timeout).

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::wait::{recv_matching, within};

/// The longest a process run with [`run`] may take.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// A command for `program` (typically a `CARGO_BIN_EXE_*` path) that does
/// not inherit `REQREP_*` settings from the environment running the tests,
/// and logs at `info`.
pub fn command(program: impl AsRef<OsStr>) -> Command {
    let mut command = Command::new(program);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("REQREP_") {
            command.env_remove(key);
        }
    }
    command.env("RUST_LOG", "info");
    command
}

/// A process that has finished: its exit code and output.
#[derive(Debug)]
pub struct Finished {
    /// The exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Everything it wrote to stdout.
    pub stdout: Vec<u8>,
    /// Everything it wrote to stderr, as text.
    pub stderr: String,
}

impl Finished {
    /// Stdout as text.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Exit code and both outputs, for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "exit code {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code,
            self.stdout_text(),
            self.stderr
        )
    }
}

/// Runs `command` to completion with `stdin` as its input.
///
/// # Panics
/// When it cannot start, or does not finish within [`RUN_TIMEOUT`] (it is
/// killed then).
pub fn run(mut command: Command, stdin: &[u8]) -> Finished {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("start the process");
    let pid = child.id();
    let mut input = child.stdin.take().expect("stdin");
    let stdin = stdin.to_vec();
    std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let output: std::io::Result<Output> = within(RUN_TIMEOUT, move || child.wait_with_output())
        .unwrap_or_else(|| {
            let _ = kill(pid, "KILL");
            panic!("the process did not finish within {RUN_TIMEOUT:?}")
        });
    let output = output.expect("wait for the process");
    Finished {
        code: output.status.code(),
        stdout: output.stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Sends `signal` ("TERM", "KILL", ...) to `pid` with `kill(1)`; whether
/// `kill` succeeded.
fn kill(pid: u32, signal: &str) -> bool {
    Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A child process whose stdout and stderr lines arrive on a channel;
/// killed on drop (its output is printed then when the test is failing).
pub struct Proc {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Proc {
    /// Spawns `command` with piped output.
    ///
    /// # Panics
    /// When the program cannot be started.
    pub fn spawn(mut command: Command) -> Self {
        command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        let mut child = command.spawn().expect("spawn child process");
        let (tx, lines) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        if let Some(err) = child.stderr.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for an output line containing `needle` and returns it.
    ///
    /// # Panics
    /// When none arrives within `timeout` (the lines seen are printed).
    pub fn wait_for_line(&mut self, needle: &str, timeout: Duration) -> String {
        let seen = &mut self.seen;
        recv_matching(&self.lines, timeout, |line| {
            seen.push(line.clone());
            line.contains(needle)
        })
        .unwrap_or_else(|| {
            panic!(
                "no line containing {needle:?} within {timeout:?}; output so far:\n{}",
                self.seen.join("\n")
            )
        })
    }

    /// Sends `signal` ("TERM", "KILL", ...) with `kill(1)`.
    ///
    /// # Panics
    /// When `kill` fails.
    pub fn signal(&self, signal: &str) {
        assert!(kill(self.child.id(), signal), "kill -{signal} failed");
    }

    /// Sends SIGTERM and returns the exit code.
    ///
    /// # Panics
    /// When the process does not exit within `timeout` (the output so far
    /// is printed).
    pub fn terminate(&mut self, timeout: Duration) -> Option<i32> {
        self.signal("TERM");
        self.wait_exit(timeout)
    }

    /// Waits for the process to exit and returns its exit code.
    ///
    /// The exit is seen without polling: both output pipes close when the
    /// process ends, which disconnects the line channel; the process is
    /// then reaped.
    ///
    /// # Panics
    /// When its output does not end within `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let until = Instant::now() + timeout;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!(
                    "process did not exit within {timeout:?}; output so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
        self.child.wait().expect("wait for child").code()
    }

    /// Everything printed so far (including lines not yet consumed).
    pub fn output(&mut self) -> String {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        self.seen.join("\n")
    }
}

impl Drop for Proc {
    /// Kills the process; when the test is failing, prints what it wrote.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- output of process {} ---\n{}",
                self.child.id(),
                self.output()
            );
        }
    }
}
