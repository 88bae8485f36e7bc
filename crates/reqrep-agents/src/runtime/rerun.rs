//! Debug builds only: noticing, in a child-process agent, that the program
//! did work before `Orchestrator::run` that ran again in this child.
//!
//! Process mode re-executes the whole program, so everything `main` does
//! before `run` happens once more in every child unless it is guarded by
//! `Orchestrator::child_agent()`. Such work usually leaves traces a child
//! can see when its `run` begins: threads already running (a runtime, a
//! broker, a server) and open network sockets. A child that finds them says
//! so once, as a `Warning` event and a log line; its status is not changed.

/// What a child process finds when its `run` begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Traces {
    /// Threads of this process other than the one calling `run`.
    pub(crate) other_threads: usize,
    /// Open sockets (network or local).
    pub(crate) sockets: usize,
}

impl Traces {
    /// Looks at this process (Linux `/proc/self`; elsewhere nothing is seen).
    pub(crate) fn observe() -> Self {
        Self {
            other_threads: count_entries("/proc/self/task", |_| true).saturating_sub(1),
            sockets: count_entries("/proc/self/fd", |entry| {
                std::fs::read_link(entry.path())
                    .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"))
            }),
        }
    }
}

fn count_entries(dir: &str, keep: impl Fn(&std::fs::DirEntry) -> bool) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries.filter_map(Result::ok).filter(|e| keep(e)).count()
    })
}

/// The warning for child `agent` that found `traces`, if they show work
/// that ran again.
pub(crate) fn warning(agent: &str, traces: Traces) -> Option<String> {
    let mut seen = Vec::new();
    if traces.other_threads > 0 {
        seen.push(format!(
            "{} thread(s) already running",
            traces.other_threads
        ));
    }
    if traces.sockets > 0 {
        seen.push(format!("{} socket(s) already open", traces.sockets));
    }
    if seen.is_empty() {
        return None;
    }
    Some(format!(
        "child process of agent {agent}: {} when Orchestrator::run began: code before run() \
         ran again in this child; guard work only the orchestrating process needs with \
         `if Orchestrator::child_agent().is_none() {{ .. }}` (debug builds only)",
        seen.join(" and ")
    ))
}

/// In debug builds, the warning for this child process, if any.
pub(crate) fn check(agent: &str) -> Option<String> {
    if !cfg!(debug_assertions) {
        return None;
    }
    let warning = warning(agent, Traces::observe())?;
    tracing::warn!(agent, "{warning}");
    Some(warning)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clean_child_gets_no_warning() {
        assert_eq!(warning("worker", Traces::default()), None);
    }

    #[test]
    fn threads_and_sockets_are_named_with_the_fix() {
        let traces = Traces {
            other_threads: 2,
            sockets: 1,
        };
        let text = warning("worker", traces).expect("a warning");
        assert!(text.contains("agent worker"), "{text}");
        assert!(text.contains("2 thread(s) already running"), "{text}");
        assert!(text.contains("1 socket(s) already open"), "{text}");
        assert!(text.contains("Orchestrator::child_agent()"), "{text}");
        let threads_only = Traces {
            other_threads: 1,
            sockets: 0,
        };
        assert!(!warning("w", threads_only).unwrap().contains("socket"));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn observe_sees_a_thread_and_a_socket_of_this_process() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let parked = std::thread::spawn(move || {
            let _ = rx.recv();
        });
        let traces = Traces::observe();
        // The test harness runs other threads too: at least ours is there.
        assert!(traces.other_threads >= 1, "{traces:?}");
        assert!(traces.sockets >= 1, "{traces:?}");
        drop(tx);
        parked.join().expect("thread");
        drop(listener);
    }
}
