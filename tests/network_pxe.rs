//! End-to-end tests of `--format pxe`: `kickstarts/debian-minimal.ks` is
//! built once, its directory is served by a loopback HTTP server the test
//! starts (`common::http`), and qemu boots it over its user-mode network
//! only: built-in DHCP and TFTP, `restrict=on` so the guest reaches nothing
//! else, and HTTP through one `guestfwd` address whose every connection
//! busybox `nc` relays to the loopback server (a `tcp:` forward serves only
//! the first connection). Each boot reports its time to the login prompt
//! and the bytes the server sent.
//!
//! Run with `cargo test --test network_pxe -- --ignored --nocapture` to
//! see the build and the figures.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use common::http::Server;
use common::qemu::{Qemu, one_boot_at_a_time};

const LABEL: &str = "lc-pxe";
/// Where the guest finds the HTTP server: an address of qemu's user
/// network that `guestfwd` answers.
const GUEST_SERVER: &str = "10.0.2.100";
const PXE_URL: &str = "http://10.0.2.100";
const BOOT_TIMEOUT: Duration = Duration::from_secs(900);
const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";

struct Fixture {
    _out: tempfile::TempDir,
    dir: PathBuf,
}

/// The build, once for every test of the file.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let out = common::static_tempdir();
        // zstd at a low level packs in a fraction of xz's time on our
        // shared cores, and the kernel must read the other codec too.
        common::build_image(
            Path::new("kickstarts/debian-minimal.ks"),
            LABEL,
            out.path(),
            &[
                "--format",
                "pxe",
                "--pxe-url",
                PXE_URL,
                "--compression",
                "zstd",
                "--level",
                "3",
            ],
        );
        let dir = out.path().join(LABEL);
        Fixture { _out: out, dir }
    })
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `-netdev` of a boot: user-mode, restricted, HTTP to `server` only.
fn netdev(server: &Server, tftp: Option<(&Path, &str)>) -> String {
    common::require("busybox", "busybox-static");
    let port = server.url().rsplit(':').next().expect("a port").to_owned();
    let busybox = common::run(Command::new("sh").args(["-c", "command -v busybox"]));
    let mut netdev = format!(
        "user,id=n0,restrict=on,guestfwd=tcp:{GUEST_SERVER}:80-cmd:{} nc 127.0.0.1 {port}",
        busybox.trim()
    );
    if let Some((dir, bootfile)) = tftp {
        netdev.push_str(&format!(",tftp={},bootfile={bootfile}", dir.display()));
    }
    netdev
}

fn qemu(netdev: &str) -> Command {
    common::require("qemu-system-x86_64", "qemu-system-x86");
    let mut qemu = Command::new("qemu-system-x86_64");
    qemu.args([
        "-accel",
        "tcg",
        "-m",
        "1536",
        "-nodefaults",
        "-display",
        "none",
    ])
    .args(["-serial", "stdio", "-no-reboot", "-netdev", netdev]);
    qemu
}

/// Waits for the login prompt of a network boot and reports its time and
/// what the server sent, which must be the kernel, the initrd and the
/// whole squashfs.
fn boot_to_login(name: &str, mut qemu: Qemu, server: &Server) {
    qemu.wait_for("login:", 0, BOOT_TIMEOUT);
    let elapsed = qemu.started.elapsed();
    let sent = server.take_bytes_sent();
    let total: u64 = sent.values().sum();
    eprintln!("{name}: login prompt after {elapsed:.1?}; {total} bytes over HTTP: {sent:?}");
    let dir = &fixture().dir;
    for file in ["vmlinuz", "initrd.img", "filesystem.squashfs"] {
        let size = std::fs::metadata(dir.join(file)).expect("the file").len();
        assert_eq!(
            sent.get(&format!("/{file}")),
            Some(&size),
            "{file}: {sent:?}"
        );
    }
    assert!(
        qemu.console().contains("livecompose: sha256 "),
        "the initrd checked the squashfs"
    );
}

