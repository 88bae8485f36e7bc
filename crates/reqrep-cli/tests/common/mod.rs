//! Helpers shared by the `reqrep` binary tests: running the binary with a
//! time bound, worker processes stopped on drop, an in-process broker on
//! ephemeral ports, and waiting for workers through discovery.

#![allow(dead_code)] // each test file uses a subset

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqrep_broker::{Broker, BrokerConfig, BrokerThread};

/// The longest a single `reqrep` invocation in a test may take.
pub(crate) const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest a worker may take to register or to stop.
pub(crate) const WAIT: Duration = Duration::from_secs(15);

/// `reqrep` with `args`, isolated from `REQREP_*` and `RUST_LOG` settings of
/// the environment running the tests.
pub(crate) fn reqrep(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_reqrep"));
    for (key, _) in std::env::vars() {
        if key.starts_with("REQREP_") {
            command.env_remove(key);
        }
    }
    command.env("RUST_LOG", "info").args(args);
    command
}

/// The finished process: exit code and output as text.
pub(crate) struct Finished {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: String,
}

impl Finished {
    pub(crate) fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Everything, for assertion messages.
    pub(crate) fn describe(&self) -> String {
        format!(
            "exit code {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code,
            self.stdout_text(),
            self.stderr
        )
    }
}

/// Runs `command` to completion with `stdin` as its input and returns its
/// output.
///
/// # Panics
/// When it does not finish within [`RUN_TIMEOUT`] (it is killed then).
pub(crate) fn run(mut command: Command, stdin: &[u8]) -> Finished {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("start reqrep");
    let pid = child.id();
    let mut input = child.stdin.take().expect("stdin");
    let stdin = stdin.to_vec();
    std::thread::spawn(move || {
        use std::io::Write;
        let _ = input.write_all(&stdin);
    });
    let (tx, rx) = mpsc::channel::<std::io::Result<Output>>();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let Ok(output) = rx.recv_timeout(RUN_TIMEOUT) else {
        kill(pid, "KILL");
        panic!("reqrep did not finish within {RUN_TIMEOUT:?}");
    };
    let output = output.expect("wait for reqrep");
    Finished {
        code: output.status.code(),
        stdout: output.stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Sends `signal` ("TERM", "KILL") to `pid` with `kill(1)`.
pub(crate) fn kill(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// A `reqrep` process running in the background (a worker): SIGTERM and a
/// bounded wait on drop, SIGKILL if that is not enough.
pub(crate) struct Background {
    pid: u32,
    exited: Receiver<ExitStatus>,
    status: Option<ExitStatus>,
    stderr: Arc<Mutex<String>>,
}

impl Background {
    pub(crate) fn spawn(mut command: Command) -> Self {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child: Child = command.spawn().expect("start reqrep");
        let pid = child.id();
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("stderr");
        let collected = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                collected.lock().expect("stderr lock").push_str(&text);
            }
        });
        let (tx, exited) = mpsc::channel();
        std::thread::spawn(move || {
            if let Ok(status) = child.wait() {
                let _ = tx.send(status);
            }
        });
        Self {
            pid,
            exited,
            status: None,
            stderr,
        }
    }

    /// What the process wrote to stderr so far.
    pub(crate) fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr lock").clone()
    }

    /// Sends SIGTERM and returns the exit code.
    ///
    /// # Panics
    /// When the process does not exit within [`WAIT`].
    pub(crate) fn terminate(&mut self) -> Option<i32> {
        if self.status.is_none() {
            kill(self.pid, "TERM");
            match self.exited.recv_timeout(WAIT) {
                Ok(status) => self.status = Some(status),
                Err(_) => {
                    kill(self.pid, "KILL");
                    panic!(
                        "process did not exit within {WAIT:?} of SIGTERM; stderr:\n{}",
                        self.stderr()
                    );
                }
            }
        }
        self.status.and_then(|s| s.code())
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if self.status.is_none() {
            kill(self.pid, "TERM");
            if self.exited.recv_timeout(WAIT).is_err() {
                kill(self.pid, "KILL");
            }
        }
    }
}

/// A broker on its own thread, bound to ephemeral loopback ports, metrics off.
pub(crate) fn broker() -> BrokerThread {
    let config = BrokerConfig {
        frontend: vec!["tcp://127.0.0.1:*".into()],
        backend: vec!["tcp://127.0.0.1:*".into()],
        metrics_addr: None,
        ..BrokerConfig::default()
    };
    Broker::bind(config)
        .expect("bind broker")
        .spawn()
        .expect("spawn broker")
}

/// `reqrep worker` for `service` on `broker`'s backend, running until dropped.
pub(crate) fn worker(broker: &BrokerThread, service: &str, credits: u32) -> Background {
    let credits = credits.to_string();
    Background::spawn(reqrep(&[
        "worker",
        "--broker",
        broker.backend(),
        "--service",
        service,
        "--credits",
        &credits,
    ]))
}

/// Waits, by asking the broker's discovery service (never by sleeping
/// blindly), until `service` has `workers` workers.
///
/// # Panics
/// When that does not happen within [`WAIT`].
pub(crate) fn wait_for_workers(
    broker: &BrokerThread,
    service: &str,
    workers: u32,
    log: &Background,
) {
    let until = Instant::now() + WAIT;
    loop {
        let got = reqrep_agents::services(broker.frontend(), Duration::from_secs(2))
            .expect("discovery answers")
            .services
            .into_iter()
            .find(|s| s.name == service)
            .map_or(0, |s| s.workers);
        if got == workers {
            return;
        }
        assert!(
            Instant::now() < until,
            "{service}: {got} workers after {WAIT:?}, wanted {workers}; worker stderr:\n{}",
            log.stderr()
        );
        std::thread::yield_now();
    }
}
