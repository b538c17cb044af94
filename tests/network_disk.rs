//! Disk images end to end, as a user makes them, against the real Debian
//! archive: `kickstarts/debian-cloud.ks` as a raw disk with the default
//! cloud layout, read back by the peers (sfdisk, e2fsck, fsck.fat, blkid,
//! debugfs) and booted from the disk with BIOS (SeaBIOS) and UEFI (OVMF) by
//! `livecompose test`, logging in with a generated key or a seed's user.
//! (The split layout as qcow2 and its derived images are
//! `network_disk_split.rs`.)
//!
//! Run with `cargo test --test network_disk -- --ignored --nocapture`.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use common::disk::{Built, Partition, build, partitions};
use common::{boot_with, output_of, run};

/// `kickstarts/debian-cloud.ks` as the README builds it, raw.
fn raw() -> &'static Built {
    static RAW: OnceLock<Built> = OnceLock::new();
    RAW.get_or_init(|| {
        build(
            "kickstarts/debian-cloud.ks",
            "debian-12-cloud",
            &["--format", "raw"],
            "raw",
        )
    })
}

const ESP: &str = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";
const BIOS_BOOT: &str = "21686148-6449-6e6f-744e-656564454649";

/// A partition copied out of a raw disk into a file of its own (sparse),
/// for the file system checkers, which take no offset.
fn extract(image: &Path, partition: &Partition, out: &Path) {
    run(Command::new("dd")
        .arg(format!("if={}", image.display()))
        .arg(format!("of={}", out.display()))
        .args(["bs=512", "conv=sparse", "status=none"])
        .arg(format!("skip={}", partition.start))
        .arg(format!("count={}", partition.size)));
}

fn blkid(device: &Path, tag: &str) -> String {
    run(Command::new("blkid")
        .args(["-o", "value", "-s", tag])
        .arg(device))
    .trim()
    .to_owned()
}

#[test]
#[ignore = "end-to-end: builds a disk image from the Debian mirror"]
fn net_disk_raw_partitions_and_file_systems_check_clean() {
    let built = raw();
    let disk = fs::metadata(&built.image).expect("raw image");
    // Sparse: far fewer blocks than bytes.
    use std::os::unix::fs::MetadataExt as _;
    assert!(
        disk.blocks() * 512 < disk.len(),
        "the raw image is not sparse"
    );
    let parts = partitions(&built.image);
    assert_eq!(parts.len(), 3, "{parts:?}");
    assert!(parts.iter().any(|p| p.kind == BIOS_BOOT), "{parts:?}");
    let last = parts.iter().max_by_key(|p| p.start).expect("partitions");
    assert!(
        last.kind != ESP && last.kind != BIOS_BOOT,
        "the root is the last partition, so it can grow: {parts:?}"
    );
    let scratch = tempfile::tempdir().expect("temp dir");
    let mut uuids = Vec::new();
    let mut root_image = None;
    for (index, part) in parts.iter().filter(|p| p.kind != BIOS_BOOT).enumerate() {
        let file = scratch.path().join(format!("p{index}.img"));
        extract(&built.image, part, &file);
        if part.kind == ESP {
            run(Command::new("fsck.fat").arg("-n").arg(&file));
            let esp = run(Command::new("mdir")
                .args(["-i"])
                .arg(&file)
                .arg("::/EFI/BOOT"));
            assert!(esp.contains("BOOTX64"), "{esp}");
        } else {
            run(Command::new("e2fsck").arg("-fn").arg(&file));
            root_image = Some(file.clone());
        }
        uuids.push(blkid(&file, "UUID"));
    }
    let root_image = root_image.expect("an ext4 root");
    let debugfs = |path: &str| {
        run(Command::new("debugfs")
            .args(["-R", &format!("cat {path}")])
            .arg(&root_image))
    };
    let fstab = debugfs("/etc/fstab");
    for line in fstab.lines().filter(|l| l.starts_with("UUID=")) {
        let uuid = line[5..].split_whitespace().next().expect("a UUID");
        assert!(
            uuids.iter().any(|known| known == uuid),
            "/etc/fstab names {uuid}, which no partition has ({uuids:?}):\n{fstab}"
        );
    }
    let root_uuid = blkid(&root_image, "UUID");
    let grub = debugfs("/boot/grub/grub.cfg");
    assert!(grub.contains(&format!("root=UUID={root_uuid}")), "{grub}");
    assert!(grub.contains("console=ttyS0"), "{grub}");
    run(Command::new("sha256sum")
        .arg("-c")
        .arg("SHA256SUMS")
        .current_dir(built.dir.path()));
}

