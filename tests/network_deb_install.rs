//! End-to-end tier: real Debian packages fetched with `apt-get download`
//! (the machine's configured apt sources), unpacked with our code and
//! checked against `dpkg-deb -x` and real dpkg reading our database.
//!
//! These tests need the package archive; without it they fail loudly rather
//! than pass vacuously.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

use common::*;
use livecompose::install::deb::DebPackage;
use livecompose::install::{RootFs, dpkg_db, unpack_deb};

fn dpkg_field(deb: &Path, field: &str) -> String {
    run(Command::new("dpkg-deb").arg("-f").arg(deb).arg(field))
        .trim()
        .to_string()
}

fn dpkg_in(root: &Path) -> Command {
    let mut cmd = Command::new("dpkg");
    cmd.arg(format!("--root={}", root.display()));
    cmd
}

#[test]
#[ignore = "end-to-end: downloads real packages from the Debian mirror"]
fn net_hello_matches_dpkg_deb_and_dpkg_reads_our_status() {
    let work = tempfile::tempdir().expect("tempdir");
    let downloads = work.path().join("dl");
    fs::create_dir(&downloads).expect("mkdir");
    let deb = download(&downloads, "hello");

    let reference = work.path().join("ref");
    dpkg_deb_extract(&deb, &reference);
    let plain = work.path().join("plain");
    fs::create_dir(&plain).expect("mkdir");
    let mut package = DebPackage::open(&deb).expect("open hello");
    assert_eq!(package.name(), "hello");
    assert!(package.md5sums().is_some(), "hello ships md5sums");
    let unpacked = package
        .unpack(&RootFs::open(&plain).expect("root"))
        .expect("unpack");
    assert_same_tree(&snapshot(&plain), &snapshot(&reference));
    assert_eq!(unpacked.paths, dpkg_deb_list(&deb));

    let rootdir = work.path().join("root");
    fs::create_dir(&rootdir).expect("mkdir");
    let root = RootFs::open(&rootdir).expect("root");
    let installed = unpack_deb(&root, &deb).expect("unpack_deb");
    let version = dpkg_field(&deb, "Version");
    assert_eq!(installed.version, version);

    let query = run(Command::new("dpkg-query")
        .arg(format!(
            "--admindir={}",
            rootdir.join("var/lib/dpkg").display()
        ))
        .args(["-W", "-f", "${Package} ${Version} ${db:Status-Abbrev}\n"]));
    assert_eq!(query, format!("hello {version} iU \n"));
    run(dpkg_in(&rootdir).args(["--verify", "hello"]));

    dpkg_db::mark_installed(&root, "hello", None).expect("mark installed");
    let status = run(dpkg_in(&rootdir).args(["-s", "hello"]));
    assert!(status.contains("Status: install ok installed"), "{status}");
    assert!(status.contains(&format!("Version: {version}")), "{status}");
    let listed = run(dpkg_in(&rootdir).args(["-L", "hello"]));
    assert!(listed.lines().any(|l| l == "/usr/bin/hello"), "{listed}");
}

/// Debian bookworm is merged-/usr: the root has `/lib -> usr/lib` and
/// friends (as debootstrap makes them), and libc6 still ships `./lib/...`
/// and `./lib64/...`.
#[test]
#[ignore = "end-to-end: downloads real packages from the Debian mirror"]
fn net_merged_usr_root_with_base_files_and_libc6() {
    let work = tempfile::tempdir().expect("tempdir");
    let downloads = work.path().join("dl");
    fs::create_dir(&downloads).expect("mkdir");
    let base_files = download(&downloads, "base-files");
    let libc6 = download(&downloads, "libc6");

    let rootdir = work.path().join("root");
    fs::create_dir(&rootdir).expect("mkdir");
    const MERGED: [&str; 4] = ["bin", "sbin", "lib", "lib64"];
    for dir in MERGED {
        fs::create_dir_all(rootdir.join("usr").join(dir)).expect("mkdir");
        symlink(format!("usr/{dir}"), rootdir.join(dir)).expect("symlink");
    }
    let root = RootFs::open(&rootdir).expect("root");
    dpkg_db::init(&root, "amd64").expect("init");
    for deb in [&base_files, &libc6] {
        unpack_deb(&root, deb).expect("unpack");
    }

    for dir in MERGED {
        let meta = fs::symlink_metadata(rootdir.join(dir)).expect("merged link");
        assert!(meta.file_type().is_symlink(), "/{dir} must stay a symlink");
    }
    assert!(rootdir.join("usr/lib/x86_64-linux-gnu/libc.so.6").exists());
    assert!(fs::symlink_metadata(rootdir.join("usr/lib64/ld-linux-x86-64.so.2")).is_ok());

    // Everything dpkg-deb -x produces is in our root at the merged path.
    let ours = snapshot(&rootdir);
    for deb in [&base_files, &libc6] {
        let reference = work.path().join(format!(
            "ref-{}",
            deb.file_name().expect("name").to_string_lossy()
        ));
        dpkg_deb_extract(deb, &reference);
        let mut expected: BTreeMap<String, Node> = BTreeMap::new();
        for (path, node) in snapshot(&reference) {
            let first = path.split('/').next().unwrap_or_default();
            let merged = if MERGED.contains(&first) {
                format!("usr/{path}")
            } else {
                path
            };
            expected.insert(merged, node);
        }
        for (path, node) in &expected {
            if MERGED.contains(&path.as_str()) {
                continue;
            }
            let mine = ours
                .get(path)
                .unwrap_or_else(|| panic!("{path} missing from our root"));
            let mut theirs = node.clone();
            if node.kind == 'd' {
                theirs.mtime = mine.mtime;
                // Directories that already existed keep their own mode.
                if MERGED.iter().any(|d| path == &format!("usr/{d}")) {
                    continue;
                }
            }
            assert_eq!(mine, &theirs, "{path}");
        }
    }

    let admindir = rootdir.join("var/lib/dpkg");
    let query = run(Command::new("dpkg-query")
        .arg(format!("--admindir={}", admindir.display()))
        .args([
            "-W",
            "-f",
            "${binary:Package} ${Version} ${db:Status-Abbrev}\n",
        ]));
    assert_eq!(
        query,
        format!(
            "base-files {} iU \nlibc6:amd64 {} iU \n",
            dpkg_field(&base_files, "Version"),
            dpkg_field(&libc6, "Version")
        )
    );
    // libc6 is Multi-Arch: same, so its info files are arch-qualified.
    assert!(admindir.join("info/libc6:amd64.list").exists());
    assert!(admindir.join("info/libc6:amd64.postinst").exists());
    // dpkg resolves /lib/... through our merged links when verifying.
    run(dpkg_in(&rootdir).args(["--verify", "base-files", "libc6"]));
    let conffiles = run(Command::new("dpkg-query")
        .arg(format!("--admindir={}", admindir.display()))
        .args(["-W", "-f", "${Conffiles}\n", "base-files"]));
    assert!(conffiles.contains("/etc/debian_version "), "{conffiles}");
    assert!(!conffiles.contains("newconffile"), "{conffiles}");
}
