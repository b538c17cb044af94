//! What the squashfs writer parses from users: sizes, codec names with levels, and
//! exclude globs. Any text gives a value or an error, never a panic, and accepted
//! values are inside the format's limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use livecompose::squashfs::{Compression, compile_excludes, parse_block_size, parse_size};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    if let Ok(block) = parse_block_size(first) {
        assert!(block.is_power_of_two() && (4096..=1 << 20).contains(&block), "{first:?} gave {block}");
        assert_eq!(parse_size(first).ok(), Some(block));
    }
    let level = parse_size(first).ok();
    for name in ["xz", "zstd", "gzip", "lz4", first] {
        let _ = Compression::from_name(name, level);
    }
    let patterns: Vec<String> = lines.map(str::to_owned).collect();
    if let Ok(set) = compile_excludes(&patterns) {
        for path in ["proc/1", "usr/lib/x.pyc", "", "a/b/c/d", "\u{e9}/\u{1f600}"] {
            let _ = set.is_match(path);
        }
    }
});
