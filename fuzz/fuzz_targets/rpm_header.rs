//! An `.rpm` is untrusted input until its checksum is checked, and a local
//! file may be anything: reading its lead, signature header and main
//! header, and decoding the file list from them, must fail cleanly on any
//! bytes, and whatever parses must turn into an installed header that
//! reads back as the rpmdb reads it.
#![no_main]

use std::io::Write as _;

use libfuzzer_sys::fuzz_target;
use livecompose::install::rpm::RpmFile;
use livecompose::install::rpm::header::{Header, HeaderError};

fuzz_target!(|data: &[u8]| {
    let Ok(mut file) = tempfile::NamedTempFile::new() else { return };
    if file.write_all(data).is_err() {
        return;
    }
    if let Ok(package) = RpmFile::open(file.path()) {
        let _ = package.nevra();
        let blob = package.headers.installed_blob(Vec::new());
        match Header::from_blob(&blob, "installed header") {
            // Appended tags may push a header at rpm's entry limit over it.
            Ok(_) | Err(HeaderError::TooLarge { .. }) => {}
            Err(e) => panic!("installed header does not read back: {e}"),
        }
    }
});
