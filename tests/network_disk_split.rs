//! Disk images end to end, the split layout: `tests/fixtures/disk/split.ks`
//! (`kickstarts/debian-cloud.ks` with `/boot`, `/` and `/var` on partitions
//! of their own) as a 4 GiB qcow2, read back by `qemu-img` and `sfdisk`,
//! booted with UEFI to every mount, and used as the master of a
//! differential image that is tuned over SSH and committed. (The raw cloud
//! disk is `network_disk.rs`; the two files run side by side.)
//!
//! Run with `cargo test --test network_disk_split -- --ignored --nocapture`.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use common::disk::{Built, boot, build, partitions};
use common::{boot_with, output_of, run};

/// The split layout as a 4 GiB qcow2.
fn split_qcow2() -> &'static Built {
    static SPLIT: OnceLock<Built> = OnceLock::new();
    SPLIT.get_or_init(|| {
        build(
            "tests/fixtures/disk/split.ks",
            "split",
            &["--format", "qcow2", "--disk-size", "4G"],
            "qcow2",
        )
    })
}

#[test]
#[ignore = "end-to-end: builds a disk image from the Debian mirror"]
fn net_disk_qcow2_checks_clean_with_the_asked_size() {
    let built = split_qcow2();
    run(Command::new("qemu-img").arg("check").arg(&built.image));
    let info: serde_json::Value = serde_json::from_str(&run(Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(&built.image)))
    .expect("qemu-img info --output=json");
    assert_eq!(info["format"], "qcow2");
    assert_eq!(info["virtual-size"].as_u64(), Some(4 << 30));
    // Only the used clusters are stored.
    assert!(fs::metadata(&built.image).expect("qcow2").len() < 2 << 30);
    let raw = built.dir.path().join("split.raw");
    run(Command::new("qemu-img")
        .args(["convert", "-O", "raw"])
        .arg(&built.image)
        .arg(&raw));
    let parts = partitions(&raw);
    // BIOS boot, ESP, /boot, /var, and / last (it grows).
    assert_eq!(parts.len(), 5, "{parts:?}");
    fs::remove_file(&raw).expect("remove the raw copy");
}

/// The unit of `tests/fixtures/disk/split.ks` prints where /, /boot, /var
/// and /boot/efi are mounted, once the local file systems are.
const MOUNTS: &str = "LC-MOUNTS / /boot /var /boot/efi";

#[test]
#[ignore = "end-to-end: builds a disk image from the Debian mirror and boots it"]
fn net_disk_split_qcow2_boots_uefi_with_every_mount() {
    boot(&split_qcow2().image, "uefi", MOUNTS);
}

/// SHA-256 of a file, hex.
fn sha256(path: &Path) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(fs::read(path).expect("read")))
}

/// Issue 17's master and differential images on a real disk: a child of the split
/// qcow2 boots (BIOS) to every mount and is tuned over SSH, keeping the write; it
/// commits to a new master that `qemu-img compare` finds equal and that boots with
/// the change, and the master's bytes never change. `qemu-img check` is clean on all
/// three.
#[test]
#[ignore = "end-to-end: builds a disk image from the Debian mirror and boots it"]
fn net_disk_derived_child_is_tuned_and_commits_to_a_master_that_keeps_it() {
    let built = split_qcow2();
    let before = sha256(&built.image);
    let child = built.dir.path().join("split-child.qcow2");
    let new_master = built.dir.path().join("split-v2.qcow2");
    let livecompose = |args: &[&Path]| {
        run(Command::new(env!("CARGO_BIN_EXE_livecompose")).args(args));
    };
    livecompose(&[Path::new("derive"), &built.image, &child]);
    let tune = "echo tuned-in-the-child | sudo -n tee /etc/lc-tuned";
    boot_with(
        &child,
        "bios",
        "disk",
        MOUNTS,
        &child.with_extension("bios.console.log"),
        &["--keep-writes", "--ssh", "--run", tune, "--run", "sync"],
    );
    livecompose(&[Path::new("commit"), &child, &new_master]);
    for image in [&built.image, &child, &new_master] {
        run(Command::new("qemu-img").arg("check").arg(image));
    }
    run(Command::new("qemu-img")
        .arg("compare")
        .arg(&child)
        .arg(&new_master));
    let info = run(Command::new("qemu-img").arg("info").arg(&new_master));
    assert!(!info.contains("backing file"), "{info}");
    let report = boot_with(
        &new_master,
        "bios",
        "disk",
        MOUNTS,
        &new_master.with_extension("bios.console.log"),
        &["--ssh", "--run", "cat /etc/lc-tuned"],
    );
    assert_eq!(
        output_of(&report, "cat /etc/lc-tuned"),
        ["tuned-in-the-child"],
        "{report}"
    );
    assert_eq!(sha256(&built.image), before, "the master was written");
}
