//! A `.deb` is untrusted input until its hash is checked, and a local file
//! may be anything: reading its ar container and control archive must fail
//! cleanly on any bytes.
#![no_main]

use std::io::Write as _;

use libfuzzer_sys::fuzz_target;
use livecompose::install::DebPackage;

fuzz_target!(|data: &[u8]| {
    let Ok(mut file) = tempfile::NamedTempFile::new() else { return };
    if file.write_all(data).is_err() {
        return;
    }
    let _ = DebPackage::open(file.path());
});
