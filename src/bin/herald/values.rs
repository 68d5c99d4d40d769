//! The daemon's setting values, checked once for both sources: a flag's text (`FromStr`)
//! and a config file's TOML value (`Deserialize`) go through the same check, so the flag and
//! the key accept exactly the same values. `Serialize`/`Display` write what they read back.
//!
//! Owns value types and their ranges only; which key or flag holds which value is
//! `settings` and `cli`.

use herald::SlowPolicy;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// `Deserialize` through `FromStr` (a TOML string) and `Serialize` through `Display`.
macro_rules! as_string {
    ($t:ty) => {
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d)?.parse().map_err(de::Error::custom)
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}

/// A TOML integer or float, as f64 (seconds), or an integer exactly (counts).
#[derive(Clone, Copy)]
enum Number {
    Int(i128),
    Float(f64),
}

struct NumberVisitor(&'static str);

impl Visitor<'_> for NumberVisitor {
    type Value = Number;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Number, E> {
        Ok(Number::Int(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Number, E> {
        Ok(Number::Int(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Number, E> {
        Ok(Number::Float(v))
    }
}

fn number<'de, D: Deserializer<'de>>(d: D, expecting: &'static str) -> Result<Number, D::Error> {
    d.deserialize_any(NumberVisitor(expecting))
}

/// An integer from a TOML value: floats are refused with `expecting`.
fn integer<'de, D: Deserializer<'de>>(d: D, expecting: &'static str) -> Result<i128, D::Error> {
    match number(d, expecting)? {
        Number::Int(n) => Ok(n),
        Number::Float(v) => Err(de::Error::invalid_type(
            de::Unexpected::Float(v),
            &expecting,
        )),
    }
}

/// A count or a size in bytes, at least 1 (connections, message size, backlog).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Positive(pub usize);

impl Positive {
    const EXPECTING: &str = "a whole number of at least 1";

    fn check(n: i128) -> Result<Positive, String> {
        match usize::try_from(n) {
            Ok(n) if n >= 1 => Ok(Positive(n)),
            _ => Err(format!("{n} is not {}", Self::EXPECTING)),
        }
    }
}

impl FromStr for Positive {
    type Err = String;
    fn from_str(raw: &str) -> Result<Positive, String> {
        let n: i128 = raw
            .parse()
            .map_err(|_| format!("'{raw}' is not {}", Self::EXPECTING))?;
        Positive::check(n)
    }
}

impl<'de> Deserialize<'de> for Positive {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Positive::check(integer(d, Self::EXPECTING)?).map_err(de::Error::custom)
    }
}

impl Serialize for Positive {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0 as u64)
    }
}

/// A size in bytes that may be 0 (the deflate threshold).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bytes(pub usize);

impl Bytes {
    const EXPECTING: &str = "a whole number of bytes (0 or more)";

    fn check(n: i128) -> Result<Bytes, String> {
        usize::try_from(n)
            .map(Bytes)
            .map_err(|_| format!("{n} is not {}", Self::EXPECTING))
    }
}

impl FromStr for Bytes {
    type Err = String;
    fn from_str(raw: &str) -> Result<Bytes, String> {
        let n: i128 = raw
            .parse()
            .map_err(|_| format!("'{raw}' is not {}", Self::EXPECTING))?;
        Bytes::check(n)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Bytes::check(integer(d, Self::EXPECTING)?).map_err(de::Error::custom)
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0 as u64)
    }
}

/// The number of event loops: 1 to `herald::cluster::workers::MAX_WORKERS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Workers(pub usize);

impl Workers {
    const EXPECTING: &str = "a whole number of workers from 1 to 64";

    fn check(n: i128) -> Result<Workers, String> {
        let max = herald::cluster::workers::MAX_WORKERS;
        match usize::try_from(n) {
            Ok(n) if (1..=max).contains(&n) => Ok(Workers(n)),
            _ => Err(format!("{n} is not a number of workers from 1 to {max}")),
        }
    }
}

impl FromStr for Workers {
    type Err = String;
    fn from_str(raw: &str) -> Result<Workers, String> {
        let n: i128 = raw
            .parse()
            .map_err(|_| format!("'{raw}' is not {}", Self::EXPECTING))?;
        Workers::check(n)
    }
}

impl<'de> Deserialize<'de> for Workers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Workers::check(integer(d, Self::EXPECTING)?).map_err(de::Error::custom)
    }
}

