//! Measuring and reporting: a log-linear latency histogram, `/proc` readings (CPU time,
//! resident memory, the open-files limit), a hand-written JSON object and number
//! formatting for the human table.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// Sub-buckets per power of two: 64 gives under 1.6% relative error.
const SUB_BITS: u32 = 6;
const SUB: usize = 1 << SUB_BITS;
/// Buckets for every u64 value.
const BUCKETS: usize = (64 - SUB_BITS as usize) * SUB + SUB;

/// A histogram of nanosecond values: exact below 128, then 64 buckets per power of two.
/// Constant size (30 KiB), constant-time record, mergeable across threads.
#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64]>,
    total: u64,
    max: u64,
    sum: u128,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            total: 0,
            max: 0,
            sum: 0,
        }
    }
}

#[inline]
fn bucket(v: u64) -> usize {
    if v < (2 * SUB) as u64 {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros();
    let shift = msb - SUB_BITS;
    (shift as usize + 1) * SUB + ((v >> shift) as usize - SUB)
}

/// The largest value that falls in bucket `i`.
fn bucket_high(i: usize) -> u64 {
    if i < 2 * SUB {
        return i as u64;
    }
    let shift = (i / SUB - 1) as u32;
    let sub = (i % SUB + SUB) as u128;
    // In u128: the top bucket's bound is 2^64 - 1, one past what u64 arithmetic can hold.
    (((sub + 1) << shift) - 1).min(u128::from(u64::MAX)) as u64
}

impl Histogram {
    /// Record one value.
    #[inline]
    pub fn record(&mut self, v: u64) {
        self.counts[bucket(v)] += 1;
        self.total += 1;
        self.max = self.max.max(v);
        self.sum += u128::from(v);
    }

    /// Add another histogram's counts.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
        self.sum += other.sum;
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The largest value recorded (exact).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The mean (exact).
    pub fn mean(&self) -> u64 {
        if self.total == 0 {
            0
        } else {
            (self.sum / u128::from(self.total)) as u64
        }
    }

    /// The value at quantile `q` (0..=1): the top of the bucket holding it, capped at max.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return bucket_high(i).min(self.max);
            }
        }
        self.max
    }
}

/// CPU time (user + system) of a process, from `/proc/PID/stat` (`None`: this process).
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

/// Resident memory of a process in bytes, from `VmRSS` in `/proc/PID/status`.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
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

/// CPU readings of the server, of this process and of the whole machine over an interval.
#[derive(Clone, Copy)]
pub struct CpuWindow {
    at: Instant,
    server: Option<Duration>,
    own: Option<Duration>,
    machine: Option<(Duration, usize)>,
}

/// CPU use over an interval.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuUse {
    /// The interval.
    pub wall: Duration,
    /// Server CPU time in the interval, if a PID was given and readable.
    pub server: Option<Duration>,
    /// This process's CPU time in the interval.
    pub own: Option<Duration>,
    /// Busy time of all processors in the interval, and their number.
    pub machine: Option<(Duration, usize)>,
}

impl CpuWindow {
    /// Take the readings that start an interval.
    pub fn start(server_pid: Option<u32>) -> CpuWindow {
        CpuWindow {
            at: Instant::now(),
            server: server_pid.and_then(|p| cpu_time(Some(p))),
            own: cpu_time(None),
            machine: machine_busy(),
        }
    }

    /// Take the readings that end it.
    pub fn stop(&self, server_pid: Option<u32>) -> CpuUse {
        let server = server_pid.and_then(|p| cpu_time(Some(p)));
        let own = cpu_time(None);
        let machine = machine_busy();
        CpuUse {
            wall: self.at.elapsed(),
            server: self.server.zip(server).map(|(a, b)| b.saturating_sub(a)),
            own: self.own.zip(own).map(|(a, b)| b.saturating_sub(a)),
            machine: self
                .machine
                .zip(machine)
                .map(|((a, n), (b, _))| (b.saturating_sub(a), n)),
        }
    }
}

impl CpuUse {
    fn pct(&self, d: Option<Duration>) -> Option<f64> {
        let wall = self.wall.as_secs_f64();
        d.filter(|_| wall > 0.0)
            .map(|d| 100.0 * d.as_secs_f64() / wall)
    }

