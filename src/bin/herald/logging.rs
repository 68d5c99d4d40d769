//! The daemon's logger: env_logger on stderr, filtered by `RUST_LOG` (default `info`), as
//! env_logger's text lines or as one JSON object per line for a log collector.
//!
//! Owns the line formats. What gets logged is the server's business and `main`'s.

use crate::values::LogFormat;
use serde::Serialize;
use std::io::Write;
use std::net::SocketAddr;

/// One JSON log line.
#[derive(Serialize)]
struct JsonLine<'a> {
    /// RFC 3339, UTC, milliseconds: `2026-04-14T09:03:11.208Z`.
    time: String,
    /// `ERROR`, `WARN`, `INFO`, `DEBUG` or `TRACE`.
    level: &'static str,
    /// The module that logged (`herald::server`).
    target: &'a str,
    /// The message, without the peer address when that is lifted into `peer`.
    message: &'a str,
    /// The client's address, for messages about one connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    peer: Option<&'a str>,
    /// The worker whose loop logged the line (with `--workers`).
    #[serde(skip_serializing_if = "Option::is_none")]
    worker: Option<u32>,
}

/// The worker number of the calling thread, if it is one of `--workers`' loops (their
/// threads are named `herald-worker-N`), so that their lines say which one speaks.
fn worker() -> Option<u32> {
    std::thread::current()
        .name()?
        .strip_prefix("herald-worker-")?
        .parse()
        .ok()
}

/// Split `"ADDR: rest"` (how the server starts every line about one connection) into the
/// address and the rest; `None` for any other message.
pub fn split_peer(message: &str) -> Option<(&str, &str)> {
    let (head, rest) = message.split_once(": ")?;
    head.parse::<SocketAddr>().ok()?;
    Some((head, rest))
}

/// A log record as one line of JSON (with its newline).
fn json_line(time: String, record: &log::Record<'_>) -> String {
    let text = record.args().to_string();
    let (peer, message) = match split_peer(&text) {
        Some((peer, rest)) => (Some(peer), rest),
        None => (None, text.as_str()),
    };
    let line = JsonLine {
        time,
        level: record.level().as_str(),
        target: record.target(),
        message,
        peer,
        worker: worker(),
    };
    // Serializing a struct of strings cannot fail; keep a line anyway if it ever does.
    let mut out = serde_json::to_string(&line)
        .unwrap_or_else(|e| format!("{{\"level\":\"ERROR\",\"message\":\"log line: {e}\"}}"));
    out.push('\n');
    out
}

/// Install the logger for the whole process (once, before anything logs).
pub fn init(format: LogFormat) {
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    if format == LogFormat::Json {
        builder.format(|buf, record| {
            let time = buf.timestamp_millis().to_string();
            buf.write_all(json_line(time, record).as_bytes())
        });
    } else {
        // env_logger's own layout, with the worker named when a worker logs.
        builder.format(|buf, record| {
            let level_style = buf.default_level_style(record.level());
            let time = buf.timestamp_seconds();
            let level = record.level();
            let target = record.target();
            match worker() {
                Some(n) => writeln!(
                    buf,
                    "[{time} {level_style}{level:<5}{level_style:#} {target} w{n}] {}",
                    record.args()
                ),
                None => writeln!(
                    buf,
                    "[{time} {level_style}{level:<5}{level_style:#} {target}] {}",
                    record.args()
                ),
            }
        });
    }
    builder.init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_is_lifted_only_from_an_address() {
        assert_eq!(
            split_peer("127.0.0.1:5000: handshake refused: 403"),
            Some(("127.0.0.1:5000", "handshake refused: 403"))
        );
        assert_eq!(split_peer("[::1]:80: closed"), Some(("[::1]:80", "closed")));
        assert_eq!(split_peer("shutting down: 3 connections"), None);
        assert_eq!(split_peer("listening on ws://127.0.0.1:80"), None);
    }

    #[test]
    fn json_lines_escape_and_carry_the_fields() {
        let line = json_line(
            "2026-01-01T00:00:00.000Z".into(),
            &log::Record::builder()
                .args(format_args!("10.0.0.1:9: bad \"quote\"\n{}", '\u{1}'))
                .level(log::Level::Warn)
                .target("herald::server")
                .build(),
        );
        assert!(
            line.ends_with('\n') && line.matches('\n').count() == 1,
            "{line}"
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "WARN");
        assert_eq!(v["target"], "herald::server");
        assert_eq!(v["peer"], "10.0.0.1:9");
        assert_eq!(v["message"], "bad \"quote\"\n\u{1}");
        assert_eq!(v["time"], "2026-01-01T00:00:00.000Z");
    }
}