impl Serialize for Workers {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0 as u64)
    }
}

/// Seconds written as a number (`1.5`): `Some` a positive duration under 10^9 s, `None` for
/// 0 where `zero_is_off`.
fn duration(secs: f64, zero_is_off: bool) -> Result<Option<Duration>, String> {
    if zero_is_off && secs == 0.0 {
        return Ok(None);
    }
    if !(secs > 0.0 && secs < 1e9) {
        let what = if zero_is_off {
            "a number of seconds (0 for off)"
        } else {
            "a positive number of seconds"
        };
        return Err(format!("{secs} is not {what}"));
    }
    Ok(Some(Duration::from_secs_f64(secs)))
}

fn parse_seconds(raw: &str, zero_is_off: bool) -> Result<Option<Duration>, String> {
    // f64's FromStr takes "inf" and "nan": `duration` refuses them.
    let secs: f64 = raw
        .parse()
        .map_err(|_| format!("'{raw}' is not a number of seconds"))?;
    duration(secs, zero_is_off)
}

fn deserialize_seconds<'de, D: Deserializer<'de>>(
    d: D,
    zero_is_off: bool,
) -> Result<Option<Duration>, D::Error> {
    let secs = match number(d, "a number of seconds")? {
        Number::Int(n) => n as f64,
        Number::Float(v) => v,
    };
    duration(secs, zero_is_off).map_err(de::Error::custom)
}

/// Seconds as TOML writes them: an integer when whole (`10`), else a float (`1.5`).
fn serialize_seconds<S: Serializer>(d: Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        None => s.serialize_u64(0),
        Some(d) if d.subsec_nanos() == 0 => s.serialize_u64(d.as_secs()),
        Some(d) => s.serialize_f64(d.as_secs_f64()),
    }
}

/// A timeout: a positive number of seconds (fractions allowed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seconds(pub Duration);

impl FromStr for Seconds {
    type Err = String;
    fn from_str(raw: &str) -> Result<Seconds, String> {
        parse_seconds(raw, false).map(|d| Seconds(d.unwrap_or_default()))
    }
}

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_seconds(d, false).map(|d| Seconds(d.unwrap_or_default()))
    }
}

impl Serialize for Seconds {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_seconds(Some(self.0), s)
    }
}

/// A timeout that 0 turns off (the idle timeout).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SecondsOrOff(pub Option<Duration>);

impl FromStr for SecondsOrOff {
    type Err = String;
    fn from_str(raw: &str) -> Result<SecondsOrOff, String> {
        parse_seconds(raw, true).map(SecondsOrOff)
    }
}

impl<'de> Deserialize<'de> for SecondsOrOff {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_seconds(d, true).map(SecondsOrOff)
    }
}

impl Serialize for SecondsOrOff {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_seconds(self.0, s)
    }
}

/// Which handler the daemon runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Every message goes to every other client of its room.
    Chat,
    /// Every message goes back to its sender.
    Echo,
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(raw: &str) -> Result<Mode, String> {
        match raw {
            "chat" => Ok(Mode::Chat),
            "echo" => Ok(Mode::Echo),
            other => Err(format!("mode must be chat or echo, not '{other}'")),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Chat => "chat",
            Mode::Echo => "echo",
        })
    }
}

as_string!(Mode);

/// The slow-consumer policy as written (`close` or `drop`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy(pub SlowPolicy);

