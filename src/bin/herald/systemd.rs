//! systemd, where it runs herald: the listening socket it passes (socket activation,
//! sd_listen_fds(3): `LISTEN_FDS`, `LISTEN_PID`, the socket at fd 3) and the service's
//! state sent to it (sd_notify(3): `READY=1` once listening, `RELOADING=1` and `READY=1`
//! around a SIGHUP, `STOPPING=1` at shutdown, as one datagram each to `NOTIFY_SOCKET`).
//!
//! Owns both protocols; without systemd (no such variables) every function does nothing.
//! Taking the inherited descriptor is `listenfd`'s (the one step that needs `unsafe`);
//! a notification is a few bytes on a Unix datagram socket, no crate needed.

use std::os::unix::net::{SocketAddr, UnixDatagram, UnixListener};
use std::sync::OnceLock;

/// The listening socket systemd passed.
#[derive(Debug)]
pub enum Activated {
    /// A TCP listener (`ListenStream=8080`, `ListenStream=127.0.0.1:8080`).
    Tcp(std::net::TcpListener),
    /// A Unix stream listener (`ListenStream=/run/herald/herald.sock`).
    Unix(UnixListener),
}

/// The socket systemd passed for this process, if any. Call it first thing in `main`,
/// before any thread starts: it reads `LISTEN_FDS` and `LISTEN_PID` and removes them (so
/// that child processes do not take the socket for theirs).
///
/// Errors: more than one socket (herald serves one), or one that is not a stream listener.
pub fn take_listener() -> Result<Option<Activated>, String> {
    let mut fds = listenfd::ListenFd::from_env();
    match fds.len() {
        0 => return Ok(None),
        1 => {}
        n => {
            return Err(format!(
                "systemd passed {n} sockets (LISTEN_FDS={n}); herald serves one: give the \
                 .socket unit one ListenStream="
            ));
        }
    }
    if let Ok(Some(listener)) = fds.take_tcp_listener(0) {
        return Ok(Some(Activated::Tcp(listener)));
    }
    match fds.take_unix_listener(0) {
        Ok(listener) => Ok(listener.map(Activated::Unix)),
        Err(e) => Err(format!(
            "the socket systemd passed (fd 3) is neither a TCP nor a Unix stream socket: {e}"
        )),
    }
}

/// Where notifications go: `NOTIFY_SOCKET` as read at the first one (a path, or `@name`
/// in the abstract namespace).
fn notify_socket() -> Option<&'static SocketAddr> {
    static ADDR: OnceLock<Option<SocketAddr>> = OnceLock::new();
    ADDR.get_or_init(|| {
        let raw = std::env::var_os("NOTIFY_SOCKET")?;
        let raw = raw.to_str()?;
        match raw.strip_prefix('@') {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                SocketAddr::from_abstract_name(name.as_bytes()).ok()
            }
            None => SocketAddr::from_pathname(raw).ok(),
        }
    })
    .as_ref()
}

/// Tell systemd `state` (newline-separated `KEY=VALUE` lines, e.g. `READY=1`). Nothing
/// without `NOTIFY_SOCKET`; a failure to send is logged at debug level and otherwise
/// ignored (systemd's own sd_notify does the same).
pub fn notify(state: &str) {
    let Some(addr) = notify_socket() else {
        return;
    };
    let sent = UnixDatagram::unbound().and_then(|s| s.send_to_addr(state.as_bytes(), addr));
    if let Err(e) = sent {
        log::debug!("sd_notify {state:?}: {e}");
    }
}
