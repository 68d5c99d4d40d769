//! Per-connection message rate limits (`--max-messages-per-second N --burst B`).
//!
//! Each connection keeps a [`TokenBucket`] of 8 bytes and no timer: a bucket of `B`
//! tokens, refilled at `N` tokens per second, one token per data message; a message that
//! finds the bucket empty is over the limit (the server then closes with 1008 "rate
//! limit"). The bucket is kept in the GCRA form (the Generic Cell Rate Algorithm, ITU-T
//! I.371): instead of a token count and a refill time it stores one *theoretical arrival
//! time*, the instant at which the bucket would be full again; that is the same bucket in
//! one number, refilled lazily by comparing it with `now` when a message arrives. Times are
//! milliseconds since a fixed start (the server's loop start) as `u64`, so nothing wraps;
//! inside, nanoseconds keep rates above 1000/s exact enough. This file owns the arithmetic;
//! it must not read a clock.

use std::fmt;

const NANOS_PER_SEC: u64 = 1_000_000_000;
const NANOS_PER_MILLI: u64 = 1_000_000;

/// The most messages per second a limit may be set to (one message per nanosecond).
pub const MAX_RATE: u32 = 1_000_000_000;

/// A rate limit: `rate` messages per second sustained, bursts of up to `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Nanoseconds between two messages at the sustained rate (the token refill period).
    interval_ns: u64,
    /// How far ahead of `now` the theoretical arrival time may run: `(burst - 1)` intervals.
    tolerance_ns: u64,
}

impl RateLimit {
    /// A limit of `rate` messages per second (1 to [`MAX_RATE`]) with bursts of `burst`
    /// messages (at least 1; a burst of 1 means evenly spaced messages only).
    pub fn new(rate: u32, burst: u32) -> Result<Self, InvalidRateLimit> {
        if rate == 0 || rate > MAX_RATE {
            return Err(InvalidRateLimit::Rate(rate));
        }
        if burst == 0 {
            return Err(InvalidRateLimit::Burst);
        }
        let interval_ns = NANOS_PER_SEC / u64::from(rate);
        Ok(Self {
            interval_ns,
            tolerance_ns: interval_ns * u64::from(burst - 1),
        })
    }
}

/// Why a rate limit's parameters are refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvalidRateLimit {
    /// The rate is 0 or above [`MAX_RATE`] messages per second.
    Rate(u32),
    /// The burst is 0.
    Burst,
}

impl fmt::Display for InvalidRateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rate(rate) => write!(
                f,
                "--max-messages-per-second {rate}: must be 1 to {MAX_RATE}"
            ),
            Self::Burst => f.write_str("--burst 0: must be at least 1"),
        }
    }
}

impl std::error::Error for InvalidRateLimit {}

/// One connection's bucket. A new bucket (`TokenBucket::default()`) is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenBucket {
    /// The theoretical arrival time, in nanoseconds since the clock's start: the bucket
    /// is full at and after it, and each token taken moves it one interval later.
    tat_ns: u64,
}

impl TokenBucket {
    /// Take a token for a message arriving at `now_ms` (milliseconds since the clock's
    /// start; must not go backwards between calls on one bucket, though an earlier time is
    /// harmless: it only makes the bucket look emptier). True: the message is within the
    /// limit. False: it is over the limit; the bucket is left as it was.
    pub fn try_take(&mut self, limit: &RateLimit, now_ms: u64) -> bool {
        let now = now_ms.saturating_mul(NANOS_PER_MILLI);
        let tat = self.tat_ns.max(now);
        if tat - now > limit.tolerance_ns {
            return false;
        }
        self.tat_ns = tat.saturating_add(limit.interval_ns);
        true
    }

