//! `livecompose derive` and `livecompose commit` checked against qemu (Debian package
//! qemu-utils): a child records its master by a relative name with the format qcow2,
//! `qemu-img check` finds it clean, qemu-io writes into it (data, zeros, across a
//! cluster boundary), and the committed image is the same disk as the child
//! (`qemu-img compare`) with no backing file, while the master's bytes never change.
//! Masters come from our writer and from `qemu-img convert` (compressed too); broken
//! chains are errors that name the files.

use std::fs;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use livecompose::derive::grown_overlay;
use livecompose::disk::qcow2::{BackingFormat, Qcow2Options, write_qcow2};
use sha2::{Digest as _, Sha256};

const MIB: u64 = 1 << 20;

/// Runs a program; returns its exit code and its output, standard error after
/// standard output.
fn run(program: &str, args: &[&str], dir: &Path) -> (i32, String) {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("{program}: {e} (install the Debian package qemu-utils; tests/run does)")
        });
    (
        output.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

/// Runs qemu-img with `args`, split at spaces, which must succeed.
fn qemu_img(args: &str, dir: &Path) -> String {
    let args: Vec<&str> = args.split(' ').collect();
    let (code, out) = run("qemu-img", &args, dir);
    assert_eq!(code, 0, "qemu-img {args:?}: {out}");
    out
}

/// Writes into an image with qemu-io, which follows its backing chain as a guest would.
fn qemu_io(image: &str, command: &str, dir: &Path) {
    let (code, out) = run("qemu-io", &["-f", "qcow2", "-c", command, image], dir);
    assert!(
        code == 0 && !out.contains("error") && !out.contains("failed"),
        "qemu-io {command}: {out}"
    );
}

fn livecompose(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_livecompose"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("livecompose runs")
}

fn succeeds(args: &[&str], dir: &Path) {
    let output = livecompose(args, dir);
    assert!(
        output.status.success(),
        "livecompose {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs a command that must be refused as bad input (exit status 2) with a message
/// containing `expected`.
fn refused(args: &[&str], dir: &Path, expected: &str) {
    let output = livecompose(args, dir);
    let message = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(2),
        "livecompose {args:?}: {message}"
    );
    assert!(
        message.contains(expected),
        "livecompose {args:?}: {message}"
    );
}

/// `commit child.qcow2 new.qcow2` is refused with a message containing `expected`,
/// and writes nothing.
fn commit_refused(dir: &Path, expected: &str) {
    refused(&["commit", "child.qcow2", "new.qcow2"], dir, expected);
    assert!(!dir.join("new.qcow2").exists());
}

fn sha256(path: &Path) -> String {
    hex::encode(Sha256::digest(fs::read(path).expect("read")))
}

fn check_clean(image: &str, dir: &Path) {
    let out = qemu_img(&format!("check {image}"), dir);
    assert!(out.contains("No errors were found"), "{image}: {out}");
    assert!(!out.contains("leaked"), "{image}: {out}");
}

/// `qemu-img info` of an image's whole chain, as JSON text.
fn chain_info(image: &str, dir: &Path) -> String {
    qemu_img(
        &format!("info --backing-chain --output=json -U {image}"),
        dir,
    )
}

/// Whether the guest disks of two images are the same.
fn same_disk(a: &str, b: &str, dir: &Path) -> bool {
    let (code, out) = run("qemu-img", &["compare", "-U", a, b], dir);
    assert!(code == 0 || code == 1, "qemu-img compare {a} {b}: {out}");
    code == 0
}

/// A 16 MiB raw disk with data in a few places (text that deflates, noise that does
/// not), and holes elsewhere.
fn raw_disk(path: &Path) {
    let file = fs::File::create(path).expect("create");
    file.set_len(16 * MIB).expect("size");
    let text: Vec<u8> = b"master image line\n"
        .iter()
        .copied()
        .cycle()
        .take(300_000)
        .collect();
    file.write_all_at(&text, 0).expect("write");
    let noise: Vec<u8> = (0u32..6250)
        .flat_map(|i| Sha256::digest(i.to_le_bytes()))
        .collect();
    file.write_all_at(&noise, 5 * MIB + 1000).expect("write");
    file.write_all_at(b"the last sector", 16 * MIB - 512)
        .expect("write");
}

/// A master made by our writer, or by `qemu-img convert` with these options.
fn master(dir: &Path, name: &str, by_qemu: Option<&str>) -> PathBuf {
    let raw = dir.join(format!("{name}.raw"));
    raw_disk(&raw);
    let image = dir.join(name);
    match by_qemu {
        None => {
            write_qcow2(&raw, &image, &Qcow2Options::default()).expect("write master");
        }
        Some(options) => {
            qemu_img(
                &format!("convert -f raw -O qcow2 {options} {name}.raw {name}"),
                dir,
            );
        }
    }
    fs::remove_file(&raw).expect("remove raw");
    image
}

/// Writes of each kind into a child: data within a cluster and across a cluster
/// boundary, zeros over the master's data, and data over compressible master data.
fn tune(child: &str, dir: &Path) {
    qemu_io(child, "write -P 0xab 1M 64k", dir);
    qemu_io(child, "write -P 0xcd 130560 1024", dir);
    qemu_io(child, "write -z 0 64k", dir);
    qemu_io(child, "write -P 0x5a 5M 4k", dir);
    qemu_io(child, "write -P 0x11 16773120 512", dir);
}

/// Derives, tunes and commits a child of `master`, checking each image on the way.
fn round_trip(dir: &Path, master: &Path) {
    let master_name = master.file_name().and_then(|n| n.to_str()).expect("name");
    let before = sha256(master);
    succeeds(&["derive", master_name, "child.qcow2"], dir);
    let info = chain_info("child.qcow2", dir);
    assert!(
        info.contains(&format!("\"backing-filename\": \"{master_name}\"")),
        "{info}"
    );
    assert!(
        info.contains("\"backing-filename-format\": \"qcow2\""),
        "{info}"
    );
    assert!(info.contains("\"full-backing-filename\""), "{info}");
    check_clean("child.qcow2", dir);
    // Before any write the child is the master's disk.
    assert!(same_disk(master_name, "child.qcow2", dir));

    tune("child.qcow2", dir);
    check_clean("child.qcow2", dir);
    assert!(!same_disk(master_name, "child.qcow2", dir));

    succeeds(&["commit", "child.qcow2", "new.qcow2"], dir);
    check_clean("new.qcow2", dir);
    assert!(same_disk("child.qcow2", "new.qcow2", dir));
    let info = qemu_img("info --output=json new.qcow2", dir);
    assert!(!info.contains("backing-filename"), "{info}");
    assert!(info.contains("\"virtual-size\": 16777216"), "{info}");
    // The range zeroed in the child is a hole in the new master, not stored zeros.
    let map = qemu_img("map --output=json new.qcow2", dir);
    let first = map
        .lines()
        .find(|line| line.contains("\"start\": 0,"))
        .expect("map");
    assert!(first.contains("\"data\": false"), "{map}");
    assert_eq!(sha256(master), before, "the master was written");
    check_clean(master_name, dir);
}

#[test]
fn derive_and_commit_a_master_of_ours() {
    let dir = tempfile::tempdir().expect("tempdir");
    let image = master(dir.path(), "master.qcow2", None);
    round_trip(dir.path(), &image);
}

#[test]
fn derive_and_commit_a_compressed_master_from_qemu() {
    let dir = tempfile::tempdir().expect("tempdir");
    let image = master(dir.path(), "master.qcow2", Some("-c"));
    let check = qemu_img("check master.qcow2", dir.path());
    assert!(
        check.contains("compressed clusters") && !check.contains(" 0.00% compressed"),
        "{check}"
    );
    round_trip(dir.path(), &image);
}

#[test]
fn derive_and_commit_a_master_with_small_clusters() {
    let dir = tempfile::tempdir().expect("tempdir");
    let image = master(dir.path(), "master.qcow2", Some("-c -o cluster_size=4096"));
    round_trip(dir.path(), &image);
}

#[test]
fn a_chain_of_two_commits_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path();
    let image = master(path, "master.qcow2", None);
    let before = sha256(&image);
    succeeds(&["derive", "master.qcow2", "first.qcow2"], path);
    tune("first.qcow2", path);
    let first = sha256(&path.join("first.qcow2"));
    succeeds(&["derive", "first.qcow2", "second.qcow2"], path);
    let info = chain_info("second.qcow2", path);
    assert!(
        info.contains("\"backing-filename\": \"first.qcow2\""),
        "{info}"
    );
    assert!(
        info.contains("\"backing-filename\": \"master.qcow2\""),
        "{info}"
    );
    qemu_io("second.qcow2", "write -P 0x77 1032k 8k", path);
    qemu_io("second.qcow2", "write -z 5M 2k", path);
    succeeds(&["commit", "second.qcow2", "new.qcow2"], path);
    check_clean("new.qcow2", path);
    assert!(same_disk("second.qcow2", "new.qcow2", path));
    assert!(!same_disk("first.qcow2", "new.qcow2", path));
    assert_eq!(sha256(&image), before);
    assert_eq!(sha256(&path.join("first.qcow2")), first);
}

#[test]
fn the_pair_moves_together() {
    let dir = tempfile::tempdir().expect("tempdir");
    let old = dir.path().join("old");
    fs::create_dir_all(old.join("lab")).expect("mkdir");
    master(&old, "master.qcow2", None);
    succeeds(&["derive", "master.qcow2", "lab/child.qcow2"], &old);
    let info = chain_info("lab/child.qcow2", &old);
    assert!(
        info.contains("\"backing-filename\": \"../master.qcow2\""),
        "{info}"
    );
    tune("lab/child.qcow2", &old);
    let moved = dir.path().join("moved");
    fs::rename(&old, &moved).expect("move");
    let info = chain_info("lab/child.qcow2", &moved);
    assert!(
        info.contains("\"filename\": \"lab/../master.qcow2\""),
        "{info}"
    );
    check_clean("lab/child.qcow2", &moved);
    // From another working directory too: names resolve against the child's directory.
    succeeds(
        &["commit", "moved/lab/child.qcow2", "new.qcow2"],
        dir.path(),
    );
    assert!(same_disk("moved/lab/child.qcow2", "new.qcow2", dir.path()));
}

#[test]
fn a_missing_or_changed_master_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path();
    refused(
        &["derive", "absent.qcow2", "child.qcow2"],
        path,
        "absent.qcow2",
    );
    assert!(!path.join("child.qcow2").exists());

    master(path, "master.qcow2", None);
    succeeds(&["derive", "master.qcow2", "child.qcow2"], path);
    fs::rename(path.join("master.qcow2"), path.join("elsewhere.qcow2")).expect("rename");
    commit_refused(
        path,
        "child.qcow2: its backing file master.qcow2 cannot be opened",
    );
    assert!(!path.join("new.qcow2").exists());

    // Another disk of another size in the master's place.
    qemu_img("create -f qcow2 master.qcow2 8M", path);
    commit_refused(path, "virtual size of 8388608 bytes, not 16777216");

    // A raw file where qcow2 is recorded.
    fs::remove_file(path.join("master.qcow2")).expect("remove");
    fs::File::create(path.join("master.qcow2"))
        .and_then(|file| file.set_len(16 * MIB))
        .expect("raw");
    commit_refused(path, "not a qcow2 image as recorded");
}

