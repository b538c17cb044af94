//! Ctrl-C and SIGTERM during a boot: the first one stops the boot cleanly
//! (the guard kills qemu, the console log is kept); a second one, or one
//! outside any boot, does what it always does and ends the process.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use signal_hook::consts::{SIGINT, SIGTERM};

/// Set by the handlers; boots poll it.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// Whether a signal gets its default action (termination). Cleared while a
/// boot runs, set again by the first signal so that a second one always works.
static PASS_THROUGH: AtomicBool = AtomicBool::new(true);
/// How many boots run in this process (tests boot in parallel).
static ACTIVE: Mutex<usize> = Mutex::new(0);
/// The handlers are installed once per process and never removed: removing
/// them would leave the signals ignored, not restored.
static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();

fn install() -> Result<(), String> {
    for signal in [SIGINT, SIGTERM] {
        // Order matters: the default action is decided before the flags change.
        signal_hook::flag::register_conditional_default(signal, &PASS_THROUGH)
            .and_then(|_| signal_hook::flag::register(signal, &INTERRUPTED))
            .and_then(|_| signal_hook::flag::register(signal, &PASS_THROUGH))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Held for the duration of one boot.
#[derive(Debug)]
pub struct InterruptWatch(());

impl InterruptWatch {
    pub fn start() -> Result<Self, String> {
        INSTALLED.get_or_init(install).clone()?;
        let mut active = ACTIVE
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if *active == 0 {
            INTERRUPTED.store(false, Ordering::SeqCst);
            PASS_THROUGH.store(false, Ordering::SeqCst);
        }
        *active += 1;
        Ok(Self(()))
    }

    pub fn interrupted(&self) -> bool {
        INTERRUPTED.load(Ordering::SeqCst)
    }
}

impl Drop for InterruptWatch {
    fn drop(&mut self) {
        let mut active = ACTIVE
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *active -= 1;
        if *active == 0 {
            PASS_THROUGH.store(true, Ordering::SeqCst);
        }
    }
}
