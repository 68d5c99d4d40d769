//! `--fail-if`: thresholds on what a run measured, which set the exit status (3) when one
//! holds, as k6's thresholds and Artillery's `ensure` do.
//!
//! An expression is `METRIC OP VALUE`: OP is `<`, `<=`, `>` or `>=`; the VALUE's unit says
//! what is compared. Latencies take a time unit (`p99>5ms`), counts are totals (`errors>0`)
//! or, with `/s`, rates over the measured time (`deliveries<1000000/s`, `1M/s`), memory takes
//! bytes (`rss_per_conn>512B`, `KiB`), CPU takes percent of one core (`bench_cpu>85%`). Each
//! command lists its metrics; an unknown one is a usage error before the run starts. Owns
//! the parsing and the comparison, not the measuring.

use crate::cpu::CpuUse;
use crate::latency::Latency;
use crate::output::{Json, Table, human_ns};
use std::fmt;

/// What a metric is, which decides the units its threshold may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A duration (compared in ns).
    Latency,
    /// A count over the measured time: a total, or a rate with `/s`.
    Count,
    /// Bytes.
    Bytes,
    /// Percent of one core.
    Percent,
}

/// The metrics of `broadcast`.
pub const BROADCAST: &[(&str, Kind)] = &[
    ("p50", Kind::Latency),
    ("p90", Kind::Latency),
    ("p99", Kind::Latency),
    ("p99.9", Kind::Latency),
    ("max", Kind::Latency),
    ("mean", Kind::Latency),
    ("deliveries", Kind::Count),
    ("sent", Kind::Count),
    ("lost", Kind::Count),
    ("reordered", Kind::Count),
    ("stalled", Kind::Count),
    ("unexpected", Kind::Count),
    ("errors", Kind::Count),
    ("close_timeouts", Kind::Count),
    ("server_cpu", Kind::Percent),
    ("bench_cpu", Kind::Percent),
];

/// The metrics of `connect` (latencies: the handshake time).
pub const CONNECT: &[(&str, Kind)] = &[
    ("p50", Kind::Latency),
    ("p90", Kind::Latency),
    ("p99", Kind::Latency),
    ("p99.9", Kind::Latency),
    ("max", Kind::Latency),
    ("mean", Kind::Latency),
    ("handshakes", Kind::Count),
    ("failures", Kind::Count),
    ("close_timeouts", Kind::Count),
    ("server_cpu", Kind::Percent),
    ("bench_cpu", Kind::Percent),
];

/// The metrics of `idle`.
pub const IDLE: &[(&str, Kind)] = &[
    ("anon_per_conn", Kind::Bytes),
    ("rss_per_conn", Kind::Bytes),
    ("errors", Kind::Count),
    ("close_timeouts", Kind::Count),
    ("server_cpu", Kind::Percent),
];

/// A comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
        }
    }
}

/// What a threshold compares: the metric's value in one unit.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Value {
    /// Nanoseconds.
    Ns(f64),
    /// A total count.
    Total(f64),
    /// Per second of measured time.
    PerSecond(f64),
    Bytes(f64),
    Percent(f64),
}

/// One `--fail-if` expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    /// As given, for the report.
    pub text: String,
    metric: String,
    op: Op,
    value: Value,
}

/// A value a run measured, for thresholds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Measure {
    /// A duration in ns.
    Ns(f64),
    /// A count over `secs` of measured time.
    Count {
        n: f64,
        secs: f64,
    },
    Bytes(f64),
    Percent(f64),
}

/// Every metric of a run, by name (`None`: not measured, e.g. no `--server-pid`).
#[derive(Debug, Default)]
pub struct Metrics(Vec<(&'static str, Option<Measure>)>);

impl Metrics {
    /// Add a metric.
    pub fn set(&mut self, name: &'static str, m: Option<Measure>) {
        self.0.push((name, m));
    }

    fn get(&self, name: &str) -> Option<Option<Measure>> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, m)| *m)
    }
}

