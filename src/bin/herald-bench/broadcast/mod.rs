//! `broadcast`: N clients in one chat room, S of them sending, each sender keeping at most
//! W messages in flight (a message is in flight until every other client has it).
//!
//! One mio loop per thread (`--threads`), each owning a share of the clients (client `g`
//! lives on thread `g % T`). A sender's window is shared state: every message has a slot
//! holding its sequence tag and the count of receivers still to get it; the receiver that
//! takes the count to zero advances the sender's `completed` counter and, if the sender
//! lives on another thread, wakes that thread once at the end of its turn.
//!
//! With `--rooms K`, client `g` is in room `g % K` and a message goes to the other clients
//! of its sender's room only; a message seen in another room counts as unexpected.
//! With `--rate`, the senders are open loop: each follows a fixed schedule (see
//! `schedule`), its window only a cap, and a message carries its intended send time.
//!
//! Phases: connect every client (at most `--concurrency` handshakes at once, at most
//! `--ramp` a second), then a sync round (each room's first client sends marker messages
//! until every other client of the room has seen one, so that every client is in its room
//! before counting starts), then the run: warm-up, the measured interval, and a close
//! handshake for every client.
//!
//! Messages are `--payload binary` or `json` (see `payload`); with `--deflate` every
//! client negotiates permessage-deflate, compresses what it sends and inflates what it
//! receives. The bytes the clients read from their sockets during the measured interval
//! (TLS records included) are counted, giving the bytes on the wire per delivery.
//!
//! The files: `shared` (what the threads share: the phase, the senders' windows), `worker`
//! (one thread's loop, turn by turn), `tally` (what a thread measured), `report` (the
//! table and the JSON).

mod report;
mod shared;
mod tally;
mod worker;

use crate::files::Outputs;
use crate::intervals::{Intervals, Names};
use crate::payload::Payload;
use crate::rng::Rng;
use crate::schedule::{Schedule, Stage};
use crate::target::Target;
use crate::thresholds::Threshold;
use mio::{Poll, Waker};
use shared::{SETUP, SenderShared, Shared, WAKE};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tally::Tally;
use worker::Worker;

/// The settings of a broadcast run.
#[derive(Clone, Debug)]
pub struct Opts {
    pub target: Target,
    pub clients: usize,
    pub senders: usize,
    pub size: usize,
    pub payload: Payload,
    /// Inflate every compressed delivery, even byte-for-byte repeats of one inflated.
    pub inflate_all: bool,
    /// Compress every whole message sent, rather than storing its fields before a body
    /// compressed once (`--compress-each`).
    pub compress_each: bool,
    /// Closed loop: messages in flight per sender; open loop: the most in flight.
    pub window: usize,
    /// Open loop: messages per second from all senders together (with `stages`, the
    /// first stage's rate).
    pub rate: Option<f64>,
    /// Open loop in stages (`--stage RATE:SECS`): the rates the measured interval goes
    /// through in turn, the warm-up at the first; `duration` is their sum. Empty otherwise.
    pub stages: Vec<Stage>,
    pub duration: Duration,
    pub warmup: Duration,
    pub server_pid: Option<u32>,
    pub threads: usize,
    pub concurrency: usize,
    /// Connections opened per second at most during setup.
    pub ramp: Option<f64>,
    pub setup_timeout: Duration,
    pub stall_timeout: Duration,
    pub close_timeout: Duration,
    pub progress: bool,
    pub outputs: Outputs,
    pub thresholds: Vec<Threshold>,
}

/// The names of the second-by-second lines.
const NAMES: Names = Names {
    done: "deliveries",
    latency: "latency",
    errors: "errors",
    messages: true,
};

impl Opts {
    /// Sender `g`'s open-loop schedule, from the start of the warm-up; `None` in closed
    /// loop.
    pub fn schedule(&self, g: usize) -> Option<Schedule> {
        let rate = self.rate?;
        Some(match self.stages.split_first() {
            None => Schedule::share(rate, g, self.senders),
            Some((first, rest)) => {
                let mut stages = vec![Stage {
                    rate: first.rate,
                    secs: first.secs + self.warmup.as_secs_f64(),
                }];
                stages.extend_from_slice(rest);
                Schedule::staged(&stages, g, self.senders)
            }
        })
    }
}

/// Run the benchmark; the report goes to stderr (table) and stdout (JSON), and the files
/// asked for are written. `Ok(false)`: a `--fail-if` threshold held.
pub fn run(opts: Opts) -> Result<bool, String> {
    crate::interrupt::catch();
    let intervals = intervals(&opts)?;
    let tally = measure(&opts, intervals.clone()).inspect_err(|_| opts.outputs.discard_empty())?;
    report::report(&opts, &tally, intervals.as_deref())
}

