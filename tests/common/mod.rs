//! Helpers shared by the integration tests: building packages with the real
//! dpkg-deb, describing extracted trees so two can be compared, a
//! throwaway GnuPG home (`gpg`), a signed repository generator (`debrepo`),
//! RPM fixture repositories (`rpmrepo`), dnf as the RPM resolver's oracle
//! (`dnf`), a loopback HTTP server (`http`) and a qemu driven through its
//! serial console (`qemu`).
#![allow(dead_code)]

pub mod debrepo;
pub mod disk;
pub mod dnf;
mod gpg;
pub mod http;
pub mod qemu;
pub mod rpmrepo;
pub mod sbom;
pub mod tls;
#[allow(unused_imports)]
pub use gpg::Gpg;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Fails the test, naming the Debian package, when a peer program is missing.
pub fn require(program: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|output| output.status.success());
    assert!(
        found,
        "{program} is missing: install the Debian package {package} (tests/run does)"
    );
}

/// One filesystem object as the comparison sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: char,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub link_target: Option<PathBuf>,
    pub content: Option<Vec<u8>>,
    pub rdev: u64,
    pub nlink: u64,
    pub mtime: i64,
}

/// Every object under `dir` (not following symlinks), by relative path.
pub fn snapshot(dir: &Path) -> BTreeMap<String, Node> {
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Node>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let meta = fs::symlink_metadata(&path).expect("lstat");
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            'd'
        } else if ft.is_symlink() {
            'l'
        } else if ft.is_file() {
            'f'
        } else if ft.is_char_device() {
            'c'
        } else if ft.is_block_device() {
            'b'
        } else if ft.is_fifo() {
            'p'
        } else {
            '?'
        };
        let rel = path
            .strip_prefix(base)
            .expect("under base")
            .to_string_lossy()
            .into_owned();
        out.insert(
            rel,
            Node {
                kind,
                mode: meta.mode() & 0o7777,
                uid: meta.uid(),
                gid: meta.gid(),
                link_target: ft
                    .is_symlink()
                    .then(|| fs::read_link(&path).expect("readlink")),
                content: ft.is_file().then(|| fs::read(&path).expect("read")),
                rdev: meta.rdev(),
                nlink: if ft.is_dir() { 0 } else { meta.nlink() },
                mtime: meta.mtime(),
            },
        );
        if ft.is_dir() {
            walk(base, &path, out);
        }
    }
}

/// Asserts two snapshots are equal, naming the first difference.
///
/// Directory times are left out: GNU tar (behind `dpkg-deb -x`) creates
/// symlinks in a deferred pass after restoring directory times, so its
/// directories holding symlinks end up with the extraction time. See
/// [`assert_dir_mtimes`] for checking ours against the source tree instead.
pub fn assert_same_tree(ours: &BTreeMap<String, Node>, theirs: &BTreeMap<String, Node>) {
    let our_names: Vec<_> = ours.keys().collect();
    let their_names: Vec<_> = theirs.keys().collect();
    assert_eq!(our_names, their_names, "different sets of paths");
    for (name, node) in ours {
        let mut theirs = theirs.get(name).cloned().expect("same names");
        if node.kind == 'd' {
            theirs.mtime = node.mtime;
        }
        assert_eq!(node, &theirs, "difference at {name}");
    }
}

/// Every directory in `ours` has the (whole-second) mtime of the directory
/// of the same name in the tree the package was built from.
pub fn assert_dir_mtimes(ours: &BTreeMap<String, Node>, source: &BTreeMap<String, Node>) {
    for (name, node) in ours.iter().filter(|(_, n)| n.kind == 'd') {
        let source = source
            .get(name)
            .unwrap_or_else(|| panic!("{name} not in source tree"));
        assert_eq!(node.mtime, source.mtime, "directory time of {name}");
    }
}

pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Boots `image` with `livecompose test` until a console line matches
/// `expect`, keeping the console in `log`; fails the test otherwise. One
/// qemu at a time: two software-emulated boots on two cores would each take
/// twice as long. Returns what `livecompose test` printed (the boot time).
pub fn boot_to(image: &Path, firmware: &str, media: &str, expect: &str, log: &Path) -> String {
    boot_with(image, firmware, media, expect, log, &[])
}

/// [`boot_to`] with more `livecompose test` arguments (`--ssh`, `--run`,
/// `--seed`, ...); the report is returned and printed.
pub fn boot_with(
    image: &Path,
    firmware: &str,
    media: &str,
    expect: &str,
    log: &Path,
    extra: &[&str],
) -> String {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let out = Command::new(env!("CARGO_BIN_EXE_livecompose"))
        .arg("test")
        .arg(image)
        .args(["--firmware", firmware, "--media", media])
        .args(["--expect", expect, "--timeout", "900"])
        .arg("--log")
        .arg(log)
        .args(extra)
        .output()
        .expect("run livecompose test");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} did not boot ({firmware}, {media}) to {expect:?}, or a step after failed:\n{stdout}\n{stderr}",
        image.display()
    );
    eprintln!("{firmware} {media}: {}", stdout.trim());
    stdout
}

/// Writes `DEBIAN/control` for a minimal package into `tree`.
pub fn write_control(tree: &Path, package: &str, extra: &str) {
    fs::create_dir_all(tree.join("DEBIAN")).expect("mkdir DEBIAN");
    fs::write(
        tree.join("DEBIAN/control"),
        format!(
            "Package: {package}\nVersion: 1.0-1\nArchitecture: all\nMaintainer: Test <test@example.org>\n{extra}Description: test package\n built by the livecompose tests\n"
        ),
    )
    .expect("write control");
}