impl FromStr for Policy {
    type Err = String;
    fn from_str(raw: &str) -> Result<Policy, String> {
        match raw {
            "close" => Ok(Policy(SlowPolicy::Close)),
            "drop" => Ok(Policy(SlowPolicy::Drop)),
            other => Err(format!("slow policy must be close or drop, not '{other}'")),
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            SlowPolicy::Close => "close",
            SlowPolicy::Drop => "drop",
        })
    }
}

as_string!(Policy);

/// How log lines are written to stderr.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// env_logger's human-readable lines (the default).
    #[default]
    Text,
    /// One JSON object per line: time, level, target, message, and peer where there is one.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(raw: &str) -> Result<LogFormat, String> {
        match raw {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("log format must be text or json, not '{other}'")),
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        })
    }
}

as_string!(LogFormat);

/// A subprotocol name (RFC 6455 section 4.1: a token, so printable ASCII without commas
/// or spaces).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Protocol(pub String);

impl FromStr for Protocol {
    type Err = String;
    fn from_str(raw: &str) -> Result<Protocol, String> {
        if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_graphic() && b != b',') {
            return Err(format!("invalid subprotocol name '{raw}'"));
        }
        Ok(Protocol(raw.to_string()))
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

as_string!(Protocol);

/// An origin for the allow-list, as browsers send it (RFC 6454 section 6.1:
/// `scheme://host[:port]`, no path, no trailing slash), checked by `herald::check_origin`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin(pub String);

impl FromStr for Origin {
    type Err = String;
    fn from_str(raw: &str) -> Result<Origin, String> {
        herald::check_origin(raw)
            .map_err(|problem| format!("invalid origin '{raw}': {problem}"))?;
        Ok(Origin(raw.to_string()))
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

as_string!(Origin);

/// A Pusher app, `ID:KEY:SECRET[,option[=value]...]` (`herald::pusher::App`'s syntax).
/// Its error never repeats the secret.
#[cfg(feature = "pusher")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PusherAppSpec(pub String);

#[cfg(feature = "pusher")]
impl FromStr for PusherAppSpec {
    type Err = String;
    fn from_str(raw: &str) -> Result<PusherAppSpec, String> {
        raw.parse::<herald::pusher::App>()
            .map_err(|e| format!("invalid Pusher app: {e}"))?;
        Ok(PusherAppSpec(raw.to_string()))
    }
}

#[cfg(feature = "pusher")]
impl fmt::Display for PusherAppSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(feature = "pusher")]
as_string!(PusherAppSpec);

/// This instance's node id in Redis (`herald::cluster::check_node_id`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeId(pub String);

impl FromStr for NodeId {
    type Err = String;
    fn from_str(raw: &str) -> Result<NodeId, String> {
        herald::cluster::check_node_id(raw)?;
        Ok(NodeId(raw.to_string()))
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

as_string!(NodeId);

/// A Redis URL this build can use (checked without connecting). Its errors never repeat
/// the password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisUrl(pub String);

impl FromStr for RedisUrl {
    type Err = String;
    fn from_str(raw: &str) -> Result<RedisUrl, String> {
        #[cfg(feature = "redis")]
        herald::cluster::redis::check_url(raw)?;
        #[cfg(not(feature = "redis"))]
        return Err(format!(
            "cannot use the Redis URL {}: this herald is built without the cargo feature \
             `redis` (redis:// URLs need it)",
            herald::cluster::redact_url(raw)
        ));
        #[cfg(feature = "redis")]
        Ok(RedisUrl(raw.to_string()))
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

as_string!(RedisUrl);

as_string!(crate::listen::Listen);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_from_text() {
        assert_eq!("5".parse(), Ok(Positive(5)));
        for bad in ["0", "-1", "1.5", "x", ""] {
            assert!(bad.parse::<Positive>().is_err(), "{bad}");
        }
        assert_eq!("0".parse(), Ok(Bytes(0)));
        assert_eq!("64".parse(), Ok(Workers(64)));
        assert!("65".parse::<Workers>().is_err());
        assert_eq!("1.5".parse(), Ok(Seconds(Duration::from_millis(1500))));
        for bad in ["0", "-1", "nan", "inf", "1e9"] {
            assert!(bad.parse::<Seconds>().is_err(), "{bad}");
        }
        assert_eq!("0".parse(), Ok(SecondsOrOff(None)));
        assert!("-0.5".parse::<SecondsOrOff>().is_err());
    }

    #[test]
    fn words_read_back() {
        for m in ["chat", "echo"] {
            assert_eq!(m.parse::<Mode>().unwrap().to_string(), m);
        }
        for p in ["close", "drop"] {
            assert_eq!(p.parse::<Policy>().unwrap().to_string(), p);
        }
        for l in ["text", "json"] {
            assert_eq!(l.parse::<LogFormat>().unwrap().to_string(), l);
        }
        assert!("yaml".parse::<LogFormat>().is_err());
        assert!("a,b".parse::<Protocol>().is_err());
        assert!("https://a.example/".parse::<Origin>().is_err());
        assert!("https://a.example:8443".parse::<Origin>().is_ok());
        assert!("has space".parse::<NodeId>().is_err());
    }
}

/// A proxy whose forwarding header is believed (`--trusted-proxy`): a network in CIDR
/// notation, a bare address, or `unix:` (`herald::TrustedProxy`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proxy(pub herald::TrustedProxy);

impl FromStr for Proxy {
    type Err = String;
    fn from_str(raw: &str) -> Result<Proxy, String> {
        raw.parse()
            .map(Proxy)
            .map_err(|e| format!("invalid trusted proxy: {e} (or unix: for Unix-socket peers)"))
    }
}

impl fmt::Display for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

as_string!(Proxy);

/// The header that names the client behind a trusted proxy (`--real-ip-header`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RealIp(pub herald::RealIpHeader);

impl FromStr for RealIp {
    type Err = String;
    fn from_str(raw: &str) -> Result<RealIp, String> {
        raw.parse().map(RealIp).map_err(|e| e.to_string())
    }
}

impl fmt::Display for RealIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

as_string!(RealIp);

/// A Unix socket file's permission bits, in octal as chmod takes them (`660`, `0660`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileMode(pub u32);

impl FromStr for FileMode {
    type Err = String;
    fn from_str(raw: &str) -> Result<FileMode, String> {
        let digits = raw.strip_prefix("0o").unwrap_or(raw);
        match u32::from_str_radix(digits, 8) {
            Ok(mode) if !digits.is_empty() && digits.len() <= 4 && mode <= 0o777 => {
                Ok(FileMode(mode))
            }
            _ => Err(format!(
                "invalid file mode '{raw}': octal permission bits as chmod takes them, e.g. 660"
            )),
        }
    }
}

impl fmt::Display for FileMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:03o}", self.0)
    }
}

as_string!(FileMode);

#[cfg(test)]
mod proxy_value_tests {
    use super::*;

    #[test]
    fn proxies_headers_and_modes() {
        assert_eq!(
            "10.0.0.0/8".parse::<Proxy>().unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!("unix:".parse::<Proxy>().unwrap().to_string(), "unix:");
        let e = "10.0.0.1/8".parse::<Proxy>().unwrap_err();
        assert!(e.contains("10.0.0.0/8"), "{e}");
        assert_eq!(
            "Forwarded".parse::<RealIp>().unwrap().to_string(),
            "forwarded"
        );
        assert!("x-real-ip".parse::<RealIp>().is_err());
        assert_eq!("660".parse::<FileMode>(), Ok(FileMode(0o660)));
        assert_eq!("0600".parse::<FileMode>(), Ok(FileMode(0o600)));
        assert_eq!(FileMode(0o660).to_string(), "660");
        for bad in ["", "8", "1000", "rw", "-1", "0o"] {
            assert!(bad.parse::<FileMode>().is_err(), "{bad}");
        }
    }
}
