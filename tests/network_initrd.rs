//! End-to-end tests of the live initrd: a Debian root built by mmdebstrap
//! (from the machine's own apt sources), packed with mksquashfs into an ISO
//! made by xorriso, booted in qemu with the image's kernel and our initrd
//! until the serial console shows a login prompt.
//!
//! Run with `cargo test --test network_initrd -- --ignored --nocapture` to
//! see the initrd's size and the time to the login prompt.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::qemu::{Qemu, one_boot_at_a_time};

use livecompose::initrd::{self, InitrdMode, InitrdOptions, LABEL_ARG, SQUASHFS_PATH};

const LABEL: &str = "LC-INITRD-TEST";
const ROOT_PASSWORD: &str = "live";

struct Fixture {
    _dir: tempfile::TempDir,
    iso: PathBuf,
    initrd: initrd::Initrd,
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (tests/run installs the tools)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Built once for all tests of this file: the root takes minutes.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = common::static_tempdir();
        let root = dir.path().join("root");
        run(Command::new("mmdebstrap")
            .args(["--quiet", "--variant=minbase"])
            .arg("--include=linux-image-amd64,systemd-sysv")
            .arg(format!(
                "--customize-hook=echo root:{ROOT_PASSWORD} | chroot \"$1\" chpasswd"
            ))
            .arg("bookworm")
            .arg(&root));

        // busybox-static from the same repository, extracted as the caller
        // of initrd::build does.
        run(Command::new("apt-get")
            .args(["download", "busybox-static"])
            .current_dir(dir.path()));
        let deb = std::fs::read_dir(dir.path())
            .expect("read temp dir")
            .map(|e| e.expect("entry").path())
            .find(|p| p.extension().is_some_and(|e| e == "deb"))
            .expect("apt-get download left a .deb");
        let extracted = dir.path().join("busybox-static");
        run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&extracted));

        let staging = dir.path().join("staging");
        let squashfs = staging.join(SQUASHFS_PATH);
        std::fs::create_dir_all(squashfs.parent().expect("parent")).expect("mkdir staging");
        run(Command::new("mksquashfs").arg(&root).arg(&squashfs).args([
            "-comp",
            "zstd",
            "-Xcompression-level",
            "3",
            "-noappend",
            "-quiet",
            "-no-progress",
        ]));
        let iso = dir.path().join("live.iso");
        run(Command::new("xorriso")
            .args(["-as", "mkisofs", "-V", LABEL, "-o"])
            .arg(&iso)
            .arg(&staging));

        let options = InitrdOptions {
            output: dir.path().join("initrd.img"),
            mode: InitrdMode::Live,
        };
        let started = Instant::now();
        let initrd = initrd::build(&root, &extracted.join("bin/busybox"), &options)
            .unwrap_or_else(|e| panic!("initrd::build: {e}"));
        eprintln!(
            "initrd: {} bytes ({:?}, {} modules, kernel {}), built in {:.1?}",
            initrd.size,
            initrd.compression,
            initrd.modules.len(),
            initrd.kernel_version,
            started.elapsed()
        );
        Fixture {
            _dir: dir,
            iso,
            initrd,
        }
    })
}

/// A qemu booting the fixture's kernel and initrd with the ISO as a CD.
fn boot(fixture: &Fixture, append: &str) -> Qemu {
    Qemu::spawn(
        Command::new("qemu-system-x86_64")
            .args(["-accel", "tcg", "-m", "1024", "-nographic", "-no-reboot"])
            .arg("-kernel")
            .arg(&fixture.initrd.kernel)
            .arg("-initrd")
            .arg(&fixture.initrd.path)
            .args(["-append", &format!("console=ttyS0 panic=-1 {append}")])
            .arg("-cdrom")
            .arg(&fixture.iso),
    )
}

const BOOT_TIMEOUT: Duration = Duration::from_secs(900);