#[test]
#[ignore = "end-to-end: builds the Debian minimal kickstart with --format pxe"]
fn net_pxe_directory_holds_what_a_server_serves() {
    let dir = &fixture().dir;
    let mut names: Vec<String> = walk(dir);
    names.sort();
    assert_eq!(
        names,
        [
            "README",
            "SHA256SUMS",
            "boot.ipxe",
            "cmdline",
            "filesystem.squashfs",
            "initrd.img",
            "ipxe.efi",
            "lc-pxe.cdx.json",
            "lc-pxe.spdx.json",
            "ldlinux.c32",
            "lpxelinux.0",
            "packages",
            "pxelinux.cfg/default",
            "vmlinuz",
        ]
    );
    // Every file but the list itself is in SHA256SUMS, under its path.
    let sums = common::run(
        Command::new("sha256sum")
            .args(["-c", "--strict", "SHA256SUMS"])
            .current_dir(dir),
    );
    assert_eq!(sums.lines().count(), names.len() - 1, "{sums}");
    // The SBOMs sit inside the directory, with everything it serves.
    common::sbom::validate_both(
        &dir.join(format!("{LABEL}.spdx.json")),
        &dir.join(format!("{LABEL}.cdx.json")),
    );

    // The command line names the squashfs by its URL, size and hash.
    let squashfs = dir.join("filesystem.squashfs");
    let hash = common::run(Command::new("sha256sum").arg(&squashfs));
    let hash = hash.split_whitespace().next().expect("a hash");
    let size = std::fs::metadata(&squashfs).expect("squashfs").len();
    let cmdline = read(&dir.join("cmdline"));
    assert_eq!(
        cmdline,
        format!(
            "livecompose.fetch={PXE_URL}/filesystem.squashfs livecompose.sha256={hash} livecompose.size={size} console=tty0 console=ttyS0,115200n8\n"
        )
    );
    let cmdline = cmdline.trim();
    let ipxe = read(&dir.join("boot.ipxe"));
    assert!(ipxe.starts_with("#!ipxe\n"), "{ipxe}");
    assert!(
        ipxe.contains(&format!(
            "kernel {PXE_URL}/vmlinuz initrd=initrd.img {cmdline}\ninitrd {PXE_URL}/initrd.img\nboot\n"
        )),
        "{ipxe}"
    );
    let pxelinux = read(&dir.join("pxelinux.cfg/default"));
    assert!(
        pxelinux.contains(&format!("APPEND {cmdline}\n")),
        "{pxelinux}"
    );
    assert!(read(&dir.join("README")).contains(cmdline));

    // The boot loaders are the distribution's own files, byte for byte.
    let packages = tempfile::tempdir().expect("temp dir");
    for (package, inside, ours) in [
        ("pxelinux", "usr/lib/PXELINUX/lpxelinux.0", "lpxelinux.0"),
        (
            "syslinux-common",
            "usr/lib/syslinux/modules/bios/ldlinux.c32",
            "ldlinux.c32",
        ),
        ("ipxe", "boot/ipxe.efi", "ipxe.efi"),
    ] {
        let deb = common::download(packages.path(), package);
        let extracted = packages.path().join(package);
        common::dpkg_deb_extract(&deb, &extracted);
        assert!(
            std::fs::read(extracted.join(inside)).expect("the package's file")
                == std::fs::read(dir.join(ours)).expect("our copy"),
            "{ours} differs from {package}'s {inside}"
        );
    }

    // The initrd carries the network drivers of the image's kernel and the
    // udhcpc script.
    let listing = common::run(Command::new("sh").arg("-c").arg(format!(
        "zstdcat -f '{0}' 2>/dev/null | cpio -t 2>/dev/null || zcat -f '{0}' | cpio -t",
        dir.join("initrd.img").display()
    )));
    for wanted in [
        "virtio_net.ko",
        "e1000.ko",
        "e1000e.ko",
        "r8169.ko",
        "etc/livecompose/udhcpc.script",
    ] {
        assert!(
            listing.lines().any(|line| line.ends_with(wanted)),
            "{wanted} not in the initrd:\n{listing}"
        );
    }
}

/// The files under `dir`, as paths relative to it.
fn walk(dir: &Path) -> Vec<String> {
    common::snapshot(dir)
        .into_iter()
        .filter(|(_, node)| node.kind == 'f')
        .map(|(name, _)| name)
        .collect()
}

#[test]
#[ignore = "end-to-end: boots the --format pxe build with SeaBIOS and the card's iPXE ROM"]
fn net_pxe_bios_ipxe_rom_runs_boot_ipxe_to_login() {
    let dir = &fixture().dir;
    let _turn = one_boot_at_a_time();
    let server = Server::serve(dir);
    let qemu = Qemu::spawn(qemu(&netdev(&server, Some((dir, "boot.ipxe")))).args([
        "-device",
        "virtio-net-pci,netdev=n0",
        "-boot",
        "n",
    ]));
    boot_to_login("BIOS, iPXE ROM, boot.ipxe", qemu, &server);
}

#[test]
#[ignore = "end-to-end: boots the --format pxe build with SeaBIOS and lpxelinux.0"]
fn net_pxe_bios_lpxelinux_boots_to_login() {
    let dir = &fixture().dir;
    let _turn = one_boot_at_a_time();
    let server = Server::serve(dir);
    let qemu = Qemu::spawn(qemu(&netdev(&server, Some((dir, "lpxelinux.0")))).args([
        "-device",
        "virtio-net-pci,netdev=n0",
        "-boot",
        "n",
    ]));
    boot_to_login("BIOS, lpxelinux.0", qemu, &server);
}

