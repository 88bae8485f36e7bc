//! [`SignalStop`]: SIGINT and SIGTERM sent to this process stop the token,
//! and the installing thread's signal mask is restored on drop.
//!
//! One test, so that no other test's listener sees the signals sent here.

use std::time::Duration;

use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, pthread_sigmask};
use nix::unistd::Pid;
use reqrep_broker::signal::SignalStop;
use reqrep_core::StopToken;

/// Far longer than delivering a signal takes: reaching it fails the test.
const LIMIT: Duration = Duration::from_secs(30);

fn blocked_here() -> SigSet {
    let mut mask = SigSet::empty();
    pthread_sigmask(SigmaskHow::SIG_BLOCK, None, Some(&mut mask)).expect("read the signal mask");
    mask
}

#[test]
fn sigint_and_sigterm_stop_the_token_and_the_mask_is_restored() {
    let me = Pid::from_raw(i32::try_from(std::process::id()).unwrap());
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        assert!(!blocked_here().contains(signal));
        let stop = StopToken::new();
        let listener = SignalStop::install(stop.clone()).unwrap();
        assert!(blocked_here().contains(Signal::SIGINT));
        assert!(blocked_here().contains(Signal::SIGTERM));
        assert!(!stop.is_stopped());

        kill(me, signal).unwrap();
        assert!(stop.wait_timeout(LIMIT), "{signal} stopped the token");

        drop(listener);
        assert!(!blocked_here().contains(Signal::SIGINT), "mask restored");
        assert!(!blocked_here().contains(Signal::SIGTERM), "mask restored");
    }
}