    /// Server CPU as % of one core.
    pub fn server_pct(&self) -> Option<f64> {
        self.pct(self.server)
    }

    /// This process's CPU as % of one core.
    pub fn own_pct(&self) -> Option<f64> {
        self.pct(self.own)
    }

    /// CPU used by everything else on the machine (other processes, interrupts), as % of
    /// one core: what competed with the server and the load generator.
    pub fn others_pct(&self) -> Option<f64> {
        let (busy, _) = self.machine?;
        let mine = self.server.unwrap_or_default() + self.own.unwrap_or_default();
        self.pct(Some(busy.saturating_sub(mine)))
    }

    /// Server CPU nanoseconds per unit of work.
    pub fn server_ns_per(&self, units: u64) -> Option<f64> {
        self.server
            .filter(|_| units > 0)
            .map(|d| d.as_nanos() as f64 / units as f64)
    }

    /// Add the CPU fields to a JSON object and the human table.
    pub fn report(&self, json: &mut Json, table: &mut Table, per: Option<(&str, u64)>) {
        json.opt_num("server_cpu_pct", self.server_pct(), 1);
        json.opt_num("bench_cpu_pct", self.own_pct(), 1);
        let server = match self.server_pct() {
            Some(p) => format!("{p:.1}% of a core"),
            None => "(no --server-pid)".to_string(),
        };
        match per {
            Some((what, units)) => {
                let key = format!("server_cpu_ns_per_{what}");
                json.opt_num(&key, self.server_ns_per(units), 0);
                match self.server_ns_per(units) {
                    Some(ns) => table.row(
                        "server CPU",
                        format!("{server}, {} per {what}", human_ns(ns as u64)),
                    ),
                    None => table.row("server CPU", server),
                }
            }
            None => table.row("server CPU", server),
        }
        let own_per = per.and_then(|(what, units)| {
            let ns = self.own.filter(|_| units > 0)?.as_nanos() as f64 / units as f64;
            json.num(&format!("bench_cpu_ns_per_{what}"), ns, 0);
            Some(format!(", {} per {what}", human_ns(ns as u64)))
        });
        match self.own_pct() {
            Some(p) => table.row(
                "bench CPU",
                format!("{p:.1}% of a core{}", own_per.unwrap_or_default()),
            ),
            None => table.row("bench CPU", "unknown"),
        }
        json.opt_num("others_cpu_pct", self.others_pct(), 1);
        if let Some(p) = self.others_pct() {
            let cores = self.machine.map_or(1, |(_, n)| n);
            let note = if self.server.is_some() && p > 15.0 {
                "  <- the machine was busy: figures are noisy"
            } else {
                ""
            };
            table.row(
                "other CPU",
                format!("{p:.1}% of a core (of {cores}), used by everything else{note}"),
            );
        }
    }
}

/// One flat JSON object, written by hand.
pub struct Json {
    out: String,
}

impl Json {
    /// `{"mode": mode, ...`
    pub fn new(mode: &str) -> Json {
        let mut j = Json {
            out: String::from("{"),
        };
        j.str("mode", mode);
        j
    }

    fn key(&mut self, key: &str) {
        if self.out.len() > 1 {
            self.out.push(',');
        }
        escape(&mut self.out, key);
        self.out.push(':');
    }

    /// A string field.
    pub fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        escape(&mut self.out, value);
    }

    /// An integer field.
    pub fn int(&mut self, key: &str, value: u64) {
        self.key(key);
        let _ = write!(self.out, "{value}");
    }

    /// A number with `decimals` digits (NaN and infinities become null).
    pub fn num(&mut self, key: &str, value: f64, decimals: usize) {
        self.key(key);
        if value.is_finite() {
            let _ = write!(self.out, "{value:.decimals$}");
        } else {
            self.out.push_str("null");
        }
    }

    /// A number or null.
    pub fn opt_num(&mut self, key: &str, value: Option<f64>, decimals: usize) {
        match value {
            Some(v) => self.num(key, v, decimals),
            None => {
                self.key(key);
                self.out.push_str("null");
            }
        }
    }

    /// A raw JSON value (an array or object built by the caller).
    pub fn raw(&mut self, key: &str, value: &str) {
        self.key(key);
        self.out.push_str(value);
    }

    /// The finished object.
    pub fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

