//! Any text as a `SHA256SUMS` for `livecompose verify`: never a panic; each
//! line is an entry or a problem naming it, and no entry's name leaves the
//! list's directory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use livecompose::verify::{Problem, parse_sums};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (entries, problems) = parse_sums(&text);
    let lines = text.lines().filter(|l| !l.trim().is_empty()).count();
    assert_eq!(entries.len() + problems.len(), lines);
    for entry in &entries {
        assert_eq!(entry.sha256.len(), 64);
        assert!(!entry.name.starts_with('/') && !entry.name.split('/').any(|p| p == ".."), "{entry:?}");
    }
    let total = text.lines().count();
    for problem in problems {
        let Problem::Line { line, .. } = problem else { panic!("{problem:?}") };
        assert!((1..=total).contains(&line));
    }
});
