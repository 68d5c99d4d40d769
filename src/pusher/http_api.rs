//! The Pusher HTTP API ("HTTP API reference"), as a pure function from a request to a
//! response plus the actions it causes.
//!
//! Routes, each behind the signed query checked by `auth`:
//! - `POST /apps/{id}/events`: `{"name", "data", "channels" | "channel", "socket_id"?,
//!   "info"?}` → `{}` or `{"channels": {name: {"user_count"?, "subscription_count"?}}}`;
//! - `POST /apps/{id}/batch_events`: `{"batch": [event with "channel", …]}` (10 at most)
//!   → `{}` or `{"batch": [{attributes}, …]}`;
//! - `GET /apps/{id}/channels` (`filter_by_prefix`, `info=user_count,subscription_count`)
//!   → `{"channels": {name: {attributes}}}` (occupied channels only);
//! - `GET /apps/{id}/channels/{name}` (`info=user_count,subscription_count,cache`) →
//!   `{"occupied": bool, …}`;
//! - `GET /apps/{id}/channels/{name}/users` (presence channels) →
//!   `{"users": [{"id": …}, …]}`;
//! - `POST /apps/{id}/users/{user_id}/terminate_connections` → `{}` (also
//!   `/users/{user_id}/terminate_connections`, the app named by `auth_key`, which is where
//!   the Python SDK 3.3 posts it).
//!
//! Answers: 200, 400 (bad JSON, fields, names, info), 401 (signature, key, timestamp,
//! body_md5), 403 (app disabled), 404 (unknown app or path), 405 (with `Allow`), 413 (event
//! data over the app's limit), each with a JSON body `{"error": "…"}`. Owns the request
//! bodies, the validation and the response bodies; must not do I/O, read the body off a
//! socket (the server enforces [`body_limit`] first) or read a clock.

use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt::Write as _;

use super::apps::{AppIndex, AppOptions};
use super::auth::{DEFAULT_TIMESTAMP_WINDOW_SECS, SignedRequest, SocketId, verify_api_request};
use super::channels::{ChannelType, validate_channel_name, validate_event_name};
use super::engine::{Action, BackendEvent, Engine, Now};
use super::json::push_str;
use super::messages::MAX_USER_ID_LEN;
use super::query;

/// The most channels one `events` request may name (the HTTP API reference: 100).
pub const MAX_CHANNELS_PER_EVENT: usize = 100;

/// The most events one `batch_events` request may carry (the HTTP API reference: 10).
pub const MAX_BATCH_EVENTS: usize = 10;

/// An HTTP request to the API, as the server read it.
#[derive(Clone, Copy, Debug)]
pub struct HttpRequest<'a> {
    /// The method (`GET`, `POST`).
    pub method: &'a str,
    /// The path, not decoded, without the query (`/apps/1/events`).
    pub path: &'a str,
    /// The query string without `?` (empty if none).
    pub query: &'a str,
    /// The body (empty if none).
    pub body: &'a [u8],
}

/// The answer: a status and a JSON body (`Content-Type: application/json`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The JSON body.
    pub body: String,
    /// For 405: the `Allow` header's value.
    pub allow: Option<&'static str>,
}

impl HttpResponse {
    fn ok(body: String) -> HttpResponse {
        HttpResponse {
            status: 200,
            body,
            allow: None,
        }
    }

    fn error(status: u16, message: &str) -> HttpResponse {
        let mut body = String::with_capacity(16 + message.len());
        body.push_str("{\"error\":");
        push_str(&mut body, message);
        body.push('}');
        HttpResponse {
            status,
            body,
            allow: None,
        }
    }
}

/// Whether `path` belongs to the Pusher HTTP API (`/apps/…`, and
/// `/users/{id}/terminate_connections` as the Python SDK sends it).
pub fn is_api_path(path: &str) -> bool {
    path.starts_with("/apps/")
        || (path.starts_with("/users/") && path.ends_with("/terminate_connections"))
}

/// The largest request body worth reading for an app with these options: a full batch of
/// events at the data limit, with room for JSON escaping and channel lists. The server
/// answers 413 before reading a longer body.
pub fn body_limit(options: &AppOptions) -> usize {
    MAX_BATCH_EVENTS * (2 * options.max_event_bytes as usize + 24 * 1024)
}

/// The routes.
enum Route<'a> {
    Events,
    BatchEvents,
    Channels,
    Channel(&'a str),
    Users(&'a str),
    Terminate(&'a str),
}

impl Route<'_> {
    fn method(&self) -> &'static str {
        match self {
            Route::Events | Route::BatchEvents | Route::Terminate(_) => "POST",
            _ => "GET",
        }
    }
}

