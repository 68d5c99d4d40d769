//! Pusher webhooks: the events a server reports to an app's backend, the JSON body that
//! carries them and its signature.
//!
//! A webhook is an HTTP `POST` of `{"time_ms": …, "events": [{"name": …, …}, …]}` with the
//! headers `X-Pusher-Key` (the app key) and `X-Pusher-Signature` (hex HMAC-SHA256 of the
//! body under the app secret), as the Pusher SDKs' `validate_webhook` check (they also
//! refuse a `time_ms` more than 300 s from their clock). Owns the event kinds, the body
//! and the headers, as pure functions; the sending (a helper thread, batching, bounded
//! retries) belongs to the server and must not be done here.

use super::apps::App;
use super::auth::{hex, hmac_sha256};
use super::json::push_str;

/// One webhook event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookEvent {
    /// A channel got its first subscriber.
    ChannelOccupied {
        /// The channel.
        channel: String,
    },
    /// A channel lost its last subscriber.
    ChannelVacated {
        /// The channel.
        channel: String,
    },
    /// A user joined a presence channel (their first connection in it).
    MemberAdded {
        /// The channel.
        channel: String,
        /// The user.
        user_id: String,
    },
    /// A user left a presence channel (their last connection in it).
    MemberRemoved {
        /// The channel.
        channel: String,
        /// The user.
        user_id: String,
    },
    /// A client event was relayed.
    ClientEvent {
        /// The channel.
        channel: String,
        /// The event name (`client-…`).
        event: String,
        /// The event's data as JSON text (sent in the webhook as a string).
        data: String,
        /// The sender's socket id.
        socket_id: String,
        /// The sender's user id, on presence channels.
        user_id: Option<String>,
    },
    /// A new subscriber of a cache channel found no cached event.
    CacheMiss {
        /// The channel.
        channel: String,
    },
}

impl WebhookEvent {
    /// The `name` field.
    pub fn name(&self) -> &'static str {
        match self {
            Self::ChannelOccupied { .. } => "channel_occupied",
            Self::ChannelVacated { .. } => "channel_vacated",
            Self::MemberAdded { .. } => "member_added",
            Self::MemberRemoved { .. } => "member_removed",
            Self::ClientEvent { .. } => "client_event",
            Self::CacheMiss { .. } => "cache_miss",
        }
    }

    /// The channel it is about.
    pub fn channel(&self) -> &str {
        match self {
            Self::ChannelOccupied { channel }
            | Self::ChannelVacated { channel }
            | Self::MemberAdded { channel, .. }
            | Self::MemberRemoved { channel, .. }
            | Self::ClientEvent { channel, .. }
            | Self::CacheMiss { channel } => channel,
        }
    }

    /// Append this event as a JSON object.
    fn push_json(&self, out: &mut String) {
        out.push_str("{\"name\":\"");
        out.push_str(self.name());
        out.push_str("\",\"channel\":");
        push_str(out, self.channel());
        let field = |out: &mut String, name: &str, value: &str| {
            out.push_str(",\"");
            out.push_str(name);
            out.push_str("\":");
            push_str(out, value);
        };
        match self {
            Self::MemberAdded { user_id, .. } | Self::MemberRemoved { user_id, .. } => {
                field(out, "user_id", user_id);
            }
            Self::ClientEvent {
                event,
                data,
                socket_id,
                user_id,
                ..
            } => {
                field(out, "event", event);
                field(out, "data", data);
                field(out, "socket_id", socket_id);
                if let Some(user_id) = user_id {
                    field(out, "user_id", user_id);
                }
            }
            _ => {}
        }
        out.push('}');
    }
}

/// The body of one webhook request: `{"time_ms":…,"events":[…]}`. `time_ms` is the
/// server's clock in Unix milliseconds.
pub fn body(events: &[WebhookEvent], time_ms: u64) -> String {
    let mut out = String::with_capacity(32 + events.len() * 64);
    out.push_str("{\"time_ms\":");
    out.push_str(&time_ms.to_string());
    out.push_str(",\"events\":[");
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        e.push_json(&mut out);
    }
    out.push_str("]}");
    out
}

/// `X-Pusher-Signature`: the hex HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &str, body: &str) -> String {
    hex(&hmac_sha256(secret, &[body.as_bytes()]))
}

/// The headers of a webhook request for `app` carrying `body`.
pub fn headers(app: &App, body: &str) -> [(&'static str, String); 3] {
    [
        ("Content-Type", "application/json".to_string()),
        ("X-Pusher-Key", app.key().to_string()),
        ("X-Pusher-Signature", signature(app.secret(), body)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn body_lists_every_kind() {
        let events = vec![
            WebhookEvent::ChannelOccupied {
                channel: "news".into(),
            },
            WebhookEvent::ChannelVacated {
                channel: "news".into(),
            },
            WebhookEvent::MemberAdded {
                channel: "presence-x".into(),
                user_id: "1".into(),
            },
            WebhookEvent::MemberRemoved {
                channel: "presence-x".into(),
                user_id: "1".into(),
            },
            WebhookEvent::ClientEvent {
                channel: "presence-x".into(),
                event: "client-t".into(),
                data: r#"{"a":"b"}"#.into(),
                socket_id: "1.2".into(),
                user_id: Some("1".into()),
            },
            WebhookEvent::ClientEvent {
                channel: "private-x".into(),
                event: "client-t".into(),
                data: "null".into(),
                socket_id: "1.2".into(),
                user_id: None,
            },
            WebhookEvent::CacheMiss {
                channel: "cache-x".into(),
            },
        ];
        let v: Value = serde_json::from_str(&body(&events, 1327078148132)).unwrap();
        assert_eq!(
            v,
            json!({"time_ms": 1327078148132u64, "events": [
                {"name": "channel_occupied", "channel": "news"},
                {"name": "channel_vacated", "channel": "news"},
                {"name": "member_added", "channel": "presence-x", "user_id": "1"},
                {"name": "member_removed", "channel": "presence-x", "user_id": "1"},
                {"name": "client_event", "channel": "presence-x", "event": "client-t",
                 "data": "{\"a\":\"b\"}", "socket_id": "1.2", "user_id": "1"},
                {"name": "client_event", "channel": "private-x", "event": "client-t",
                 "data": "null", "socket_id": "1.2"},
                {"name": "cache_miss", "channel": "cache-x"},
            ]})
        );
    }

    #[test]
    fn signature_is_the_hmac_of_the_body() {
        let app: App = "1:278d425bdf160c739803:7ad3773142a6692b25b8"
            .parse()
            .unwrap();
        let body = body(
            &[WebhookEvent::ChannelOccupied {
                channel: "test_channel".into(),
            }],
            1,
        );
        let [ct, key, sig] = headers(&app, &body);
        assert_eq!(ct.1, "application/json");
        assert_eq!(key, ("X-Pusher-Key", "278d425bdf160c739803".to_string()));
        assert_eq!(sig.0, "X-Pusher-Signature");
        assert_eq!(
            sig.1,
            hex(&hmac_sha256("7ad3773142a6692b25b8", &[body.as_bytes()]))
        );
        assert_eq!(sig.1.len(), 64);
        assert_ne!(sig.1, signature("other", &body));
    }
}
