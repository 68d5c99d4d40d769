//! A precise wake-up for the open loop: a timerfd in a worker's poll. epoll's own timeout
//! counts in milliseconds (mio rounds a shorter one up to 1 ms), so a loop that slept on it
//! sent a millisecond's worth of messages at once; armed for the next message due, the
//! timer wakes the loop to the microsecond, while any socket event still wakes it at once.
//! Owns the timer's descriptor; knows nothing of messages or schedules.

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

/// A one-shot monotonic timer registered in a poll under one token.
pub struct Wakeup {
    timer: TimerFd,
}

impl Wakeup {
    /// A disarmed timer, registered (readable) in `registry` under `token`.
    pub fn new(registry: &Registry, token: Token) -> io::Result<Wakeup> {
        let timer = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )?;
        let fd = timer.as_fd().as_raw_fd();
        registry.register(&mut SourceFd(&fd), token, Interest::READABLE)?;
        Ok(Wakeup { timer })
    }

    /// Make the poll return `after` from now (at least 1 ns later: zero would disarm the
    /// timer). Re-arming replaces the previous time and clears an expiry not yet read, so
    /// the edge-triggered poll sees the next one.
    pub fn arm(&self, after: Duration) -> io::Result<()> {
        let after = after.max(Duration::from_nanos(1));
        self.timer.set(
            Expiration::OneShot(TimeSpec::from(after)),
            TimerSetTimeFlags::empty(),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll};
    use std::time::Instant;

    #[test]
    fn the_poll_wakes_when_the_timer_is_due_not_a_millisecond_later() {
        let mut poll = Poll::new().unwrap();
        let timer = Wakeup::new(poll.registry(), Token(7)).unwrap();
        let mut events = Events::with_capacity(4);
        // Armed for 200 µs, the poll (given 1 s) returns with the timer's token; then,
        // re-armed, it fires again (the expiry was cleared by re-arming).
        for _ in 0..2 {
            let start = Instant::now();
            timer.arm(Duration::from_micros(200)).unwrap();
            poll.poll(&mut events, Some(Duration::from_secs(1)))
                .unwrap();
            let waited = start.elapsed();
            assert!(events.iter().any(|e| e.token() == Token(7)));
            assert!(waited >= Duration::from_micros(200), "{waited:?}");
            assert!(waited < Duration::from_millis(500), "{waited:?}");
        }
    }
}
