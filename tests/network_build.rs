//! End-to-end: `livecompose --format dir` on `kickstarts/debian-minimal.ks`
//! against the real Debian archive, judged by the image's own dpkg.
//! Run with `cargo test --test network_build -- --ignored`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const LABEL: &str = "Debian-mini";

struct Built {
    /// Keeps the output alive for every test of this file.
    _dir: tempfile::TempDir,
    output_dir: PathBuf,
    root: PathBuf,
}

fn repo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One build shared by all tests; the package cache persists between runs
/// so a re-run only pays for installing.
fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = common::static_tempdir();
        let output_dir = dir.path().join("out");
        let cache = std::env::temp_dir().join("livecompose-net-build-cache");
        let out = Command::new(env!("CARGO_BIN_EXE_livecompose"))
            .arg("--config")
            .arg(repo_dir().join("kickstarts/debian-minimal.ks"))
            .args(["--label", LABEL, "--format", "dir", "--quiet", "--output"])
            .arg(&output_dir)
            .arg("--cache")
            .arg(&cache)
            .output()
            .expect("run livecompose");
        assert!(
            out.status.success(),
            "build failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let root = output_dir.join(LABEL);
        Built {
            _dir: dir,
            output_dir,
            root,
        }
    })
}

fn in_root(root: &Path, args: &[&str]) -> Output {
    Command::new("chroot")
        .arg(root)
        .args(args)
        .output()
        .expect("run chroot")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[ignore = "end-to-end: builds a Debian root from the real archive (a few minutes)"]
fn net_output_is_the_root_and_nothing_else_is_left() {
    let built = built();
    let mut left: Vec<String> = std::fs::read_dir(&built.output_dir)
        .expect("output dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    // The root, its log, its SBOMs and their checksums.
    let mut expected = vec![
        LABEL.to_owned(),
        format!("{LABEL}.log"),
        format!("{LABEL}.spdx.json"),
        format!("{LABEL}.cdx.json"),
        "SHA256SUMS".to_owned(),
    ];
    expected.sort();
    assert_eq!(left, expected);
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let out = built.output_dir.to_string_lossy();
    assert!(
        !mounts.lines().any(|line| line.contains(out.as_ref())),
        "mounts left under {out}"
    );
    assert!(
        !built.root.join("usr/sbin/policy-rc.d").exists(),
        "the build-time policy-rc.d is still in the image"
    );
}

#[test]
#[ignore = "end-to-end: builds a Debian root from the real archive (a few minutes)"]
fn net_the_initramfs_is_built_once_and_holds_the_kernels_modules() {
    let built = built();
    let log = std::fs::read_to_string(built.output_dir.join(format!("{LABEL}.log")))
        .expect("the build log");
    let generated: Vec<&str> = log
        .lines()
        .filter(|line| line.starts_with("update-initramfs: Generating /boot/initrd.img-"))
        .collect();
    assert_eq!(generated.len(), 1, "{generated:#?}");
    let version = generated[0]
        .rsplit_once("initrd.img-")
        .map(|(_, version)| version.trim())
        .expect("a version");
    assert!(built.root.join(format!("boot/vmlinuz-{version}")).is_file());
    // The image's own initramfs-tools reads it back.
    let listed = in_root(
        &built.root,
        &["lsinitramfs", &format!("/boot/initrd.img-{version}")],
    );
    assert!(listed.status.success(), "lsinitramfs failed");
    let modules = format!("modules/{version}/kernel/");
    assert!(
        stdout(&listed).lines().any(|line| line.contains(&modules)),
        "the initramfs holds no module of {version}"
    );
}

#[test]
#[ignore = "end-to-end: builds a Debian root from the real archive (a few minutes)"]
fn net_dpkg_audit_and_verify_find_nothing() {
    let root = &built().root;
    let audit = in_root(root, &["dpkg", "--audit"]);
    assert!(audit.status.success(), "dpkg --audit failed");
    assert_eq!(stdout(&audit), "", "dpkg --audit reports problems");
    let verify = in_root(root, &["dpkg", "--verify"]);
    // Conffiles that maintainer scripts rewrite are expected; anything else
    // means the files on disk are not what the packages shipped.
    let unexpected: Vec<String> = stdout(&verify)
        .lines()
        .filter(|line| !line.contains(" c /"))
        .map(str::to_owned)
        .collect();
    assert!(unexpected.is_empty(), "dpkg --verify: {unexpected:#?}");
}

#[test]
#[ignore = "end-to-end: builds a Debian root from the real archive (a few minutes)"]
fn net_every_package_is_configured_and_the_kickstart_list_is_honoured() {
    let root = &built().root;
    let query = in_root(
        root,
        &["dpkg-query", "-W", "-f", "${Package} ${db:Status-Abbrev}\n"],
    );
    let listing = stdout(&query);
    let not_installed: Vec<&str> = listing
        .lines()
        .filter(|line| !line.ends_with(" ii "))
        .collect();
    assert!(
        not_installed.is_empty(),
        "not fully installed: {not_installed:?}"
    );
    let installed: Vec<&str> = listing
        .lines()
        .filter_map(|line| line.split(' ').next())
        .collect();
    for wanted in [
        "linux-image-amd64",
        "systemd-sysv",
        "sudo",
        "iproute2",
        "less",
    ] {
        assert!(installed.contains(&wanted), "{wanted} is not installed");
    }
    assert!(!installed.contains(&"nano"), "-nano was ignored");
    // Things only working maintainer scripts and triggers produce.
    for made_by_scripts in ["etc/passwd", "etc/ld.so.cache", "etc/shells"] {
        assert!(
            root.join(made_by_scripts).exists(),
            "/{made_by_scripts} is missing"
        );
    }
    let initrd = std::fs::read_dir(root.join("boot"))
        .expect("/boot")
        .filter_map(Result::ok)
        .any(|e| e.file_name().to_string_lossy().starts_with("initrd.img-"));
    assert!(initrd, "the kernel's postinst made no initrd");
}

#[test]
#[ignore = "end-to-end: builds a Debian root from the real archive (a few minutes)"]
fn net_kickstart_settings_are_observable_in_the_image() {
    let root = &built().root;
    let read = |path: &str| {
        std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("/{path}: {e}"))
    };
    // user --name=live --password=live --plaintext --groups=sudo
    let shadow = read("etc/shadow");
    let live = shadow
        .lines()
        .find(|line| line.starts_with("live:"))
        .expect("live in /etc/shadow");
    let hash = live.split(':').nth(1).expect("hash field");
    assert!(hash.starts_with("$6$"), "not SHA-512 crypt: {hash}");
    let salt = hash.split('$').nth(2).expect("salt");
    let peer = Command::new("openssl")
        .args(["passwd", "-6", "-salt", salt, "live"])
        .output()
        .expect("openssl is the crypt peer: apt-get install openssl (tests/run does)");
    assert_eq!(String::from_utf8_lossy(&peer.stdout).trim(), hash);
    let sudo = read("etc/group");
    assert!(
        sudo.lines()
            .any(|line| line.starts_with("sudo:") && line.ends_with("live")),
        "live is not in the sudo group"
    );
    // rootpw --lock
    let root_hash = shadow
        .lines()
        .find(|line| line.starts_with("root:"))
        .and_then(|line| line.split(':').nth(1))
        .expect("root in /etc/shadow");
    assert!(
        root_hash.starts_with('!') || root_hash == "*",
        "root is not locked: {root_hash}"
    );
    // timezone Etc/UTC --utc
    let localtime = std::fs::read_link(root.join("etc/localtime")).expect("/etc/localtime link");
    assert!(
        localtime.ends_with("zoneinfo/Etc/UTC"),
        "{}",
        localtime.display()
    );
    // network --hostname=debian-live
    assert_eq!(read("etc/hostname").trim(), "debian-live");
    assert!(read("etc/hosts").contains("debian-live"));
    // services --enabled=systemd-networkd
    let wants = root.join("etc/systemd/system/multi-user.target.wants/systemd-networkd.service");
    assert!(
        wants.symlink_metadata().is_ok(),
        "systemd-networkd is not enabled"
    );
    // network --bootproto=dhcp --device=link, for the networkd just enabled.
    let networkd = read("etc/systemd/network/10-livecompose-link.network");
    assert!(
        networkd.contains("\n[Match]\nType=ether\nName=en* eth*\n\n[Network]\nDHCP=ipv4\n"),
        "{networkd}"
    );
    // %post
    assert_eq!(read("etc/motd").trim(), "Debian live, built by livecompose");
    // A clean image: empty machine-id, no build-host leftovers.
    assert_eq!(read("etc/machine-id"), "");
    let ssh_keys = std::fs::read_dir(root.join("etc/ssh"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("ssh_host_"))
                .count()
        })
        .unwrap_or(0);
    assert_eq!(ssh_keys, 0, "SSH host keys were left in the image");
    let apt_lists = std::fs::read_dir(root.join("var/lib/apt/lists"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with("_Packages"))
                .count()
        })
        .unwrap_or(0);
    assert_eq!(apt_lists, 0);
}