/// Answer one API request. Publishing, terminating and relaying happen through `out`.
pub fn handle(
    engine: &mut Engine,
    request: &HttpRequest<'_>,
    now: Now,
    out: &mut Vec<Action>,
) -> HttpResponse {
    let (route, index) = if let Some(rest) = request.path.strip_prefix("/apps/") {
        let segments: Vec<&str> = rest.split('/').collect();
        let route = match segments[..] {
            [_, "events"] => Route::Events,
            [_, "batch_events"] => Route::BatchEvents,
            [_, "channels"] => Route::Channels,
            [_, "channels", name] => Route::Channel(name),
            [_, "channels", name, "users"] => Route::Users(name),
            [_, "users", user, "terminate_connections"] => Route::Terminate(user),
            _ => return HttpResponse::error(404, "Not found"),
        };
        let Ok(app_id) = query::decode(segments[0], 0) else {
            return HttpResponse::error(404, "Unknown app");
        };
        let Some(index) = engine.apps().by_id(&app_id) else {
            return HttpResponse::error(404, "Unknown app");
        };
        (route, index)
    } else if let Some(user) = request
        .path
        .strip_prefix("/users/")
        .and_then(|r| r.strip_suffix("/terminate_connections"))
        .filter(|u| !u.contains('/'))
    {
        // The Python SDK (3.3) posts here without `/apps/{id}`: the signed `auth_key`
        // names the app.
        let key = query::parse_query(request.query)
            .ok()
            .and_then(|p| query::get(&p, "auth_key").map(str::to_string));
        let Some(index) = key.and_then(|k| engine.apps().by_key(&k)) else {
            return HttpResponse::error(404, "Unknown app");
        };
        (Route::Terminate(user), index)
    } else {
        return HttpResponse::error(404, "Not found");
    };
    if request.method != route.method() {
        let mut response = HttpResponse::error(405, "Method not allowed");
        response.allow = Some(route.method());
        return response;
    }
    let app = engine.apps().get(index).expect("index from these apps");
    if !app.options.enabled {
        return HttpResponse::error(403, "Application disabled");
    }
    let params = match query::parse_query(request.query) {
        Ok(params) => params,
        Err(e) => return HttpResponse::error(400, &e.to_string()),
    };
    let signed = SignedRequest {
        method: request.method,
        path: request.path,
        params: &params,
        body: request.body,
    };
    let window = DEFAULT_TIMESTAMP_WINDOW_SECS;
    if let Err(e) = verify_api_request(app.key(), app.secret(), &signed, now.unix_secs(), window) {
        return HttpResponse::error(e.status(), &e.to_string());
    }
    let decoded = |segment: &str| query::decode(segment, 0).map(Cow::into_owned);
    let result = match route {
        Route::Events => events(engine, index, request.body, now, out),
        Route::BatchEvents => batch_events(engine, index, request.body, now, out),
        Route::Channels => channels(engine, index, &params),
        Route::Channel(name) => match decoded(name) {
            Ok(name) => channel(engine, index, &name, &params, now),
            Err(e) => Err(HttpResponse::error(400, &e.to_string())),
        },
        Route::Users(name) => match decoded(name) {
            Ok(name) => users(engine, index, &name),
            Err(e) => Err(HttpResponse::error(400, &e.to_string())),
        },
        Route::Terminate(user) => match decoded(user) {
            Ok(user) if !user.is_empty() && user.len() <= MAX_USER_ID_LEN => {
                engine.terminate_user(index, &user, out);
                Ok(HttpResponse::ok("{}".into()))
            }
            Ok(_) => Err(HttpResponse::error(400, "Invalid user id")),
            Err(e) => Err(HttpResponse::error(400, &e.to_string())),
        },
    };
    result.unwrap_or_else(|e| e)
}

/// The attributes an `info` parameter asks for.
#[derive(Clone, Copy, Debug, Default)]
struct Info {
    user_count: bool,
    subscription_count: bool,
    cache: bool,
}

impl Info {
    fn parse(info: Option<&str>, allow_cache: bool) -> Result<Info, HttpResponse> {
        let mut wanted = Info::default();
        for attribute in info.unwrap_or("").split(',').filter(|a| !a.is_empty()) {
            match attribute {
                "user_count" => wanted.user_count = true,
                "subscription_count" => wanted.subscription_count = true,
                "cache" if allow_cache => wanted.cache = true,
                other => {
                    let message = format!("Unknown info attribute {:?}", shorten(other));
                    return Err(HttpResponse::error(400, &message));
                }
            }
        }
        Ok(wanted)
    }

    fn any(self) -> bool {
        self.user_count || self.subscription_count || self.cache
    }

