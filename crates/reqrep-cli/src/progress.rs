//! The progress bar of `reqrep demo` and `reqrep bench`: drawn on stderr when stdout and stderr are
//! terminals, hidden otherwise (output piped to a file or another program
//! gets no animation, only the summary).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::table::thousands;

/// How the bar is drawn: spinner, elapsed time, bar, count, rate (see
/// [`rate`]), ETA.
const TEMPLATE: &str = "{spinner:.green} [{elapsed_precise}] {wide_bar:.cyan/blue} {human_pos}/{human_len} \
     {rate} eta {eta}";
/// Redraws per second at most.
const REFRESH_HZ: u8 = 10;

/// How the bar is drawn when the total is not known (a `--duration` run).
const OPEN_TEMPLATE: &str = "{spinner:.green} [{elapsed_precise}] {human_pos} requests {rate}";

/// A progress bar counting to `len` requests, visible only on a terminal.
pub fn requests_bar(len: u64) -> ProgressBar {
    bar(Some(len))
}

/// A progress bar counting requests without a known total.
pub fn open_bar() -> ProgressBar {
    bar(None)
}

fn bar(len: Option<u64>) -> ProgressBar {
    let visible = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
    let target = if visible {
        ProgressDrawTarget::stderr_with_hz(REFRESH_HZ)
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(len, target);
    let template = if len.is_some() {
        TEMPLATE
    } else {
        OPEN_TEMPLATE
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.with_key("rate", rate).progress_chars("=> "));
    }
    if visible {
        bar.enable_steady_tick(Duration::from_millis(100));
    }
    bar
}

/// The `{rate}` template key: whole requests per second, digits grouped.
fn rate(state: &ProgressState, w: &mut dyn std::fmt::Write) {
    let per_sec = state.per_sec();
    let per_sec = if per_sec.is_finite() {
        per_sec.round() as u64
    } else {
        0
    };
    let _ = write!(w, "{} req/s", thousands(per_sec));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_is_valid() {
        assert!(ProgressStyle::with_template(TEMPLATE).is_ok());
        assert!(ProgressStyle::with_template(OPEN_TEMPLATE).is_ok());
    }

    #[test]
    fn a_bar_counts_whether_drawn_or_not() {
        let bar = requests_bar(10);
        bar.inc(4);
        assert_eq!(bar.position(), 4);
        assert_eq!(bar.length(), Some(10));
        bar.finish_and_clear();
    }
}