/// OVMF's own network stack (the card's iPXE ROM turned off) loads
/// ipxe.efi, which asks DHCP again and runs the file it names. A real DHCP
/// server gives iPXE boot.ipxe (user class "iPXE") and the firmware
/// ipxe.efi; qemu's gives both the one name, so that name is a URL: the
/// firmware fetches it over TFTP, where this test keeps ipxe.efi under it,
/// and iPXE fetches it over HTTP, where it is boot.ipxe.
#[test]
#[ignore = "end-to-end: boots the --format pxe build with OVMF and ipxe.efi"]
fn net_pxe_uefi_ipxe_efi_boots_to_login() {
    let dir = &fixture().dir;
    let scratch = tempfile::tempdir().expect("temp dir");
    let bootfile = format!("{PXE_URL}/boot.ipxe");
    // TFTP names the file its root joined with the requested name.
    let under_tftp = scratch.path().join("tftp").join(&bootfile);
    std::fs::create_dir_all(under_tftp.parent().expect("parent")).expect("mkdir");
    std::fs::copy(dir.join("ipxe.efi"), &under_tftp).expect("copy ipxe.efi");
    let vars = scratch.path().join("vars.fd");
    std::fs::copy(OVMF_VARS, &vars).expect("OVMF's variables (package ovmf)");

    let _turn = one_boot_at_a_time();
    let server = Server::serve(dir);
    let qemu = Qemu::spawn(
        qemu(&netdev(
            &server,
            Some((&scratch.path().join("tftp"), &bootfile)),
        ))
        .args(["-machine", "q35"])
        .arg("-drive")
        .arg(format!("if=pflash,format=raw,readonly=on,file={OVMF_CODE}"))
        .arg("-drive")
        .arg(format!("if=pflash,format=raw,file={}", vars.display()))
        .args(["-device", "virtio-net-pci,netdev=n0,romfile=,bootindex=1"]),
    );
    boot_to_login("UEFI, OVMF, ipxe.efi", qemu, &server);
    assert!(
        server
            .take_requests()
            .iter()
            .any(|request| request.path == "/boot.ipxe"),
        "iPXE fetched boot.ipxe over HTTP"
    );
}

/// Boots the kernel and initrd directly with `fetch` and the other
/// netboot arguments, until the rescue shell answers; returns the console
/// and what the server was asked.
fn rescue_boot(args: &str) -> (String, Vec<common::http::Request>) {
    let dir = &fixture().dir;
    let _turn = one_boot_at_a_time();
    let server = Server::serve(dir);
    let mut qemu = Qemu::spawn(
        qemu(&netdev(&server, None))
            .args(["-device", "virtio-net-pci,netdev=n0"])
            .arg("-kernel")
            .arg(dir.join("vmlinuz"))
            .arg("-initrd")
            .arg(dir.join("initrd.img"))
            .args(["-append", &format!("console=ttyS0 panic=-1 {args}")]),
    );
    let at = qemu.wait_for("here is a shell", 0, BOOT_TIMEOUT);
    eprintln!("{args}: rescue shell after {:.1?}", qemu.started.elapsed());
    qemu.send("echo SHELL-$((6 * 7))");
    qemu.wait_for("SHELL-42", at, Duration::from_secs(120));
    let console = qemu.console();
    assert!(!console.contains("Kernel panic"), "{console}");
    (console, server.take_requests())
}

#[test]
#[ignore = "end-to-end: a netboot whose download has another SHA-256 stops in the rescue shell"]
fn net_pxe_wrong_sha256_stops_in_the_rescue_shell() {
    // A small file with the right size and a wrong hash: the check, not the
    // download, is under test.
    let sums = fixture().dir.join("SHA256SUMS");
    let size = std::fs::metadata(&sums).expect("SHA256SUMS").len();
    let actual = common::run(Command::new("sha256sum").arg(&sums));
    let actual = actual.split_whitespace().next().expect("a hash");
    let wrong = "0".repeat(64);
    let url = format!("{PXE_URL}/SHA256SUMS");
    let (console, _) = rescue_boot(&format!(
        "livecompose.fetch={url} livecompose.sha256={wrong} livecompose.size={size}"
    ));
    let message = format!("livecompose: sha256 mismatch for {url}: expected {wrong}, got {actual}");
    assert!(console.contains(&message), "{message:?} in:\n{console}");
}

#[test]
#[ignore = "end-to-end: a netboot whose squashfs is missing stops in the rescue shell"]
fn net_pxe_missing_squashfs_stops_in_the_rescue_shell() {
    let url = format!("{PXE_URL}/no-such.squashfs");
    // live-boot's spelling, and a static address instead of DHCP.
    let (console, requests) = rescue_boot(&format!(
        "fetch={url} ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off"
    ));
    let message =
        format!("livecompose: cannot fetch {url}: wget: server returned error: HTTP/1.1 404");
    assert!(console.contains(&message), "{message:?} in:\n{console}");
    assert!(console.contains("eth0: 10.0.2.15 netmask 255.255.255.0 gateway 10.0.2.2 (ip=)"));
    // A refusal is not asked again.
    let asked: BTreeMap<&str, usize> = requests.iter().fold(BTreeMap::new(), |mut n, r| {
        *n.entry(r.path.as_str()).or_default() += 1;
        n
    });
    assert_eq!(asked, BTreeMap::from([("/no-such.squashfs", 1)]));
}
