//! `--config FILE`: read a TOML file into a `Settings` layer, or say what is wrong with it
//! as `FILE:LINE:COLUMN: reason` followed by the offending line.
//!
//! Owns reading the file and the error's wording. The keys are `settings`; the values'
//! checks are `values`.

use crate::settings::Settings;
use std::fmt;
use std::path::{Path, PathBuf};

/// Largest config file read; a settings file is a few KiB, so a bigger one is a mistake
/// (a log file or a binary given by accident).
const MAX_BYTES: u64 = 1 << 20;

/// Why a config file was refused.
#[derive(Debug)]
pub enum ConfigFileError {
    /// The file could not be read (missing, a directory, no permission, not UTF-8, too big).
    Unreadable {
        /// The file as given.
        path: PathBuf,
        /// The reason from the OS or the size check.
        reason: String,
    },
    /// The TOML does not parse, has a key herald does not know, or a value out of range.
    Invalid {
        /// The file as given.
        path: PathBuf,
        /// 1-based line and column of the mistake.
        line: usize,
        /// 1-based column (in characters).
        column: usize,
        /// The text of that line, for context.
        text: String,
        /// What is wrong.
        reason: String,
    },
}

impl fmt::Display for ConfigFileError {
    /// `FILE:LINE:COLUMN: reason`, then the line on a line of its own; `{:#}` keeps it to
    /// one line (for a log line).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigFileError::Unreadable { path, reason } => {
                write!(
                    f,
                    "{}: cannot read the config file: {reason}",
                    path.display()
                )
            }
            ConfigFileError::Invalid {
                path,
                line,
                column,
                text,
                reason,
            } if f.alternate() => write!(
                f,
                "{}:{line}:{column}: {reason} (in `{text}`)",
                path.display()
            ),
            ConfigFileError::Invalid {
                path,
                line,
                column,
                text,
                reason,
            } => write!(
                f,
                "{}:{line}:{column}: {reason}\n  {line} | {text}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for ConfigFileError {}

/// Read and parse the config file at `path`.
///
/// Errors: `Unreadable` when the file cannot be read as UTF-8 text of at most 1 MiB;
/// `Invalid` (with the line) for TOML syntax, an unknown key, a value of the wrong type or
/// out of range.
pub fn load(path: &Path) -> Result<Settings, ConfigFileError> {
    let unreadable = |reason: String| ConfigFileError::Unreadable {
        path: path.to_path_buf(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| unreadable(e.to_string()))?;
    if meta.is_dir() {
        return Err(unreadable("it is a directory".into()));
    }
    if meta.len() > MAX_BYTES {
        return Err(unreadable(format!(
            "{} bytes is more than a config file's {MAX_BYTES}",
            meta.len()
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| unreadable(e.to_string()))?;
    parse(path, &text)
}

/// Parse `text` as the config file `path` (named in errors).
pub fn parse(path: &Path, text: &str) -> Result<Settings, ConfigFileError> {
    toml::from_str(text).map_err(|e| {
        let at = e.span().map_or(0, |s| s.start).min(text.len());
        let before = text.get(..at).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        let text = text[line_start..]
            .lines()
            .next()
            .unwrap_or("")
            .trim_end()
            .to_string();
        ConfigFileError::Invalid {
            path: path.to_path_buf(),
            line,
            column,
            text,
            reason: e.message().trim_end().to_string(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        parse(Path::new("h.toml"), text).unwrap_err().to_string()
    }

    #[test]
    fn errors_say_file_line_column_and_reason() {
        let e = error("mode = \"echo\"\nmax_connections = 0\n");
        assert!(
            e.starts_with("h.toml:2:19: 0 is not a whole number of at least 1\n"),
            "{e}"
        );
        assert!(e.ends_with("2 | max_connections = 0"), "{e}");
        let e = error("# c\nmax_conections = 5\n");
        assert!(
            e.starts_with("h.toml:2:1: unknown field `max_conections`"),
            "{e}"
        );
        let e = error("max_connections = \"lots\"");
        assert!(e.contains("invalid type: string \"lots\""), "{e}");
        let e = error("[tls\ncert = 1");
        assert!(e.starts_with("h.toml:1:"), "{e}");
        let e = parse(Path::new("h.toml"), "x = 1").unwrap_err();
        // `pusher_app` is a key only with the pusher feature.
        let pusher = if cfg!(feature = "pusher") {
            "`pusher_app`, "
        } else {
            ""
        };
        assert_eq!(
            format!("{e:#}"),
            format!(
                "h.toml:1:1: unknown field `x`, expected one of `listen`, `mode`, \
                 `include_sender`, `max_connections`, `max_connections_per_ip`, \
                 `max_message_size`, `max_backlog`, `slow_policy`, `max_request_bytes`, \
                 `handshake_timeout`, `close_timeout`, `idle_timeout`, `pong_timeout`, \
                 `shutdown_timeout`, `allow_origin`, `http`, `deflate`, `deflate_threshold`, \
                 `protocol`, `workers`, `reuse_port`, `log_format`, `proxy_protocol`, \
                 `trusted_proxy`, `real_ip_header`, `drain_delay`, `unix_mode`, `api_key_file`, \
                 `api_listen`, `jwt_secret_file`, `jwt_public_key_file`, `jwt_audience`, \
                 `jwt_issuer`, `max_messages_per_second`, `burst`, `tls`, \
                 {pusher}`redis` (in `x = 1`)"
            )
        );
    }

    #[test]
    fn unreadable_files() {
        let e = load(Path::new("/nonexistent/herald.toml")).unwrap_err();
        assert!(matches!(e, ConfigFileError::Unreadable { .. }), "{e}");
        assert!(
            e.to_string()
                .starts_with("/nonexistent/herald.toml: cannot read")
        );
        let e = load(Path::new("/")).unwrap_err();
        assert!(e.to_string().contains("directory"), "{e}");
    }
}
