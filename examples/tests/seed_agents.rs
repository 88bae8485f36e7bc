//! The ported seed agents run as their users run them: the example program
//! itself, with its two child-process agents, over a real socket.

use std::path::PathBuf;

use reqrep_tests::process::{Finished, command, run};
use reqrep_tests::temp::TempFile;

/// The `seed_agents` example program, built by `cargo test` next to this
/// test's own executable (`target/<profile>/examples/`).
fn seed_agents() -> PathBuf {
    let me = std::env::current_exe().expect("the test's path");
    let profile_dir = me
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps/<test>");
    let program = profile_dir
        .join("examples")
        .join(format!("seed_agents{}", std::env::consts::EXE_SUFFIX));
    assert!(
        program.exists(),
        "{} is missing: cargo test builds the examples",
        program.display()
    );
    program
}

fn run_seed(endpoint: &str) -> Finished {
    let mut cmd = command(seed_agents());
    cmd.env("REQREP_EXAMPLE_ENDPOINT", endpoint);
    run(cmd, b"")
}

#[test]
fn the_requester_gets_ten_replies_and_both_agents_end_well() {
    let socket = TempFile::path("seed.sock");
    let finished = run_seed(&format!("ipc://{}", socket.as_str()));
    assert_eq!(finished.code, Some(0), "{}", finished.describe());
    let replies = finished.stderr.matches("received reply").count();
    assert_eq!(replies, 10, "{}", finished.describe());
    assert!(
        finished.stderr.contains("received message") && finished.stderr.contains("END"),
        "{}",
        finished.describe()
    );
}

#[test]
fn an_agent_that_fails_makes_the_program_exit_non_zero() {
    // Someone else holds the endpoint: the replier cannot bind.
    let context = zmq::Context::new();
    let squatter = context.socket(zmq::REP).expect("socket");
    squatter.bind("tcp://127.0.0.1:*").expect("bind");
    let taken = squatter
        .get_last_endpoint()
        .expect("endpoint")
        .expect("utf-8 endpoint");
    let finished = run_seed(&taken);
    assert_eq!(finished.code, Some(1), "{}", finished.describe());
    assert!(
        finished.stderr.contains("an agent failed"),
        "{}",
        finished.describe()
    );
}
