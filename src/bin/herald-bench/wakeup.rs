//! A precise wake-up for the open loop: a timerfd in a worker's poll. epoll's own timeout
//! counts in milliseconds (mio rounds a shorter one up to 1 ms), so a loop that slept on it
//! sent a millisecond's worth of messages at once; armed for the next message due, the
//! timer wakes the loop to the microsecond, while any socket event still wakes it at once.
//! Owns the timer's descriptor; knows nothing of messages or schedules.

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use rustix::fd::{AsRawFd, OwnedFd};
use rustix::time::{
    Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
    timerfd_settime,
};
use std::io;
use std::time::Duration;

/// A one-shot monotonic timer registered in a poll under one token.
pub struct Wakeup {
    fd: OwnedFd,
}

impl Wakeup {
    /// A disarmed timer, registered (readable) in `registry` under `token`.
    pub fn new(registry: &Registry, token: Token) -> io::Result<Wakeup> {
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        registry.register(&mut SourceFd(&fd.as_raw_fd()), token, Interest::READABLE)?;
        Ok(Wakeup { fd })
    }

    /// Make the poll return `after` from now (at least 1 ns later: zero would disarm the
    /// timer). Re-arming replaces the previous time and clears an expiry not yet read, so
    /// the edge-triggered poll sees the next one.
    pub fn arm(&self, after: Duration) -> io::Result<()> {
        let after = after.max(Duration::from_nanos(1));
        let spec = Itimerspec {
            it_interval: Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: Timespec {
                tv_sec: after.as_secs().try_into().unwrap_or(i64::MAX),
                tv_nsec: after.subsec_nanos().into(),
            },
        };
        timerfd_settime(&self.fd, TimerfdTimerFlags::empty(), &spec)?;
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
