//! `--workers N`: N loops in one process, each on its own thread with its own listener
//! (`SO_REUSEPORT`) and connections, sharing rooms through an in-process [`Hub`].
//!
//! The hub knows which worker has which room open (a bit per worker, set by
//! `room_opened`, cleared by `room_closed`). A message published on one worker is handed to
//! every other worker that has the room open, as `Handle::publish_relayed` would: into that
//! loop's command queue, which wakes it. The sending loop must never wait, and two loops
//! sending to each other with full queues must not wait for each other, so the hand-over
//! is a `try_send`; when the target's queue is full the message goes to that target's
//! forwarder thread, which waits for room in the queue instead (and every later message
//! for that target follows it there until the forwarder has caught up, which keeps each
//! sender's order). What waits at a forwarder is bounded (`FORWARD_LIMIT` bytes per
//! target); past it messages are dropped and counted.
//!
//! Presence: each worker stores its open-peer count in the hub; `cluster_peers` is the sum.

use crate::handle::{Handle, TryRelay};
use crate::protocol::{Message, OwnedMessage};
use crate::relay::{Relay, RelayStatus};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, OnceLock, RwLock};

/// The most workers one hub can join (a worker is a bit in a room's interest mask).
pub const MAX_WORKERS: usize = 64;

/// Payload bytes that may wait at one worker's forwarder (its command queue being full)
/// before further messages for it are dropped.
pub const FORWARD_LIMIT: usize = 64 << 20;

/// What a worker's relay and its forwarder thread both count.
#[derive(Debug, Default)]
struct Counters {
    /// Open local peers (the last `local_peers` count).
    peers: AtomicUsize,
    /// Messages this worker handed to other workers (one per target).
    published: AtomicU64,
    /// Messages other workers delivered into this worker's queue.
    received: AtomicU64,
    /// Messages for this worker that were dropped (forwarder full, or the worker stopped).
    dropped: AtomicU64,
    /// Messages waiting at the forwarder.
    backlog: AtomicUsize,
    /// Their payload bytes.
    backlog_bytes: AtomicUsize,
}

#[derive(Debug)]
struct Worker {
    counters: Arc<Counters>,
    handle: OnceLock<Handle>,
    forward: OnceLock<Sender<(String, OwnedMessage)>>,
}

/// Rooms shared by the workers of one process. Create it with the number of workers, then
/// give each worker's server `hub.relay(i, server.handle())`.
#[derive(Debug)]
pub struct Hub {
    workers: Box<[Worker]>,
    /// Room name → a bit per worker that has it open.
    interest: RwLock<HashMap<Box<str>, u64>>,
}

impl Hub {
    /// A hub for `workers` workers.
    ///
    /// # Panics
    ///
    /// If `workers` is 0 or more than `MAX_WORKERS`.
    pub fn new(workers: usize) -> Arc<Hub> {
        assert!(
            (1..=MAX_WORKERS).contains(&workers),
            "a hub joins 1 to {MAX_WORKERS} workers, not {workers}"
        );
        Arc::new(Hub {
            workers: (0..workers)
                .map(|_| Worker {
                    counters: Arc::default(),
                    handle: OnceLock::new(),
                    forward: OnceLock::new(),
                })
                .collect(),
            interest: RwLock::default(),
        })
    }

