//! End-to-end tier for the image writer: a live ISO built from a real
//! Debian kernel, a tiny busybox initrd and a small squashfs, with the
//! bootloaders taken from Debian's packages; checked with xorriso and
//! isoinfo, then booted in qemu with BIOS and UEFI from CD and USB.
//!
//! Run with `cargo test --test network_image -- --ignored --nocapture` to
//! see the boot times.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use common::{download, dpkg_deb_extract, extract_squashfs, run, xorriso};
use livecompose::boottest::{self, BootOptions, Firmware, Media};
use livecompose::distro::{BootAsset, UnpackedAssets, debian};
use livecompose::image::{BootloaderFiles, LiveIsoSpec, write_live_iso};
use livecompose::output::{WrittenFile, update_sha256sums};
use regex::Regex;

const LABEL: &str = "LiveCompose-test";

/// Prints the command line, then a login-like ending the boot test waits
/// for: it matches as soon as the line so far matches, so the ending comes
/// last and the whole command line is on the console by then.
const INIT: &str = "#!/bin/busybox sh
/bin/busybox mkdir -p /proc
/bin/busybox mount -t proc proc /proc
echo \"$(/bin/busybox cat /proc/cmdline) -- fixture login:\"
/bin/busybox sleep 3600
";

struct Fixture {
    _dir: tempfile::TempDir,
    spec: LiveIsoSpec,
    iso: PathBuf,
}

/// The name of the kernel package `linux-image-amd64` points at.
fn kernel_package() -> String {
    let out = run(Command::new("apt-cache").args(["depends", "linux-image-amd64"]));
    out.lines()
        .filter_map(|line| line.trim().strip_prefix("Depends: "))
        .find(|name| name.starts_with("linux-image-"))
        .expect("linux-image-amd64 depends on a linux-image package")
        .to_owned()
}

fn make_initrd(dir: &Path, root: &Path) -> PathBuf {
    let tree = dir.join("initrd");
    fs::create_dir_all(tree.join("bin")).unwrap();
    fs::create_dir_all(tree.join("dev")).unwrap();
    fs::copy(root.join("bin/busybox"), tree.join("bin/busybox")).unwrap();
    fs::write(tree.join("init"), INIT).unwrap();
    fs::set_permissions(tree.join("init"), fs::Permissions::from_mode(0o755)).unwrap();
    // As large as a real live initrd, so the ESP outgrows the 32 MiB an
    // El Torito entry can state (0xFFFF sectors) and UEFI must boot it anyway.
    fs::write(tree.join("padding"), vec![0u8; 40 << 20]).unwrap();
    // The kernel opens /dev/console for init before anything is mounted.
    run(Command::new("mknod")
        .arg(tree.join("dev/console"))
        .args(["c", "5", "1"]));
    let initrd = dir.join("initrd.img");
    let status = Command::new("sh")
        .arg("-c")
        .arg("find . | sort | cpio --quiet -o -H newc --reproducible > \"$0\"")
        .arg(&initrd)
        .current_dir(&tree)
        .status()
        .expect("cpio: apt-get install cpio (tests/run does)");
    assert!(status.success(), "cpio failed");
    initrd
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        common::remove_at_exit(dir.path());
        let debs = dir.path().join("debs");
        let root = dir.path().join("root");
        fs::create_dir_all(&debs).unwrap();
        let kernel_package = kernel_package();
        for package in [
            "isolinux",
            "syslinux-common",
            "systemd-boot-efi",
            "busybox-static",
            &kernel_package,
        ] {
            dpkg_deb_extract(&download(&debs, package), &root);
        }
        let kernel = fs::read_dir(root.join("boot"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .find(|path| {
                path.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("vmlinuz-")
            })
            .expect("the kernel package holds /boot/vmlinuz-*");
        let initrd = make_initrd(dir.path(), &root);
        let content = dir.path().join("squash-src");
        fs::create_dir_all(content.join("etc")).unwrap();
        fs::write(content.join("etc/hostname"), "live\n").unwrap();
        let squashfs = dir.path().join("filesystem.squashfs");
        run(Command::new("mksquashfs")
            .arg(&content)
            .arg(&squashfs)
            .args(["-noappend", "-quiet", "-no-progress"]));
        let spec = LiveIsoSpec {
            label: LABEL.into(),
            squashfs,
            kernel,
            initrd,
            kernel_args: vec!["console=ttyS0".into()],
            timeout_secs: 1,
            bootloaders: BootloaderFiles::from_assets(
                &UnpackedAssets::find(
                    &root,
                    &[
                        debian::boot_asset(BootAsset::Isolinux),
                        debian::boot_asset(BootAsset::SystemdBootEfi),
                    ],
                )
                .unwrap(),
            )
            .unwrap(),
            time: hadris_fs::DateTime::from_unix_seconds(1_700_000_000).unwrap(),
        };
        let out = dir.path().join("out");
        fs::create_dir_all(&out).unwrap();
        let iso = out.join(format!("{LABEL}.iso"));
        let report = write_live_iso(&spec, &iso).unwrap();
        eprintln!(
            "ISO: {} bytes, ESP {} bytes, warnings {:?}",
            report.size, report.esp_size, report.warnings
        );
        Fixture {
            _dir: dir,
            spec,
            iso,
        }
    })
}

