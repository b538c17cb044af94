//! The parsed-index cache reads files a crash or a full disk may have torn:
//! `decode` must refuse any bytes that are not a sound entry without
//! panicking, and every index the parser accepts must come back from the
//! cache exactly as parsed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use livecompose::repo::packages::{BinaryPackage, parse_packages};
use livecompose::repo::parsed_cache::{decode, encode};

fuzz_target!(|data: &[u8]| {
    let _ = decode::<BinaryPackage>(data);
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(packages) = parse_packages(text)
    {
        let entry = encode(&packages).expect("a parsed index encodes");
        assert_eq!(decode::<BinaryPackage>(&entry), Some(packages));
    }
});
