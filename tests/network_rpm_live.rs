//! End-to-end tier: a live ISO built from an RPM repository boots.
//!
//! No RPM mirror is reachable from the test machines, so the repository is
//! made here with the real tools: Debian's kernel, static busybox, ISOLINUX
//! and systemd-boot (downloaded from the configured Debian mirror with
//! `apt-get download`) are repackaged by `rpmbuild` under the names and paths
//! Fedora uses, indexed by `createrepo_c` and signed with `gpg`. livecompose
//! then builds the ISO with the README's command and boots it in qemu.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Gpg, rpmrepo};
use livecompose::initrd::LIVE_MODULES;

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

/// A tree with the kernel and only the modules the live initrd loads (and
/// what they depend on), with its own modules.dep.
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
    for module in LIVE_MODULES {
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

#[test]
#[ignore = "end-to-end: downloads Debian packages, builds an ISO and boots it in qemu"]
fn a_live_iso_from_a_signed_rpm_repository_boots() {
    let work = tempfile::tempdir().unwrap();
    let debs = work.path().join("debs");
    fs::create_dir(&debs).unwrap();
    let kernel = debian_package(&debs, &kernel_package());
    let busybox = debian_package(&debs, "busybox-static");
    let isolinux = debian_package(&debs, "isolinux");
    let syslinux = debian_package(&debs, "syslinux-common");
    let systemd_boot = debian_package(&debs, "systemd-boot-efi");
    let kernel_tree = work.path().join("kernel");
    let krel = trimmed_kernel(&kernel, &kernel_tree);

    let path = |p: &Path| p.display().to_string();
    let (repo_dir, rpms) = rpmrepo::build_with(
        &[
            "live/kernel-core",
            "live/busybox",
            "live/syslinux-nonlinux",
            "live/systemd-boot-unsigned",
            "live/live-init",
        ],
        &[
            ("src_kernel", &path(&kernel_tree)),
            ("krel", &krel),
            ("busybox", &path(&busybox.join("bin/busybox"))),
            ("isolinux", &path(&isolinux)),
            ("syslinux", &path(&syslinux)),
            ("src_boot", &path(&systemd_boot)),
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

    let ks = work.path().join("rpm-live.ks");
    fs::write(
        &ks,
        format!(
            "repo --name=live --baseurl=file://{} --gpgkey={}\n\
             bootloader --append=\"console=ttyS0\" --timeout=1\n\
             %packages\nkernel-core\nlive-init\n%end\n",
            root.display(),
            key.display()
        ),
    )
    .unwrap();
    let out_dir = work.path().join("out");
    let build = Command::new(env!("CARGO_BIN_EXE_livecompose"))
        .args(["--config", ks.to_str().unwrap(), "--label", "RPM-live"])
        .arg("--output")
        .arg(&out_dir)
        .arg("--cache")
        .arg(work.path().join("cache"))
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "build failed: {}",
        String::from_utf8_lossy(&build.stderr)
    );
    let iso = out_dir.join("RPM-live.iso");
    let manifest = fs::read_to_string(out_dir.join("RPM-live.packages")).unwrap();
    let names: Vec<&str> = manifest
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(names, ["busybox", "kernel-core", "live-init"], "{manifest}");

    // BIOS boots ISOLINUX from syslinux-nonlinux, UEFI systemd-boot from
    // systemd-boot-unsigned: both tool packages came from the repository.
    for firmware in ["bios", "uefi"] {
        let boot = Command::new(env!("CARGO_BIN_EXE_livecompose"))
            .arg("test")
            .arg(&iso)
            .args([
                "--firmware",
                firmware,
                "--expect",
                "livecompose rpm live: installed by livecompose",
                "--timeout",
                "600",
            ])
            .output()
            .unwrap();
        // The time to the line, for the log of the end-to-end run.
        println!("{firmware}: {}", String::from_utf8_lossy(&boot.stdout));
        assert!(
            boot.status.success(),
            "{firmware} boot failed: {}{}",
            String::from_utf8_lossy(&boot.stdout),
            String::from_utf8_lossy(&boot.stderr)
        );
    }
}
