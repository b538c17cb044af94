//! Rich dependencies and EVRs are strings from repodata: any text must
//! parse or give a positioned error, and whatever parses must print back to
//! text that parses to the same tree.
#![no_main]

use libfuzzer_sys::fuzz_target;
use livecompose::repo::rpm::richdep;
use livecompose::repo::rpm::version::Evr;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match richdep::parse(text) {
        Ok(dep) => {
            // A lone atom prints as the plain dependency it is (`(a)` is
            // `a`), which is not itself rich text; parenthesised, it is.
            let printed = match dep {
                richdep::RichDep::Atom(_) => format!("({dep})"),
                _ => dep.to_string(),
            };
            assert_eq!(richdep::parse(&printed).as_ref(), Ok(&dep), "{printed}");
        }
        Err(e) => assert!(e.offset <= text.len()),
    }
    if let Ok(a) = Evr::parse(text) {
        let _ = a.cmp(&a);
        assert_eq!(Evr::parse(&a.to_string()).as_ref(), Ok(&a));
    }
});
