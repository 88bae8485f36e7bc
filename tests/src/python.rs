//! Python peers for interop tests: whether `python3` with pyzmq is here.

use std::process::{Command, Stdio};

/// Whether a Python with pyzmq is here. CI installs it and sets
/// `REQREP_REQUIRE_PYZMQ=1`, which turns its absence into a failure; a
/// developer machine without it skips the interop tests with a notice.
///
/// # Panics
/// When `REQREP_REQUIRE_PYZMQ` is set and pyzmq cannot be imported.
pub fn pyzmq_available() -> bool {
    let found = Command::new("python3")
        .args(["-c", "import zmq"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("REQREP_REQUIRE_PYZMQ").is_none(),
            "REQREP_REQUIRE_PYZMQ is set but python3 cannot import zmq"
        );
        eprintln!("skipping pyzmq interop: python3 with pyzmq not found (pip install pyzmq)");
    }
    found
}
