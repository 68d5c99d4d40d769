//! Ctrl-C during a broadcast: the first SIGINT ends the measured time where it is and the
//! report is printed for what was measured (exit status 130); a second one exits at once.
//! The flag is only read: the loops check it every turn (their polls wait at most 20 ms).

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// The run acted on it: cut its measured time, or stopped before it began. A Ctrl-C that
/// came once the measurement was complete changes nothing, the exit status included.
static HONOURED: AtomicBool = AtomicBool::new(false);

/// Catch SIGINT from now on (a second one still exits, with status 130). If the handlers
/// cannot be set, Ctrl-C keeps its default: the run ends without a report.
pub fn catch() {
    let flag = FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)));
    use signal_hook::consts::SIGINT;
    // The order matters: the exit is armed first, so it fires only once the flag is set.
    let _ = signal_hook::flag::register_conditional_shutdown(SIGINT, 130, flag.clone())
        .and_then(|_| signal_hook::flag::register(SIGINT, flag.clone()));
}

/// Whether Ctrl-C was pressed since `catch`.
pub fn requested() -> bool {
    FLAG.get().is_some_and(|f| f.load(Relaxed))
}

/// The run stopped or cut its measurement for a Ctrl-C.
pub fn honoured() {
    HONOURED.store(true, Relaxed);
}

/// Whether the run was cut short by Ctrl-C (exit status 130).
pub fn cut_short() -> bool {
    HONOURED.load(Relaxed)
}
