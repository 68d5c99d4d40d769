//! Second by second: each thread records what happened into one-second slices (a latency
//! histogram and counts), and a shared sink adds up the threads' slices of each second and
//! writes it as one JSON line (`--interval-json`) and one point of the plot (`--plot`).
//!
//! The edges of the slices are fixed by the run's clock alone (its start, and the start
//! and end of the measured interval, which are edges too), so every thread cuts the same
//! slices without talking to the others. A thread's slices that fall inside the measured
//! interval also add up to its measured latency histogram, so recording a delivery costs
//! one histogram update whatever is asked for. No sockets; the only clock is the caller's
//! `now`.

use crate::latency::{Latency, QUANTILES};
use crate::output::Json;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// A second, in ns.
pub const SECOND: u64 = 1_000_000_000;

/// Where slices start and end, in ns on the run's clock: from `start` one second at a time;
/// `from` and `to` (the measured interval) are edges too. After `to`, nothing is recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edges {
    pub start: u64,
    pub from: u64,
    pub to: u64,
}

impl Edges {
    /// The edge after `end`.
    pub fn next(&self, end: u64) -> u64 {
        if end < self.from {
            end.saturating_add(SECOND).min(self.from)
        } else if end < self.to {
            end.saturating_add(SECOND).min(self.to)
        } else {
            end.saturating_add(SECOND)
        }
    }
}

/// One slice's record from one thread (or, in the sink, from all).
#[derive(Clone, Debug, Default)]
pub struct Slice {
    /// Latencies of what completed in the slice (deliveries, handshakes).
    pub latency: Latency,
    /// Deliveries or handshakes.
    pub done: u64,
    /// Messages sent.
    pub sent: u64,
    /// Errors or failures.
    pub errors: u64,
    /// Messages lost.
    pub lost: u64,
}

impl Slice {
    fn merge(&mut self, o: &Slice) {
        self.latency.merge(&o.latency);
        self.done += o.done;
        self.sent += o.sent;
        self.errors += o.errors;
        self.lost += o.lost;
    }

    fn clear(&mut self) {
        self.latency.clear();
        self.done = 0;
        self.sent = 0;
        self.errors = 0;
        self.lost = 0;
    }
}

/// One thread's recorder.
pub struct Recorder {
    edges: Edges,
    index: u64,
    start: u64,
    end: u64,
    slice: Slice,
    /// The latencies of the measured interval, slice by slice.
    pub measured: Latency,
    sink: Option<Arc<Intervals>>,
}

impl Recorder {
    /// A recorder cutting slices at `edges`, handing each to `sink` if there is one.
    pub fn new(edges: Edges, sink: Option<Arc<Intervals>>) -> Recorder {
        Recorder {
            edges,
            index: 0,
            start: edges.start,
            end: edges.next(edges.start),
            slice: Slice::default(),
            measured: Latency::default(),
            sink,
        }
    }

    /// The slice `now` falls in (closing those that ended before it), or `None` outside
    /// the run (before its start, from `to` on).
    #[inline]
    pub fn at(&mut self, now: u64) -> Option<&mut Slice> {
        if now >= self.end {
            self.roll(now);
        }
        (now >= self.start && now < self.edges.to).then_some(&mut self.slice)
    }

    /// Close every slice that ended by `now`.
    fn roll(&mut self, now: u64) {
        while now >= self.end {
            self.close();
        }
    }

    fn close(&mut self) {
        if self.start >= self.edges.from && self.end <= self.edges.to {
            self.measured.merge(&self.slice.latency);
        }
        if self.end <= self.edges.to
            && let Some(sink) = &self.sink
        {
            sink.submit(self.index, self.start, self.end, &self.slice);
        }
        self.slice.clear();
        self.index += 1;
        self.start = self.end;
        self.end = self.edges.next(self.end);
    }

    /// The run ended at `end` (at most `to`): close every slice, the last one cut short.
    /// Nothing is recorded after it (a run cut short by Ctrl-C still reads for a while).
    pub fn finish(&mut self, end: u64) {
        let end = end.min(self.edges.to);
        self.roll(end);
        if self.start < end {
            self.end = end;
            self.close();
        }
        self.edges.to = end;
    }
}

