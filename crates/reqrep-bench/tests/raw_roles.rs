//! The raw roles of the deployed shape as real processes: a raw broker, a
//! raw worker and a raw client, over loopback TCP on ephemeral ports.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_reqrep-bench");
const BOUND: Duration = Duration::from_secs(20);

/// Kills the child on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_raw_client_gets_every_reply_through_raw_broker_and_worker_processes() {
    let mut broker = Killed(
        Command::new(BIN)
            .args(["raw-broker", "--workers", "1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = broker.0.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let next = || {
        lines
            .recv_timeout(BOUND)
            .expect("a line from the raw broker")
    };
    let frontend = next().strip_prefix("frontend ").unwrap().to_owned();
    let backend = next().strip_prefix("backend ").unwrap().to_owned();
    assert!(frontend.starts_with("tcp://127.0.0.1:"), "{frontend}");

    let _worker = Killed(
        Command::new(BIN)
            .args(["raw-worker", "--connect", &backend, "--credits", "4"])
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert_eq!(next(), "registered");

    let dir = std::env::temp_dir().join(format!("reqrep-bench-roles-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("client.json");
    let status = Command::new(BIN)
        .args(["raw-client", "--connect", &frontend, "--requests", "500"])
        .args([
            "--in-flight",
            "8",
            "--payload-bytes",
            "64",
            "--timeout-ms",
            "10000",
        ])
        .arg("--json")
        .arg(&json)
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "{status}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(summary["requests"], 500);
    assert_eq!(summary["ok"], 500);
    assert!(summary["errors"].as_object().unwrap().is_empty());
    assert!(summary["latency_us"]["p50"].as_f64().unwrap() > 0.0);
}