/// Split a number from its unit suffix, applying k/M/G multipliers (`1.5M`).
fn number(s: &str) -> Option<(f64, &str)> {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(s.len());
    let n: f64 = s[..end].replace('_', "").parse().ok()?;
    let rest = &s[end..];
    let (scale, rest) = match rest.chars().next() {
        Some('k') if !rest.starts_with("kib") => (1e3, &rest[1..]),
        Some('M') if !rest.starts_with("MiB") && !rest.starts_with("MB") => (1e6, &rest[1..]),
        Some('G') => (1e9, &rest[1..]),
        _ => (1.0, rest),
    };
    Some((n * scale, rest.trim()))
}

impl Threshold {
    /// Parse `METRIC OP VALUE` against a command's metrics.
    pub fn parse(expr: &str, metrics: &[(&str, Kind)]) -> Result<Threshold, String> {
        let bad = |why: &str| format!("--fail-if '{expr}': {why}");
        let at = expr
            .find(['<', '>'])
            .ok_or_else(|| bad("no comparison (<, <=, > or >=)"))?;
        let (metric, rest) = expr.split_at(at);
        let (op, value) = match (rest.as_bytes()[0], rest.as_bytes().get(1)) {
            (b'<', Some(b'=')) => (Op::Le, &rest[2..]),
            (b'>', Some(b'=')) => (Op::Ge, &rest[2..]),
            (b'<', _) => (Op::Lt, &rest[1..]),
            _ => (Op::Gt, &rest[1..]),
        };
        let mut metric = metric.trim().to_ascii_lowercase();
        if metric == "p999" {
            metric = "p99.9".into();
        }
        let names: Vec<&str> = metrics.iter().map(|(n, _)| *n).collect();
        let kind = metrics
            .iter()
            .find(|(n, _)| *n == metric)
            .map(|&(_, k)| k)
            .ok_or_else(|| {
                bad(&format!(
                    "unknown metric '{metric}' (here: {})",
                    names.join(", ")
                ))
            })?;
        let (n, unit) = number(value.trim()).ok_or_else(|| bad("the value is not a number"))?;
        let value = match (kind, unit) {
            (Kind::Latency, "ns") => Value::Ns(n),
            (Kind::Latency, "us" | "µs") => Value::Ns(n * 1e3),
            (Kind::Latency, "ms") => Value::Ns(n * 1e6),
            (Kind::Latency, "s") => Value::Ns(n * 1e9),
            (Kind::Latency, "") => return Err(bad("a latency needs a unit: ns, us, ms or s")),
            (Kind::Latency, u) => {
                return Err(bad(&format!(
                    "'{u}' is not a latency unit: ns, us, ms or s"
                )));
            }
            (Kind::Count, "") => Value::Total(n),
            (Kind::Count, "/s") => Value::PerSecond(n),
            (Kind::Count, _) => {
                return Err(bad(
                    "a count is a number (a total) or a number with /s (a rate)",
                ));
            }
            (Kind::Bytes, "" | "B") => Value::Bytes(n),
            (Kind::Bytes, "KiB" | "kib") => Value::Bytes(n * 1024.0),
            (Kind::Bytes, "MiB") => Value::Bytes(n * 1024.0 * 1024.0),
            // kB (the k read as a multiplier above) and KB alike are 1,000 bytes.
            (Kind::Bytes, "KB") => Value::Bytes(n * 1e3),
            (Kind::Bytes, "MB") => Value::Bytes(n * 1e6),
            (Kind::Bytes, _) => return Err(bad("a size is in B, kB, KiB, MB or MiB")),
            (Kind::Percent, "" | "%") => Value::Percent(n),
            (Kind::Percent, _) => return Err(bad("CPU is in % of one core")),
        };
        Ok(Threshold {
            text: expr.trim().to_string(),
            metric,
            op,
            value,
        })
    }

