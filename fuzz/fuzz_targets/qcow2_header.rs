//! A qcow2 header is untrusted input when the boot test reports an image's size
//! (and will be when a differential image names its base): `read_header` must
//! fail cleanly on any bytes, and a header it accepts that `encode` can write
//! (version 3, 112 bytes) must read back as the same header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use livecompose::disk::qcow2::read_header;

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = read_header(data)
        && let Ok(bytes) = header.encode()
    {
        match read_header(&bytes) {
            Ok(again) => assert_eq!(again, header, "the header changed on the way back"),
            Err(e) => panic!("an encoded header does not parse: {e}"),
        }
    }
});
