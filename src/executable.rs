//! The running livecompose's own SHA-256: what the caches of its work (the
//! installed roots, the squashfs block memo) are keyed on, so that another
//! build of the program never takes what this one would make differently.

use std::io;
use std::sync::OnceLock;

use sha2::{Digest as _, Sha256};

/// The digest of the program file this process runs, read once.
pub fn digest() -> io::Result<[u8; 32]> {
    static DIGEST: OnceLock<[u8; 32]> = OnceLock::new();
    if let Some(digest) = DIGEST.get() {
        return Ok(*digest);
    }
    let mut program = std::fs::File::open("/proc/self/exe")?;
    let mut hasher = Sha256::new();
    io::copy(&mut program, &mut hasher)?;
    Ok(*DIGEST.get_or_init(|| hasher.finalize().into()))
}