/// What the lines are called, per command.
#[derive(Clone, Copy, Debug)]
pub struct Names {
    /// What completes (`deliveries`, `handshakes`).
    pub done: &'static str,
    /// The latency fields' prefix (`latency`, `handshake`).
    pub latency: &'static str,
    /// What fails (`errors`, `failures`).
    pub errors: &'static str,
    /// Messages are sent and lost too (broadcast).
    pub messages: bool,
}

/// One second of the whole run, for the plot.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// The slice's end, in seconds since the measured interval began (≤ 0: warm-up).
    pub t_s: f64,
    /// Its length in seconds (1, or less where the run's edges cut it).
    pub secs: f64,
    /// Completions per second.
    pub rate: f64,
    /// Latency at each of `QUANTILES`, then the max (ns); `None` without samples.
    pub latency: Option<[u64; 5]>,
}

struct Pending {
    start: u64,
    end: u64,
    slice: Slice,
    threads: usize,
}

struct Sink {
    pending: BTreeMap<u64, Pending>,
    next: u64,
    file: Option<BufWriter<File>>,
    error: Option<String>,
    points: Vec<Point>,
    stages: Vec<StageTally>,
}

/// One `--stage` of the measured interval, added up from its seconds.
#[derive(Clone, Debug, Default)]
pub struct StageTally {
    /// Its end, in seconds since the measured interval began.
    pub end_s: f64,
    /// The seconds of it that were recorded (less than its length if the run stopped early).
    pub secs: f64,
    pub slice: Slice,
}

/// The shared sink: adds up the threads' slices and writes each second once all threads
/// gave theirs.
pub struct Intervals {
    threads: usize,
    names: Names,
    /// The measured interval's start: the lines' time 0 (set once the run has started).
    from: AtomicU64,
    sink: Mutex<Sink>,
}

impl Intervals {
    /// A sink for `threads` threads, writing JSON lines to `file` if given; `from` is the
    /// start of the measured interval (the lines' time 0).
    pub fn new(threads: usize, names: Names, from: u64, file: Option<File>) -> Intervals {
        Intervals {
            threads,
            names,
            from: AtomicU64::new(from),
            sink: Mutex::new(Sink {
                pending: BTreeMap::new(),
                next: 0,
                file: file.map(BufWriter::new),
                error: None,
                points: Vec::new(),
                stages: Vec::new(),
            }),
        }
    }

    /// The measured interval starts at `from` (known once the run started).
    pub fn set_origin(&self, from: u64) {
        self.from.store(from, Relaxed);
    }

    /// Also add up the measured interval stage by stage: `ends_s` are the stages' ends in
    /// seconds since it began, whole seconds (slice edges fall on them, so no slice
    /// straddles two stages).
    pub fn set_stages(&self, ends_s: &[f64]) {
        self.sink.lock().unwrap().stages = ends_s
            .iter()
            .map(|&end_s| StageTally {
                end_s,
                ..StageTally::default()
            })
            .collect();
    }

    /// The stages' tallies (complete after `finish`).
    pub fn stages(&self) -> Vec<StageTally> {
        self.sink.lock().unwrap().stages.clone()
    }

    /// One thread's slice `index`, from `start` to `end`.
    pub fn submit(&self, index: u64, start: u64, end: u64, slice: &Slice) {
        let mut sink = self.sink.lock().unwrap();
        let p = sink.pending.entry(index).or_insert_with(|| Pending {
            start,
            end,
            slice: Slice::default(),
            threads: 0,
        });
        p.slice.merge(slice);
        p.threads += 1;
        while let Some(p) = sink.pending.first_key_value().map(|(&i, p)| (i, p.threads))
            && p.0 == sink.next
            && p.1 >= self.threads
        {
            let done = sink.pending.pop_first().unwrap().1;
            self.emit(&mut sink, &done);
            sink.next += 1;
        }
    }

