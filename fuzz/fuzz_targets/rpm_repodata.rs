//! RPM repodata comes from the network, and is parsed after its checksum is
//! checked but before anything else vouches for its shape: `repomd.xml`,
//! `primary` and `filelists` (compressed or not) must give a value or an
//! error for any bytes, never a panic. So must a metalink, which nothing
//! but TLS vouches for.
#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use livecompose::repo::rpm::compression::decompress;
use livecompose::repo::rpm::filelists::parse_filelists;
use livecompose::repo::rpm::metalink::Metalink;
use livecompose::repo::rpm::primary::parse_primary;
use livecompose::repo::rpm::repomd::Repomd;

fuzz_target!(|data: &[u8]| {
    let _ = Repomd::parse(data);
    if let Ok(metalink) = Metalink::parse(data) {
        let _ = metalink.vouches_for(data);
    }
    if let Ok(packages) = parse_primary(data) {
        for package in &packages {
            for dep in package.requires.iter().chain(&package.supplements) {
                let _ = dep.rich();
            }
        }
    }
    let _ = parse_filelists(data);
    // Bounded, so a small input that inflates hugely cannot stall the run.
    if let Ok((_, reader)) = decompress(data) {
        let mut out = Vec::new();
        let _ = reader.take(1 << 20).read_to_end(&mut out);
        let _ = parse_primary(&out[..]);
    }
});
