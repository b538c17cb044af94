//! Any text must parse to a kickstart or to diagnostics, never a panic; and
//! whatever parses must flatten to text that parses to the same kickstart.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use livecompose::kickstart::{Substitutions, parse_text};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // A path in a directory with no files keeps %include from touching the host.
    let substitutions = Substitutions { mirror: Some("http://m.example/debian".into()), releasever: Some("40".into()), basearch: "x86_64".into() };
    let _ = substitutions.expand(text);
    let name = Path::new("/nonexistent-livecompose-fuzz/fuzz.ks");
    if let Ok(parsed) = parse_text(name, text) {
        let flat = parsed.kickstart.render();
        let again = parse_text(name, &flat).unwrap_or_else(|failure| panic!("flatten output does not parse:\n{failure}\n---\n{flat}"));
        assert_eq!(again.kickstart, parsed.kickstart, "flatten changed the meaning:\n{flat}");
    }
});