/// Append `s` as a JSON string.
pub fn escape(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The human table: a title and aligned rows, printed to stderr.
pub struct Table {
    title: String,
    rows: Vec<(String, String)>,
}

impl Table {
    /// A table with a title line.
    pub fn new(title: String) -> Table {
        Table {
            title,
            rows: Vec::new(),
        }
    }

    /// Add a row.
    pub fn row(&mut self, label: &str, value: impl Into<String>) {
        self.rows.push((label.to_string(), value.into()));
    }

    /// Print to stderr.
    pub fn print(&self) {
        let width = self.rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
        let mut s = format!("{}\n", self.title);
        for (label, value) in &self.rows {
            let _ = writeln!(s, "  {label:<width$}  {value}");
        }
        eprint!("{s}");
    }
}

/// A count with thousands separators.
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A rate, with thousands separators.
pub fn rate(count: u64, over: Duration) -> f64 {
    let s = over.as_secs_f64();
    if s > 0.0 { count as f64 / s } else { 0.0 }
}

/// Nanoseconds in the most readable unit.
pub fn human_ns(ns: u64) -> String {
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{:.1} µs", ns as f64 / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.2} ms", ns as f64 / 1e6)
    } else {
        format!("{:.2} s", ns as f64 / 1e9)
    }
}

/// Bytes in the most readable unit.
pub fn human_bytes(b: f64) -> String {
    if b.abs() < 10_000.0 {
        format!("{b:.0} B")
    } else if b.abs() < 10_000_000.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    }
}

/// Add a latency histogram's quantiles (in µs) to the JSON and the table.
pub fn report_latency(
    json: &mut Json,
    table: &mut Table,
    prefix: &str,
    label: &str,
    h: &Histogram,
) {
    for (name, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)] {
        json.num(
            &format!("{prefix}_{name}_us"),
            h.quantile(q) as f64 / 1e3,
            1,
        );
    }
    json.num(&format!("{prefix}_max_us"), h.max() as f64 / 1e3, 1);
    json.num(&format!("{prefix}_mean_us"), h.mean() as f64 / 1e3, 1);
    if h.count() == 0 {
        table.row(label, "no samples");
    } else {
        table.row(
            label,
            format!(
                "p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
                human_ns(h.quantile(0.5)),
                human_ns(h.quantile(0.9)),
                human_ns(h.quantile(0.99)),
                human_ns(h.quantile(0.999)),
                human_ns(h.max())
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_tight() {
        let mut last = 0;
        for v in (0..5000u64).chain([1 << 20, (1 << 20) + 1, u64::MAX / 3, u64::MAX]) {
            let b = bucket(v);
            assert!(b < BUCKETS);
            assert!(bucket_high(b) >= v, "{v}");
            if v < 5000 {
                assert!(b == last || b == last + 1 || v == 0, "{v}");
                last = b;
            }
            // relative error under 1/64
            assert!((bucket_high(b) - v) as f64 <= v as f64 / 64.0 + 1.0, "{v}");
        }
    }

    #[test]
    fn quantiles() {
        let mut h = Histogram::default();
        for v in 1..=10_000u64 {
            h.record(v * 1000);
        }
        let p50 = h.quantile(0.5) as f64;
        assert!((p50 / 5_000_000.0 - 1.0).abs() < 0.02, "{p50}");
        let p99 = h.quantile(0.99) as f64;
        assert!((p99 / 9_900_000.0 - 1.0).abs() < 0.02, "{p99}");
        assert_eq!(h.quantile(1.0), 10_000_000);
        assert_eq!(h.max(), 10_000_000);
        let mut g = Histogram::default();
        g.record(1);
        g.merge(&h);
        assert_eq!(g.count(), 10_001);
        assert_eq!(g.quantile(0.0), 1);
    }

    #[test]
    fn json_escapes() {
        let mut j = Json::new("x");
        j.str("s", "a\"b\\c\n\u{1}");
        j.int("n", 5);
        j.num("f", f64::NAN, 1);
        j.opt_num("o", None, 1);
        assert_eq!(
            j.finish(),
            r#"{"mode":"x","s":"a\"b\\c\n\u0001","n":5,"f":null,"o":null}"#
        );
        assert_eq!(group(1234567), "1,234,567");
        assert_eq!(group(12), "12");
    }
}
