//! RPM fixture repositories built with the real tools: `rpmbuild` turns the
//! spec files under `tests/fixtures/rpm/` into packages and `createrepo_c`
//! indexes them.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

/// Fedora's base in small (`tests/fixtures/rpm/base/`, its comps beside
/// them). Its shell is a static busybox: build it with the `busybox` define
/// ([`static_busybox`]).
pub const FEDORA_BASE_SPECS: &[&str] = &[
    "base/setup",
    "base/filesystem",
    "base/basesystem",
    "base/bash",
    "base/glibc",
    "base/coreutils",
    "base/systemd",
    "base/kernel",
    "base/dracut",
    "base/grub2",
    "base/utils",
];

/// Runs a tool, failing the test with the Debian package to install when the
/// tool is missing: a missing oracle must not pass as a skipped test.
pub fn run(tool: &str, package: &str, args: &[&str]) -> String {
    let output = Command::new(tool).args(args).output().unwrap_or_else(|e| {
        panic!(
            "cannot run {tool} ({e}): install the Debian package {package} \
             (tests/run installs it)"
        )
    });
    assert!(
        output.status.success(),
        "{tool} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Builds the named fixture specs; returns the temp dir and the `.rpm`
/// files, laid out as `<dir>/repo/<arch>/<file>.rpm`.
pub fn build(specs: &[&str]) -> (TempDir, Vec<PathBuf>) {
    build_with(specs, &[])
}

/// [`build`] with extra `rpmbuild --define`s (`name value`).
pub fn build_with(specs: &[&str], defines: &[(&str, &str)]) -> (TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().join("top");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rpm");
    let topdir = format!("_topdir {}", top.display());
    for spec in specs {
        let spec = fixtures.join(format!("{spec}.spec"));
        let defines: Vec<String> = defines.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let mut args: Vec<&str> = defines.iter().flat_map(|d| ["--define", d]).collect();
        args.extend([
            "-bb",
            "--quiet",
            "--define",
            &topdir,
            // No debuginfo subpackages or build-id links: the fixtures
            // are shell scripts and text, and the extra packages would
            // only add noise to the index.
            "--define",
            "debug_package %{nil}",
            "--define",
            "_build_id_links none",
            spec.to_str().unwrap(),
        ]);
        run("rpmbuild", "rpm", &args);
    }
    let repo = dir.path().join("repo");
    let mut rpms = Vec::new();
    for arch in fs::read_dir(top.join("RPMS")).unwrap() {
        let arch = arch.unwrap();
        fs::create_dir_all(repo.join(arch.file_name())).unwrap();
        for rpm in fs::read_dir(arch.path()).unwrap() {
            let rpm = rpm.unwrap();
            let to = repo.join(arch.file_name()).join(rpm.file_name());
            fs::copy(rpm.path(), &to).unwrap();
            rpms.push(to);
        }
    }
    rpms.sort();
    (dir, rpms)
}

/// Indexes `<dir>/repo` into `<dir>/<name>/repodata`, with the packages
/// linked beside it, and returns the new repository root.
pub fn createrepo(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let root = dir.join(name);
    fs::create_dir_all(&root).unwrap();
    let packages = dir.join("repo");
    for arch in fs::read_dir(&packages).unwrap() {
        let arch = arch.unwrap();
        if arch.file_name() != "repodata" {
            std::os::unix::fs::symlink(arch.path(), root.join(arch.file_name())).unwrap();
        }
    }
    let mut args: Vec<&str> = extra.to_vec();
    let out = root.display().to_string();
    args.extend(["--quiet", "--outputdir", &out, packages.to_str().unwrap()]);
    run("createrepo_c", "createrepo-c", &args);
    root
}

/// Debian's createrepo_c (0.17) cannot write zstd, which current Fedora
/// repodata uses; re-encodes one index with zstd and rewrites its
/// `repomd.xml` entry (location, checksum, size) the way createrepo_c
/// would have written it.
pub fn recompress_zstd(root: &Path, kind: &str) {
    let repomd_path = root.join("repodata/repomd.xml");
    let repomd = fs::read_to_string(&repomd_path).unwrap();
    let start = repomd.find(&format!("<data type=\"{kind}\">")).unwrap();
    let end = start + repomd[start..].find("</data>").unwrap();
    let entry = &repomd[start..end];
    let attr = |open: &str, close: &str| {
        let s = entry.find(open).unwrap() + open.len();
        entry[s..s + entry[s..].find(close).unwrap()].to_owned()
    };
    let href = attr("<location href=\"", "\"");
    let old_sum = attr("<checksum type=\"sha256\">", "<");
    let old_size = attr("<size>", "<");

    let old_path = root.join(&href);
    let mut plain = Vec::new();
    std::io::copy(
        &mut flate2::read::GzDecoder::new(fs::File::open(&old_path).unwrap()),
        &mut plain,
    )
    .unwrap();
    let zst = zstd::encode_all(&plain[..], 19).unwrap();
    let new_sum = livecompose::fetch::sha256_hex(&zst);
    let new_href = format!("repodata/{new_sum}-{kind}.xml.zst");
    fs::File::create(root.join(&new_href))
        .unwrap()
        .write_all(&zst)
        .unwrap();
    fs::remove_file(old_path).unwrap();

    let new_entry = entry
        .replace(&href, &new_href)
        .replace(&format!(">{old_sum}<"), &format!(">{new_sum}<"))
        .replace(
            &format!("<size>{old_size}<"),
            &format!("<size>{}<", zst.len()),
        );
    fs::write(&repomd_path, repomd.replace(entry, &new_entry)).unwrap();
}

/// A static busybox for fixture packages: the host's from busybox-static,
/// or one unpacked from a downloaded busybox-static package (kept for the
/// whole test run, as every build is handed its path).
pub fn static_busybox() -> &'static Path {
    static BUSYBOX: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUSYBOX.get_or_init(|| {
        let host = Path::new("/bin/busybox");
        let is_static = host.exists()
            && Command::new("file")
                .arg("-L")
                .arg(host)
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).contains("statically linked"))
                .unwrap_or(true);
        if is_static {
            return host.to_path_buf();
        }
        let dir = super::static_tempdir().keep();
        run(
            "sh",
            "busybox-static",
            &[
                "-c",
                &format!(
                    "cd {0} && apt-get download busybox-static && dpkg-deb -x busybox-static_*.deb x",
                    dir.display()
                ),
            ],
        );
        dir.join("x/bin/busybox")
    })
}

/// Signs package files in place with `rpmsign`, as the key `signer` of `gpg`.
pub fn sign_packages(gpg: &super::Gpg, signer: &str, rpms: &[PathBuf]) {
    // Debian's rpm runs /usr/bin/gpg2, which Debian does not ship, and
    // execs it without a PATH search.
    let gpg_path = std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("gpg"))
                .find(|candidate| candidate.is_file())
        })
        .expect("gpg is on PATH (Debian package gnupg)");
    let gpg_macro = format!("__gpg {}", gpg_path.display());
    for rpm in rpms {
        run(
            "rpmsign",
            "rpm",
            &[
                "--addsign",
                "--define",
                &format!("_gpg_name {signer}"),
                "--define",
                &format!("_gpg_path {}", gpg.home.path().display()),
                "--define",
                &gpg_macro,
                rpm.to_str().unwrap(),
            ],
        );
    }
}

/// The package file of `name` among `rpms` (`NAME-VERSION-RELEASE.ARCH.rpm`).
pub fn package_file<'a>(rpms: &'a [PathBuf], name: &str) -> &'a Path {
    rpms.iter()
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{name}-")))
        })
        .unwrap_or_else(|| panic!("no {name} package among {rpms:?}"))
}
