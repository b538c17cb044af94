//! Repository indexes come from the network: `Packages`, `Release` and the
//! relation fields must give a value or an error for any text, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use livecompose::repo::deb822::{self, ParseOptions};
use livecompose::repo::packages::parse_packages;
use livecompose::repo::relation::parse_relations;
use livecompose::repo::release::Release;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = deb822::parse(text, ParseOptions { allow_comments: true });
    let _ = parse_packages(text);
    let _ = Release::parse(text);
    if let Some(first_line) = text.lines().next() {
        let _ = parse_relations(first_line);
    }
});
