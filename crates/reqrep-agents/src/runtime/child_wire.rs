//! What a child-process agent and its orchestrator say to each other.
//!
//! - Parent to child: the child's stdin. A line `stop`, or the end of the
//!   stream (the orchestrator closed it, or died), stops the agent.
//! - Child to parent: event lines on the child's stdout, each starting with
//!   [`MARKER`] (`U+001E` then `reqrep-agent:`); the orchestrator parses
//!   them and forwards every other byte to its own stdout. The last one,
//!   `closed <STATUS>`, says that the lifecycle ran to its end (`on_close`
//!   and the plugins' `finalize` ran) with that status; a child that exits
//!   without it did not close.
//! - The exit code carries the final status too (see
//!   [`TerminationStatus::exit_code`](super::TerminationStatus::exit_code)).

use super::{EventKind, TerminationStatus};

/// Names the agent a child process runs; set by the orchestrator.
pub(crate) const CHILD_ENV: &str = "REQREP_AGENT_CHILD";
/// The attempt number of the child (1, then +1 per restart).
pub(crate) const ATTEMPT_ENV: &str = "REQREP_AGENT_ATTEMPT";
/// The orchestrator's process id: a process whose parent is someone else
/// (a program the child agent started, which inherited the environment) is
/// not a child agent.
pub(crate) const PARENT_ENV: &str = "REQREP_AGENT_PARENT";
/// Starts an event line on the child's stdout.
pub(crate) const MARKER: &[u8] = b"\x1ereqrep-agent:";
/// Asks the child to stop, on its stdin.
pub(crate) const STOP_LINE: &[u8] = b"stop\n";

/// What one event line of a child reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Report {
    /// An event of the agent, to forward to the orchestrator.
    Event(EventKind),
    /// The lifecycle ended with this status: the child closed.
    Closed(TerminationStatus),
}

/// The event line (newline included) for `kind`; `None` for kinds only the
/// orchestrator produces.
pub(crate) fn encode(kind: &EventKind) -> Option<Vec<u8>> {
    let body = match kind {
        EventKind::Ready => "ready".to_owned(),
        EventKind::Heartbeat => "heartbeat".to_owned(),
        EventKind::Warning(message) => format!("warning {}", escape(message)),
        EventKind::Failed(cause) => format!("failed {}", escape(cause)),
        _ => return None,
    };
    Some(line(&body))
}

/// The close line (newline included): the lifecycle ended with `status`.
pub(crate) fn encode_closed(status: TerminationStatus) -> Vec<u8> {
    line(&format!("closed {status}"))
}

fn line(body: &str) -> Vec<u8> {
    let mut line = MARKER.to_vec();
    line.extend_from_slice(body.as_bytes());
    line.push(b'\n');
    line
}

/// Splits one stdout line (without its newline) into the output to forward
/// and the report it carries, if any. A report whose marker does not start
/// the line (the agent printed without a newline) still counts; the text
/// before it is forwarded.
pub(crate) fn split_line(line: &[u8]) -> (&[u8], Option<Report>) {
    match find(line, MARKER) {
        Some(at) => (&line[..at], decode(&line[at + MARKER.len()..])),
        None => (line, None),
    }
}

fn decode(body: &[u8]) -> Option<Report> {
    let body = String::from_utf8_lossy(body);
    let body = body.trim_end_matches('\r');
    let (word, rest) = body.split_once(' ').unwrap_or((body, ""));
    let event = match word {
        "ready" => EventKind::Ready,
        "heartbeat" => EventKind::Heartbeat,
        "warning" => EventKind::Warning(unescape(rest)),
        "failed" => EventKind::Failed(unescape(rest)),
        "closed" => return parse_status(rest).map(Report::Closed),
        _ => return None,
    };
    Some(Report::Event(event))
}

/// The status whose display is `text`.
fn parse_status(text: &str) -> Option<TerminationStatus> {
    [
        TerminationStatus::Success,
        TerminationStatus::Warning,
        TerminationStatus::Error,
        TerminationStatus::Critical,
    ]
    .into_iter()
    .find(|status| status.to_string() == text)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(kind: EventKind) -> Option<EventKind> {
        let line = encode(&kind)?;
        match split_line(&line[..line.len() - 1]) {
            (b"", Some(Report::Event(event))) => Some(event),
            other => panic!("not an event line: {other:?}"),
        }
    }

    #[test]
    fn events_round_trip() {
        for kind in [
            EventKind::Ready,
            EventKind::Heartbeat,
            EventKind::Warning("cycle 2: timeout".into()),
            EventKind::Failed("execute panicked: bad\nline \\ two\r".into()),
        ] {
            assert_eq!(round_trip(kind.clone()), Some(kind));
        }
    }

    #[test]
    fn orchestrator_events_are_not_sent_by_children() {
        assert_eq!(encode(&EventKind::StopRequested), None);
        assert_eq!(encode(&EventKind::Started { attempt: 1 }), None);
    }

    #[test]
    fn ordinary_output_passes_through() {
        assert_eq!(split_line(b"hello"), (&b"hello"[..], None));
        let mut line = b"partial".to_vec();
        line.extend_from_slice(MARKER);
        line.extend_from_slice(b"ready");
        assert_eq!(
            split_line(&line),
            (&b"partial"[..], Some(Report::Event(EventKind::Ready)))
        );
        let mut unknown = MARKER.to_vec();
        unknown.extend_from_slice(b"dance");
        assert_eq!(split_line(&unknown).1, None);
    }

    #[test]
    fn the_close_line_carries_the_status() {
        for status in [
            TerminationStatus::Success,
            TerminationStatus::Warning,
            TerminationStatus::Error,
            TerminationStatus::Critical,
        ] {
            let line = encode_closed(status);
            assert_eq!(
                split_line(&line[..line.len() - 1]),
                (&b""[..], Some(Report::Closed(status)))
            );
        }
        let mut bogus = MARKER.to_vec();
        bogus.extend_from_slice(b"closed FINE");
        assert_eq!(split_line(&bogus).1, None, "an unknown status is no close");
    }
}
