//! The command line after the command name: `--name value`, `--name=value` and switches,
//! some repeatable, each checked against the command's list. Owns the parsing of values
//! (counts, seconds, rates) and their error messages; what each option means is `cli`'s.

use std::collections::HashMap;
use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

/// The flags given after the command, by name (every value of a repeated flag, in order).
#[derive(Debug, Default)]
pub struct Flags {
    values: HashMap<String, Vec<String>>,
}

impl Flags {
    /// Parse `args` against the flags that take a value (`known`), those that may be given
    /// more than once (`repeatable`, a subset of `known`) and the switches.
    pub fn parse(
        args: &[String],
        known: &[&str],
        repeatable: &[&str],
        switches: &[&str],
    ) -> Result<Flags, String> {
        let mut values: HashMap<String, Vec<String>> = HashMap::new();
        let mut i = 0;
        while i < args.len() {
            let arg = &args[i];
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            if switches.contains(&name.as_str()) {
                if inline.is_some() {
                    return Err(format!("{name} takes no value"));
                }
                values.insert(name, vec![String::new()]);
            } else if known.contains(&name.as_str()) {
                let value = match inline {
                    Some(v) => v,
                    None => {
                        i += 1;
                        let v = args
                            .get(i)
                            .cloned()
                            .ok_or_else(|| format!("{name} needs a value"))?;
                        // `--clients --quiet`: the value was forgotten, not "--quiet".
                        let next = v.split_once('=').map_or(v.as_str(), |(n, _)| n);
                        if known.contains(&next) || switches.contains(&next) {
                            return Err(format!("{name} needs a value (before {v})"));
                        }
                        v
                    }
                };
                let slot = values.entry(name.clone()).or_default();
                if !slot.is_empty() && !repeatable.contains(&name.as_str()) {
                    return Err(format!("{name} given twice"));
                }
                slot.push(value);
            } else {
                return Err(format!("unknown argument '{arg}'"));
            }
            i += 1;
        }
        Ok(Flags { values })
    }

    /// The value of a flag given once.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    /// Every value of a repeatable flag, in order.
    pub fn all(&self, name: &str) -> &[String] {
        self.values.get(name).map_or(&[], Vec::as_slice)
    }

    /// Whether a flag or switch was given.
    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// A value parsed, or `default`.
    pub fn get<T: FromStr>(&self, name: &str, default: T) -> Result<T, String>
    where
        T::Err: Display,
    {
        match self.value(name) {
            None => Ok(default),
            Some(raw) => raw
                .parse()
                .map_err(|e| format!("invalid value '{raw}' for {name}: {e}")),
        }
    }

    /// A count of at least 1.
    pub fn count(&self, name: &str, default: usize) -> Result<usize, String> {
        match self.get(name, default)? {
            0 => Err(format!("{name} must be at least 1")),
            n => Ok(n),
        }
    }

    /// A number of seconds (fractions allowed; a unit, ms, s or m, may follow), positive
    /// unless `allow_zero`.
    pub fn secs(&self, name: &str, default: f64, allow_zero: bool) -> Result<Duration, String> {
        let s = match self.value(name) {
            None => default,
            Some(raw) => seconds(raw).ok_or_else(|| {
                format!("{name}: '{raw}' is not a number of seconds (10, 2.5, 500ms, 2m)")
            })?,
        };
        if !(0.0..1e7).contains(&s) || (s == 0.0 && !allow_zero) {
            return Err(format!(
                "{name} must be a {}number of seconds",
                if allow_zero { "" } else { "positive " }
            ));
        }
        Ok(Duration::from_secs_f64(s))
    }

    /// A positive rate (events per second), if given.
    pub fn rate(&self, name: &str) -> Result<Option<f64>, String> {
        let Some(raw) = self.value(name) else {
            return Ok(None);
        };
        match raw.trim_end_matches("/s").parse::<f64>() {
            Ok(r) if r > 0.0 && r <= 1e9 => Ok(Some(r)),
            _ => Err(format!(
                "{name}: '{raw}' is not a rate (a number of events per second, above 0)"
            )),
        }
    }
}

/// `raw` in seconds: a number, bare or followed by ms, s or m.
fn seconds(raw: &str) -> Option<f64> {
    let (number, scale) = if let Some(n) = raw.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = raw.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = raw.strip_suffix('m') {
        (n, 60.0)
    } else {
        (raw, 1.0)
    };
    let n: f64 = number.trim().parse().ok()?;
    n.is_finite().then_some(n * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn values_switches_and_repeats() {
        let f = Flags::parse(
            &args("--a 1 --b=x --h A --h=B --q"),
            &["--a", "--b", "--h"],
            &["--h"],
            &["--q"],
        )
        .unwrap();
        assert_eq!((f.value("--a"), f.value("--b")), (Some("1"), Some("x")));
        assert_eq!(f.all("--h"), ["A", "B"]);
        assert!(f.has("--q") && !f.has("--z"));
        assert_eq!(f.count("--a", 5), Ok(1));
        assert_eq!(f.count("--z", 5), Ok(5));
        for bad in ["--a 1 --a 2", "--q=1", "--a", "--zz 1", "stray"] {
            assert!(
                Flags::parse(&args(bad), &["--a"], &[], &["--q"]).is_err(),
                "{bad}"
            );
        }
        let f = Flags::parse(
            &args("--r 2500/s --s 0.5 --z 0"),
            &["--r", "--s", "--z"],
            &[],
            &[],
        )
        .unwrap();
        assert_eq!(f.rate("--r"), Ok(Some(2500.0)));
        assert_eq!(f.rate("--none"), Ok(None));
        assert!(f.rate("--z").is_err());
        assert_eq!(f.secs("--s", 1.0, false), Ok(Duration::from_millis(500)));
        assert!(f.secs("--z", 1.0, false).is_err());
        assert!(f.count("--z", 1).is_err());
    }

    #[test]
    fn seconds_take_a_unit_and_a_forgotten_value_is_named() {
        let f = Flags::parse(
            &args("--a 2s --b 500ms --c 1.5m --d 3 --e abc --f 2h"),
            &["--a", "--b", "--c", "--d", "--e", "--f"],
            &[],
            &[],
        )
        .unwrap();
        let secs = |n| f.secs(n, 1.0, false).map(|d| d.as_secs_f64());
        assert_eq!(
            [secs("--a"), secs("--b"), secs("--c"), secs("--d")],
            [Ok(2.0), Ok(0.5), Ok(90.0), Ok(3.0)]
        );
        for bad in ["--e", "--f"] {
            let e = secs(bad).unwrap_err();
            assert!(e.contains("is not a number of seconds"), "{e}");
        }
        // `--clients --quiet`: the value is missing, not "--quiet".
        let e = Flags::parse(&args("--a --q"), &["--a"], &[], &["--q"]).unwrap_err();
        assert_eq!(e, "--a needs a value (before --q)");
        let e = Flags::parse(&args("--a --a=1"), &["--a"], &[], &[]).unwrap_err();
        assert_eq!(e, "--a needs a value (before --a=1)");
    }
}