/// The second-by-second sink: for the files asked for, and for `--stage`'s rows.
fn intervals(opts: &Opts) -> Result<Option<Arc<Intervals>>, String> {
    let mut intervals = opts.outputs.open(opts.threads, NAMES, 0)?;
    if !opts.stages.is_empty() {
        // The stages are reported from the run's seconds, asked for or not.
        let sink =
            intervals.get_or_insert_with(|| Arc::new(Intervals::new(opts.threads, NAMES, 0, None)));
        let ends: Vec<f64> = opts
            .stages
            .iter()
            .scan(0.0, |end, s| {
                *end += s.secs;
                Some(*end)
            })
            .collect();
        sink.set_stages(&ends);
    }
    Ok(intervals)
}

/// Set up, run and close every client; what the threads measured, added up.
fn measure(opts: &Opts, intervals: Option<Arc<Intervals>>) -> Result<Tally, String> {
    let threads = opts.threads;
    let mut polls = Vec::new();
    let mut wakers = Vec::new();
    for _ in 0..threads {
        let poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
        wakers.push(Waker::new(poll.registry(), WAKE).map_err(|e| format!("waker: {e}"))?);
        polls.push(poll);
    }
    let w = opts.window;
    let shared = Arc::new(Shared {
        epoch: Instant::now(),
        phase: AtomicU8::new(SETUP),
        open: AtomicUsize::new(0),
        synced: AtomicUsize::new(0),
        alive: (0..opts.target.rooms)
            .map(|_| AtomicUsize::new(0))
            .collect(),
        intervals: intervals.clone(),
        run_start: AtomicU64::new(0),
        cut: AtomicU64::new(0),
        senders: (0..opts.senders)
            .map(|_| SenderShared {
                sent: AtomicU64::new(0),
                completed: AtomicU64::new(0),
                slots: (0..w).map(|_| AtomicU64::new(0)).collect(),
            })
            .collect(),
        wakers,
        failure: Mutex::new(None),
        progress_deliveries: AtomicU64::new(0),
        progress_sent: AtomicU64::new(0),
        progress_errors: AtomicU64::new(0),
        done: (0..threads).map(|_| AtomicBool::new(false)).collect(),
        opts: opts.clone(),
    });
    let mut rng = Rng::from_os().map_err(|e| format!("/dev/urandom: {e}"))?;
    let workers: Vec<Worker> = polls
        .into_iter()
        .enumerate()
        .map(|(t, poll)| Worker::new(t, threads, shared.clone(), poll, rng.split()))
        .collect();
    let mut workers = workers.into_iter();
    let leader = workers.next().unwrap();
    let handles: Vec<_> = workers
        .map(|w| std::thread::spawn(move || w.run()))
        .collect();
    let mut result = leader.run();
    for h in handles {
        let r = h
            .join()
            .map_err(|_| "a worker thread panicked".to_string())?;
        result = match (result, r) {
            (Ok(mut a), Ok(b)) => {
                a.merge(b);
                Ok(a)
            }
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
    }
    result
}

#[cfg(test)]
mod tests {
    //! Against a real herald chat server on an ephemeral loopback port, in this process.
    use super::*;
    use herald::{ChatRoom, Config, Server};

    fn chat_server() -> std::net::SocketAddr {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut config = Config::default();
            config.listen = "127.0.0.1:0".parse().unwrap();
            let mut server = Server::bind(config, ChatRoom::default()).expect("bind");
            tx.send(server.local_addr()).unwrap();
            let _ = server.run();
        });
        rx.recv().unwrap()
    }

    /// Open-loop options for a test: `clients` with `senders` sending `rate` in all, 32-byte
    /// binary messages, 0.5 s measured after 0.1 s of warm-up, on two threads.
    fn open_loop(target: Target, clients: usize, senders: usize, rate: f64) -> Opts {
        Opts {
            target,
            clients,
            senders,
            size: 32,
            payload: Payload::Binary,
            inflate_all: false,
            compress_each: false,
            window: 1000,
            rate: Some(rate),
            stages: Vec::new(),
            duration: Duration::from_millis(500),
            warmup: Duration::from_millis(100),
            server_pid: None,
            threads: 2,
            concurrency: 4,
            ramp: None,
            setup_timeout: Duration::from_secs(20),
            stall_timeout: Duration::from_secs(5),
            close_timeout: Duration::from_secs(5),
            progress: false,
            outputs: Outputs::default(),
            thresholds: Vec::new(),
        }
    }

    #[test]
    fn open_loop_in_rooms_with_first_messages() {
        let addr = chat_server();
        let mut target = Target::parse(&format!("ws://{addr}/"), false).unwrap();
        target.set_rooms(2).unwrap();
        target.first_message = Some("hello from {client} in {room}".into());
        let opts = open_loop(target, 8, 4, 400.0);
        let t = measure(&opts, None).unwrap();
        // Two rooms of four: each first message reaches the others of its room that had
        // joined by then, at least the last one's reaches all three.
        assert!(
            (2 * 3..=8 * 3).contains(&t.setup_messages),
            "{}",
            t.setup_messages
        );
        // Nothing crossed rooms, nothing was lost, every client closed cleanly.
        assert_eq!((t.unexpected, t.lost, t.reordered, t.errors), (0, 0, 0, 0));
        assert_eq!(t.close_timeouts, 0);
        // Each message reaches the three other clients of its sender's room: deliveries
        // are three per message sent, give or take the messages in flight at the edges.
        assert!(t.sent > 0 && t.deliveries > 0);
        assert_eq!(
            t.latency.count(),
            t.deliveries,
            "every delivery has its latency"
        );
        let per_message = t.deliveries as f64 / t.sent as f64;
        assert!((2.0..=4.0).contains(&per_message), "{per_message}");
    }

    /// The chat room, but it drops every tenth of the first 100 messages it gets.
    struct DropsEarly {
        room: ChatRoom,
        seen: u64,
        dropped: Arc<AtomicU64>,
    }

    impl herald::Handler for DropsEarly {
        fn on_upgrade(
            &mut self,
            ctx: &mut herald::Context<'_>,
            req: &herald::Request,
        ) -> Result<(), herald::Rejection> {
            self.room.on_upgrade(ctx, req)
        }
        fn on_open(
            &mut self,
            ctx: &mut herald::Context<'_>,
            peer: herald::PeerId,
            req: &herald::Request,
        ) {
            self.room.on_open(ctx, peer, req)
        }
        fn on_close(
            &mut self,
            ctx: &mut herald::Context<'_>,
            peer: herald::PeerId,
            code: herald::CloseCode,
            reason: &str,
        ) {
            self.room.on_close(ctx, peer, code, reason)
        }
        fn on_message(
            &mut self,
            ctx: &mut herald::Context<'_>,
            peer: herald::PeerId,
            msg: herald::Message<'_>,
        ) {
            self.seen += 1;
            if self.seen <= 100 && self.seen.is_multiple_of(10) {
                self.dropped
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                return;
            }
            self.room.on_message(ctx, peer, msg)
        }
    }

    #[test]
    fn losses_in_the_warm_up_are_not_the_measured_intervals() {
        let dropped = Arc::new(AtomicU64::new(0));
        let (tx, rx) = std::sync::mpsc::channel();
        let handler = DropsEarly {
            room: ChatRoom::default(),
            seen: 0,
            dropped: dropped.clone(),
        };
        std::thread::spawn(move || {
            let mut config = Config::default();
            config.listen = "127.0.0.1:0".parse().unwrap();
            let mut server = Server::bind(config, handler).expect("bind");
            tx.send(server.local_addr()).unwrap();
            let _ = server.run();
        });
        let addr = rx.recv().unwrap();
        let target = Target::parse(&format!("ws://{addr}/"), false).unwrap();
        // 400 messages a second: the first 100 (the sync markers among them) are all due
        // within the first quarter of the half-second warm-up.
        let opts = Opts {
            warmup: Duration::from_millis(500),
            ..open_loop(target, 4, 1, 400.0)
        };
        let t = measure(&opts, None).unwrap();
        assert_eq!(dropped.load(std::sync::atomic::Ordering::SeqCst), 10);
        // The gaps were seen (and their windows released) in the warm-up: none counts.
        assert_eq!((t.lost, t.stalled, t.errors), (0, 0, 0));
        assert!(t.deliveries > 0);
        assert!(
            t.seen > t.deliveries,
            "the warm-up's deliveries count for progress"
        );
    }

    #[test]
    fn stages_are_offered_in_turn_and_tallied_on_their_own() {
        let addr = chat_server();
        let target = Target::parse(&format!("ws://{addr}/"), false).unwrap();
        let stages = vec![
            Stage {
                rate: 200.0,
                secs: 1.0,
            },
            Stage {
                rate: 1000.0,
                secs: 1.0,
            },
        ];
        let opts = Opts {
            threads: 1,
            duration: Duration::from_secs(2),
            stages,
            ..open_loop(target, 4, 2, 200.0)
        };
        let sink = intervals(&opts).unwrap().expect("stages need the sink");
        let t = measure(&opts, Some(sink.clone())).unwrap();
        assert_eq!((t.lost, t.errors), (0, 0));
        sink.finish().unwrap();
        let stages = sink.stages();
        let sent: Vec<u64> = stages.iter().map(|s| s.slice.sent).collect();
        // The schedule is exact: 200 messages are due in the first second, 1,000 in the
        // second; a busy turn may move one or two across the edge.
        assert!((195..=205).contains(&sent[0]), "{sent:?}");
        assert!((995..=1005).contains(&sent[1]), "{sent:?}");
        for s in &stages {
            assert_eq!(s.secs, 1.0);
            assert_eq!(s.slice.latency.count(), s.slice.done);
            // Each message reaches the three other clients.
            let per_message = s.slice.done as f64 / s.slice.sent as f64;
            assert!((2.9..=3.1).contains(&per_message), "{per_message}");
        }
    }
}