#[test]
#[ignore = "end-to-end: downloads a kernel and bootloader packages from the Debian mirror"]
fn net_iso_has_both_boot_entries_and_a_hybrid_table() {
    let iso = &fixture().iso;
    let el_torito = xorriso(iso, &["-report_el_torito", "plain"]);
    assert!(
        Regex::new(r"(?m)^El Torito boot img :\s+1\s+BIOS\s+y\s+none")
            .unwrap()
            .is_match(&el_torito),
        "{el_torito}"
    );
    assert!(
        Regex::new(r"(?m)^El Torito boot img :\s+2\s+UEFI\s+y\s+none")
            .unwrap()
            .is_match(&el_torito),
        "{el_torito}"
    );
    let system_area = xorriso(iso, &["-report_system_area", "plain"]);
    assert!(
        system_area.contains("MBR isohybrid") && system_area.contains("GPT"),
        "{system_area}"
    );
    assert!(system_area.contains("EFI System"), "{system_area}");
}

#[test]
#[ignore = "end-to-end: downloads a kernel and bootloader packages from the Debian mirror"]
fn net_iso_rock_ridge_tree_and_volume_id_read_back() {
    let fixture = fixture();
    let iso = fixture.iso.to_str().unwrap();
    let find = xorriso(&fixture.iso, &["-find", "/", "-type", "f"]);
    for path in [
        "/live/filesystem.squashfs",
        "/live/vmlinuz",
        "/live/initrd.img",
        "/isolinux/isolinux.bin",
        "/isolinux/isolinux.cfg",
        "/isolinux/ldlinux.c32",
    ] {
        assert!(
            find.contains(&format!("'{path}'")),
            "xorriso -find lacks {path}:\n{find}"
        );
    }
    let listing = run(Command::new("isoinfo").args(["-R", "-l", "-i", iso]));
    assert!(listing.contains("filesystem.squashfs"), "{listing}");
    let info = run(Command::new("isoinfo").args(["-d", "-i", iso]));
    assert!(info.contains(&format!("Volume id: {LABEL}")), "{info}");
    assert!(
        info.contains("Rock Ridge signatures version 1 found"),
        "{info}"
    );
    assert!(info.contains("Joliet with UCS level 3 found"), "{info}");

    // The squashfs comes back byte for byte through Rock Ridge.
    let copy = fixture.iso.with_extension("squashfs.copy");
    extract_squashfs(&fixture.iso, &copy);
    assert!(fs::read(&copy).unwrap() == fs::read(&fixture.spec.squashfs).unwrap());
    fs::remove_file(copy).unwrap();

    let sums = fixture.iso.with_file_name("SHA256SUMS");
    update_sha256sums(&[WrittenFile::read(&fixture.iso).unwrap()], &sums, None).unwrap();
    run(Command::new("sha256sum")
        .arg("-c")
        .arg(&sums)
        .current_dir(sums.parent().unwrap()));
}

#[test]
#[ignore = "end-to-end: downloads a kernel and bootloader packages from the Debian mirror"]
fn net_iso_is_reproducible() {
    let fixture = fixture();
    let again = fixture.iso.with_file_name("again.iso");
    write_live_iso(&fixture.spec, &again).unwrap();
    assert!(
        fs::read(&again).unwrap() == fs::read(&fixture.iso).unwrap(),
        "two builds differ"
    );
    fs::remove_file(again).unwrap();
}

fn boot(firmware: Firmware, media: Media) {
    let fixture = fixture();
    let log = fixture
        .iso
        .with_file_name(format!("{firmware:?}-{media:?}.console.log"));
    let options = BootOptions {
        firmware,
        media,
        // The bootloader passed the label argument and `bootloader --append`.
        expect: Regex::new(&format!(
            r"livecompose\.label={LABEL} console=ttyS0\b.* -- fixture login:"
        ))
        .unwrap(),
        timeout: Duration::from_secs(300),
        log: Some(log),
        ..BootOptions::default()
    };
    let report = boottest::boot(&fixture.iso, &options)
        .unwrap_or_else(|e| panic!("{firmware:?} {media:?} boot failed: {e}"));
    eprintln!(
        "boot {firmware:?} {media:?}: {:.1} s ({})",
        report.elapsed_to_match.as_secs_f64(),
        report.accel
    );
}

#[test]
#[ignore = "end-to-end: boots qemu with packages from the Debian mirror"]
fn net_boot_bios_cdrom() {
    boot(Firmware::Bios, Media::Cdrom);
}

#[test]
#[ignore = "end-to-end: boots qemu with packages from the Debian mirror"]
fn net_boot_bios_usb() {
    boot(Firmware::Bios, Media::Usb);
}

#[test]
#[ignore = "end-to-end: boots qemu with packages from the Debian mirror"]
fn net_boot_uefi_cdrom() {
    boot(Firmware::Uefi, Media::Cdrom);
}

#[test]
#[ignore = "end-to-end: boots qemu with packages from the Debian mirror"]
fn net_boot_uefi_usb() {
    boot(Firmware::Uefi, Media::Usb);
}
