//! The daemon's signals, on a small thread that talks to the loops through their `Handle`s
//! like any other thread would: SIGTERM or SIGINT shut down gracefully (close 1001 to every
//! peer, then exit 0) and a second one exits at once; SIGHUP reloads the config file.
//! systemd hears of each (`STOPPING=1`; `RELOADING=1`, then `READY=1`).
//!
//! Owns which signal does what. Shutting down is the server's; reloading is `reload`'s.

use crate::reload::Reloader;
use crate::systemd;
use herald::Handle;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// Start the signal thread for the loops behind `handles`.
///
/// Errors: the signal handlers or the thread cannot be set up.
pub fn watch(handles: Vec<Handle>, mut reloader: Reloader) -> std::io::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut stopping = false;
            for sig in signals.forever() {
                match sig {
                    SIGHUP => {
                        systemd::notify("RELOADING=1");
                        reloader.reload(&handles);
                        systemd::notify("READY=1");
                    }
                    _ if stopping => {
                        log::warn!("signal {sig} again: exiting now");
                        std::process::exit(1);
                    }
                    _ => {
                        log::info!("signal {sig}: shutting down (send it again to exit at once)");
                        stopping = true;
                        systemd::notify("STOPPING=1");
                        for handle in &handles {
                            let _ = handle.shutdown();
                        }
                    }
                }
            }
        })?;
    Ok(())
}
