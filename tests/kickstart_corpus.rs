//! The real Fedora kickstarts (tests/corpus, GPLv3 data) judged as pykickstart
//! judges them, and flattened without losing meaning.
//!
//! The expected verdict of each file comes from an independent, textual scan
//! of its `%include` chain, not from the parser under test.

use std::path::{Path, PathBuf};

use livecompose::kickstart::{parse_file, parse_text};

fn corpus_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/kickstarts/fedora");
    assert!(
        dir.is_dir(),
        "the Fedora kickstart corpus is not at {}",
        dir.display()
    );
    dir
}

fn kickstarts(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).expect("corpus directory is readable") {
            let path = entry.expect("corpus entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "ks") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[derive(Debug, PartialEq)]
enum Verdict {
    Valid,
    /// The first error's file and line.
    ErrorAt(PathBuf, usize),
}

/// The first `%include` (depth first, in reading order) whose target is
/// missing, or `None` when the whole chain exists.
fn first_missing_include(file: &Path, depth: usize) -> Option<(PathBuf, usize)> {
    assert!(depth < 20, "include chain too deep at {}", file.display());
    let text = String::from_utf8_lossy(&std::fs::read(file).ok()?).into_owned();
    for (index, line) in text.lines().enumerate() {
        let mut words = line.split_whitespace();
        if words.next() != Some("%include") {
            continue;
        }
        let target = file
            .parent()
            .unwrap_or(Path::new("."))
            .join(words.next().unwrap_or_default());
        if !target.is_file() {
            return Some((file.to_path_buf(), index + 1));
        }
        if let Some(found) = first_missing_include(&target, depth + 1) {
            return Some(found);
        }
    }
    None
}

/// `templates/` holds `%post` fragments meant to be pasted into a script:
/// their first line that is not blank or a comment is shell, not kickstart.
fn first_shell_line(file: &Path) -> usize {
    let text = std::fs::read_to_string(file).expect("template is text");
    text.lines()
        .position(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .expect("template has content")
        + 1
}

fn expected(dir: &Path, file: &Path) -> Verdict {
    if file
        .strip_prefix(dir)
        .is_ok_and(|rel| rel.starts_with("templates"))
    {
        return Verdict::ErrorAt(file.to_path_buf(), first_shell_line(file));
    }
    match first_missing_include(file, 0) {
        Some((at, line)) => Verdict::ErrorAt(at, line),
        None => Verdict::Valid,
    }
}

#[test]
fn every_corpus_kickstart_is_judged_like_the_reference_parser() {
    let dir = corpus_dir();
    let files = kickstarts(&dir);
    assert!(
        files.len() >= 110,
        "expected the 110 corpus kickstarts, found {}",
        files.len()
    );
    let (mut valid, mut invalid) = (0, 0);
    for file in &files {
        let verdict = match parse_file(file) {
            Ok(_) => Verdict::Valid,
            Err(failure) => {
                let first = failure.first().expect("a failure has an error");
                Verdict::ErrorAt(first.origin.file.to_path_buf(), first.origin.line)
            }
        };
        let want = expected(&dir, file);
        match (&want, &verdict) {
            (Verdict::ErrorAt(want_file, want_line), Verdict::ErrorAt(got_file, got_line)) => {
                assert_eq!(
                    (std::fs::canonicalize(got_file).ok(), got_line),
                    (std::fs::canonicalize(want_file).ok(), want_line),
                    "{}: wrong error position",
                    file.display()
                );
                invalid += 1;
            }
            _ => {
                assert_eq!(verdict, want, "{}", file.display());
                valid += 1;
            }
        }
    }
    // The corpus as published: 85 complete kickstarts, 21 with an include
    // that no longer exists, 4 template fragments.
    assert_eq!((valid, invalid), (85, 25));
}

#[test]
fn missing_include_errors_name_the_missing_path() {
    let dir = corpus_dir();
    let file = dir.join("l10n/fedora-livecd-kde-de_DE.ks");
    let failure = parse_file(&file).expect_err("its include is missing");
    let message = failure.first().expect("one error").to_string();
    assert!(message.contains("fedora-livecd-kde.ks"), "{message}");
    assert!(
        message.contains("fedora-livecd-kde-de_DE.ks:6:"),
        "{message}"
    );
}

#[test]
fn removed_commands_only_warn() {
    let dir = corpus_dir();
    let parsed = parse_file(&dir.join("fedora-eln-guest.ks")).expect("valid apart from auth");
    assert!(
        parsed
            .warnings
            .iter()
            .any(|w| w.message.contains("auth was removed")),
        "warnings: {:?}",
        parsed.warnings
    );
}

#[test]
fn flatten_round_trips_every_valid_corpus_kickstart() {
    let dir = corpus_dir();
    let mut checked = 0;
    for file in kickstarts(&dir) {
        let Ok(parsed) = parse_file(&file) else {
            continue;
        };
        let flat = parsed.kickstart.render();
        assert!(
            !flat.contains("%include"),
            "{}: flatten left an include",
            file.display()
        );
        let reparsed = parse_text(Path::new("flat.ks"), &flat).unwrap_or_else(|failure| {
            panic!(
                "{}: flattened output does not validate:\n{failure}\n---\n{flat}",
                file.display()
            )
        });
        assert_eq!(
            reparsed.kickstart,
            parsed.kickstart,
            "{}: flatten changed the meaning",
            file.display()
        );
        assert_eq!(
            reparsed.kickstart.render(),
            flat,
            "{}: flatten is not stable",
            file.display()
        );
        checked += 1;
    }
    assert_eq!(checked, 85);
}

#[test]
fn flattened_live_workstation_keeps_what_its_includes_said() {
    let dir = corpus_dir();
    let parsed = parse_file(&dir.join("fedora-live-workstation.ks")).expect("valid");
    let ks = &parsed.kickstart;
    // From fedora-live-base.ks, two includes away.
    assert_eq!(
        ks.lang.as_ref().map(|l| l.lang.as_str()),
        Some("en_US.UTF-8")
    );
    assert!(ks.packages.included().any(|e| e.render() == "dracut-live"));
    assert!(ks.packages.excluded().any(|e| e.render() == "-fcoe-utils"));
    // fedora-live-workstation.ks overrides the base's `part /`.
    let root: Vec<_> = ks
        .partitions
        .iter()
        .filter(|p| p.value.mountpoint == "/")
        .collect();
    assert_eq!(root.len(), 1);
    assert_eq!(root[0].value.size, Some(7680));
    assert!(ks.scripts.len() >= 3);
}