    /// Append `"user_count":n,"subscription_count":n` as asked and as apply to `channel`
    /// (user counts only exist for presence channels); returns whether it wrote anything.
    fn push_counts(
        self,
        out: &mut String,
        engine: &Engine,
        index: AppIndex,
        channel: &str,
    ) -> bool {
        let registry = engine.registry(index);
        let mut wrote = false;
        if self.user_count && ChannelType::of(channel).is_presence() {
            let _ = write!(out, "\"user_count\":{}", registry.user_count(channel));
            wrote = true;
        }
        if self.subscription_count {
            if wrote {
                out.push(',');
            }
            let _ = write!(
                out,
                "\"subscription_count\":{}",
                registry.subscription_count(channel)
            );
            wrote = true;
        }
        wrote
    }
}

/// At most 64 characters of a client-supplied string, for messages.
fn shorten(s: &str) -> String {
    s.chars().take(64).collect()
}

/// One event of `events` or `batch_events`, as sent.
#[derive(Deserialize)]
struct EventBody<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    data: &'a RawValue,
    #[serde(borrow, default)]
    channels: Option<Vec<Cow<'a, str>>>,
    #[serde(borrow, default)]
    channel: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    socket_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    info: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct BatchBody<'a> {
    #[serde(borrow)]
    batch: Vec<EventBody<'a>>,
}

/// An event that passed every check.
struct Checked<'a> {
    name: &'a str,
    data: Cow<'a, str>,
    channels: Vec<&'a str>,
    except: Option<SocketId>,
    info: Info,
}

/// Validate one event against the protocol's rules and the app's limits.
fn check<'a>(body: &'a EventBody<'a>, options: &AppOptions) -> Result<Checked<'a>, HttpResponse> {
    let bad = |message: String| HttpResponse::error(400, &message);
    validate_event_name(&body.name).map_err(|e| bad(e.to_string()))?;
    let channels: Vec<&str> = match (&body.channels, &body.channel) {
        (Some(list), _) => list.iter().map(|c| &**c).collect(),
        (None, Some(one)) => vec![&**one],
        (None, None) => return Err(bad("Missing channels or channel".into())),
    };
    if channels.is_empty() {
        return Err(bad("channels is empty".into()));
    }
    if channels.len() > MAX_CHANNELS_PER_EVENT {
        return Err(bad(format!(
            "{} channels; an event may name {MAX_CHANNELS_PER_EVENT} at most",
            channels.len()
        )));
    }
    for channel in &channels {
        validate_channel_name(channel)
            .map_err(|e| bad(format!("Invalid channel {:?}: {e}", shorten(channel))))?;
    }
    // `data` is a string; any other JSON is taken as its text, as some SDKs send objects.
    let raw = body.data.get();
    let data = if raw.starts_with('"') {
        Cow::Owned(
            serde_json::from_str::<String>(raw).map_err(|e| bad(format!("Invalid data: {e}")))?,
        )
    } else {
        Cow::Borrowed(raw)
    };
    if data.len() > options.max_event_bytes as usize {
        let message = format!(
            "Event data is {} bytes; the limit is {}",
            data.len(),
            options.max_event_bytes
        );
        return Err(HttpResponse::error(413, &message));
    }
    let except = match body.socket_id.as_deref() {
        Some(id) => Some(SocketId::parse(id).map_err(|e| bad(e.to_string()))?),
        None => None,
    };
    let info = Info::parse(body.info.as_deref(), false)?;
    Ok(Checked {
        name: &body.name,
        data,
        channels,
        except,
        info,
    })
}

/// Parse a JSON request body.
fn parse_body<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, HttpResponse> {
    serde_json::from_slice(body)
        .map_err(|e| HttpResponse::error(400, &format!("Invalid JSON: {e}")))
}

/// Publish a checked event to each of its channels.
fn trigger(
    engine: &mut Engine,
    index: AppIndex,
    event: &Checked<'_>,
    now: Now,
    out: &mut Vec<Action>,
) {
    for channel in &event.channels {
        let backend = BackendEvent {
            channel,
            name: event.name,
            data: &event.data,
            except: event.except,
        };
        engine.trigger(index, &backend, now, out);
    }
}

/// `POST /apps/{id}/events`.
fn events(
    engine: &mut Engine,
    index: AppIndex,
    body: &[u8],
    now: Now,
    out: &mut Vec<Action>,
) -> Result<HttpResponse, HttpResponse> {
    let body: EventBody<'_> = parse_body(body)?;
    let options = &engine
        .apps()
        .get(index)
        .expect("index from these apps")
        .options;
    let event = check(&body, options)?;
    trigger(engine, index, &event, now, out);
    if !event.info.any() {
        return Ok(HttpResponse::ok("{}".into()));
    }
    let mut json = String::from("{\"channels\":{");
    for (i, channel) in event.channels.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        push_str(&mut json, channel);
        json.push_str(":{");
        event.info.push_counts(&mut json, engine, index, channel);
        json.push('}');
    }
    json.push_str("}}");
    Ok(HttpResponse::ok(json))
}

