//! End-to-end tier: a live ISO and a disk image built from an RPM
//! repository boot.
//!
//! No RPM mirror is reachable from the test machines, so the repository is
//! made here with the real tools: Debian's kernel, static busybox, ISOLINUX,
//! systemd-boot and GRUB (downloaded from the configured Debian mirror with
//! `apt-get download`) are repackaged by `rpmbuild` under the names and
//! paths Fedora uses, indexed by `createrepo_c` and signed with `gpg`.
//! livecompose then builds each output with the README's command and boots
//! it in qemu. The repository has no initramfs generator, so the disk boots
//! through livecompose's own initrd in its disk-root mode.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{Gpg, boot_to, rpmrepo};
use livecompose::initrd::{DISK_ROOT_MODULES, LIVE_MODULES};

/// Downloads a Debian package into `dir` and unpacks it into `dir/NAME`.
fn debian_package(dir: &Path, name: &str) -> PathBuf {
    rpmrepo::run(
        "sh",
        "apt",
        &[
            "-c",
            &format!("cd {} && apt-get download -q {name}", dir.display()),
        ],
    );
    let deb = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{name}_")) && n.ends_with(".deb"))
        })
        .unwrap_or_else(|| panic!("apt-get download {name} left no .deb"));
    let tree = dir.join(name);
    rpmrepo::run(
        "dpkg-deb",
        "dpkg",
        &["-x", deb.to_str().unwrap(), tree.to_str().unwrap()],
    );
    tree
}

/// The kernel package the `linux-image-amd64` metapackage points at.
fn kernel_package() -> String {
    let out = rpmrepo::run("apt-cache", "apt", &["depends", "linux-image-amd64"]);
    out.lines()
        .filter_map(|l| l.trim().strip_prefix("Depends: "))
        .find(|d| d.starts_with("linux-image-") && d.ends_with("-amd64"))
        .expect("linux-image-amd64 depends on a versioned kernel")
        .to_owned()
}

/// A tree with the kernel and only the modules livecompose's initrd loads
/// (live and disk-root, and what they depend on), with its own modules.dep.
fn trimmed_kernel(unpacked: &Path, out: &Path) -> String {
    let modules = unpacked.join("lib/modules");
    let krel = fs::read_dir(&modules)
        .unwrap()
        .next()
        .expect("the kernel package has a modules directory")
        .unwrap()
        .file_name()
        .into_string()
        .unwrap();
    let base = unpacked.to_str().unwrap();
    rpmrepo::run("depmod", "kmod", &["-b", base, &krel]);
    let mut wanted = Vec::new();
    for module in LIVE_MODULES.iter().chain(DISK_ROOT_MODULES) {
        let out = Command::new("modprobe")
            .args(["--show-depends", "-d", base, "-S", &krel, module])
            .output()
            .expect("modprobe runs (Debian package kmod)");
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some(path) = line.strip_prefix("insmod ") {
                wanted.push(path.trim().to_owned());
            }
        }
    }
    assert!(
        !wanted.is_empty(),
        "modprobe found none of the live modules"
    );
    for path in &wanted {
        let relative = Path::new(path).strip_prefix(unpacked).unwrap();
        let to = out.join(relative);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(path, &to).unwrap();
    }
    for extra in [
        "modules.builtin",
        "modules.builtin.modinfo",
        "modules.order",
    ] {
        let from = modules.join(&krel).join(extra);
        if from.exists() {
            fs::copy(&from, out.join("lib/modules").join(&krel).join(extra)).unwrap();
        }
    }
    rpmrepo::run("depmod", "kmod", &["-b", out.to_str().unwrap(), &krel]);
    // Where Fedora's kernel packages put them: beside the modules, for
    // kernel-install to copy to /boot.
    for (from, to) in [("vmlinuz", "vmlinuz"), ("config", "config")] {
        fs::copy(
            unpacked.join(format!("boot/{from}-{krel}")),
            out.join("lib/modules").join(&krel).join(to),
        )
        .unwrap();
    }
    krel
}

