//! `--pxe-url`: any text gives a URL or an error, never a panic. An accepted
//! URL goes unquoted into an iPXE script, a PXELINUX configuration and a
//! kernel command line, so it must hold nothing that ends a word or a line
//! or that iPXE would expand, and checking it again must give it back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use livecompose::output::check_pxe_url;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(url) = check_pxe_url(text) {
        assert!(url.starts_with("http://"), "{text:?} gave {url:?}");
        assert!(!url.ends_with('/'), "{text:?} gave {url:?}");
        assert!(
            url.chars().all(|c| c.is_ascii_graphic() && !"\"'$;{}\\`?#&".contains(c)),
            "{text:?} gave {url:?}"
        );
        assert_eq!(check_pxe_url(&url).as_deref(), Ok(url.as_str()));
    }
});