    fn emit(&self, sink: &mut Sink, p: &Pending) {
        let secs = (p.end - p.start) as f64 / 1e9;
        let per_s = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        let from = self.from.load(Relaxed);
        let t_s = (p.end as f64 - from as f64) / 1e9;
        let h = &p.slice.latency;
        let n = self.names;
        // With --stage: which one this second belongs to (1, 2, ...).
        let stage = (p.end > from)
            .then(|| sink.stages.iter().position(|s| t_s <= s.end_s + 1e-6))
            .flatten();
        let mut json = Json::empty();
        json.num("t_s", t_s, 3);
        // A slice is a second, but the run's edges cut some short: rates are per second
        // of the slice's own length.
        json.num("secs", secs, 3);
        json.str("stage", if p.end <= from { "warmup" } else { "measured" });
        if let Some(i) = stage {
            json.int("stage_index", i as u64 + 1);
        }
        json.int(n.done, p.slice.done);
        json.num(&format!("{}_per_s", n.done), per_s(p.slice.done), 0);
        if n.messages {
            json.num("sent_per_s", per_s(p.slice.sent), 0);
        }
        // No samples: null, not a latency of 0.
        let us = |ns: u64| (h.count() > 0).then_some(ns as f64 / 1e3);
        let mut latency = [0u64; 5];
        for (i, (name, _, q)) in QUANTILES.iter().enumerate() {
            latency[i] = h.quantile(*q);
            json.opt_num(&format!("{}_{name}_us", n.latency), us(latency[i]), 1);
        }
        latency[4] = h.max();
        json.opt_num(&format!("{}_max_us", n.latency), us(latency[4]), 1);
        json.int(n.errors, p.slice.errors);
        if n.messages {
            json.int("lost", p.slice.lost);
        }
        // Each line reaches the file as its second ends, so `tail -f` follows the run.
        if let Some(file) = &mut sink.file
            && let Err(e) = writeln!(file, "{}", json.finish()).and_then(|()| file.flush())
        {
            sink.error.get_or_insert(e.to_string());
        }
        if let Some(stage) = stage.and_then(|i| sink.stages.get_mut(i)) {
            stage.slice.merge(&p.slice);
            stage.secs += secs;
        }
        sink.points.push(Point {
            t_s,
            secs,
            rate: per_s(p.slice.done),
            latency: (h.count() > 0).then_some(latency),
        });
    }