/// The shared libraries `program` links and the dynamic loader, copied
/// into `out` at the paths the loader looks for them (the system library
/// directory under /usr, where Debian's loader searches without a cache).
fn linked_libraries(program: &Path, out: &Path) {
    let listing = rpmrepo::run("ldd", "libc-bin", &[program.to_str().unwrap()]);
    let mut copied = 0;
    for line in listing.lines() {
        // "liblzma.so.5 => /lib/x86_64-linux-gnu/liblzma.so.5 (0x…)", or
        // the loader alone: "/lib64/ld-linux-x86-64.so.2 (0x…)".
        let path = match line.split_once("=>") {
            Some((_, target)) => target.split_whitespace().next(),
            None => line
                .split_whitespace()
                .next()
                .filter(|p| p.starts_with('/')),
        };
        let Some(path) = path else { continue };
        let name = Path::new(path).file_name().unwrap();
        let to = if path.starts_with("/lib64/") {
            out.join("lib64").join(name)
        } else {
            out.join("usr/lib/x86_64-linux-gnu").join(name)
        };
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(path, &to).unwrap_or_else(|e| panic!("cannot copy {path}: {e}"));
        copied += 1;
    }
    assert!(
        copied >= 3,
        "ldd found too few libraries for {}:\n{listing}",
        program.display()
    );
}

/// The signed RPM repository both outputs are built from.
struct BootRepository {
    work: tempfile::TempDir,
    /// The package files the repository's index links to.
    _packages: tempfile::TempDir,
    root: PathBuf,
    key: PathBuf,
}

fn repository() -> &'static BootRepository {
    static REPOSITORY: OnceLock<BootRepository> = OnceLock::new();
    REPOSITORY.get_or_init(make_repository)
}

fn make_repository() -> BootRepository {
    let work = common::static_tempdir();
    let debs = work.path().join("debs");
    fs::create_dir(&debs).unwrap();
    let kernel = debian_package(&debs, &kernel_package());
    let busybox = debian_package(&debs, "busybox-static");
    let isolinux = debian_package(&debs, "isolinux");
    let syslinux = debian_package(&debs, "syslinux-common");
    let systemd_boot = debian_package(&debs, "systemd-boot-efi");
    let grub_pc = debian_package(&debs, "grub-pc-bin");
    let grub_efi = debian_package(&debs, "grub-efi-amd64-bin");
    let grub_common = debian_package(&debs, "grub-common");
    let kernel_tree = work.path().join("kernel");
    let krel = trimmed_kernel(&kernel, &kernel_tree);
    let libs = work.path().join("libs");
    linked_libraries(&grub_common.join("usr/bin/grub-mkimage"), &libs);

    let path = |p: &Path| p.display().to_string();
    let (repo_dir, rpms) = rpmrepo::build_with(
        &[
            "live/kernel-core",
            "live/busybox",
            "live/syslinux-nonlinux",
            "live/systemd-boot-unsigned",
            "live/live-init",
            "live/grub2-pc-modules",
            "live/grub2-efi-x64-modules",
            "live/grub2-tools",
            "live/glibc",
        ],
        &[
            ("src_kernel", &path(&kernel_tree)),
            ("krel", &krel),
            ("busybox", &path(&busybox.join("bin/busybox"))),
            ("isolinux", &path(&isolinux)),
            ("syslinux", &path(&syslinux)),
            ("src_boot", &path(&systemd_boot)),
            ("grub_pc", &path(&grub_pc)),
            ("grub_efi", &path(&grub_efi)),
            ("grub_common", &path(&grub_common)),
            ("libs", &path(&libs)),
        ],
    );
    let gpg = Gpg::new();
    gpg.gen_key("Live Repo <live@fixture.invalid>", "never");
    rpmrepo::sign_packages(&gpg, "live@fixture.invalid", &rpms);
    let root = rpmrepo::createrepo(repo_dir.path(), "live", &[]);
    let key = work.path().join("RPM-GPG-KEY-live");
    gpg.export(&["live@fixture.invalid"], true, &key);
    let repomd = fs::read(root.join("repodata/repomd.xml")).unwrap();
    fs::write(
        root.join("repodata/repomd.xml.asc"),
        gpg.detach_sign("live@fixture.invalid", &repomd, true),
    )
    .unwrap();
    common::remove_at_exit(repo_dir.path());
    BootRepository {
        work,
        _packages: repo_dir,
        root,
        key,
    }
}

