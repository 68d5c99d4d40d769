//! Posting Pusher webhooks from a helper thread, so the loop never waits for an app's
//! backend.
//!
//! The loops hand events to a bounded channel ([`WebhookSender::send`] never blocks: past
//! [`QUEUE`] waiting events, new ones are dropped, counted and logged). One thread, shared
//! by every loop of the process, takes what is queued (waiting up to [`BATCH_WINDOW`] for
//! more, at most [`MAX_BATCH`] events), groups it by app, and posts one signed body per
//! app and URL (`crate::pusher::webhooks`), retrying a failed post [`ATTEMPTS`] times in
//! all with a growing pause; a 4xx other than 408 and 429 is not retried. Each attempt
//! has connect and read deadlines.
//!
//! Supported URLs: `http://host[:port][/path]`, sent as HTTP/1.1 over a plain
//! `std::net::TcpStream` with `Connection: close`. `https://` URLs are refused when the
//! sender starts (logged once): a TLS client would need a root store herald does not carry;
//! put a local proxy in front of an https endpoint. Owns the thread, the queue and the
//! HTTP exchange; the events, bodies and signatures are `crate::pusher::webhooks`'.

use crate::pusher::webhooks::{self, WebhookEvent};
use crate::pusher::{AppIndex, Apps};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Events that may wait for the thread; past this, new ones are dropped.
pub const QUEUE: usize = 10_000;

/// How long the thread waits for more events after the first of a batch.
pub const BATCH_WINDOW: Duration = Duration::from_millis(50);

/// The most events in one body.
pub const MAX_BATCH: usize = 100;

/// Posts per body and URL, the first included.
pub const ATTEMPTS: u32 = 3;

/// Deadlines of one attempt.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// What the sender counts.
#[derive(Debug, Default)]
pub struct WebhookStats {
    /// Bodies posted and answered 2xx.
    pub delivered: AtomicU64,
    /// Bodies given up on after their attempts.
    pub failed: AtomicU64,
    /// Events dropped because the queue was full.
    pub dropped: AtomicU64,
}

/// The loops' end of the webhook thread. Cloning shares the thread.
#[derive(Clone, Debug)]
pub struct WebhookSender {
    tx: SyncSender<(AppIndex, WebhookEvent)>,
    stats: Arc<WebhookStats>,
}

impl WebhookSender {
    /// Start the thread for `apps` (their `webhook=` URLs). Fails if the thread cannot be
    /// spawned.
    pub fn start(apps: Apps) -> std::io::Result<WebhookSender> {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let stats = Arc::new(WebhookStats::default());
        let thread_stats = stats.clone();
        let targets = targets(&apps);
        std::thread::Builder::new()
            .name("herald-webhooks".into())
            .spawn(move || run(&apps, &targets, &rx, &thread_stats))?;
        Ok(WebhookSender { tx, stats })
    }

    /// Queue an event; never blocks. Dropped (and counted) when the queue is full or the
    /// thread is gone.
    pub fn send(&self, app: AppIndex, event: WebhookEvent) {
        match self.tx.try_send((app, event)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                let n = self.stats.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    log::warn!("pusher webhooks: queue full, {n} event(s) dropped so far");
                }
            }
        }
    }

    /// The counters.
    pub fn stats(&self) -> &WebhookStats {
        &self.stats
    }
}

/// A parsed `http://` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `host:port`, to connect to.
    pub authority: String,
    /// The `Host` header.
    pub host: String,
    /// The request target (`/` if none).
    pub path: String,
}

/// Parse an `http://` URL; `None` for anything else (https included).
pub fn parse_url(url: &str) -> Option<Target> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') || authority.contains(char::is_whitespace) {
        return None;
    }
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    if path.contains(char::is_whitespace) {
        return None;
    }
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(h, p)| !h.ends_with(':') && p.bytes().all(|b| b.is_ascii_digit()))
        && !authority.ends_with(']');
    let with_port = if has_port {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Some(Target {
        authority: with_port,
        host: authority.to_string(),
        path,
    })
}

/// Each app's usable URLs; https and malformed ones are logged once and left out.
fn targets(apps: &Apps) -> Vec<Vec<Target>> {
    apps.iter()
        .map(|(_, app)| {
            app.options
                .webhooks
                .iter()
                .filter_map(|url| {
                    let target = parse_url(url);
                    if target.is_none() {
                        log::warn!(
                            "pusher app {}: webhook {url} not used: only http:// URLs are \
                             supported (put a local proxy in front of an https endpoint)",
                            app.id()
                        );
                    }
                    target
                })
                .collect()
        })
        .collect()
}