    /// `Some(what was measured)` when the threshold holds, i.e. the run fails it. A metric
    /// the run could not measure fails too (a threshold that cannot be checked is not met).
    pub fn crossed(&self, metrics: &Metrics) -> Option<String> {
        let Some(measure) = metrics.get(&self.metric).flatten() else {
            return Some(format!("{} was not measured", self.metric));
        };
        let (actual, limit, shown) = match (self.value, measure) {
            (Value::Ns(limit), Measure::Ns(v)) => (v, limit, human_ns(v as u64)),
            (Value::Total(limit), Measure::Count { n, .. }) => (n, limit, format!("{n}")),
            (Value::PerSecond(limit), Measure::Count { n, secs }) => {
                let r = if secs > 0.0 { n / secs } else { 0.0 };
                (r, limit, format!("{r:.0}/s"))
            }
            (Value::Bytes(limit), Measure::Bytes(b)) => (b, limit, format!("{b:.0} B")),
            (Value::Percent(limit), Measure::Percent(p)) => (p, limit, format!("{p:.1}%")),
            _ => return Some(format!("{} has another unit", self.metric)),
        };
        self.op
            .holds(actual, limit)
            .then(|| format!("{} was {shown}", self.metric))
    }
}

/// Check every threshold; record the ones that held in the JSON (`fail_if`: the list of
/// `EXPR (what was measured)`; absent when no threshold was given) and the table. Returns
/// true when none held.
pub fn judge(
    thresholds: &[Threshold],
    metrics: &Metrics,
    json: &mut Json,
    table: &mut Table,
) -> bool {
    if thresholds.is_empty() {
        return true;
    }
    let held: Vec<String> = thresholds
        .iter()
        .filter_map(|t| t.crossed(metrics).map(|why| format!("{t} ({why})")))
        .collect();
    json.str_list("fail_if", &held);
    if held.is_empty() {
        table.row(
            "thresholds",
            format!("none held ({} checked)", thresholds.len()),
        );
    } else {
        table.row(
            "thresholds",
            format!(
                "FAILED: {} of {} held (exit status 3)",
                held.len(),
                thresholds.len()
            ),
        );
        for h in &held {
            table.row("", format!("- {h}"));
        }
    }
    held.is_empty()
}

impl Metrics {
    /// The latency metrics of a histogram (p50 … max, mean).
    pub fn latency(&mut self, h: &Latency) {
        let some = |v: u64| (h.count() > 0).then_some(Measure::Ns(v as f64));
        self.set("p50", some(h.quantile(0.5)));
        self.set("p90", some(h.quantile(0.9)));
        self.set("p99", some(h.quantile(0.99)));
        self.set("p99.9", some(h.quantile(0.999)));
        self.set("max", some(h.max()));
        self.set("mean", some(h.mean()));
    }

    /// A count over `secs` of measured time.
    pub fn count(&mut self, name: &'static str, n: u64, secs: f64) {
        self.set(name, Some(Measure::Count { n: n as f64, secs }));
    }

