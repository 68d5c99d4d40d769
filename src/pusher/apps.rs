//! Pusher apps: credentials, per-app options, and lookup by key and by id.
//!
//! Owns the `--pusher-app ID:KEY:SECRET[,option...]` syntax (repeatable on the command line)
//! and the options an app carries: client events, required user authentication, connection
//! quota, activity timeout and the protocol's limits. Clients find their app by key (the
//! `/app/{key}` path), backends by id (`/apps/{id}/...`). Must not hold any channel or
//! connection state; the secret never appears in `Debug` output or errors.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

/// The highest `max-presence-members` accepted.
pub const MAX_PRESENCE_MEMBERS: u16 = 10_000;

/// Per-app behaviour and limits. `Default` gives the Pusher service's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppOptions {
    /// Whether clients may connect at all (a disabled app answers 4003).
    pub enabled: bool,
    /// Whether clients may trigger `client-` events on private and presence channels
    /// (off by default, as in Pusher's dashboard; Laravel Echo's `whisper` needs it).
    pub client_events: bool,
    /// Whether every connection must `pusher:signin` within
    /// [`AppOptions::signin_timeout_secs`] or be closed with 4009 (Pusher's "authorized
    /// connections").
    pub user_authentication: bool,
    /// Seconds a connection has to sign in when `user_authentication` is on.
    pub signin_timeout_secs: u16,
    /// The most connections the app may have at once on this server (4004 past it); `None`
    /// for no quota.
    pub max_connections: Option<u32>,
    /// Seconds of silence after which the server pings, sent to clients in
    /// `pusher:connection_established` (pusher-js pings after the smaller of this and its
    /// own setting). 120 as in Pusher.
    pub activity_timeout_secs: u16,
    /// Seconds the server waits for `pusher:pong` after its `pusher:ping` (4201 past it).
    pub pong_timeout_secs: u16,
    /// The most channels one connection may subscribe to at once.
    pub max_channels_per_connection: u16,
    /// The most distinct users in one presence channel (Pusher: 100; at most
    /// [`MAX_PRESENCE_MEMBERS`]).
    pub max_presence_members: u16,
    /// The largest `user_info` of a presence member, in bytes of JSON (Pusher: 1 KB).
    pub max_user_info_bytes: u32,
    /// The largest event `data`, in bytes, from the HTTP API or a client (Pusher: 10 KB).
    pub max_event_bytes: u32,
    /// Client events one connection may send per second (Pusher: 10); past it the event is
    /// dropped with a 4301 error.
    pub client_events_per_second: u16,
    /// Whether subscribers of public and private channels get
    /// `pusher_internal:subscription_count` when the count changes (off by default: it
    /// costs a message to every subscriber per join and leave).
    pub subscription_count: bool,
    /// How long a cache channel keeps its last event, in seconds (Pusher: 30 minutes).
    pub cache_ttl_secs: u32,
    /// Webhook URLs (channel_occupied, channel_vacated, member_added, member_removed,
    /// client_event, cache_miss are posted to each).
    pub webhooks: Vec<Box<str>>,
}

impl Default for AppOptions {
    fn default() -> Self {
        AppOptions {
            enabled: true,
            client_events: false,
            user_authentication: false,
            signin_timeout_secs: 30,
            max_connections: None,
            activity_timeout_secs: 120,
            pong_timeout_secs: 30,
            max_channels_per_connection: 100,
            max_presence_members: 100,
            max_user_info_bytes: 1024,
            max_event_bytes: 10 * 1024,
            client_events_per_second: 10,
            subscription_count: false,
            cache_ttl_secs: 30 * 60,
            webhooks: Vec::new(),
        }
    }
}

/// One Pusher app: the credentials a backend and its clients share, and its options.
#[derive(Clone, PartialEq, Eq)]
pub struct App {
    id: Box<str>,
    key: Box<str>,
    secret: Box<str>,
    /// What the app allows and its limits.
    pub options: AppOptions,
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("id", &self.id)
            .field("key", &self.key)
            .field("secret", &"<redacted>")
            .field("options", &self.options)
            .finish()
    }
}

