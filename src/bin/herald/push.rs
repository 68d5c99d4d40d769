//! The daemon's backend push wiring: from the push settings (`settings::Push`) to a `PushConfig` (the API
//! keys from their file and `HERALD_API_KEY`, the client token keys from theirs, the rate
//! limit), or none when nothing is configured and the handler runs unwrapped.
//!
//! Owns reading those files at startup and the checks that need them (an `--api-listen`
//! without a key, the API with `--no-http`); the rules are `herald::push`'s, the wrapper
//! `herald::PushApi`. It starts nothing.

use crate::settings::Push;
use herald::PushConfig;
use herald::push::keys::{API_KEY_ENV, ApiKeys};
use std::path::Path;

/// The wrapper's configuration, or `None` when no push setting is given. `max_body` is
/// `--max-message-size`; `http` says whether plain HTTP is served at all.
///
/// Errors (for a person to read): a key file that cannot be read or holds no valid key,
/// a JWT key that cannot be read or used, `--api-listen` without any API key, the API with
/// `--no-http`, token flags in a build without the `jwt` feature.
pub fn config(p: &Push, max_body: usize, http: bool) -> Result<Option<PushConfig>, String> {
    let mut push = PushConfig::new(max_body);
    push.api_keys = api_keys(p.api_key_file.as_deref())?;
    push.rate_limit = p.rate_limit();
    if p.tokens() {
        tokens(p, &mut push)?;
    }
    if push.api_keys.is_none() && p.api_listen.is_some() {
        return Err(format!(
            "--api-listen serves the push API, which needs a key: give --api-key-file or \
             set {API_KEY_ENV}"
        ));
    }
    if push.api_keys.is_some() && !http {
        return Err("the push API is plain HTTP, which --no-http turns off".into());
    }
    if let Some(keys) = &push.api_keys {
        log::info!("push API on: {} key(s)", keys.len());
    }
    Ok(push.is_active().then_some(push))
}

/// The keys of `--api-key-file` and of `HERALD_API_KEY`, together; `None` if neither.
fn api_keys(file: Option<&str>) -> Result<Option<ApiKeys>, String> {
    let mut keys = match file {
        Some(path) => Some(ApiKeys::load(Path::new(path)).map_err(|e| format!("{path}: {e}"))?),
        None => None,
    };
    if let Ok(value) = std::env::var(API_KEY_ENV) {
        let env = ApiKeys::from_env_value(&value).map_err(|e| format!("{API_KEY_ENV}: {e}"))?;
        match &mut keys {
            Some(keys) => keys.extend(env),
            None => keys = Some(env),
        }
    }
    Ok(keys)
}

/// Client token verification from the JWT flags.
#[cfg(feature = "jwt")]
fn tokens(p: &Push, push: &mut PushConfig) -> Result<(), String> {
    use herald::push::token::{TokenConfig, TokenVerifier, read_public_key_file, read_secret_file};
    let read = |path: &str, secret: bool| {
        let result = if secret {
            read_secret_file(Path::new(path))
        } else {
            read_public_key_file(Path::new(path))
        };
        result.map_err(|e| format!("{path}: {e}"))
    };
    let config = TokenConfig {
        hs256_secret: p
            .jwt_secret_file
            .as_deref()
            .map(|f| read(f, true))
            .transpose()?,
        public_key_pem: p
            .jwt_public_key_file
            .as_deref()
            .map(|f| read(f, false))
            .transpose()?,
        audience: p.jwt_audience.clone(),
        issuer: p.jwt_issuer.clone(),
        leeway_secs: 0,
        ..TokenConfig::default()
    };
    let verifier = TokenVerifier::new(config).map_err(|e| e.to_string())?;
    log::info!(
        "client tokens required: {}",
        verifier.algorithms().join(", ")
    );
    push.tokens = Some(std::sync::Arc::new(verifier));
    Ok(())
}

#[cfg(not(feature = "jwt"))]
fn tokens(_: &Push, _: &mut PushConfig) -> Result<(), String> {
    Err("built without the jwt feature: no client tokens".into())
}
