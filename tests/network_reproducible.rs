//! Reproducible builds end to end: the same kickstart built twice against
//! the same archive state (the package cache is warm, so the package set is
//! the same), in two output directories, seconds apart and with another
//! thread count, must give byte-identical outputs. The first build installs
//! its packages (`--no-incremental`), the second copies the root the first
//! installed from the cache (an incremental build), so this also shows that
//! an incremental build's image is a clean build's. The gate is the SHA-256
//! of every output file; when one differs, the failure names it and quotes
//! the first lines of `diffoscope` on the pair, which says what inside it
//! differs.
//!
//! Run with `cargo test --test network_reproducible -- --ignored --nocapture`.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{build_image, require};
use livecompose::output::WrittenFile;

/// The build's own log is a diary (it holds how long each script took),
/// not an output: it is the one file left out of the comparison.
const LOG_SUFFIX: &str = ".log";

/// How long diffoscope may look into a pair of differing outputs.
const DIFFOSCOPE_SECONDS: &str = "600";
/// How much of diffoscope's report a failure quotes.
const DIFFOSCOPE_LINES: usize = 60;

/// The SHA-256 of every file `dir` holds but the build log, by name.
fn hashes(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .expect("read the output directory")
        .map(|entry| entry.expect("a directory entry"))
        .filter(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            !name.ends_with(LOG_SUFFIX)
        })
        .map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(
                entry.file_type().expect("a file type").is_file(),
                "{name} in {} is not a plain file",
                dir.display()
            );
            let file = WrittenFile::read(&entry.path()).expect("read an output");
            (name, file.sha256)
        })
        .collect()
}

/// Builds `kickstart` twice, the first time installing its packages anew,
/// the second at least two seconds later in another directory with
/// `second_extra` added, from the root the first installed, and fails naming
/// the first output that differs. `expected` are the files each build must
/// write.
fn assert_reproducible(
    kickstart: &str,
    label: &str,
    extra: &[&str],
    second_extra: &[&str],
    expected: &[String],
) {
    let first = tempfile::tempdir().expect("temp dir");
    let second = tempfile::tempdir().expect("temp dir");
    let started = std::time::Instant::now();
    let clean: Vec<&str> = extra.iter().copied().chain(["--no-incremental"]).collect();
    let stderr = build_image(Path::new(kickstart), label, first.path(), &clean);
    assert!(
        stderr.contains("The build's time: "),
        "the build does not say its time:\n{stderr}"
    );
    // Whole seconds are what most formats store: make sure the clock moved.
    std::thread::sleep(Duration::from_secs(2));
    let again: Vec<&str> = extra.iter().chain(second_extra).copied().collect();
    let stderr = build_image(Path::new(kickstart), label, second.path(), &again);
    assert!(
        stderr.contains("were installed by an earlier build"),
        "the second build installed its packages again:\n{stderr}"
    );
    eprintln!("{label}: two builds in {:.0?}", started.elapsed());

    let (ours, theirs) = (hashes(first.path()), hashes(second.path()));
    let names: Vec<&String> = ours.keys().collect();
    assert_eq!(
        names,
        expected.iter().collect::<Vec<_>>(),
        "the first build wrote other files"
    );
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>(),
        "the two builds wrote different files"
    );
    // SHA256SUMS lists the others: it goes last, so the report names the
    // output that differs rather than the list that follows it.
    let order = names
        .iter()
        .filter(|name| name.as_str() != "SHA256SUMS")
        .chain(names.iter().filter(|name| name.as_str() == "SHA256SUMS"));
    for name in order {
        if ours[*name] != theirs[*name] {
            panic!(
                "{name} differs between two builds of {kickstart} ({} and {}); diffoscope says:\n{}",
                ours[*name],
                theirs[*name],
                explain(&first.path().join(name), &second.path().join(name))
            );
        }
    }
}

/// The first lines of `diffoscope` on two differing files: which file
/// inside the image differs, and how.
fn explain(ours: &Path, theirs: &Path) -> String {
    require("diffoscope", "diffoscope-minimal");
    let output = Command::new("diffoscope")
        .args([
            "--text",
            "-",
            "--text-color",
            "never",
            "--no-default-limits",
        ])
        .args(["--exclude-directory-metadata", "recursive"])
        .args(["--timeout", DIFFOSCOPE_SECONDS])
        .arg(ours)
        .arg(theirs)
        .output()
        .expect("run diffoscope");
    let report = String::from_utf8_lossy(&output.stdout);
    let errors = String::from_utf8_lossy(&output.stderr);
    let mut lines: Vec<&str> = report.lines().take(DIFFOSCOPE_LINES).collect();
    if lines.is_empty() {
        lines.push("(nothing; its standard error follows)");
        lines.extend(errors.lines().take(20));
    }
    lines.join("\n")
}

#[test]
#[ignore = "builds from the real archive twice; run with --ignored"]
fn net_live_iso_is_bit_for_bit_reproducible() {
    let label = "Repro-Live";
    assert_reproducible(
        "kickstarts/debian-minimal.ks",
        label,
        &[],
        &["--threads", "1"],
        &[
            format!("{label}.cdx.json"),
            format!("{label}.iso"),
            format!("{label}.packages"),
            format!("{label}.spdx.json"),
            "SHA256SUMS".to_owned(),
        ],
    );
}

#[test]
#[ignore = "builds from the real archive twice; run with --ignored"]
fn net_cloud_qcow2_is_bit_for_bit_reproducible() {
    let label = "Repro-Cloud";
    assert_reproducible(
        "kickstarts/debian-cloud.ks",
        label,
        &["--format", "qcow2"],
        &[],
        &[
            format!("{label}.cdx.json"),
            format!("{label}.packages"),
            format!("{label}.qcow2"),
            format!("{label}.spdx.json"),
            "SHA256SUMS".to_owned(),
        ],
    );
}