/// `POST /apps/{id}/batch_events`: every event is checked before any is published.
fn batch_events(
    engine: &mut Engine,
    index: AppIndex,
    body: &[u8],
    now: Now,
    out: &mut Vec<Action>,
) -> Result<HttpResponse, HttpResponse> {
    let body: BatchBody<'_> = parse_body(body)?;
    if body.batch.len() > MAX_BATCH_EVENTS {
        let message = format!(
            "{} events; a batch may carry {MAX_BATCH_EVENTS} at most",
            body.batch.len()
        );
        return Err(HttpResponse::error(400, &message));
    }
    let options = &engine
        .apps()
        .get(index)
        .expect("index from these apps")
        .options;
    let mut checked = Vec::with_capacity(body.batch.len());
    for event in &body.batch {
        if event.channels.is_some() {
            let message = "Batch events take one channel each (channel, not channels)";
            return Err(HttpResponse::error(400, message));
        }
        checked.push(check(event, options)?);
    }
    for event in &checked {
        trigger(engine, index, event, now, out);
    }
    if !checked.iter().any(|e| e.info.any()) {
        return Ok(HttpResponse::ok("{}".into()));
    }
    let mut json = String::from("{\"batch\":[");
    for (i, event) in checked.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push('{');
        event
            .info
            .push_counts(&mut json, engine, index, event.channels[0]);
        json.push('}');
    }
    json.push_str("]}");
    Ok(HttpResponse::ok(json))
}

/// `GET /apps/{id}/channels`.
fn channels(
    engine: &Engine,
    index: AppIndex,
    params: &[query::Pair<'_>],
) -> Result<HttpResponse, HttpResponse> {
    let prefix = query::get(params, "filter_by_prefix").unwrap_or("");
    let info = Info::parse(query::get(params, "info"), false)?;
    if info.user_count && !prefix.starts_with("presence-") {
        let message = "user_count may only be asked for presence channels \
                       (filter_by_prefix=presence-)";
        return Err(HttpResponse::error(400, message));
    }
    let mut names: Vec<&str> = engine
        .registry(index)
        .occupied()
        .filter(|name| name.starts_with(prefix) && !name.starts_with('#'))
        .collect();
    names.sort_unstable();
    let mut json = String::from("{\"channels\":{");
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        push_str(&mut json, name);
        json.push_str(":{");
        info.push_counts(&mut json, engine, index, name);
        json.push('}');
    }
    json.push_str("}}");
    Ok(HttpResponse::ok(json))
}

/// `GET /apps/{id}/channels/{name}`.
fn channel(
    engine: &Engine,
    index: AppIndex,
    name: &str,
    params: &[query::Pair<'_>],
    now: Now,
) -> Result<HttpResponse, HttpResponse> {
    let ty = validate_channel_name(name).map_err(|e| HttpResponse::error(400, &e.to_string()))?;
    let info = Info::parse(query::get(params, "info"), true)?;
    if info.user_count && !ty.is_presence() {
        return Err(HttpResponse::error(
            400,
            "user_count may only be asked for presence channels",
        ));
    }
    let registry = engine.registry(index);
    let count = registry.subscription_count(name);
    let mut json = format!("{{\"occupied\":{}", count > 0);
    let mut counts = String::new();
    if info.push_counts(&mut counts, engine, index, name) {
        json.push(',');
        json.push_str(&counts);
    }
    if info.cache
        && ty.cache
        && let Some(cached) = registry.cached(name, now.instant)
    {
        let ttl = cached
            .expires
            .saturating_duration_since(now.instant)
            .as_secs();
        json.push_str(",\"cache\":{\"event\":");
        push_str(&mut json, &cached.event);
        json.push_str(",\"data\":");
        json.push_str(&cached.data);
        let _ = write!(json, ",\"ttl\":{ttl}}}");
    }
    json.push('}');
    Ok(HttpResponse::ok(json))
}

/// `GET /apps/{id}/channels/{name}/users`.
fn users(engine: &Engine, index: AppIndex, name: &str) -> Result<HttpResponse, HttpResponse> {
    let ty = validate_channel_name(name).map_err(|e| HttpResponse::error(400, &e.to_string()))?;
    if !ty.is_presence() {
        return Err(HttpResponse::error(
            400,
            "Users can only be listed for presence channels",
        ));
    }
    let mut json = String::from("{\"users\":[");
    for (i, member) in engine.registry(index).members(name).enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push_str("{\"id\":");
        push_str(&mut json, member.user_id.as_str());
        json.push('}');
    }
    json.push_str("]}");
    Ok(HttpResponse::ok(json))
}

#[cfg(test)]
mod tests;
