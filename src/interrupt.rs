//! Ctrl-C, `kill` and a closed terminal stop the build at the next safe
//! point instead of killing the process mid-write.
//!
//! The signal only sets a flag; the stages check it between steps and
//! return an error, so every guard (temporary output, partial downloads,
//! the work directory) cleans up on the way out. A running script's sandbox
//! is ended at once (see `chroot`), and a second signal changes nothing: the
//! build is already stopping. A third ends the process at once, for a user
//! whose build is stuck in something that never checks.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);
/// The first signal received, for the exit status.
static SIGNAL: AtomicI32 = AtomicI32::new(0);
static RECEIVED: AtomicUsize = AtomicUsize::new(0);

#[derive(Debug, thiserror::Error)]
#[error("interrupted; the partial output was removed")]
pub struct Interrupted;

/// Routes SIGINT, SIGTERM and SIGHUP to the flag.
pub fn install() -> std::io::Result<()> {
    for signal in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        // SAFETY: the handler only touches atomics and calls `_exit`, both
        // async-signal-safe.
        unsafe { signal_hook::low_level::register(signal, move || on_signal(signal)) }?;
    }
    Ok(())
}

fn on_signal(signal: i32) {
    let _first = SIGNAL.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
    REQUESTED.store(true, Ordering::SeqCst);
    if RECEIVED.fetch_add(1, Ordering::SeqCst) >= 2 {
        signal_hook::low_level::exit(exit_code(signal));
    }
}

/// A shell's status for a process ended by `signal`.
fn exit_code(signal: i32) -> i32 {
    128 + signal
}

/// Whether a stop was asked for.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// `Err(Interrupted)` once a stop was asked for.
pub fn check() -> Result<(), Interrupted> {
    if requested() {
        Err(Interrupted)
    } else {
        Ok(())
    }
}

/// The exit status of a build that a signal stopped: 130 for SIGINT, 143
/// for SIGTERM, 129 for SIGHUP, as a shell reports them.
pub fn exit_status() -> Option<u8> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        signal => u8::try_from(exit_code(signal)).ok(),
    }
}
