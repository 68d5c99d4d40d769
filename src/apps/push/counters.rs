//! What the push wrapper counted, and its lines of `GET /metrics`.
//!
//! Owns the counters (atomics, so that the clones of one wrapper, one per worker, add up
//! to one process-wide total) and their Prometheus text, appended to the server's through
//! `Handler::metrics`. Every label value is fixed in advance, so a series never appears
//! out of nowhere and nothing here allocates per event. It decides nothing.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// The reasons of `herald_auth_failures_total` (`crate::push::token::REASONS`, repeated
/// so that a build without the `jwt` feature renders the same series).
pub const AUTH_REASONS: [&str; 9] = [
    "missing",
    "malformed",
    "bad_signature",
    "expired",
    "not_yet_valid",
    "wrong_audience",
    "wrong_issuer",
    "algorithm",
    "room_not_granted",
];

/// The statuses the API answers with, the labels of `herald_api_requests_total`.
pub const API_STATUSES: [u16; 9] = [200, 400, 401, 404, 405, 411, 413, 415, 500];

/// Why the wrapper closed a connection: the labels of `herald_push_closes_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// A read-only client (`"publish": false`) sent a data message (1008).
    ReadOnly,
    /// A client went past `--max-messages-per-second`/`--burst` (1008).
    RateLimit,
    /// The client's token expired while it was connected (4001).
    TokenExpired,
    /// `POST /api/disconnect` (4000).
    Disconnected,
}

impl CloseReason {
    const ALL: [CloseReason; 4] = [
        CloseReason::ReadOnly,
        CloseReason::RateLimit,
        CloseReason::TokenExpired,
        CloseReason::Disconnected,
    ];

    fn label(self) -> &'static str {
        match self {
            CloseReason::ReadOnly => "read_only",
            CloseReason::RateLimit => "rate_limit",
            CloseReason::TokenExpired => "token_expired",
            CloseReason::Disconnected => "disconnected",
        }
    }
}

/// The push wrapper's counters, shared by its clones.
#[derive(Debug, Default)]
pub struct Counters {
    auth_failures: [AtomicU64; AUTH_REASONS.len()],
    api_requests: [AtomicU64; API_STATUSES.len()],
    published: AtomicU64,
    delivered: AtomicU64,
    closes: [AtomicU64; CloseReason::ALL.len()],
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

impl Counters {
    /// An upgrade refused for its token, by `TokenError::reason` (unknown labels are
    /// counted as `malformed`).
    pub fn auth_failure(&self, reason: &str) {
        let i = AUTH_REASONS.iter().position(|&r| r == reason).unwrap_or(1);
        bump(&self.auth_failures[i], 1);
    }

    /// An API request answered with `status` (an unlisted status counts as 500).
    pub fn api_request(&self, status: u16) {
        let i = API_STATUSES
            .iter()
            .position(|&s| s == status)
            .unwrap_or(API_STATUSES.len() - 1);
        bump(&self.api_requests[i], 1);
    }

    /// A message published through the API, queued to `delivered` local connections.
    pub fn published(&self, delivered: usize) {
        bump(&self.published, 1);
        bump(&self.delivered, delivered as u64);
    }

    /// `n` connections closed for `reason`.
    pub fn closed(&self, reason: CloseReason, n: usize) {
        bump(&self.closes[reason as usize], n as u64);
    }

    /// The count of closes for `reason` (for tests and logs).
    pub fn closes(&self, reason: CloseReason) -> u64 {
        self.closes[reason as usize].load(Ordering::Relaxed)
    }

    /// Append the Prometheus text of every counter to `out`.
    pub fn render(&self, out: &mut String) {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        family(
            out,
            "auth_failures_total",
            "Upgrades refused for their client token, by reason.",
        );
        for (reason, c) in AUTH_REASONS.iter().zip(&self.auth_failures) {
            let _ = writeln!(
                out,
                "herald_auth_failures_total{{reason=\"{reason}\"}} {}",
                load(c)
            );
        }
        family(
            out,
            "api_requests_total",
            "Push API requests (/api/...) answered, by status.",
        );
        for (status, c) in API_STATUSES.iter().zip(&self.api_requests) {
            let _ = writeln!(
                out,
                "herald_api_requests_total{{status=\"{status}\"}} {}",
                load(c)
            );
        }
        family(
            out,
            "api_published_total",
            "Messages published through the push API.",
        );
        let _ = writeln!(out, "herald_api_published_total {}", load(&self.published));
        family(
            out,
            "api_delivered_total",
            "Local connections that API-published messages were queued to.",
        );
        let _ = writeln!(out, "herald_api_delivered_total {}", load(&self.delivered));
        family(
            out,
            "push_closes_total",
            "Connections closed by the push policies, by reason.",
        );
        for (reason, c) in CloseReason::ALL.iter().zip(&self.closes) {
            let _ = writeln!(
                out,
                "herald_push_closes_total{{reason=\"{}\"}} {}",
                reason.label(),
                load(c)
            );
        }
    }
}

/// The `# HELP` and `# TYPE` lines of a counter family.
fn family(out: &mut String, name: &str, help: &str) {
    let _ = write!(
        out,
        "# HELP herald_{name} {help}\n# TYPE herald_{name} counter\n"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_series_is_rendered() {
        let c = Counters::default();
        c.auth_failure("expired");
        c.auth_failure("expired");
        c.auth_failure("nonsense");
        c.api_request(200);
        c.api_request(418);
        c.published(10);
        c.closed(CloseReason::RateLimit, 2);
        let mut out = String::new();
        c.render(&mut out);
        assert!(out.contains("herald_auth_failures_total{reason=\"expired\"} 2\n"));
        assert!(out.contains("herald_auth_failures_total{reason=\"malformed\"} 1\n"));
        assert!(out.contains("herald_auth_failures_total{reason=\"missing\"} 0\n"));
        assert!(out.contains("herald_api_requests_total{status=\"200\"} 1\n"));
        assert!(out.contains("herald_api_requests_total{status=\"500\"} 1\n"));
        assert!(out.contains("herald_api_published_total 1\n"));
        assert!(out.contains("herald_api_delivered_total 10\n"));
        assert!(out.contains("herald_push_closes_total{reason=\"rate_limit\"} 2\n"));
        assert_eq!(c.closes(CloseReason::RateLimit), 2);
        assert_eq!(out.matches("# TYPE").count(), 5);
        assert!(out.ends_with('\n'));
        #[cfg(feature = "jwt")]
        assert_eq!(AUTH_REASONS, crate::push::token::REASONS);
    }
}