/// An output built by the README's command from the repository, with the
/// names in its package list.
struct Built {
    image: PathBuf,
    packages: Vec<String>,
}

/// Builds `%packages` `kernel-core` and `live-init` with `extra` options
/// into `out` (under the repository's work directory) as `LABEL.extension`.
fn build(label: &str, extra: &[&str], extension: &str) -> Built {
    let repository = repository();
    let work = repository.work.path();
    let ks = work.join(format!("{label}.ks"));
    fs::write(
        &ks,
        format!(
            "repo --name=live --baseurl=file://{} --gpgkey={}\n\
             bootloader --append=\"console=ttyS0\" --timeout=1\n\
             %packages\nkernel-core\nlive-init\n%end\n",
            repository.root.display(),
            repository.key.display()
        ),
    )
    .unwrap();
    let out_dir = work.join(label);
    let build = Command::new(env!("CARGO_BIN_EXE_livecompose"))
        .args(["--config", ks.to_str().unwrap(), "--label", label])
        .args(extra)
        .arg("--output")
        .arg(&out_dir)
        .arg("--cache")
        .arg(work.join(format!("{label}-cache")))
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "build failed: {}",
        String::from_utf8_lossy(&build.stderr)
    );
    let manifest = fs::read_to_string(out_dir.join(format!("{label}.packages"))).unwrap();
    Built {
        image: out_dir.join(format!("{label}.{extension}")),
        packages: manifest
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_owned)
            .collect(),
    }
}

/// The line the image's init prints once `%post` has run in it.
const INIT_LINE: &str = "livecompose rpm live: installed by livecompose";

#[test]
#[ignore = "end-to-end: downloads Debian packages, builds an ISO and boots it in qemu"]
fn a_live_iso_from_a_signed_rpm_repository_boots() {
    let built = build("RPM-live", &[], "iso");
    assert_eq!(built.packages, ["busybox", "kernel-core", "live-init"]);
    // BIOS boots ISOLINUX from syslinux-nonlinux, UEFI systemd-boot from
    // systemd-boot-unsigned: both tool packages came from the repository.
    for firmware in ["bios", "uefi"] {
        let log = built.image.with_extension(format!("{firmware}.log"));
        boot_to(&built.image, firmware, "cdrom", INIT_LINE, &log);
    }
}

/// The qcow2 disk, built once for the tests that read or boot it.
fn disk() -> &'static Built {
    static DISK: OnceLock<Built> = OnceLock::new();
    DISK.get_or_init(|| build("RPM-disk", &["--format", "qcow2"], "qcow2"))
}

#[test]
#[ignore = "end-to-end: downloads Debian packages, builds a qcow2 disk and checks it"]
fn an_rpm_disk_holds_the_image_grub_and_checks_clean() {
    let built = disk();
    // GRUB's three packages join the image for the disk; busybox is there
    // because live-init needs it.
    assert_eq!(
        built.packages,
        [
            "busybox",
            "glibc",
            "grub2-efi-x64-modules",
            "grub2-pc-modules",
            "grub2-tools",
            "kernel-core",
            "live-init"
        ]
    );
    rpmrepo::run(
        "qemu-img",
        "qemu-utils",
        &["check", built.image.to_str().unwrap()],
    );
}

/// Boots the qcow2 disk with `firmware` to the line of the image's init.
fn boot_disk(firmware: &str) {
    let built = disk();
    let log = built.image.with_extension(format!("{firmware}.log"));
    boot_to(&built.image, firmware, "disk", INIT_LINE, &log);
}

#[test]
#[ignore = "end-to-end: downloads Debian packages, builds a qcow2 disk and boots it in qemu"]
fn an_rpm_disk_boots_bios() {
    boot_disk("bios");
}

#[test]
#[ignore = "end-to-end: downloads Debian packages, builds a qcow2 disk and boots it in qemu"]
fn an_rpm_disk_boots_uefi() {
    boot_disk("uefi");
}
