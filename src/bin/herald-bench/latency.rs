//! Latency histograms: HdrHistogram (the `hdrhistogram` crate) at 3 significant digits, from
//! 1 ns to an hour, and the ways they are reported: quantiles in the table and the JSON, and
//! the standard percentile-distribution text (`.hgrm`, as HdrHistogram's
//! `outputPercentileDistribution` writes it, which HdrHistogram's plotter and wrk2 users read).

use crate::output::{Json, Table, human_ns};
use hdrhistogram::Histogram;
use std::io::{self, Write};

/// The largest value kept apart: larger ones are counted as this (an hour, in ns).
const HIGHEST_NS: u64 = 3_600 * 1_000_000_000;
/// Significant decimal digits: values are kept within 0.1%.
const SIGFIG: u8 = 3;

/// A histogram of nanosecond values, mergeable across threads and intervals.
#[derive(Clone, Debug)]
pub struct Latency(Histogram<u64>);

impl Default for Latency {
    fn default() -> Self {
        Latency(Histogram::new_with_bounds(1, HIGHEST_NS, SIGFIG).expect("valid bounds"))
    }
}

impl Latency {
    /// Record one value (ns); above an hour counts as an hour.
    #[inline]
    pub fn record(&mut self, ns: u64) {
        self.0.saturating_record(ns);
    }

    /// Add another histogram's counts (same bounds: cannot fail).
    pub fn merge(&mut self, other: &Latency) {
        let _ = self.0.add(&other.0);
    }

    /// Forget every value.
    pub fn clear(&mut self) {
        self.0.reset();
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// The largest value recorded (to 0.1%).
    pub fn max(&self) -> u64 {
        self.0.max()
    }

    /// The mean.
    pub fn mean(&self) -> u64 {
        self.0.mean() as u64
    }

    /// The value at quantile `q` (0..=1); 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.0.is_empty() {
            return 0;
        }
        self.0.value_at_quantile(q)
    }

    /// The distribution as (quantile, value in ns) points, five per halving of the distance
    /// to 100% (as in the `.hgrm` text): what a percentile plot draws.
    pub fn quantile_curve(&self) -> Vec<(f64, u64)> {
        if self.0.is_empty() {
            return Vec::new();
        }
        self.0
            .iter_quantiles(5)
            .map(|v| (v.quantile_iterated_to(), v.value_iterated_to()))
            .collect()
    }

    /// Write the percentile distribution in HdrHistogram's text format (five steps per
    /// halving of the distance to 100%), values divided by `unit_ns` (1e6: milliseconds).
    pub fn write_hgrm(&self, out: &mut impl Write, unit_ns: f64) -> io::Result<()> {
        let h = &self.0;
        writeln!(
            out,
            "{:>12} {:>14} {:>10} {:>14}\n",
            "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
        )?;
        let mut total = 0u64;
        if !h.is_empty() {
            for v in h.iter_quantiles(5) {
                total += v.count_since_last_iteration();
                let value = v.value_iterated_to() as f64 / unit_ns;
                let q = v.quantile_iterated_to();
                if q < 1.0 {
                    writeln!(
                        out,
                        "{value:12.3} {q:2.12} {total:10} {:14.2}",
                        1.0 / (1.0 - q)
                    )?;
                } else {
                    writeln!(out, "{value:12.3} {q:2.12} {total:10}")?;
                }
            }
        }
        writeln!(
            out,
            "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]",
            h.mean() / unit_ns,
            h.stdev() / unit_ns
        )?;
        writeln!(
            out,
            "#[Max     = {:12.3}, Total count    = {:12}]",
            h.max() as f64 / unit_ns,
            h.len()
        )?;
        // Sub-buckets: the power of two above 2 × 10^SIGFIG, as HdrHistogram sizes them.
        let sub_buckets = (2 * 10u64.pow(u32::from(SIGFIG))).next_power_of_two();
        writeln!(
            out,
            "#[Buckets = {:12}, SubBuckets     = {:12}]",
            h.buckets(),
            sub_buckets
        )
    }
}

/// The quantiles every report gives, with their JSON names and table labels.
pub const QUANTILES: [(&str, &str, f64); 4] = [
    ("p50", "p50", 0.5),
    ("p90", "p90", 0.9),
    ("p99", "p99", 0.99),
    ("p999", "p99.9", 0.999),
];

/// Add a latency histogram's quantiles (in µs) to the JSON (`{prefix}_p50_us` …
/// `{prefix}_max_us`, `{prefix}_mean_us`) and a row to the table.
pub fn report_latency(json: &mut Json, table: &mut Table, prefix: &str, label: &str, h: &Latency) {
    for (name, _, q) in QUANTILES {
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
        return;
    }
    let mut row = String::new();
    for (_, shown, q) in QUANTILES {
        row.push_str(&format!("{shown} {}  ", human_ns(h.quantile(q))));
    }
    row.push_str(&format!("max {}", human_ns(h.max())));
    table.row(label, row);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_within_a_tenth_of_a_percent() {
        let mut h = Latency::default();
        for v in 1..=10_000u64 {
            h.record(v * 1000);
        }
        let near = |got: u64, want: f64| (got as f64 / want - 1.0).abs() < 0.001;
        assert!(near(h.quantile(0.5), 5_000_000.0), "{}", h.quantile(0.5));
        assert!(near(h.quantile(0.99), 9_900_000.0), "{}", h.quantile(0.99));
        assert!(near(h.max(), 10_000_000.0));
        let mut g = Latency::default();
        g.record(1);
        g.merge(&h);
        assert_eq!(g.count(), 10_001);
        assert_eq!(g.quantile(0.0), 1);
        g.record(u64::MAX); // saturates at an hour
        assert!(near(g.max(), HIGHEST_NS as f64));
        g.clear();
        assert_eq!((g.count(), g.quantile(0.99)), (0, 0));
    }

    #[test]
    fn hgrm_has_the_standard_shape() {
        let mut h = Latency::default();
        for v in 1..=1000u64 {
            h.record(v * 1_000); // 1 µs .. 1 ms
        }
        let mut out = Vec::new();
        h.write_hgrm(&mut out, 1e6).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "       Value     Percentile TotalCount 1/(1-Percentile)"
        );
        assert_eq!(lines[1], "");
        let first: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(first, ["0.001", "0.000000000000", "1", "1.00"]);
        let last_row = lines[lines.len() - 4];
        let last: Vec<&str> = last_row.split_whitespace().collect();
        assert_eq!((last[1], last[2]), ("1.000000000000", "1000"), "{last_row}");
        assert!(lines[lines.len() - 3].starts_with("#[Mean    =        0.50"));
        assert!(lines[lines.len() - 2].ends_with("Total count    =         1000]"));
        assert!(lines[lines.len() - 1].contains("SubBuckets     =         2048"));
        // Cumulative counts never fall.
        let counts: Vec<u64> = lines[2..lines.len() - 3]
            .iter()
            .map(|l| l.split_whitespace().nth(2).unwrap().parse().unwrap())
            .collect();
        assert!(counts.windows(2).all(|w| w[0] <= w[1]));
    }
}