/// Why an app definition was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppConfigError {
    /// Not `ID:KEY:SECRET[,option...]`.
    Syntax,
    /// The id is empty or has a character outside `A-Z a-z 0-9 - _ .` (it is a URL path
    /// segment of the HTTP API).
    BadId,
    /// The key is empty or has a character outside `A-Z a-z 0-9 - _ .` (it is a URL path
    /// segment and the part before `:` of every `auth` value).
    BadKey,
    /// The secret is empty or has a `,` (which starts the options).
    BadSecret,
    /// An option this server does not know, or a bad value for one.
    BadOption(String),
    /// Two apps with this id.
    DuplicateId(String),
    /// Two apps with this key.
    DuplicateKey(String),
    /// More apps than an [`AppIndex`] can number.
    TooMany,
}

impl fmt::Display for AppConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax => f.write_str("expected ID:KEY:SECRET[,option[=value]...]"),
            Self::BadId => f.write_str("app id must be 1 or more of A-Z a-z 0-9 - _ ."),
            Self::BadKey => f.write_str("app key must be 1 or more of A-Z a-z 0-9 - _ ."),
            Self::BadSecret => f.write_str("app secret must be non-empty and without ','"),
            Self::BadOption(o) => write!(
                f,
                "bad app option {o:?} (known: client-events, user-auth, disabled, \
                 subscription-count, max-connections=N, activity-timeout=SECS, \
                 max-channels=N, max-presence-members=N, max-event-bytes=N, \
                 client-event-rate=N, webhook=URL)"
            ),
            Self::DuplicateId(id) => write!(f, "two apps have the id {id:?}"),
            Self::DuplicateKey(key) => write!(f, "two apps have the key {key:?}"),
            Self::TooMany => f.write_str("too many apps (65535 at most)"),
        }
    }
}

impl std::error::Error for AppConfigError {}

/// Whether `s` is a non-empty run of `A-Z a-z 0-9 - _ .`.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl App {
    /// An app with default options; refuses ids and keys outside `A-Z a-z 0-9 - _ .` and an
    /// empty secret.
    pub fn new(id: &str, key: &str, secret: &str) -> Result<App, AppConfigError> {
        if !is_token(id) {
            return Err(AppConfigError::BadId);
        }
        if !is_token(key) {
            return Err(AppConfigError::BadKey);
        }
        if secret.is_empty() {
            return Err(AppConfigError::BadSecret);
        }
        Ok(App {
            id: id.into(),
            key: key.into(),
            secret: secret.into(),
            options: AppOptions::default(),
        })
    }

    /// The app id (the `{id}` of `/apps/{id}/...`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The public key (the `{key}` of `/app/{key}`).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The shared secret every signature is keyed with.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// Apply one `name[=value]` option (the part after a `,` of `--pusher-app`).
    pub fn set_option(&mut self, option: &str) -> Result<(), AppConfigError> {
        let bad = || AppConfigError::BadOption(option.to_string());
        let (name, value) = match option.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (option, None),
        };
        let flag = |value: Option<&str>| match value {
            None | Some("true" | "on" | "1") => Ok(true),
            Some("false" | "off" | "0") => Ok(false),
            Some(_) => Err(bad()),
        };
        fn number<T: FromStr + PartialOrd + From<u8>>(v: Option<&str>) -> Option<T> {
            v?.parse().ok().filter(|n: &T| *n >= T::from(1))
        }
        let o = &mut self.options;
        match name {
            "client-events" => o.client_events = flag(value)?,
            "user-auth" => o.user_authentication = flag(value)?,
            "disabled" => o.enabled = !flag(value)?,
            "subscription-count" => o.subscription_count = flag(value)?,
            "max-connections" => o.max_connections = Some(number(value).ok_or_else(bad)?),
            "activity-timeout" => o.activity_timeout_secs = number(value).ok_or_else(bad)?,
            "max-channels" => o.max_channels_per_connection = number(value).ok_or_else(bad)?,
            "max-presence-members" => {
                // Member lists are scanned per join: keep them small (Pusher allows 100).
                o.max_presence_members = number(value)
                    .filter(|&n: &u16| n <= MAX_PRESENCE_MEMBERS)
                    .ok_or_else(bad)?
            }
            "max-event-bytes" => o.max_event_bytes = number(value).ok_or_else(bad)?,
            "client-event-rate" => o.client_events_per_second = number(value).ok_or_else(bad)?,
            "webhook" => match value {
                Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                    o.webhooks.push(url.into())
                }
                _ => return Err(bad()),
            },
            _ => return Err(bad()),
        }
        Ok(())
    }
}