fn run(
    apps: &Apps,
    targets: &[Vec<Target>],
    rx: &Receiver<(AppIndex, WebhookEvent)>,
    stats: &WebhookStats,
) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        let until = Instant::now() + BATCH_WINDOW;
        while batch.len() < MAX_BATCH {
            let left = until.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(event) => batch.push(event),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        for (index, app) in apps.iter() {
            let events: Vec<WebhookEvent> = batch
                .iter()
                .filter(|(i, _)| *i == index)
                .map(|(_, e)| e.clone())
                .collect();
            let urls = &targets[index.get()];
            if events.is_empty() || urls.is_empty() {
                continue;
            }
            let time_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let body = webhooks::body(&events, time_ms);
            let headers = webhooks::headers(app, &body);
            for target in urls {
                if post_with_retries(target, &headers, &body) {
                    stats.delivered.fetch_add(1, Ordering::Relaxed);
                } else {
                    stats.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// Post until a 2xx, a final refusal, or [`ATTEMPTS`] tries. Returns whether it landed.
fn post_with_retries(target: &Target, headers: &[(&str, String)], body: &str) -> bool {
    let mut pause = Duration::from_millis(200);
    for attempt in 1..=ATTEMPTS {
        match post(target, headers, body) {
            Ok(status) if (200..300).contains(&status) => return true,
            Ok(status) if (400..500).contains(&status) && status != 408 && status != 429 => {
                log::warn!(
                    "pusher webhook to http://{}{}: refused with {status}, not retried",
                    target.host,
                    target.path
                );
                return false;
            }
            Ok(status) => log::debug!(
                "pusher webhook to http://{}{}: {status} (attempt {attempt})",
                target.host,
                target.path
            ),
            Err(e) => log::debug!(
                "pusher webhook to http://{}{}: {e} (attempt {attempt})",
                target.host,
                target.path
            ),
        }
        if attempt < ATTEMPTS {
            std::thread::sleep(pause);
            pause *= 4;
        }
    }
    log::warn!(
        "pusher webhook to http://{}{}: gave up after {ATTEMPTS} attempts",
        target.host,
        target.path
    );
    false
}

/// One POST; returns the response's status code.
fn post(target: &Target, headers: &[(&str, String)], body: &str) -> std::io::Result<u16> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let addr = target
        .authority
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| bad("the host has no address"))?;
    let mut stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut request = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: herald/{}\r\nContent-Length: {}\r\n\
         Connection: close\r\n",
        target.path,
        target.host,
        env!("CARGO_PKG_VERSION"),
        body.len()
    );
    for (name, value) in headers {
        request.push_str(name);
        request.push_str(": ");
        request.push_str(value);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes())?;
    // The status line is all that matters: read until it is complete (bounded).
    let mut head = Vec::with_capacity(128);
    let mut buf = [0u8; 512];
    while !head.contains(&b'\n') && head.len() < 4096 {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = std::str::from_utf8(line).map_err(|_| bad("status line is not UTF-8"))?;
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next().and_then(|s| s.parse().ok())) {
        (Some(version), Some(status)) if version.starts_with("HTTP/1.") => Ok(status),
        _ => Err(bad("no HTTP status line")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_http_urls_only() {
        let t = parse_url("http://127.0.0.1:8080/hooks/pusher?x=1").unwrap();
        assert_eq!(t.authority, "127.0.0.1:8080");
        assert_eq!(t.host, "127.0.0.1:8080");
        assert_eq!(t.path, "/hooks/pusher?x=1");
        let t = parse_url("http://example.test").unwrap();
        assert_eq!(
            (t.authority.as_str(), t.path.as_str()),
            ("example.test:80", "/")
        );
        let t = parse_url("http://[::1]:9/h").unwrap();
        assert_eq!(t.authority, "[::1]:9");
        let t = parse_url("http://[::1]/h").unwrap();
        assert_eq!(t.authority, "[::1]:80");
        assert_eq!(parse_url("https://example.test/"), None);
        assert_eq!(parse_url("http://user@host/"), None);
        assert_eq!(parse_url("http:///x"), None);
        assert_eq!(parse_url("http://h/a b"), None);
    }
}
