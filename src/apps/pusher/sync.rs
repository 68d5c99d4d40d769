//! How the loops that serve Pusher keep their channel replicas in step: the control room
//! every loop listens to (`Context::listen`), the messages sent through it, and who was
//! heard from when.
//!
//! Every loop (a worker, an instance behind Redis) has an origin id, random per start.
//! Through the control room it sends: `hello` when it starts (the others answer with a
//! `snapshot` of their own part of every channel, addressed to it); `deltas`, the changes
//! its connections make (subscriptions, presence members, cache channels' last events,
//! terminations); `publish`, an event whose excluded socket is not on this loop (the
//! other loops deliver it locally, skipping that socket); and a `beat` every
//! [`BEAT`]. A loop that hears from an origin it has no snapshot of asks for one (`ask`);
//! an origin unheard for [`FORGET_AFTER`] is forgotten, its members announced as gone.
//! Messages are JSON text. Owns the message format and the table of origins; must not
//! touch connections or rooms (that is `PusherApp`) or decide the protocol (the engine).

use crate::pusher::{Delta, Share};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The room the loops' control messages travel in.
pub const CONTROL_ROOM: &str = "pusher:control";

/// How often a loop says it is alive.
pub const BEAT: Duration = Duration::from_secs(5);

/// An origin unheard for this long is gone (four missed beats).
pub const FORGET_AFTER: Duration = Duration::from_secs(20);

/// How long to wait for a snapshot before asking again.
const ASK_AGAIN: Duration = Duration::from_secs(5);

/// One control message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The sending loop's origin id.
    pub from: u64,
    /// The one loop it is for (others ignore it); none: every loop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<u64>,
    /// What it says.
    #[serde(flatten)]
    pub body: Body,
}

/// What a control message says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Body {
    /// The sender just started, with nothing: send it your snapshot.
    Hello,
    /// Send me your snapshot (I lost track of you, or never had it).
    Ask,
    /// The sender is alive.
    Beat,
    /// The sender's own part of every channel, and the live cached events it knows.
    Snapshot {
        /// Its channels.
        shares: Vec<Share>,
        /// Cached events.
        #[serde(default)]
        cached: Vec<Delta>,
    },
    /// Changes on the sender, in order.
    Deltas {
        /// The changes.
        deltas: Vec<Delta>,
    },
    /// Deliver `frame` to the local members of `room`, but the connection `except`.
    Publish {
        /// The room.
        room: String,
        /// The text frame.
        frame: String,
        /// The excluded socket id.
        except: String,
    },
}

impl Envelope {
    /// As JSON text.
    pub fn to_json(&self) -> String {
        // Only strings, numbers and vectors of them: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// From JSON text; `None` for anything else (logged by the caller).
    pub fn from_json(text: &str) -> Option<Envelope> {
        serde_json::from_str(text).ok()
    }
}

/// What is known of one other loop.
#[derive(Clone, Copy, Debug)]
struct Origin {
    last_heard: Instant,
    /// Its snapshot (or its hello) arrived: the replica has its whole part.
    synced: bool,
    /// When a snapshot was last asked for.
    asked: Option<Instant>,
}

/// The other loops heard from.
#[derive(Debug, Default)]
pub struct Origins {
    known: HashMap<u64, Origin>,
}

impl Origins {
    /// `origin` was heard from at `now`. Returns whether to ask it for a snapshot (it is
    /// new to this loop, or an earlier request went unanswered).
    pub fn heard(&mut self, origin: u64, now: Instant) -> bool {
        let o = self.known.entry(origin).or_insert(Origin {
            last_heard: now,
            synced: false,
            asked: None,
        });
        o.last_heard = now;
        if o.synced || o.asked.is_some_and(|at| now < at + ASK_AGAIN) {
            return false;
        }
        o.asked = Some(now);
        true
    }

    /// The replica now has `origin`'s whole part (its snapshot, or its hello).
    pub fn synced(&mut self, origin: u64, now: Instant) {
        let o = self.known.entry(origin).or_insert(Origin {
            last_heard: now,
            synced: true,
            asked: None,
        });
        o.synced = true;
        o.last_heard = now;
    }

    /// Remove and return the origins unheard since `now - FORGET_AFTER`.
    pub fn take_stale(&mut self, now: Instant) -> Vec<u64> {
        let mut gone = Vec::new();
        self.known.retain(|&id, o| {
            let alive = now.saturating_duration_since(o.last_heard) < FORGET_AFTER;
            if !alive {
                gone.push(id);
            }
            alive
        });
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_round_trip() {
        let messages = [
            Envelope {
                from: 7,
                to: None,
                body: Body::Hello,
            },
            Envelope {
                from: 7,
                to: Some(9),
                body: Body::Snapshot {
                    shares: vec![Share {
                        app: "1".into(),
                        channel: "presence-a".into(),
                        subscriptions: 2,
                        members: vec![crate::pusher::ShareMember {
                            user_id: "42".into(),
                            numeric: true,
                            user_info: Some("{\"name\":\"x\"}".into()),
                            connections: 2,
                        }],
                    }],
                    cached: Vec::new(),
                },
            },
            Envelope {
                from: 7,
                to: None,
                body: Body::Deltas {
                    deltas: vec![Delta::Subscribed {
                        app: "1".into(),
                        channel: "c".into(),
                    }],
                },
            },
            Envelope {
                from: 7,
                to: None,
                body: Body::Publish {
                    room: "pusher:1:c".into(),
                    frame: "{}".into(),
                    except: "1.2".into(),
                },
            },
        ];
        for m in messages {
            let text = m.to_json();
            assert_eq!(Envelope::from_json(&text), Some(m), "{text}");
        }
        assert_eq!(Envelope::from_json("{\"from\":1,\"kind\":\"nope\"}"), None);
        assert_eq!(Envelope::from_json("not json"), None);
    }

    #[test]
    fn asks_new_origins_once_until_synced_and_forgets_the_silent() {
        let t0 = Instant::now();
        let mut origins = Origins::default();
        assert!(origins.heard(5, t0));
        assert!(!origins.heard(5, t0 + Duration::from_secs(1)));
        assert!(origins.heard(5, t0 + ASK_AGAIN + Duration::from_secs(1)));
        origins.synced(5, t0 + Duration::from_secs(7));
        assert!(!origins.heard(5, t0 + Duration::from_secs(20)));
        origins.synced(6, t0 + Duration::from_secs(20));
        assert!(origins.take_stale(t0 + Duration::from_secs(21)).is_empty());
        let mut gone = origins.take_stale(t0 + Duration::from_secs(20) + FORGET_AFTER);
        gone.sort();
        assert_eq!(gone, [5, 6]);
        assert!(origins.take_stale(t0 + 2 * FORGET_AFTER).is_empty());
    }
}