/// The processes whose root directory is inside `dir`: the image's programs
/// that the build ran, as `(pid, command line)`.
fn processes_rooted_in(dir: &Path) -> Vec<(String, String)> {
    std::fs::read_dir("/proc")
        .expect("reading /proc")
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter(|entry| {
            std::fs::read_link(entry.path().join("root")).is_ok_and(|root| root.starts_with(dir))
        })
        .map(|entry| {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            (
                entry.file_name().to_string_lossy().into_owned(),
                String::from_utf8_lossy(&cmdline).replace('\0', " "),
            )
        })
        .collect()
}

#[test]
#[ignore = "end-to-end: builds a Debian root from the real archive (a few minutes)"]
fn net_sigterm_during_dpkg_configure_leaves_no_process_and_no_work_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output_dir = dir.path().join("out");
    let cache = std::env::temp_dir().join("livecompose-net-build-cache");
    let mut build = Command::new(env!("CARGO_BIN_EXE_livecompose"))
        .arg("--config")
        .arg(repo_dir().join("kickstarts/debian-minimal.ks"))
        // Installs anew: the root another test of this file installed is
        // in the cache, and reusing it would run no dpkg to stop.
        .args([
            "--label",
            "stopped",
            "--format",
            "dir",
            "--quiet",
            "--no-incremental",
            "--output",
        ])
        .arg(&output_dir)
        .arg("--cache")
        .arg(&cache)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run livecompose");
    // The image's dpkg configuring packages, in the build's work directory.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(900);
    let configuring = loop {
        if let Some(found) = processes_rooted_in(&output_dir)
            .into_iter()
            .find(|(_, cmdline)| cmdline.contains("dpkg") && cmdline.contains("--configure"))
        {
            break found;
        }
        assert!(
            build.try_wait().expect("polling the build").is_none(),
            "the build ended before dpkg --configure ran"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "dpkg --configure never ran"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let status = Command::new("kill")
        .args(["-TERM", &build.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let stop_deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while build.try_wait().expect("polling the build").is_none() {
        if std::time::Instant::now() > stop_deadline {
            build.kill().expect("killing the build");
            panic!("the build was still running a minute after SIGTERM during {configuring:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let run = build.wait_with_output().expect("the build's output");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(143), "{stderr}");
    let left: Vec<String> = std::fs::read_dir(&output_dir)
        .expect("reading the output directory")
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with(".log"))
        .collect();
    assert!(left.is_empty(), "the build left {left:?}");
    let survivors = processes_rooted_in(&output_dir);
    assert!(
        survivors.is_empty(),
        "processes of the image outlived the build: {survivors:?}"
    );
}
