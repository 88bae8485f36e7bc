//! Child processes of a run (a server, a broker, workers, a client): killed
//! and reaped on drop, the watched output stream read to the end on a thread
//! of its own (so a child never blocks on a full pipe), and CPU time
//! readable while they run and, for a client, once it has been reaped.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::BenchError;
use crate::usage;

/// How often [`Process::wait_within`] looks whether the child has exited.
const REAP_EVERY: Duration = Duration::from_millis(2);

/// Which output stream of a child is read line by line; the other one (or
/// both, with [`Watch::Nothing`]) goes to this process's stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Watch {
    /// Its stdout (stderr is inherited).
    Stdout,
    /// Its stderr (stdout is discarded).
    Stderr,
    /// Neither: stdout discarded, stderr inherited.
    Nothing,
}

/// A running child process.
pub(crate) struct Process {
    name: String,
    child: Child,
    lines: Option<Receiver<String>>,
}

impl Process {
    /// Starts `command` (stdin closed) as `name`, reading the `watch`ed
    /// stream.
    ///
    /// # Errors
    /// [`BenchError::Process`] when it cannot start.
    pub(crate) fn spawn(
        name: &str,
        command: &mut Command,
        watch: Watch,
    ) -> Result<Self, BenchError> {
        command.stdin(Stdio::null());
        match watch {
            Watch::Stdout => command.stdout(Stdio::piped()).stderr(Stdio::inherit()),
            Watch::Stderr => command.stdout(Stdio::null()).stderr(Stdio::piped()),
            Watch::Nothing => command.stdout(Stdio::null()).stderr(Stdio::inherit()),
        };
        let mut child = command.spawn().map_err(|e| {
            BenchError::Process(format!(
                "start {name} ({}): {e}",
                command.get_program().to_string_lossy()
            ))
        })?;
        let stream: Option<Box<dyn Read + Send>> = match watch {
            Watch::Stdout => child.stdout.take().map(|s| Box::new(s) as _),
            Watch::Stderr => child.stderr.take().map(|s| Box::new(s) as _),
            Watch::Nothing => None,
        };
        let mut process = Self {
            name: name.to_owned(),
            child,
            lines: None,
        };
        if let Some(stream) = stream {
            let (tx, rx) = mpsc::channel();
            std::thread::Builder::new()
                .name(format!("{name} output"))
                .spawn(move || {
                    for line in BufReader::new(stream).lines().map_while(Result::ok) {
                        if tx.send(line).is_err() {
                            break;
                        }
                    }
                })
                .map_err(BenchError::thread)?;
            process.lines = Some(rx);
        }
        Ok(process)
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Reads watched lines until `pick` returns a value, for at most
    /// `bound`.
    ///
    /// # Errors
    /// [`BenchError::Process`] when the stream ends (the child exited) or
    /// nothing matched within `bound`, naming `what`.
    pub(crate) fn expect<T>(
        &self,
        what: &str,
        bound: Duration,
        mut pick: impl FnMut(&str) -> Option<T>,
    ) -> Result<T, BenchError> {
        let Some(lines) = &self.lines else {
            return Err(BenchError::Process(format!(
                "{}: output not watched",
                self.name
            )));
        };
        let until = Instant::now() + bound;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(value) = pick(&line) {
                        return Ok(value);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(BenchError::Process(format!(
                        "{}: no {what} within {} ms",
                        self.name,
                        bound.as_millis()
                    )));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(BenchError::Process(format!(
                        "{} exited before reporting {what}",
                        self.name
                    )));
                }
            }
        }
    }

    /// CPU time (user + system, every thread) so far.
    ///
    /// # Errors
    /// [`BenchError::Process`] when it has exited.
    pub(crate) fn cpu(&self) -> Result<Duration, BenchError> {
        usage::process_cpu_time(self.pid())
            .ok_or_else(|| BenchError::Process(format!("{} is gone", self.name)))
    }

    /// Fails when the process has exited.
    ///
    /// # Errors
    /// [`BenchError::Process`] with its exit status.
    pub(crate) fn check_running(&mut self) -> Result<(), BenchError> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(BenchError::Process(format!(
                "{} exited: {status}",
                self.name
            ))),
            Err(e) => Err(BenchError::Process(format!("{}: {e}", self.name))),
        }
    }

    /// Waits for the process to exit, for at most `bound` (then kills it).
    /// Returns its exit status and its CPU time (user + system, from
    /// `getrusage(RUSAGE_CHILDREN)` around the reaping: no other child may
    /// be reaped meanwhile).
    ///
    /// # Errors
    /// [`BenchError::Process`] when it runs past `bound`.
    pub(crate) fn wait_within(
        mut self,
        bound: Duration,
    ) -> Result<(ExitStatus, Duration), BenchError> {
        let before = usage::children_cpu_time();
        let until = Instant::now() + bound;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    return Ok((status, usage::children_cpu_time().saturating_sub(before)));
                }
                Ok(None) if Instant::now() < until => std::thread::sleep(REAP_EVERY),
                Ok(None) => {
                    return Err(BenchError::Process(format!(
                        "{} still running after {} s",
                        self.name,
                        bound.as_secs()
                    )));
                }
                Err(e) => return Err(BenchError::Process(format!("{}: {e}", self.name))),
            }
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watched_line_is_found_and_a_child_is_reaped_with_its_cpu() {
        let mut sh = Command::new("sh");
        sh.args(["-c", "echo starting; echo 'port 4242'; exec sleep 30"]);
        let mut server = Process::spawn("sh", &mut sh, Watch::Stdout).unwrap();
        let port = server
            .expect("a port", Duration::from_secs(10), |line| {
                line.strip_prefix("port ").map(str::to_owned)
            })
            .unwrap();
        assert_eq!(port, "4242");
        server.check_running().unwrap();
        assert!(server.cpu().is_ok());

        let mut busy = Command::new("sh");
        busy.args(["-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"]);
        let client = Process::spawn("busy", &mut busy, Watch::Nothing).unwrap();
        let (status, cpu) = client.wait_within(Duration::from_secs(30)).unwrap();
        assert!(status.success());
        assert!(cpu > Duration::ZERO, "a busy child used no CPU: {cpu:?}");
    }

    #[test]
    fn an_exit_before_the_line_is_an_error() {
        let mut sh = Command::new("sh");
        sh.args(["-c", "echo nothing useful"]);
        let process = Process::spawn("sh", &mut sh, Watch::Stdout).unwrap();
        let err = process
            .expect("a port", Duration::from_secs(10), |line| {
                line.strip_prefix("port ").map(str::to_owned)
            })
            .unwrap_err();
        assert!(
            err.to_string().contains("exited before reporting a port"),
            "{err}"
        );
    }
}