    /// The number of workers.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// The relay of worker `index`, whose loop `handle` reaches. Call it once per worker,
    /// before that worker runs (a worker is reachable from the others once it has its
    /// relay, and it only opens rooms once it runs). Starts the worker's forwarder thread.
    ///
    /// # Panics
    ///
    /// If `index` is out of range or already has a relay.
    pub fn relay(self: &Arc<Self>, index: usize, handle: Handle) -> std::io::Result<WorkerRelay> {
        let worker = &self.workers[index];
        let (tx, rx) = mpsc::channel::<(String, OwnedMessage)>();
        let counters = worker.counters.clone();
        let target = handle.clone();
        std::thread::Builder::new()
            .name(format!("herald-forward-{index}"))
            .spawn(move || {
                for (room, msg) in rx {
                    let len = payload_len(&msg);
                    let counter = match target.publish_relayed(&room, msg) {
                        Ok(()) => &counters.received,
                        Err(_) => &counters.dropped,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    counters.backlog_bytes.fetch_sub(len, Ordering::AcqRel);
                    counters.backlog.fetch_sub(1, Ordering::AcqRel);
                }
            })?;
        assert!(
            worker.handle.set(handle).is_ok() && worker.forward.set(tx).is_ok(),
            "worker {index} already has a relay"
        );
        Ok(WorkerRelay {
            hub: self.clone(),
            index,
        })
    }

    /// Open peers on every worker.
    pub fn online(&self) -> usize {
        self.workers
            .iter()
            .map(|w| w.counters.peers.load(Ordering::Relaxed))
            .sum()
    }

    /// The workers other than `from` that have `room` open.
    fn targets(&self, room: &str, from: usize) -> u64 {
        let interest = self.interest.read().unwrap_or_else(|e| e.into_inner());
        interest.get(room).copied().unwrap_or(0) & !(1 << from)
    }

    /// Hand a message to worker `to` without waiting: straight into its queue if that has
    /// room and nothing waits at its forwarder; else through the forwarder.
    fn deliver(&self, to: usize, room: &str, msg: OwnedMessage) -> bool {
        let worker = &self.workers[to];
        let c = &worker.counters;
        let (Some(handle), Some(forward)) = (worker.handle.get(), worker.forward.get()) else {
            return false;
        };
        let (room, msg) = if c.backlog.load(Ordering::Acquire) == 0 {
            match handle.try_publish_relayed(room.to_string(), msg) {
                Ok(()) => {
                    c.received.fetch_add(1, Ordering::Relaxed);
                    return true;
                }
                Err(TryRelay::Full(room, msg)) => (room, msg),
                Err(TryRelay::Gone) => {
                    c.dropped.fetch_add(1, Ordering::Relaxed);
                    return false;
                }
            }
        } else {
            (room.to_string(), msg)
        };
        let len = payload_len(&msg);
        if c.backlog_bytes.load(Ordering::Acquire) + len > FORWARD_LIMIT {
            c.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        c.backlog.fetch_add(1, Ordering::AcqRel);
        c.backlog_bytes.fetch_add(len, Ordering::AcqRel);
        if forward.send((room, msg)).is_err() {
            // The forwarder ended: the worker stopped.
            c.backlog.fetch_sub(1, Ordering::AcqRel);
            c.backlog_bytes.fetch_sub(len, Ordering::AcqRel);
            c.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        true
    }
}

fn payload_len(msg: &OwnedMessage) -> usize {
    match msg {
        OwnedMessage::Text(s) => s.len(),
        OwnedMessage::Binary(b) => b.len(),
    }
}

/// One worker's side of a [`Hub`]: a `Relay` for that worker's server.
#[derive(Debug)]
pub struct WorkerRelay {
    hub: Arc<Hub>,
    index: usize,
}

impl WorkerRelay {
    /// This worker's number.
    pub fn index(&self) -> usize {
        self.index
    }
}

impl Relay for WorkerRelay {
    fn room_opened(&mut self, room: &str) {
        let mut interest = self.hub.interest.write().unwrap_or_else(|e| e.into_inner());
        *interest.entry(room.into()).or_insert(0) |= 1 << self.index;
    }

    fn room_closed(&mut self, room: &str) {
        let mut interest = self.hub.interest.write().unwrap_or_else(|e| e.into_inner());
        if let Some(mask) = interest.get_mut(room) {
            *mask &= !(1 << self.index);
            if *mask == 0 {
                interest.remove(room);
            }
        }
    }

    fn publish(&mut self, room: &str, msg: Message<'_>) {
        let mut targets = self.hub.targets(room, self.index);
        if targets == 0 {
            return;
        }
        let msg = OwnedMessage::from(msg);
        // Every target but the last gets a copy; the last takes the message itself.
        let last = (u64::BITS - 1 - targets.leading_zeros()) as usize;
        targets &= !(1 << last);
        let mut sent = 0;
        while targets != 0 {
            let to = targets.trailing_zeros() as usize;
            targets &= targets - 1;
            sent += u64::from(self.hub.deliver(to, room, msg.clone()));
        }
        sent += u64::from(self.hub.deliver(last, room, msg));
        self.hub.workers[self.index]
            .counters
            .published
            .fetch_add(sent, Ordering::Relaxed);
    }

    fn local_peers(&mut self, count: usize) {
        self.hub.workers[self.index]
            .counters
            .peers
            .store(count, Ordering::Relaxed);
    }

    fn status(&self) -> RelayStatus {
        let c = &self.hub.workers[self.index].counters;
        RelayStatus {
            kind: "workers",
            up: true,
            outages: 0,
            published: c.published.load(Ordering::Relaxed),
            received: c.received.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            cluster_peers: Some(self.hub.online()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handle::Command;
    use std::sync::mpsc::Receiver;
    use std::time::Duration;

    /// A handle whose commands land in a channel the test reads (the poll keeps the
    /// waker's registration alive).
    fn fake_handle(queue: usize) -> (Handle, Receiver<Command>, mio::Poll) {
        let poll = mio::Poll::new().unwrap();
        let waker = Arc::new(mio::Waker::new(poll.registry(), mio::Token(0)).unwrap());
        let (tx, rx) = mpsc::sync_channel(queue);
        (Handle { tx, waker }, rx, poll)
    }

    fn relayed(rx: &Receiver<Command>) -> Option<(String, OwnedMessage)> {
        match rx.recv_timeout(Duration::from_secs(5)) {
            Ok(Command::Relayed(room, msg)) => Some((room, msg)),
            Ok(other) => panic!("unexpected command {other:?}"),
            Err(_) => None,
        }
    }

    #[test]
    fn messages_go_to_the_workers_that_have_the_room() {
        let hub = Hub::new(3);
        let (h0, rx0, _p0) = fake_handle(16);
        let (h1, rx1, _p1) = fake_handle(16);
        let (h2, rx2, _p2) = fake_handle(16);
        let mut r0 = hub.relay(0, h0).unwrap();
        let mut r1 = hub.relay(1, h1).unwrap();
        let mut r2 = hub.relay(2, h2).unwrap();
        r0.room_opened("a");
        r1.room_opened("a");
        r2.room_opened("b");
        r0.publish("a", Message::Text("to a"));
        assert_eq!(relayed(&rx1), Some(("a".into(), "to a".into())));
        r2.publish("a", Message::Binary(b"from 2"));
        assert_eq!(relayed(&rx0), Some(("a".into(), b"from 2".to_vec().into())));
        assert_eq!(relayed(&rx1), Some(("a".into(), b"from 2".to_vec().into())));
        // Nobody else has "b"; a worker never gets its own messages back.
        r2.publish("b", Message::Text("b"));
        r1.room_closed("a");
        r0.publish("a", Message::Text("after close"));
        for rx in [&rx0, &rx1, &rx2] {
            assert!(matches!(rx.try_recv(), Err(mpsc::TryRecvError::Empty)));
        }
        assert_eq!(r0.status().published, 1);
        assert_eq!(r2.status().published, 2);
        assert_eq!(r1.status().received, 2);
        r0.local_peers(3);
        r2.local_peers(4);
        assert_eq!(r1.status().cluster_peers, Some(7));
        assert_eq!(r1.status().kind, "workers");
    }

    #[test]
    fn a_full_queue_never_blocks_the_sender_and_keeps_order() {
        let hub = Hub::new(2);
        let (h0, _rx0, _p0) = fake_handle(16);
        let (h1, rx1, _p1) = fake_handle(2);
        let mut r0 = hub.relay(0, h0).unwrap();
        let mut r1 = hub.relay(1, h1).unwrap();
        r1.room_opened("r");
        for i in 0..100 {
            r0.publish("r", Message::Text(&i.to_string()));
        }
        for i in 0..100 {
            assert_eq!(relayed(&rx1), Some(("r".into(), i.to_string().into())));
        }
        let c = &hub.workers[1].counters;
        for _ in 0..500 {
            if c.backlog.load(Ordering::Acquire) == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(c.backlog_bytes.load(Ordering::Acquire), 0);
        assert_eq!(r1.status().received, 100);
    }

    #[test]
    fn a_stopped_worker_drops_its_messages() {
        let hub = Hub::new(2);
        let (h0, _rx0, _p0) = fake_handle(4);
        let (h1, rx1, _p1) = fake_handle(4);
        let mut r0 = hub.relay(0, h0).unwrap();
        let mut r1 = hub.relay(1, h1).unwrap();
        r1.room_opened("r");
        drop(rx1);
        r0.publish("r", Message::Text("lost"));
        assert_eq!(hub.workers[1].counters.dropped.load(Ordering::Relaxed), 1);
        assert_eq!(r0.status().published, 0);
    }
}