/// `dpkg-deb -Z<compression> --build tree out`.
pub fn dpkg_deb_build(tree: &Path, out: &Path, compression: &str) {
    run(Command::new("dpkg-deb")
        .arg(format!("-Z{compression}"))
        .arg("--build")
        .arg(tree)
        .arg(out));
}

/// Downloads `package` into `dir` and returns the .deb's path.
/// `xorriso -indev ISO ARGS…`: its report on standard output.
pub fn xorriso(iso: &Path, args: &[&str]) -> String {
    let out = Command::new("xorriso")
        .arg("-indev")
        .arg(iso)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("xorriso: apt-get install xorriso (tests/run does)");
    assert!(
        out.status.success(),
        "xorriso {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Builds `config` with `livecompose --label LABEL --output OUTPUT EXTRA…`
/// from the repository's top directory (where the example kickstarts'
/// paths lead), showing its stage lines; a failed build fails the test.
/// Returns what it printed on standard error.
pub fn build_image(config: &Path, label: &str, output: &Path, extra: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_livecompose"))
        .arg("--config")
        .arg(config)
        .args(["--label", label, "--output"])
        .arg(output)
        .args(extra)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run livecompose");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!("{stderr}");
    assert!(out.status.success(), "the build failed:\n{stderr}");
    stderr
}

/// Copies the live ISO's squashfs (`/live/filesystem.squashfs`) to `dest`
/// with xorriso.
pub fn extract_squashfs(iso: &Path, dest: &Path) {
    xorriso(
        iso,
        &[
            "-osirrox",
            "on",
            "-extract",
            "/live/filesystem.squashfs",
            dest.to_str().expect("a UTF-8 path"),
        ],
    );
}

pub fn download(dir: &Path, package: &str) -> PathBuf {
    // Readable by apt's unprivileged download user, so apt does not fall
    // back to downloading as root with a warning.
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).expect("chmod download dir");
    let out = Command::new("apt-get")
        .args(["download", package])
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run apt-get download {package}: {e}"));
    assert!(
        out.status.success(),
        "apt-get download {package} failed (no network access to the package archive, or \
         `apt-get update` never ran?):\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let prefix = format!("{package}_");
    fs::read_dir(dir)
        .expect("read download dir")
        .map(|e| e.expect("entry").path())
        .find(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            name.starts_with(&prefix) && name.ends_with(".deb")
        })
        .unwrap_or_else(|| panic!("apt-get download {package} succeeded but left no .deb"))
}

/// `dpkg-deb -x deb dest`: the reference extraction.
pub fn dpkg_deb_extract(deb: &Path, dest: &Path) {
    fs::create_dir_all(dest).expect("mkdir dest");
    run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(dest));
}

/// Paths of the data archive, as `/x/y` the way `<pkg>.list` has them.
pub fn dpkg_deb_list(deb: &Path) -> Vec<String> {
    let out = run(Command::new("sh").arg("-c").arg(format!(
        "dpkg-deb --fsys-tarfile '{}' | tar -t",
        deb.display()
    )));
    out.lines()
        .map(|l| {
            let l = l.trim_start_matches('.').trim_end_matches('/');
            if l.is_empty() {
                "/.".to_string()
            } else {
                l.to_string()
            }
        })
        .collect()
}

/// A `Chroot` for tests that drive the build's stages themselves: the
/// sandbox helper is the livecompose binary, since the test binary is not
/// one.
pub fn chroot(root: &Path, log: &Path) -> livecompose::chroot::Chroot {
    livecompose::sandbox::use_helper(Path::new(env!("CARGO_BIN_EXE_livecompose")));
    livecompose::chroot::Chroot::new(root, log).expect("chroot")
}

/// The printed output of `command` in a `livecompose test` report: the
/// indented lines after `$ command`, up to its exit status.
pub fn output_of<'a>(report: &'a str, command: &str) -> Vec<&'a str> {
    let mut lines = report
        .lines()
        .skip_while(|line| *line != format!("$ {command}"));
    assert!(lines.next().is_some(), "{command:?} is not in:\n{report}");
    lines
        .take_while(|line| !line.starts_with("exit status "))
        .map(str::trim)
        .collect()
}

/// A temporary directory for a fixture kept in a `static` for the whole
/// test run. Statics are never dropped, so a `TempDir` there would outlive
/// the run (gigabytes of images per run); this one is removed when the test
/// process exits, however the tests ended.
pub fn static_tempdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    remove_at_exit(dir.path());
    dir
}

/// Removes `path` when the test process exits (see [`static_tempdir`]).
pub fn remove_at_exit(path: &Path) {
    static DIRS: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    static REGISTERED: std::sync::Once = std::sync::Once::new();
    extern "C" fn remove_all() {
        let dirs = match DIRS.lock() {
            Ok(mut dirs) => std::mem::take(&mut *dirs),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        for dir in dirs {
            let _ = fs::remove_dir_all(dir);
        }
    }
    // libtest ends the process with exit() (a failed run) or by returning
    // from main; both run atexit handlers.
    REGISTERED.call_once(|| {
        // SAFETY: remove_all is an extern "C" fn with no arguments that
        // never unwinds.
        let registered = unsafe { libc::atexit(remove_all) };
        assert_eq!(registered, 0, "atexit failed");
    });
    match DIRS.lock() {
        Ok(mut dirs) => dirs.push(path.to_owned()),
        Err(poisoned) => poisoned.into_inner().push(path.to_owned()),
    }
}

/// The `livecompose` binary run with `args`, its output captured.
pub fn livecompose(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_livecompose"))
        .args(args)
        .output()
        .expect("livecompose runs")
}

/// Bytes a command printed, as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
