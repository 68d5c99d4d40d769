//! SIGHUP: read the config file again (the flags still win), say what changed, and which of
//! the changes need a restart.
//!
//! Owns the comparison of two `Options` and the reload's log lines; the changes reach the
//! running loops through `Handle::reload` (one call per worker), which applies them to new
//! connections and handshakes without dropping anyone.

use crate::cli::Invocation;
use crate::config_file;
use crate::settings::{Options, Settings};
use herald::Handle;
use std::collections::BTreeMap;

/// Keys that only a restart can change: the listening socket (`listen`, `workers`,
/// `reuse_port`, `proxy_protocol`, `unix_mode`), the handler (`mode`, `include_sender`, and
/// the push wrapper's keys), the relay (`redis.*`), the logger (`log_format`), and TLS
/// switched on or off (`tls`; a new certificate or key under the same `[tls]` is
/// reloadable).
pub const RESTART_ONLY: [&str; 19] = [
    "listen",
    "proxy_protocol",
    "unix_mode",
    "workers",
    "reuse_port",
    "mode",
    "include_sender",
    "redis.url",
    "redis.prefix",
    "redis.node_id",
    "log_format",
    "api_key_file",
    "api_listen",
    "jwt_secret_file",
    "jwt_public_key_file",
    "jwt_audience",
    "jwt_issuer",
    "max_messages_per_second",
    "burst",
];

/// One setting that differs between two `Options`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The config file's key (`max_connections`, `tls.cert`).
    pub key: String,
    /// The running value as TOML (`10000`, `"a.pem"`), or `(not set)`.
    pub old: String,
    /// The value from the file and flags, likewise.
    pub new: String,
}

impl Change {
    /// Whether the change needs a restart (`RESTART_ONLY`, or TLS switched on or off).
    pub fn needs_restart(&self) -> bool {
        RESTART_ONLY.contains(&self.key.as_str())
            || (self.key.starts_with("tls.") && (self.old == NOT_SET || self.new == NOT_SET))
    }
}

const NOT_SET: &str = "(not set)";

