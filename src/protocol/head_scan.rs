//! Finding the end of an HTTP head (request or response) in bytes that arrive in pieces,
//! at a cost linear in the bytes however they are cut, with the same answer for every
//! cutting.
//!
//! Owns the scan for the blank line that ends a head (RFC 9112 §2.1; CRLF or bare LF line
//! ends, empty lines before the start line skipped as §2.2 allows), remembering where it
//! stopped so each byte is looked at once, and the policy of when the caller should run
//! the real parser (`httparse`): once the end is within the limit, once the limit is
//! reached without an end, and, to refuse garbage early, on the first 2^k bytes of a
//! partial head whenever a new power of two has arrived (so those looks cost at most twice
//! the bytes, and fall at the same places however the bytes were cut). Only the first
//! `max` bytes ever decide an answer. It does not parse headers; `handshake` and
//! `client_handshake` do, with this telling them when.

/// Where the scan stands at the end of the bytes seen so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    /// Only empty lines so far (skipped before the start line).
    #[default]
    Leading,
    /// A CR among the leading empty lines.
    LeadingCr,
    /// Inside a line.
    InLine,
    /// At the start of a line after the start line.
    LineStart,
    /// A CR at the start of such a line: a LF now ends the head.
    LineStartCr,
}

/// What the caller should do with the bytes it has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scan {
    /// No end yet, within the limit: wait for more bytes.
    Incomplete,
    /// No end yet: run the parser on the first `usize` bytes (a power of two) to refuse a
    /// malformed head early (its answer on an incomplete head is "partial" or an error).
    Check(usize),
    /// The head ends after the first `usize` bytes (at most the limit): parse them.
    Complete(usize),
    /// The limit's worth of bytes arrived with no end among them: parse the first `usize`
    /// (the limit) to tell a malformed head (400) from a long one (431).
    Over(usize),
}

/// How much work a head parser has done: for tests that check the cost is linear.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Work {
    /// Bytes the scan looked at (each byte at most once).
    pub scanned: u32,
    /// Calls of the real parser.
    pub parses: u8,
    /// Bytes given to the real parser, over all calls (saturating).
    pub parsed: u32,
}

/// The incremental scan of one head. Feed it the same buffer each time, grown by appends
/// (the bytes before its end never change), until it reports `Complete` or `Over`.
#[derive(Clone, Copy, Debug, Default)]
pub struct HeadScanner {
    state: State,
    /// Bytes of the buffer already scanned.
    scanned: u32,
    /// The last early check point (a power of two), 0 before the first.
    checked: u32,
    work: Work,
}

impl HeadScanner {
    /// Scan the new bytes of `buf`, never past `max` (clamped to 4 GiB), and say what to
    /// do.
    pub fn scan(&mut self, buf: &[u8], max: usize) -> Scan {
        let limit = buf.len().min(max).min(u32::MAX as usize);
        let start = self.scanned as usize;
        if limit > start {
            let bytes = &buf[start..limit];
            let mut i = 0;
            while i < bytes.len() {
                if self.state == State::InLine {
                    // Inside a line only its end matters: find it in one pass (the
                    // compiler vectorizes `position`), then go on byte by byte.
                    match bytes[i..].iter().position(|&b| b == b'\n') {
                        Some(at) => i += at,
                        None => break,
                    }
                }
                self.state = match (self.state, bytes[i]) {
                    (State::Leading, b'\n') => State::Leading,
                    (State::Leading, b'\r') => State::LeadingCr,
                    (State::LeadingCr, b'\n') => State::Leading,
                    (State::InLine, b'\n') => State::LineStart,
                    (State::LineStart, b'\r') => State::LineStartCr,
                    (State::LineStart | State::LineStartCr, b'\n') => {
                        let end = start + i + 1;
                        self.work.scanned += (i + 1) as u32;
                        self.scanned = end as u32;
                        return Scan::Complete(end);
                    }
                    _ => State::InLine,
                };
                i += 1;
            }
            self.work.scanned += (limit - start) as u32;
            self.scanned = limit as u32;
        }
        if limit == max.min(u32::MAX as usize) {
            return Scan::Over(limit);
        }
        // Check points at powers of two: where they fall depends on the bytes only, so the
        // answer does not depend on the reads (httparse's errors on a prefix stay errors on
        // every longer prefix), and all checks together parse at most twice the bytes.
        let point = match limit {
            0 => 0,
            n => 1u32 << (usize::BITS - 1 - n.leading_zeros()),
        };
        if point > self.checked {
            self.checked = point;
            Scan::Check(point as usize)
        } else {
            Scan::Incomplete
        }
    }

    /// Count one call of the real parser on `bytes` bytes.
    pub fn count_parse(&mut self, bytes: usize) {
        self.work.parses = self.work.parses.saturating_add(1);
        self.work.parsed = self
            .work
            .parsed
            .saturating_add(u32::try_from(bytes).unwrap_or(u32::MAX));
    }

    /// The work done so far.
    pub fn work(&self) -> Work {
        self.work
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(buf: &[u8], max: usize) -> Scan {
        HeadScanner::default().scan(buf, max)
    }

    #[test]
    fn finds_the_blank_line_in_every_chunking() {
        for head in [
            &b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
            b"GET / HTTP/1.1\nHost: a\n\n",
            b"\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            b"\n\nGET / HTTP/1.1\n\r\n",
            b"HTTP/1.1 101 OK\r\nA: b\r\n\n",
        ] {
            let mut tail = head.to_vec();
            tail.extend_from_slice(b"\r\n\r\nrest");
            assert_eq!(whole(&tail, 1000), Scan::Complete(head.len()));
            for cut in 0..head.len() {
                let mut s = HeadScanner::default();
                let first = s.scan(&head[..cut], 1000);
                assert!(
                    matches!(first, Scan::Incomplete | Scan::Check(_)),
                    "{first:?}"
                );
                assert_eq!(s.scan(&tail, 1000), Scan::Complete(head.len()), "cut {cut}");
                assert_eq!(s.work().scanned as usize, head.len());
            }
        }
    }

    #[test]
    fn leading_empty_lines_do_not_end_a_head() {
        assert!(matches!(whole(b"\r\n\r\n\n\r\n", 100), Scan::Check(_)));
        assert!(matches!(whole(b"\r\r\n", 100), Scan::Check(_)));
    }

    #[test]
    fn the_limit_is_the_same_for_every_chunking() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let n = head.len();
        assert_eq!(whole(head, n), Scan::Complete(n));
        assert_eq!(whole(head, n - 1), Scan::Over(n - 1));
        let mut s = HeadScanner::default();
        s.scan(&head[..n - 1], n - 1);
        assert_eq!(s.scan(head, n - 1), Scan::Over(n - 1));
    }

    #[test]
    fn checks_are_due_at_doubling_sizes() {
        let mut s = HeadScanner::default();
        let buf = vec![b'a'; 1 << 16];
        let mut checks = Vec::new();
        for len in 1..=buf.len() {
            if let Scan::Check(at) = s.scan(&buf[..len], usize::MAX) {
                checks.push(at);
            }
        }
        assert_eq!(checks, (0..=16).map(|i| 1usize << i).collect::<Vec<_>>());
        assert_eq!(s.work().scanned as usize, buf.len());
    }
}