#[test]
fn a_raw_backing_file_as_recorded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path();
    raw_disk(&path.join("base.raw"));
    qemu_img("create -f qcow2 -b base.raw -F raw child.qcow2", path);
    tune("child.qcow2", path);
    succeeds(&["commit", "child.qcow2", "new.qcow2"], path);
    assert!(same_disk("child.qcow2", "new.qcow2", path));

    // The same raw file recorded as qcow2 (qemu-img -u writes it unchecked).
    qemu_img(
        "create -f qcow2 -u -b base.raw -F qcow2 wrong.qcow2 16M",
        path,
    );
    refused(
        &["commit", "wrong.qcow2", "other.qcow2"],
        path,
        "base.raw is not a qcow2 image as recorded",
    );
}

#[test]
fn outputs_are_never_overwritten() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path();
    let image = master(path, "master.qcow2", None);
    let before = sha256(&image);
    refused(
        &["derive", "master.qcow2", "master.qcow2"],
        path,
        "its own input",
    );
    refused(
        &["derive", "master.qcow2", "./master.qcow2"],
        path,
        "its own input",
    );

    fs::write(path.join("taken.qcow2"), b"keep me").expect("write");
    refused(
        &["derive", "master.qcow2", "taken.qcow2"],
        path,
        "taken.qcow2 already exists",
    );
    assert_eq!(
        fs::read(path.join("taken.qcow2")).expect("read"),
        b"keep me"
    );

    succeeds(&["derive", "master.qcow2", "child.qcow2"], path);
    refused(
        &["commit", "child.qcow2", "master.qcow2"],
        path,
        "already exists",
    );
    assert_eq!(sha256(&image), before);
    // No temporary files are left behind.
    let mut names: Vec<_> = fs::read_dir(path)
        .expect("list")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["child.qcow2", "master.qcow2", "taken.qcow2"]);
}

