//! Output: the flat JSON object on stdout (written by hand: every value is a number, a
//! string or a small list), the human table on stderr, and number formatting for both.

use std::fmt::Write as _;
use std::time::Duration;

// `print!` and `eprint!` panic when their stream is gone (the reader of a pipe quit:
// `herald-bench ... 2>&1 | head -1`); a report nobody reads is no reason to crash, so every
// line herald-bench prints goes through these instead.

/// `eprintln!` without the panic on a closed stderr.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
/// `println!` without the panic on a closed stdout.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}
pub(crate) use {errln, outln};

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

    /// `{...` with no field yet.
    pub fn empty() -> Json {
        Json {
            out: String::from("{"),
        }
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

    /// A list of strings.
    pub fn str_list(&mut self, key: &str, values: &[String]) {
        let mut list = String::from("[");
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                list.push(',');
            }
            escape(&mut list, v);
        }
        list.push(']');
        self.raw(key, &list);
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
        errln!("{}", s.trim_end_matches('\n'));
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

#[cfg(test)]
mod tests {
    use super::*;

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
