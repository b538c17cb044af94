//! Ctrl-C, `kill` and a closed terminal stop the build at the next safe
//! point instead of killing the process mid-write.
//!
//! The signal only sets a flag; the stages check it between steps and
//! return an error, so every guard (temporary output, partial downloads)
//! cleans up on the way out. Child processes in the terminal's process group
//! get the same Ctrl-C and stop by themselves.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();

#[derive(Debug, thiserror::Error)]
#[error("interrupted; the partial output was removed")]
pub struct Interrupted;

/// Routes SIGINT, SIGTERM and SIGHUP to the flag. A second signal while the
/// first is being handled ends the process at once, for a user who means it.
pub fn install() -> std::io::Result<()> {
    let flag = FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)));
    for signal in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(flag))?;
        signal_hook::flag::register(signal, Arc::clone(flag))?;
    }
    Ok(())
}

/// Whether a stop was asked for.
pub fn requested() -> bool {
    FLAG.get().is_some_and(|flag| flag.load(Ordering::SeqCst))
}

/// `Err(Interrupted)` once a stop was asked for.
pub fn check() -> Result<(), Interrupted> {
    if requested() {
        Err(Interrupted)
    } else {
        Ok(())
    }
}