#[test]
fn a_grown_overlay_reads_as_its_image_then_zeros_and_leaves_the_image_alone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let qcow2 = master(dir.path(), "m.qcow2", None);
    let raw = dir.path().join("m.raw");
    raw_disk(&raw);
    for (image, format) in [(&qcow2, BackingFormat::Qcow2), (&raw, BackingFormat::Raw)] {
        let before = sha256(image);
        let overlay = dir.path().join("grown.qcow2");
        grown_overlay(image, format, 64 * MIB, &overlay).expect("overlay");
        let info = chain_info("grown.qcow2", dir.path());
        assert!(
            info.contains(&format!("\"virtual-size\": {}", 64 * MIB)),
            "{info}"
        );
        assert!(
            info.contains(&format!(
                "\"backing-filename-format\": \"{}\"",
                format.name()
            )),
            "{info}"
        );
        check_clean("grown.qcow2", dir.path());
        // compare reads the larger image's extra part as zeros, as a guest does.
        let name = image.file_name().and_then(|n| n.to_str()).expect("name");
        assert!(same_disk(name, "grown.qcow2", dir.path()), "{info}");
        // A guest writing to the overlay writes nothing into the image.
        qemu_io("grown.qcow2", "write -P 0x5a 0 64k", dir.path());
        assert_eq!(sha256(image), before);
        fs::remove_file(&overlay).expect("remove overlay");
    }
    // A disk only grows.
    let overlay = dir.path().join("smaller.qcow2");
    let error = grown_overlay(&raw, BackingFormat::Raw, MIB, &overlay).unwrap_err();
    assert!(
        error.to_string().contains("a disk can only grow"),
        "{error}"
    );
    assert!(error.is_bad_input());
    assert!(!overlay.exists());
}

#[test]
fn keep_writes_takes_only_a_derived_child() {
    let dir = tempfile::tempdir().expect("temp dir");
    master(dir.path(), "m.qcow2", None);
    // Refused before qemu starts: the master would be written.
    let out = livecompose(
        &["test", "m.qcow2", "--media", "disk", "--keep-writes"],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("is not a child made by `livecompose derive`"),
        "{stderr}"
    );
    let out = livecompose(
        &["test", "m.qcow2", "--keep-writes", "--disk-size", "1G"],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("apply to --media disk only"), "{stderr}");
}
