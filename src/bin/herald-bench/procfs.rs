//! Readings from `/proc`: the CPU time of a process (in 10 ms ticks from `stat`, and in
//! nanoseconds per thread from `schedstat`), its resident memory, this process's open-files
//! limit, and how busy the whole machine is. Linux only; each reading is `None` where the
//! file cannot be read. Owns no timing logic (that is `cpu`).

use std::time::Duration;

/// CPU time (user + system) of a process, from `/proc/PID/stat` (`None`: this process),
/// threads that exited included.
///
/// The kernel reports it in clock ticks of USER_HZ, which is 100 on every Linux
/// architecture (it is a fixed ABI constant, independent of CONFIG_HZ).
pub fn cpu_time(pid: Option<u32>) -> Option<Duration> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Field 3 (state) is fields[0]; utime is field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// A process's resident memory in bytes, from `/proc/PID/status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resident {
    /// All of it (`VmRSS`): anonymous memory plus the file pages mapped in, such as the
    /// program's code, which grows the first time a code path runs, whatever the load.
    pub total: u64,
    /// Anonymous memory only (`RssAnon`): heap, stacks and anonymous mappings, what the
    /// process allocated for its data.
    pub anon: u64,
}

/// The resident memory of process `pid` (`None` if its status cannot be read or lacks the
/// fields, as before Linux 4.5 for `RssAnon`).
pub fn resident(pid: u32) -> Option<Resident> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |field: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(field))?;
        line[field.len()..].split_whitespace().next()?.parse().ok()
    };
    Some(Resident {
        total: kib("VmRSS:")? * 1024,
        anon: kib("RssAnon:")? * 1024,
    })
}

/// The soft limit on open files of this process, from `/proc/self/limits`.
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line["Max open files".len()..].split_whitespace().next()?;
    soft.parse().ok() // "unlimited" is None: no check needed
}

/// Refuse to start when `needed` sockets cannot be open at once.
pub fn check_open_files(needed: usize) -> Result<(), String> {
    match open_files_limit() {
        Some(limit) if (needed as u64) + 32 > limit => Err(format!(
            "{needed} connections need about {} open files but the limit is {limit}: \
             raise it first (ulimit -n {}; scripts/bench.sh does this)",
            needed + 32,
            needed + 1024
        )),
        _ => Ok(()),
    }
}

/// CPU time all processors spent running processes or stolen by the hypervisor, from
/// the first line of `/proc/stat`, and the number of processors.
pub fn machine_busy() -> Option<(Duration, usize)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let mut lines = stat.lines();
    let total = lines.next()?;
    let ticks: Vec<u64> = total
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal guest guest_nice. Counted: what
    // processes ran (user, nice, system) and what the hypervisor took (steal). Not
    // counted: idle, iowait, and interrupt time, which on loopback is mostly the
    // server's and the load generator's own packets being delivered (guest time is
    // already part of user).
    let busy: u64 = [0, 1, 2, 7].iter().filter_map(|&i| ticks.get(i)).sum();
    let cpus = lines.filter(|l| l.starts_with("cpu")).count();
    Some((Duration::from_millis(busy * 10), cpus))
}

/// The time each live thread of a process has run on a CPU, in nanoseconds (the first field
/// of `/proc/PID/task/TID/schedstat`), summed, with the thread ids (sorted): precise where
/// `cpu_time` counts 10 ms ticks, but blind to threads that exited in between (so the
/// caller compares the ids). `None`: this process.
pub fn thread_run_time(pid: Option<u32>) -> Option<(Vec<u32>, Duration)> {
    let dir = match pid {
        Some(p) => format!("/proc/{p}/task"),
        None => "/proc/self/task".to_string(),
    };
    let mut tids = Vec::new();
    let mut total = 0u64;
    for entry in std::fs::read_dir(&dir).ok()? {
        let entry = entry.ok()?;
        let Some(tid) = entry
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<u32>().ok())
        else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
        tids.push(tid);
    }
    tids.sort_unstable();
    Some((tids, Duration::from_nanos(total)))
}