/// `livecompose test` on the cloud disk with `firmware` and `args`, to its
/// login prompt (`expect`) and through the SSH steps `args` ask for.
fn test_cloud_disk(name: &str, firmware: &str, expect: &str, args: &[&str]) -> String {
    let image = &raw().image;
    let log = image.with_extension(format!("{name}.console.log"));
    boot_with(image, firmware, "disk", expect, &log, args)
}

#[test]
#[ignore = "end-to-end: builds a disk image from the Debian mirror and boots it"]
fn net_disk_cloud_image_lets_a_generated_login_in_bios() {
    // No key, no seed: livecompose makes both, as a cloud would.
    let report = test_cloud_disk(
        "generated",
        "bios",
        "debian-cloud login:",
        &[
            "--ssh",
            "--run",
            "cloud-init status --wait",
            "--run",
            "id -un",
            "--run",
            "sudo -n id -u",
        ],
    );
    assert!(report.contains("reached"), "{report}");
    assert!(
        output_of(&report, "cloud-init status --wait").contains(&"status: done"),
        "{report}"
    );
    assert_eq!(output_of(&report, "id -un"), ["livecompose"], "{report}");
    assert_eq!(output_of(&report, "sudo -n id -u"), ["0"], "{report}");
}

#[test]
#[ignore = "end-to-end: builds a disk image from the Debian mirror and boots it"]
fn net_disk_cloud_image_takes_its_user_and_hostname_from_a_seed_uefi() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = dir.path().join("key");
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key));
    let public_key = fs::read_to_string(key.with_extension("pub")).expect("public key");
    let user_data = dir.path().join("user-data");
    fs::write(
        &user_data,
        format!(
            "#cloud-config\n\
             users:\n\
             \x20 - name: ops\n\
             \x20   groups: [sudo]\n\
             \x20   sudo: \"ALL=(ALL) NOPASSWD:ALL\"\n\
             \x20   shell: /bin/bash\n\
             \x20   ssh_authorized_keys: [\"{}\"]\n",
            public_key.trim()
        ),
    )
    .expect("user-data");
    let seed = dir.path().join("seed.iso");
    run(Command::new(env!("CARGO_BIN_EXE_livecompose"))
        .args(["seed", "--hostname", "lc-instance", "--user-data"])
        .arg(&user_data)
        .arg("--output")
        .arg(&seed));
    let report = test_cloud_disk(
        "seeded",
        "uefi",
        "lc-instance login:",
        &[
            "--disk-size",
            "6G",
            "--seed",
            seed.to_str().expect("UTF-8 path"),
            "--ssh-key",
            key.to_str().expect("UTF-8 path"),
            "--ssh-user",
            "ops",
            "--run",
            "cloud-init status --wait --long",
            "--run",
            "hostname",
            "--run",
            "sudo -n id -u",
            "--run",
            "sudo -n sshd -T | grep -i ^passwordauthentication",
            "--run",
            "sudo -n passwd -S ops | cut -d' ' -f2",
            "--run",
            "df -B1 --output=size / | tail -1",
        ],
    );
    // A cloud-init that met an error exits non-zero, which fails the run.
    let status = output_of(&report, "cloud-init status --wait --long");
    assert!(status.contains(&"status: done"), "{report}");
    assert_eq!(output_of(&report, "hostname"), ["lc-instance"], "{report}");
    assert_eq!(output_of(&report, "sudo -n id -u"), ["0"], "{report}");
    // Password logins are refused, and the account has no password.
    assert_eq!(
        output_of(&report, "sudo -n sshd -T | grep -i ^passwordauthentication"),
        ["passwordauthentication no"],
        "{report}"
    );
    assert_eq!(
        output_of(&report, "sudo -n passwd -S ops | cut -d' ' -f2"),
        ["L"],
        "{report}"
    );
    // The root grew from the image's 1.5 GiB to fill the 6 GiB disk.
    let root_size: u64 = output_of(&report, "df -B1 --output=size / | tail -1")
        .first()
        .and_then(|size| size.parse().ok())
        .unwrap_or_else(|| panic!("no root size in:\n{report}"));
    assert!(
        root_size > 5 << 30,
        "the root did not grow: {root_size} bytes\n{report}"
    );
}