/// Boots to the login prompt, logs in and returns the output of `command`.
fn boot_and_run(append: &str, command: &str) -> (Qemu, String) {
    let fixture = fixture();
    let _lock = one_boot_at_a_time();
    let mut qemu = boot(fixture, append);
    let at = qemu.wait_for("login:", 0, BOOT_TIMEOUT);
    eprintln!(
        "{append:?}: login prompt after {:.1?} (initrd {} bytes)",
        qemu.started.elapsed(),
        fixture.initrd.size
    );
    qemu.send("root");
    let at = qemu.wait_for("Password:", at, Duration::from_secs(120));
    qemu.send(ROOT_PASSWORD);
    let at = qemu.wait_for("# ", at, Duration::from_secs(120));
    qemu.send(&format!("{command}; echo END-OF-COMMAND"));
    // The echo of the typed line contains the marker too; wait for the
    // second one, the output.
    let echoed = qemu.wait_for("END-OF-COMMAND", at, Duration::from_secs(120));
    let end = qemu.wait_for("END-OF-COMMAND", echoed, Duration::from_secs(120));
    let output = qemu.console()[echoed..end].to_owned();
    (qemu, output)
}

fn mounts_line<'a>(mounts: &'a str, mount_point: &str) -> Option<&'a str> {
    mounts
        .lines()
        .find(|line| line.split_whitespace().nth(1) == Some(mount_point))
}

#[test]
#[ignore = "end-to-end: builds a Debian root with mmdebstrap and boots it in qemu with the live initrd"]
fn net_live_initrd_boots_to_login_on_an_overlay_root() {
    let (_qemu, mounts) = boot_and_run(&format!("{LABEL_ARG}={LABEL}"), "cat /proc/mounts");
    let root = mounts_line(&mounts, "/").unwrap_or_else(|| panic!("no / in:\n{mounts}"));
    assert!(root.starts_with("overlay / overlay"), "{root}");
    assert!(
        mounts_line(&mounts, "/run/live/medium").is_some_and(|l| l.contains("iso9660")),
        "the medium stays visible under /run/live/medium:\n{mounts}"
    );
}

#[test]
#[ignore = "end-to-end: builds a Debian root with mmdebstrap and boots it in qemu with toram"]
fn net_toram_boots_from_a_copy_and_frees_the_medium() {
    let (qemu, mounts) = boot_and_run(&format!("{LABEL_ARG}={LABEL} toram"), "cat /proc/mounts");
    assert!(qemu.console().contains("toram: copying"));
    assert!(
        mounts_line(&mounts, "/").is_some_and(|l| l.starts_with("overlay / overlay")),
        "{mounts}"
    );
    assert!(
        mounts_line(&mounts, "/run/live/medium").is_none(),
        "toram unmounts the medium:\n{mounts}"
    );
}

#[test]
#[ignore = "end-to-end: builds a Debian root with mmdebstrap; a wrong label explains itself in qemu"]
fn net_wrong_label_explains_and_gives_a_shell() {
    let fixture = fixture();
    let _lock = one_boot_at_a_time();
    let mut qemu = boot(
        fixture,
        &format!("{LABEL_ARG}=NO-SUCH-LABEL livecompose.timeout=5"),
    );
    let at = qemu.wait_for(
        "no block device has the ISO 9660 label 'NO-SUCH-LABEL' after 5s",
        0,
        BOOT_TIMEOUT,
    );
    let at = qemu.wait_for("here is a shell", at, Duration::from_secs(60));
    qemu.send("echo SHELL-$((6 * 7))");
    qemu.wait_for("SHELL-42", at, Duration::from_secs(60));
    assert!(!qemu.console().contains("Kernel panic"));
}

#[test]
#[ignore = "end-to-end: builds a Debian root with mmdebstrap; no label on the command line explains itself"]
fn net_missing_label_explains_and_gives_a_shell() {
    let fixture = fixture();
    let _lock = one_boot_at_a_time();
    let mut qemu = boot(fixture, "");
    qemu.wait_for(
        "neither livecompose.fetch=URL (a netboot), livecompose.label=LABEL (a live medium) nor root= (a disk) is on the kernel command line",
        0,
        BOOT_TIMEOUT,
    );
    assert!(!qemu.console().contains("Kernel panic"));
}