/// Every key of `opts` with its value as TOML text, tables flattened to `table.key`, the
/// Redis URL without its password.
fn flatten(opts: &Options) -> BTreeMap<String, String> {
    fn walk(prefix: &str, table: &toml::Table, out: &mut BTreeMap<String, String>) {
        for (key, value) in table {
            let key = format!("{prefix}{key}");
            match value {
                toml::Value::Table(inner) => walk(&format!("{key}."), inner, out),
                toml::Value::String(s) if key == "redis.url" => {
                    out.insert(key, format!("{:?}", herald::cluster::redact_url(s)));
                }
                other => {
                    out.insert(key, other.to_string());
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    if let Ok(table) = toml::Table::try_from(Settings::effective(opts)) {
        walk("", &table, &mut out);
    }
    out
}

/// The settings that differ between `old` and `new`, in key order.
pub fn diff(old: &Options, new: &Options) -> Vec<Change> {
    let (old, mut new) = (flatten(old), flatten(new));
    let mut changes = Vec::new();
    for (key, old_value) in old {
        let new_value = new.remove(&key).unwrap_or_else(|| NOT_SET.into());
        if old_value != new_value {
            changes.push(Change {
                key,
                old: old_value,
                new: new_value,
            });
        }
    }
    for (key, new_value) in new {
        changes.push(Change {
            key,
            old: NOT_SET.into(),
            new: new_value,
        });
    }
    changes.sort_by(|a, b| a.key.cmp(&b.key));
    changes
}

/// Give the running loops the reloadable settings of `new` (limits and timeouts for new
/// connections, origins, subprotocols, deflate, the HTTP endpoints, and with `tls` the
/// certificate and key for new handshakes, read from the files again).
fn apply(handles: &[Handle], new: &Options) -> Result<(), String> {
    #[cfg_attr(not(feature = "tls"), allow(unused_mut))]
    let mut config = new.config.clone();
    #[cfg(feature = "tls")]
    if let Some((cert, key)) = &new.tls_files {
        config.tls = Some(herald::TlsConfig::from_pem_files(cert, key).map_err(|e| e.to_string())?);
    }
    config.validate().map_err(|e| e.to_string())?;
    for handle in handles {
        handle.reload(config.clone()).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// What SIGHUP does, with what the daemon started with.
pub struct Reloader {
    invocation: Invocation,
    running: Options,
}

impl Reloader {
    /// A reloader for a daemon started from `invocation` and running with `running`.
    pub fn new(invocation: Invocation, running: Options) -> Reloader {
        Reloader {
            invocation,
            running,
        }
    }

    /// Read the config file again and log the outcome. A file that fails to read or check
    /// (or a TLS pair that no longer loads) changes nothing, and the log says why.
    pub fn reload(&mut self, handles: &[Handle]) {
        let Some(path) = self.invocation.config_file.clone() else {
            log::warn!("SIGHUP: started without --config, so there is nothing to reload");
            return;
        };
        let shown = path.display();
        let new = match config_file::load(&path) {
            Ok(file) => self.invocation.flags.clone().over(file).resolve(),
            Err(e) => Err(format!("{e:#}")),
        };
        let new = match new {
            Ok(new) => new,
            Err(e) => {
                log::error!("SIGHUP: {e}; keeping the running settings");
                return;
            }
        };
        #[cfg(feature = "tls")]
        if let Some((cert, key)) = &new.tls_files
            && let Err(e) = herald::TlsConfig::from_pem_files(cert, key)
        {
            log::error!("SIGHUP: {e}; keeping the running settings");
            return;
        }
        let changes = diff(&self.running, &new);
        let (restart, live): (Vec<&Change>, Vec<&Change>) =
            changes.iter().partition(|c| c.needs_restart());
        if changes.is_empty() {
            log::info!("SIGHUP: {shown} read again: no setting changed");
        } else {
            let list: Vec<String> = changes
                .iter()
                .map(|c| format!("{} {} -> {}", c.key, c.old, c.new))
                .collect();
            log::info!("SIGHUP: {shown} read again: {}", list.join(", "));
        }
        if !restart.is_empty() {
            let keys: Vec<&str> = restart.iter().map(|c| c.key.as_str()).collect();
            let kept: Vec<&str> = restart.iter().map(|c| c.old.as_str()).collect();
            log::warn!(
                "SIGHUP: {} cannot change without a restart: still {}",
                keys.join(", "),
                kept.join(", ")
            );
        }
        if live.is_empty() && new.tls_files.is_none() {
            return;
        }
        // A certificate renewed under the same file names is a change too: reload it.
        match apply(handles, &new) {
            Ok(()) => {
                for change in live {
                    let key = &change.key;
                    log::info!("SIGHUP: {key} is now {}", change.new);
                }
                self.running = new;
            }
            Err(e) => {
                let mut keys: Vec<&str> = live.iter().map(|c| c.key.as_str()).collect();
                if new.tls_files.is_some() {
                    keys.push("the TLS certificate and key");
                }
                log::warn!(
                    "SIGHUP: not applied ({e}): {} take effect at the next restart",
                    keys.join(", ")
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(toml: &str) -> Options {
        toml::from_str::<Settings>(toml).unwrap().resolve().unwrap()
    }

    #[test]
    fn nothing_changed() {
        assert_eq!(diff(&options(""), &options("max_connections = 10000")), []);
    }

    #[test]
    #[cfg(feature = "redis")]
    fn changes_and_restarts() {
        let old = options("listen = \"127.0.0.1:1\"\nmax_connections = 5\n");
        let new = options(
            "listen = \"127.0.0.1:2\"\nmax_connections = 6\nmax_connections_per_ip = 2\n\
             allow_origin = [\"https://a\"]\n[redis]\nurl = \"redis://:pw@h/\"\n",
        );
        let changes = diff(&old, &new);
        let keys: Vec<(&str, bool)> = changes
            .iter()
            .map(|c| (c.key.as_str(), c.needs_restart()))
            .collect();
        assert_eq!(
            keys,
            [
                ("allow_origin", false),
                ("listen", true),
                ("max_connections", false),
                ("max_connections_per_ip", false),
                ("redis.prefix", true),
                ("redis.url", true),
            ]
        );
        assert_eq!(changes[2].old, "5");
        assert_eq!(changes[2].new, "6");
        assert_eq!(changes[3].old, NOT_SET);
        assert!(!changes[5].new.contains("pw"), "{:?}", changes[5]);
    }

    #[test]
    fn tls_switched_on_needs_a_restart_a_new_file_does_not() {
        let plain = options("");
        let a = options("[tls]\ncert = \"/a.pem\"\nkey = \"/k.pem\"\n");
        let b = options("[tls]\ncert = \"/b.pem\"\nkey = \"/k.pem\"\n");
        assert!(diff(&plain, &a).iter().all(Change::needs_restart));
        let d = diff(&a, &b);
        assert_eq!(d.len(), 1);
        assert!(!d[0].needs_restart());
    }
}
