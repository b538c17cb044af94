//! Any text as a Debian copyright file and as a declared license: never a
//! panic, and every SPDX expression made is one SPDX can read: listed
//! identifiers and `LicenseRef-` names of letters, digits, `.` and `-`,
//! each reference recorded once with the name it stands for.
#![no_main]

use libfuzzer_sys::fuzz_target;
use livecompose::distro::dep5;
use livecompose::sbom::license::to_spdx;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let declared = dep5::declared_license(&text);
    for candidate in [Some(text.as_ref()), declared.as_deref()].into_iter().flatten() {
        let Some(expression) = to_spdx(candidate, &dep5::spdx_alias) else {
            assert!(candidate.trim().is_empty());
            continue;
        };
        for word in expression
            .spdx
            .split(|c: char| c == ' ' || c == '(' || c == ')')
            .filter(|w| !w.is_empty())
        {
            if let Some(name) = word.strip_prefix("LicenseRef-") {
                assert!(!name.is_empty(), "{:?}", expression.spdx);
                assert!(
                    name.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'),
                    "{:?}",
                    expression.spdx
                );
                assert!(expression.refs.iter().any(|(id, _)| id == word), "{expression:?}");
            }
        }
        let mut ids: Vec<&String> = expression.refs.iter().map(|(id, _)| id).collect();
        ids.dedup();
        assert_eq!(ids.len(), expression.refs.len(), "{expression:?}");
    }
});