/// `ID:KEY:SECRET[,option[=value]...]`, the value of `--pusher-app`. The secret runs from
/// the second `:` to the first `,`.
impl FromStr for App {
    type Err = AppConfigError;

    fn from_str(spec: &str) -> Result<App, AppConfigError> {
        let (id, rest) = spec.split_once(':').ok_or(AppConfigError::Syntax)?;
        let (key, rest) = rest.split_once(':').ok_or(AppConfigError::Syntax)?;
        let mut parts = rest.split(',');
        let secret = parts.next().unwrap_or_default();
        let mut app = App::new(id, key, secret)?;
        for option in parts {
            app.set_option(option)?;
        }
        Ok(app)
    }
}

/// An app's position in [`Apps`]: two bytes in each connection's state instead of a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppIndex(u16);

impl AppIndex {
    /// The position as a `usize`, for indexing per-app tables.
    pub fn get(self) -> usize {
        usize::from(self.0)
    }
}

/// Every configured app, found by key (WebSocket clients) or by id (the HTTP API).
#[derive(Clone, Debug, Default)]
pub struct Apps {
    apps: Vec<App>,
    by_key: HashMap<Box<str>, AppIndex>,
    by_id: HashMap<Box<str>, AppIndex>,
}

impl Apps {
    /// Index `apps`; refuses duplicate ids or keys and more than 65535 apps.
    pub fn new(apps: Vec<App>) -> Result<Apps, AppConfigError> {
        let mut by_key = HashMap::with_capacity(apps.len());
        let mut by_id = HashMap::with_capacity(apps.len());
        for (i, app) in apps.iter().enumerate() {
            let index = AppIndex(u16::try_from(i).map_err(|_| AppConfigError::TooMany)?);
            if by_id.insert(app.id.clone(), index).is_some() {
                return Err(AppConfigError::DuplicateId(app.id.to_string()));
            }
            if by_key.insert(app.key.clone(), index).is_some() {
                return Err(AppConfigError::DuplicateKey(app.key.to_string()));
            }
        }
        Ok(Apps {
            apps,
            by_key,
            by_id,
        })
    }

    /// The app whose key is `key`.
    pub fn by_key(&self, key: &str) -> Option<AppIndex> {
        self.by_key.get(key).copied()
    }

    /// The app whose id is `id`.
    pub fn by_id(&self, id: &str) -> Option<AppIndex> {
        self.by_id.get(id).copied()
    }

    /// The app at `index` (indexes come from this `Apps`).
    pub fn get(&self, index: AppIndex) -> Option<&App> {
        self.apps.get(index.get())
    }

    /// The number of apps.
    pub fn len(&self) -> usize {
        self.apps.len()
    }

    /// Whether there are no apps.
    pub fn is_empty(&self) -> bool {
        self.apps.is_empty()
    }

