//! CPU use over an interval: of the server (`--server-pid`), of this process and of the
//! whole machine, and its lines in the report.
//!
//! Process times come from each thread's run time in nanoseconds (`schedstat`) when the
//! same threads lived through the whole interval, else from `/proc/PID/stat`, whose 10 ms
//! ticks make a short run's figures coarse (the report says so). The machine's busy time is
//! in ticks only.

use crate::output::{Json, Table, human_ns};
use crate::procfs::{cpu_time, machine_busy, thread_run_time};
use std::time::{Duration, Instant};

/// A process's CPU time read both ways.
#[derive(Clone, Debug, Default)]
struct ProcessCpu {
    ticks: Option<Duration>,
    threads: Option<(Vec<u32>, Duration)>,
}

impl ProcessCpu {
    fn read(pid: Option<u32>) -> ProcessCpu {
        ProcessCpu {
            ticks: cpu_time(pid),
            threads: thread_run_time(pid),
        }
    }

    /// The CPU time from `self` to `end`, and whether it is precise (nanoseconds).
    fn since(&self, end: &ProcessCpu) -> Option<(Duration, bool)> {
        if let (Some((a_ids, a)), Some((b_ids, b))) = (&self.threads, &end.threads)
            && a_ids == b_ids
        {
            return Some((b.saturating_sub(*a), true));
        }
        let (a, b) = (self.ticks?, end.ticks?);
        Some((b.saturating_sub(a), false))
    }
}

/// CPU readings of the server, of this process and of the whole machine at the start of an
/// interval.
#[derive(Clone, Debug)]
pub struct CpuWindow {
    at: Instant,
    server: ProcessCpu,
    own: ProcessCpu,
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
    /// The process times were counted in 10 ms ticks (threads came or went), not in ns.
    pub coarse: bool,
}

impl CpuWindow {
    /// Take the readings that start an interval.
    pub fn start(server_pid: Option<u32>) -> CpuWindow {
        CpuWindow {
            at: Instant::now(),
            server: server_pid
                .map(|p| ProcessCpu::read(Some(p)))
                .unwrap_or_default(),
            own: ProcessCpu::read(None),
            machine: machine_busy(),
        }
    }

    /// Take the readings that end it.
    pub fn stop(&self, server_pid: Option<u32>) -> CpuUse {
        let server = server_pid
            .map(|p| ProcessCpu::read(Some(p)))
            .unwrap_or_default();
        let own = ProcessCpu::read(None);
        let machine = machine_busy();
        let server = self.server.since(&server);
        let own = self.own.since(&own);
        CpuUse {
            wall: self.at.elapsed(),
            coarse: [server, own].iter().flatten().any(|&(_, precise)| !precise),
            server: server.map(|(d, _)| d),
            own: own.map(|(d, _)| d),
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
        json.str("cpu_clock", if self.coarse { "ticks" } else { "ns" });
        // Ticks are 10 ms: under a second of CPU time, one tick either way is over 1%.
        let counted = self
            .server
            .unwrap_or_default()
            .max(self.own.unwrap_or_default());
        if self.coarse && counted < Duration::from_secs(1) {
            table.row(
                "note",
                format!(
                    "CPU times counted in 10 ms ticks (threads came or went) over {:.2} s: \
                     too short for these CPU figures to mean much",
                    self.wall.as_secs_f64()
                ),
            );
        }
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