    /// The whole tokens left at `now_ms` (for logs and tests), at most the burst.
    pub fn available(&self, limit: &RateLimit, now_ms: u64) -> u64 {
        let now = now_ms.saturating_mul(NANOS_PER_MILLI);
        let ahead = self.tat_ns.saturating_sub(now);
        // Each token taken and not yet refilled puts the arrival time one interval ahead.
        (limit.tolerance_ns + limit.interval_ns - ahead.min(limit.tolerance_ns + limit.interval_ns))
            / limit.interval_ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take_all(bucket: &mut TokenBucket, limit: &RateLimit, now_ms: u64) -> u32 {
        let mut n = 0;
        while bucket.try_take(limit, now_ms) {
            n += 1;
            assert!(n <= 1_000_000, "no limit");
        }
        n
    }

    #[test]
    fn a_new_bucket_holds_the_burst() {
        let limit = RateLimit::new(10, 5).unwrap();
        let mut bucket = TokenBucket::default();
        assert_eq!(bucket.available(&limit, 1_000), 5);
        assert_eq!(take_all(&mut bucket, &limit, 1_000), 5);
        assert_eq!(bucket.available(&limit, 1_000), 0);
    }

    #[test]
    fn refills_at_the_rate() {
        let limit = RateLimit::new(10, 5).unwrap(); // one token per 100 ms
        let mut bucket = TokenBucket::default();
        assert_eq!(take_all(&mut bucket, &limit, 0), 5);
        assert!(!bucket.try_take(&limit, 99));
        assert!(bucket.try_take(&limit, 100));
        assert!(!bucket.try_take(&limit, 100));
        assert!(!bucket.try_take(&limit, 199));
        assert!(bucket.try_take(&limit, 200));
        // 250 ms later: two whole tokens back (and half of a third).
        assert_eq!(take_all(&mut bucket, &limit, 450), 2);
        assert!(bucket.try_take(&limit, 500));
    }

    #[test]
    fn never_holds_more_than_the_burst() {
        let limit = RateLimit::new(10, 3).unwrap();
        let mut bucket = TokenBucket::default();
        assert!(bucket.try_take(&limit, 0));
        // An hour idle refills to 3, not to 36,000.
        assert_eq!(bucket.available(&limit, 3_600_000), 3);
        assert_eq!(take_all(&mut bucket, &limit, 3_600_000), 3);
    }

    #[test]
    fn sustained_rate_over_a_minute() {
        let limit = RateLimit::new(50, 10).unwrap();
        let mut bucket = TokenBucket::default();
        // Offer 200 messages per second for 60 s, one every 5 ms: 10 + 50/s get through.
        let passed = (0..12_000u64)
            .filter(|i| bucket.try_take(&limit, i * 5))
            .count();
        assert_eq!(passed, 10 + 50 * 60 - 1); // the last refill lands at 60,000 ms
    }

    #[test]
    fn rates_above_one_per_millisecond() {
        let limit = RateLimit::new(5_000, 5).unwrap();
        let mut bucket = TokenBucket::default();
        assert_eq!(take_all(&mut bucket, &limit, 10), 5);
        // 5 per millisecond after that.
        assert_eq!(take_all(&mut bucket, &limit, 11), 5);
        assert_eq!(take_all(&mut bucket, &limit, 11), 0);
        assert_eq!(take_all(&mut bucket, &limit, 12), 5);
        assert_eq!(take_all(&mut bucket, &limit, 100), 5); // the burst caps the refill
        // A burst of 1 lets one message through per instant, however high the rate.
        let even = RateLimit::new(5_000, 1).unwrap();
        let mut bucket = TokenBucket::default();
        assert_eq!(take_all(&mut bucket, &even, 10), 1);
        assert_eq!(take_all(&mut bucket, &even, 11), 1);
    }

    #[test]
    fn a_refused_message_costs_nothing() {
        let limit = RateLimit::new(1, 1).unwrap();
        let mut bucket = TokenBucket::default();
        assert!(bucket.try_take(&limit, 0));
        let before = bucket;
        assert!(!bucket.try_take(&limit, 500));
        assert_eq!(bucket, before);
        assert!(bucket.try_take(&limit, 1_000));
    }

    #[test]
    fn far_times_do_not_overflow() {
        let limit = RateLimit::new(1, u32::MAX).unwrap();
        let mut bucket = TokenBucket::default();
        assert!(bucket.try_take(&limit, u64::MAX));
        assert!(bucket.try_take(&limit, u64::MAX));
    }

    #[test]
    fn invalid_limits() {
        assert_eq!(RateLimit::new(0, 1), Err(InvalidRateLimit::Rate(0)));
        assert_eq!(
            RateLimit::new(MAX_RATE + 1, 1),
            Err(InvalidRateLimit::Rate(MAX_RATE + 1))
        );
        assert_eq!(RateLimit::new(1, 0), Err(InvalidRateLimit::Burst));
        assert!(InvalidRateLimit::Burst.to_string().contains("--burst"));
        assert_eq!(std::mem::size_of::<TokenBucket>(), 8);
    }
}