    /// Every app with its index, in configuration order.
    pub fn iter(&self) -> impl Iterator<Item = (AppIndex, &App)> {
        self.apps
            .iter()
            .enumerate()
            .map(|(i, a)| (AppIndex(i as u16), a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_flag_syntax() {
        let app: App = "42:app-key:s3cr:et".parse().unwrap();
        assert_eq!(
            (app.id(), app.key(), app.secret()),
            ("42", "app-key", "s3cr:et")
        );
        assert_eq!(app.options, AppOptions::default());
        assert!(!app.options.client_events);
        assert_eq!(app.options.activity_timeout_secs, 120);
    }

    #[test]
    fn parses_options() {
        let app: App = "1:k:s,client-events,user-auth,max-connections=500,activity-timeout=30,\
                        max-channels=10,subscription-count,webhook=http://127.0.0.1:9/hook"
            .parse()
            .unwrap();
        let o = &app.options;
        assert!(o.client_events && o.user_authentication && o.subscription_count);
        assert_eq!(o.max_connections, Some(500));
        assert_eq!(o.activity_timeout_secs, 30);
        assert_eq!(o.max_channels_per_connection, 10);
        assert_eq!(o.webhooks, vec![Box::from("http://127.0.0.1:9/hook")]);
        let off: App = "1:k:s,client-events=false,disabled".parse().unwrap();
        assert!(!off.options.client_events && !off.options.enabled);
    }

    #[test]
    fn refuses_bad_definitions() {
        let err = |s: &str| s.parse::<App>().unwrap_err();
        assert_eq!(err("1:k"), AppConfigError::Syntax);
        assert_eq!(err(":k:s"), AppConfigError::BadId);
        assert_eq!(err("1:k/x:s"), AppConfigError::BadKey);
        assert_eq!(err("1:k:"), AppConfigError::BadSecret);
        assert_eq!(err("1:k:,x"), AppConfigError::BadSecret);
        assert!(matches!(err("1:k:s,nope"), AppConfigError::BadOption(_)));
        assert!(matches!(
            err("1:k:s,max-connections=0"),
            AppConfigError::BadOption(_)
        ));
        assert!(matches!(
            err("1:k:s,activity-timeout=x"),
            AppConfigError::BadOption(_)
        ));
        assert!(matches!(
            err("1:k:s,activity-timeout=70000"),
            AppConfigError::BadOption(_)
        ));
        assert!(matches!(
            err("1:k:s,client-events=maybe"),
            AppConfigError::BadOption(_)
        ));
        assert!(matches!(
            err("1:k:s,webhook=ftp://x"),
            AppConfigError::BadOption(_)
        ));
    }

    #[test]
    fn the_secret_stays_out_of_debug_and_errors() {
        let app: App = "1:k:topsecret".parse().unwrap();
        assert!(!format!("{app:?}").contains("topsecret"));
        let err = "1:k:topsecret,bogus".parse::<App>().unwrap_err();
        assert!(!err.to_string().contains("topsecret"));
    }

    #[test]
    fn lookup_by_key_and_id() {
        let apps = Apps::new(vec![
            "1:key-one:s1".parse().unwrap(),
            "2:key-two:s2".parse().unwrap(),
        ])
        .unwrap();
        let two = apps.by_key("key-two").unwrap();
        assert_eq!(apps.by_id("2"), Some(two));
        assert_eq!(apps.get(two).unwrap().secret(), "s2");
        assert_eq!(apps.by_key("nope"), None);
        assert_eq!(apps.by_id("3"), None);
        assert_eq!(apps.len(), 2);
        assert_eq!(apps.iter().count(), 2);
    }

    #[test]
    fn duplicates_are_refused() {
        let dup_id = Apps::new(vec!["1:a:s".parse().unwrap(), "1:b:s".parse().unwrap()]);
        assert_eq!(dup_id.unwrap_err(), AppConfigError::DuplicateId("1".into()));
        let dup_key = Apps::new(vec!["1:a:s".parse().unwrap(), "2:a:s".parse().unwrap()]);
        assert_eq!(
            dup_key.unwrap_err(),
            AppConfigError::DuplicateKey("a".into())
        );
    }
}
