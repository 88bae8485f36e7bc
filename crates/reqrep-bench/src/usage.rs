//! Process resource usage: CPU time (getrusage) and resident memory
//! (/proc/self/status).

use std::time::Duration;

use nix::sys::resource::{UsageWho, getrusage};
use nix::sys::time::TimeValLike;

/// User + system CPU time of the whole process (every thread) so far.
pub(crate) fn cpu_time() -> Duration {
    rusage_cpu(UsageWho::RUSAGE_SELF)
}

/// User + system CPU time of every child process reaped so far (and of
/// their reaped descendants).
pub(crate) fn children_cpu_time() -> Duration {
    rusage_cpu(UsageWho::RUSAGE_CHILDREN)
}

fn rusage_cpu(who: UsageWho) -> Duration {
    match getrusage(who) {
        Ok(usage) => {
            let micros =
                usage.user_time().num_microseconds() + usage.system_time().num_microseconds();
            Duration::from_micros(u64::try_from(micros).unwrap_or(0))
        }
        Err(_) => Duration::ZERO,
    }
}

/// User + system CPU time of another process (every thread) so far, from
/// `/proc/<pid>/stat`; `None` when it cannot be read.
pub(crate) fn process_cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let ticks = parse_stat_ticks(&stat)?;
    let per_second = u64::try_from(
        nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()?,
    )
    .ok()?;
    Some(Duration::from_micros(
        ticks.saturating_mul(1_000_000) / per_second.max(1),
    ))
}

/// utime + stime, in clock ticks, from the text of `/proc/<pid>/stat`
/// (fields 14 and 15; the command name in field 2 may hold spaces, so
/// fields are counted after its closing parenthesis).
pub(crate) fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The process's resident set size in bytes, when Linux reports it.
pub(crate) fn rss_bytes() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .as_deref()
        .and_then(parse_vm_rss)
}

/// `VmRSS:   12345 kB` from the text of `/proc/<pid>/status`, in bytes.
pub(crate) fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut fields = line.split_whitespace().skip(1);
    let kib: u64 = fields.next()?.parse().ok()?;
    match fields.next() {
        Some("kB") | None => Some(kib * 1024),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_in_bytes() {
        let status = "Name:\tx\nVmPeak:\t  9000 kB\nVmRSS:\t    1234 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss(status), Some(1234 * 1024));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
        assert_eq!(parse_vm_rss("VmRSS:\tlots kB\n"), None);
    }

    #[test]
    fn stat_ticks_are_user_plus_system() {
        let stat = "4242 (nats server) S 1 4242 4242 0 -1 4194560 512 0 0 0 70 30 0 0 20 0 9 0";
        assert_eq!(parse_stat_ticks(stat), Some(100));
        assert_eq!(parse_stat_ticks("4242 (x) S 1"), None);
        assert!(process_cpu_time(std::process::id()).is_some());
    }

    #[test]
    fn this_process_has_cpu_time_and_rss() {
        let before = cpu_time();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert!(x != 1);
        assert!(cpu_time() >= before);
        assert!(rss_bytes().unwrap_or(0) > 0);
    }
}