    /// Write what is left (slices some thread never gave: it stopped early) and flush:
    /// the points, or why the file could not be written.
    pub fn finish(&self) -> Result<Vec<Point>, String> {
        let mut sink = self.sink.lock().unwrap();
        while let Some((_, p)) = sink.pending.pop_first() {
            self.emit(&mut sink, &p);
        }
        if let Some(file) = &mut sink.file
            && let Err(e) = file.flush()
        {
            sink.error.get_or_insert(e.to_string());
        }
        match sink.error.take() {
            Some(e) => Err(e),
            None => Ok(std::mem::take(&mut sink.points)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: Names = Names {
        done: "deliveries",
        latency: "latency",
        errors: "errors",
        messages: true,
    };

    #[test]
    fn edges_are_seconds_and_the_measured_interval() {
        let e = Edges {
            start: 100,
            from: 100 + SECOND / 2,
            to: 100 + SECOND / 2 + 2 * SECOND + 7,
        };
        let mut ends = vec![];
        let mut end = e.start;
        while end < e.to {
            end = e.next(end);
            ends.push(end);
        }
        assert_eq!(ends, [e.from, e.from + SECOND, e.from + 2 * SECOND, e.to]);
    }

    #[test]
    fn slices_add_up_across_threads_and_into_the_measured_histogram() {
        let (start, from, to) = (0, SECOND, 3 * SECOND);
        let sink = Arc::new(Intervals::new(2, NAMES, from, None));
        let edges = Edges { start, from, to };
        let mut a = Recorder::new(edges, Some(sink.clone()));
        let mut b = Recorder::new(edges, Some(sink.clone()));
        // Warm-up: one delivery each; measured: thread a delivers in both seconds, b in
        // the second only; then a delivery after the end, which counts nowhere.
        for (thread, at, ns) in [
            (0, SECOND / 2, 1_000),
            (1, SECOND / 2, 1_000),
            (0, SECOND + 5, 2_000),
            (0, 2 * SECOND + 5, 3_000),
            (1, 2 * SECOND + 9, 5_000),
        ] {
            let r = if thread == 0 { &mut a } else { &mut b };
            let s = r.at(at).unwrap();
            s.done += 1;
            s.latency.record(ns);
        }
        assert!(a.at(3 * SECOND).is_none(), "the run is over");
        a.finish(to);
        b.finish(to);
        assert_eq!((a.measured.count(), b.measured.count()), (2, 1));
        let points = sink.finish().unwrap();
        let summary: Vec<(f64, f64, Option<u64>)> = points
            .iter()
            .map(|p| (p.t_s, p.rate, p.latency.map(|l| l[4])))
            .collect();
        assert_eq!(
            summary,
            [
                (0.0, 2.0, Some(1_000)),
                (1.0, 1.0, Some(2_000)),
                (2.0, 2.0, Some(5_003)), // 5,000 ns to within 0.1%
            ]
        );
    }

    #[test]
    fn each_line_reaches_the_file_as_its_second_ends() {
        let path = std::env::temp_dir().join(format!("herald-intervals-{}", std::process::id()));
        let file = File::create(&path).unwrap();
        let (start, from, to) = (0, SECOND, 3 * SECOND + SECOND / 2);
        let sink = Arc::new(Intervals::new(1, NAMES, from, Some(file)));
        sink.set_stages(&[1.0, 2.5]);
        let mut r = Recorder::new(Edges { start, from, to }, Some(sink.clone()));
        // Nothing in the warm-up second; one delivery in the first measured second.
        let s = r.at(SECOND + 5).unwrap();
        s.done += 1;
        s.latency.record(2_000);
        r.at(2 * SECOND);
        let lines = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = lines.lines().collect();
        assert_eq!(lines.len(), 2, "before finish: {lines:?}");
        // No samples: null, not 0; the slice's length beside its end.
        assert!(
            lines[0].starts_with(r#"{"t_s":0.000,"secs":1.000,"stage":"warmup","deliveries":0"#)
                && lines[0].contains(r#""latency_p50_us":null"#),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].contains(r#""stage":"measured","stage_index":1,"deliveries":1"#)
                && lines[1].contains(r#""latency_max_us":2.0"#),
            "{}",
            lines[1]
        );
        r.finish(to);
        sink.finish().unwrap();
        let all = std::fs::read_to_string(&path).unwrap();
        let last = all.lines().last().unwrap();
        // The last second is cut short by the run's end, and is in the second stage.
        assert!(
            last.starts_with(r#"{"t_s":2.500,"secs":0.500,"stage":"measured","stage_index":2"#),
            "{last}"
        );
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn nothing_is_recorded_after_finish() {
        let sink = Arc::new(Intervals::new(1, NAMES, 0, None));
        let edges = Edges {
            start: 0,
            from: 0,
            to: 10 * SECOND,
        };
        let mut r = Recorder::new(edges, Some(sink.clone()));
        r.at(SECOND / 2).unwrap().done += 1;
        // Cut at 1.5 s (Ctrl-C): a delivery read after it counts nowhere.
        r.finish(SECOND + SECOND / 2);
        assert!(r.at(SECOND + SECOND / 2 + 1).is_none());
        assert!(r.at(3 * SECOND).is_none());
        assert_eq!(sink.finish().unwrap().len(), 2);
    }

    #[test]
    fn a_run_without_an_end_is_cut_where_it_stops() {
        let sink = Arc::new(Intervals::new(1, NAMES, 0, None));
        let mut r = Recorder::new(
            Edges {
                start: 0,
                from: 0,
                to: u64::MAX,
            },
            Some(sink.clone()),
        );
        r.at(SECOND + 1).unwrap().done += 3;
        r.finish(SECOND + SECOND / 2);
        let points = sink.finish().unwrap();
        assert_eq!(points.len(), 2);
        assert_eq!(
            (points[1].t_s, points[1].rate),
            (1.5, 6.0),
            "3 in half a second"
        );
        assert_eq!(points[0].latency, None, "no samples in the first second");
    }

    #[test]
    fn stages_add_up_their_own_seconds() {
        // Measured from 1 s: a stage of 1 s, then one of 2 s.
        let (start, from, to) = (0, SECOND, 4 * SECOND);
        let sink = Arc::new(Intervals::new(1, NAMES, from, None));
        sink.set_stages(&[1.0, 3.0]);
        let mut r = Recorder::new(Edges { start, from, to }, Some(sink.clone()));
        for (at, ns) in [
            (SECOND / 2, 9_000), // warm-up: in no stage
            (SECOND + 1, 1_000),
            (2 * SECOND + 1, 2_000),
            (3 * SECOND + 1, 4_000),
            (3 * SECOND + 2, 4_000),
        ] {
            let s = r.at(at).unwrap();
            s.done += 1;
            s.latency.record(ns);
        }
        r.finish(to);
        sink.finish().unwrap();
        let stages: Vec<(f64, u64, u64)> = sink
            .stages()
            .iter()
            .map(|s| (s.secs, s.slice.done, s.slice.latency.max()))
            .collect();
        assert_eq!(stages, [(1.0, 1, 1_000), (2.0, 3, 4_001)]);
    }
}
