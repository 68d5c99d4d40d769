//! `--plot FILE.svg`: one picture of a run's latency, in two panels drawn with plotters
//! (its SVG backend only): the percentiles second by second (p50, p90, p99, p99.9 and max
//! of what completed in each second, warm-up included, the measured interval shaded), and
//! the measured distribution by percentile (the HdrHistogram percentile plot: the x axis
//! spreads the tail, 90%, 99%, 99.9% … one step apart). Latencies on a log scale, in ms.

use crate::intervals::Point;
use crate::latency::Latency;
use plotters::prelude::*;
use std::path::Path;

const WIDTH: u32 = 1000;
const HEIGHT: u32 = 760;
/// The series: label and colour (p50 … max).
const SERIES: [(&str, RGBColor); 5] = [
    ("p50", RGBColor(31, 119, 180)),
    ("p90", RGBColor(44, 160, 44)),
    ("p99", RGBColor(255, 127, 14)),
    ("p99.9", RGBColor(214, 39, 40)),
    ("max", RGBColor(110, 110, 110)),
];

/// The latency axis: from just below the smallest value to just above the largest, in ms.
fn latency_range(values: impl Iterator<Item = u64>) -> (f64, f64) {
    let (lo, hi) = values.fold((u64::MAX, 0), |(lo, hi), v| (lo.min(v.max(1)), hi.max(v)));
    if hi == 0 {
        return (0.001, 1.0);
    }
    ((lo as f64 / 1e6) * 0.8, (hi as f64 / 1e6) * 1.25)
}

/// Nines: 0 for 0%, 1 for 90%, 2 for 99%, …
fn nines(q: f64) -> f64 {
    -(1.0 - q).max(1e-7).log10()
}

fn percent_label(n: &f64) -> String {
    let q = 1.0 - 10f64.powf(-n);
    let digits = (n.round() as usize).saturating_sub(2);
    format!("{:.*}%", digits, q * 100.0)
}

fn ms_label(ms: &f64) -> String {
    if *ms >= 10.0 {
        format!("{ms:.0}")
    } else if *ms >= 0.1 {
        format!("{ms:.2}")
    } else {
        format!("{ms:.3}")
    }
}

/// Draw the picture to `path`: `points` second by second, `measured` the distribution of
/// the measured interval; `title` heads it, `what` names the latency.
pub fn draw(
    path: &Path,
    title: &str,
    what: &str,
    points: &[Point],
    measured: &Latency,
) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let root = SVGBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let root = root
        .titled(title, ("sans-serif", 18))
        .map_err(|e| err(&e))?;
    let (top, bottom) = root.split_vertically(HEIGHT / 2 - 20);

    // Over time.
    // A slice cut short at the end (under a quarter second) is in the JSON lines, but too
    // few samples to draw.
    let with_samples: Vec<(f64, [u64; 5])> = points
        .iter()
        .filter(|p| p.secs >= 0.25)
        .filter_map(|p| p.latency.map(|l| (p.t_s, l)))
        .collect();
    let t0 = points.first().map_or(0.0, |p| p.t_s - 1.0).min(0.0);
    let t1 = points.last().map_or(1.0, |p| p.t_s).max(t0 + 1.0);
    let (lo, hi) = latency_range(with_samples.iter().flat_map(|(_, l)| l.iter().copied()));
    let mut chart = ChartBuilder::on(&top)
        .caption(
            format!("{what}, second by second (each point: the second ending there)"),
            ("sans-serif", 15),
        )
        .margin(12)
        .x_label_area_size(38)
        .y_label_area_size(64)
        .build_cartesian_2d(t0..t1, (lo..hi).log_scale())
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("seconds since measuring began (≤ 0: warm-up)")
        .y_desc("ms (log scale)")
        .y_label_formatter(&ms_label)
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(|e| err(&e))?;
    chart
        .draw_series(std::iter::once(Rectangle::new(
            [(t0, lo), (0.0, hi)],
            RGBColor(0, 0, 0).mix(0.06).filled(),
        )))
        .map_err(|e| err(&e))?;
    for (i, (label, color)) in SERIES.iter().enumerate() {
        let line = with_samples
            .iter()
            .map(|(t, l)| (*t, (l[i] as f64 / 1e6).max(lo)));
        chart
            .draw_series(LineSeries::new(line, color.stroke_width(2)).point_size(2))
            .map_err(|e| err(&e))?
            .label(*label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()
        .map_err(|e| err(&e))?;

    // By percentile.
    // The axis ends where the samples run out: with n samples, the last step is 1 - 1/n
    // (the 100% point is drawn there too, as the max).
    let count = measured.count().max(1) as f64;
    let top_nines = nines(1.0 - 1.0 / count).ceil().max(2.0);
    let curve: Vec<(f64, f64)> = measured
        .quantile_curve()
        .into_iter()
        .map(|(q, v)| (nines(q).min(top_nines), v as f64 / 1e6))
        .collect();
    let (lo, hi) = latency_range(measured.quantile_curve().into_iter().map(|(_, v)| v));
    let mut chart = ChartBuilder::on(&bottom)
        .caption(
            format!(
                "{what} by percentile, measured interval ({} samples, max {:.3} ms)",
                measured.count(),
                measured.max() as f64 / 1e6
            ),
            ("sans-serif", 15),
        )
        .margin(12)
        .x_label_area_size(38)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..top_nines, (lo..hi).log_scale())
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("ms (log scale)")
        .x_labels(top_nines as usize + 1)
        .x_label_formatter(&percent_label)
        .y_label_formatter(&ms_label)
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(|e| err(&e))?;
    chart
        .draw_series(LineSeries::new(
            curve.iter().map(|&(x, y)| (x, y.max(lo))),
            SERIES[3].1.stroke_width(2),
        ))
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_and_their_labels() {
        assert_eq!(nines(0.0), 0.0);
        assert!((nines(0.99) - 2.0).abs() < 1e-9);
        assert_eq!(percent_label(&0.0), "0%");
        assert_eq!(percent_label(&1.0), "90%");
        assert_eq!(percent_label(&3.0), "99.9%");
        assert_eq!(percent_label(&5.0), "99.999%");
    }

    #[test]
    fn draws_an_svg_with_both_panels() {
        let mut measured = Latency::default();
        for v in 1..=10_000u64 {
            measured.record(200_000 + v * 30);
        }
        let points: Vec<Point> = (-1..5)
            .map(|t| Point {
                t_s: f64::from(t),
                secs: 1.0,
                rate: 1000.0,
                latency: Some([250_000, 400_000, 900_000, 1_500_000, 2_000_000]),
            })
            .collect();
        let path =
            std::env::temp_dir().join(format!("herald-bench-plot-{}.svg", std::process::id()));
        draw(&path, "test", "delivery latency", &points, &measured).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("second by second") && svg.contains("by percentile"));
        assert!(svg.contains("99.9%") && svg.contains("p99.9"));
        assert!(
            svg.matches("<polyline").count() >= 6,
            "five series and the curve"
        );
    }
}