    /// The CPU metrics.
    pub fn cpu(&mut self, cpu: &CpuUse) {
        self.set("server_cpu", cpu.server_pct().map(Measure::Percent));
        self.set("bench_cpu", cpu.own_pct().map(Measure::Percent));
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics() -> Metrics {
        let mut m = Metrics::default();
        m.set("p99", Some(Measure::Ns(7_300_000.0)));
        m.set("p99.9", Some(Measure::Ns(9_000_000.0)));
        m.set("deliveries", Some(Measure::Count { n: 5e6, secs: 10.0 }));
        m.set("errors", Some(Measure::Count { n: 0.0, secs: 10.0 }));
        m.set("server_cpu", None);
        m.set("bench_cpu", Some(Measure::Percent(91.0)));
        m
    }

    fn check(expr: &str) -> Option<String> {
        Threshold::parse(expr, BROADCAST)
            .unwrap()
            .crossed(&metrics())
    }

    #[test]
    fn parses_the_forms_people_write() {
        let t = Threshold::parse(" p99 > 5ms ", BROADCAST).unwrap();
        assert_eq!((t.op, t.value), (Op::Gt, Value::Ns(5e6)));
        assert_eq!(t.to_string(), "p99 > 5ms");
        let t = Threshold::parse("deliveries<1000000/s", BROADCAST).unwrap();
        assert_eq!((t.op, t.value), (Op::Lt, Value::PerSecond(1e6)));
        let t = Threshold::parse("deliveries<=1.5M/s", BROADCAST).unwrap();
        assert_eq!((t.op, t.value), (Op::Le, Value::PerSecond(1.5e6)));
        let t = Threshold::parse("errors>=1", BROADCAST).unwrap();
        assert_eq!((t.op, t.value), (Op::Ge, Value::Total(1.0)));
        let t = Threshold::parse("P999>250us", BROADCAST).unwrap();
        assert_eq!((t.metric.as_str(), t.value), ("p99.9", Value::Ns(250e3)));
        let t = Threshold::parse("p50>800µs", BROADCAST).unwrap();
        assert_eq!(t.value, Value::Ns(800e3));
        let t = Threshold::parse("rss_per_conn>1KiB", IDLE).unwrap();
        assert_eq!(t.value, Value::Bytes(1024.0));
        let t = Threshold::parse("bench_cpu>85%", BROADCAST).unwrap();
        assert_eq!(t.value, Value::Percent(85.0));
        // kB and KB alike are 1,000 bytes, KiB 1,024.
        for (expr, bytes) in [
            ("1kB", 1e3),
            ("1KB", 1e3),
            ("2MB", 2e6),
            ("1MiB", 1048576.0),
        ] {
            let t = Threshold::parse(&format!("anon_per_conn>{expr}"), IDLE).unwrap();
            assert_eq!(t.value, Value::Bytes(bytes), "{expr}");
        }
        // A unit that is not a latency's is named as such.
        let e = Threshold::parse("p99.9<=1h", BROADCAST).unwrap_err();
        assert!(
            e.ends_with("'h' is not a latency unit: ns, us, ms or s"),
            "{e}"
        );
        for bad in [
            "p99=5ms",         // no comparison
            "p99>5",           // a latency without a unit
            "p99>fast",        // not a number
            "errors>0ms",      // a count with a time unit
            "latency>5ms",     // unknown metric
            "rss_per_conn>1B", // not a broadcast metric
            "bench_cpu>5ms",
        ] {
            assert!(Threshold::parse(bad, BROADCAST).is_err(), "{bad}");
        }
        assert!(Threshold::parse("handshakes<100/s", CONNECT).is_ok());
        assert!(Threshold::parse("deliveries<100/s", CONNECT).is_err());
    }

    #[test]
    fn compares_in_the_threshold_unit() {
        assert_eq!(check("p99>5ms"), Some("p99 was 7.30 ms".into()));
        assert_eq!(check("p99>8ms"), None);
        assert_eq!(check("p99.9<=9ms"), Some("p99.9 was 9.00 ms".into()));
        // 5 million in 10 s: 500,000/s.
        assert_eq!(
            check("deliveries<1000000/s"),
            Some("deliveries was 500000/s".into())
        );
        assert_eq!(check("deliveries<400k/s"), None);
        assert_eq!(
            check("deliveries<6000000"),
            Some("deliveries was 5000000".into())
        );
        assert_eq!(check("errors>0"), None);
        assert_eq!(check("bench_cpu>85%"), Some("bench_cpu was 91.0%".into()));
        // Not measured (no --server-pid): the threshold cannot be met.
        assert_eq!(
            check("server_cpu>50%"),
            Some("server_cpu was not measured".into())
        );
    }
}
