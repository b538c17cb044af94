//! Offline tier: RPM packages built with the real `rpmbuild` from the specs
//! under `tests/fixtures/rpm/install/`, installed with `install::rpm`, and
//! the result read back with the real `rpm` (`-qa`, `-q`, `-qf`, `-V`),
//! `getcap` and the filesystem. The scriptlets run in the root through
//! the real chroot, on a static busybox the fixtures ship; these tests need
//! root, as building an image does.

mod common;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::rpmrepo;
use livecompose::install::RootFs;
use livecompose::install::rpm::{self, InstalledRpm, RpmInstallError, RpmInstallOptions};
use livecompose::repo::signature::Keyring;
use tempfile::TempDir;

/// Builds fixture specs from `tests/fixtures/rpm/install/`.
fn build(specs: &[&str], defines: &[(&str, &str)]) -> (TempDir, Vec<PathBuf>) {
    let specs: Vec<String> = specs.iter().map(|s| format!("install/{s}")).collect();
    let specs: Vec<&str> = specs.iter().map(String::as_str).collect();
    let busybox = rpmrepo::static_busybox().display().to_string();
    let mut all = vec![("busybox", busybox.as_str())];
    all.extend_from_slice(defines);
    rpmrepo::build_with(&specs, &all)
}

/// An empty root next to its build log.
struct Root {
    dir: TempDir,
}

impl Root {
    fn new() -> Root {
        let root = Root {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        fs::create_dir(root.path()).expect("mkdir root");
        root
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn at(&self, rel: &str) -> PathBuf {
        self.path().join(rel)
    }

    /// `/bin/sh` before any package: what `%pretrans` scriptlets need, as
    /// rpm's own `%pretrans` need a shell already in the root.
    fn seed_shell(&self) {
        fs::create_dir_all(self.at("usr/bin")).expect("mkdir");
        fs::create_dir_all(self.at("bin")).expect("mkdir");
        fs::create_dir_all(self.at("var/log")).expect("mkdir");
        fs::copy(rpmrepo::static_busybox(), self.at("usr/bin/busybox")).expect("copy busybox");
        std::os::unix::fs::symlink("../usr/bin/busybox", self.at("bin/sh")).expect("symlink");
    }

    /// The real rpm installs `rpms` in one transaction, scriptlets and
    /// triggers included: the oracle the scriptlet tests compare with.
    fn rpm_install(&self, options: &[&str], rpms: &[PathBuf]) -> (bool, String) {
        let mut args = vec!["-i", "--nodeps", "--nosignature"];
        args.extend_from_slice(options);
        let paths: Vec<String> = rpms.iter().map(|p| p.display().to_string()).collect();
        args.extend(paths.iter().map(String::as_str));
        self.rpm(&args)
    }

    /// A log the fixtures' scriptlets write, empty when there is none.
    fn log(&self, name: &str) -> String {
        fs::read_to_string(self.at(&format!("var/log/{name}"))).unwrap_or_default()
    }

    fn install(
        &self,
        rpms: &[PathBuf],
        options: &RpmInstallOptions,
    ) -> Result<Vec<InstalledRpm>, RpmInstallError> {
        let root = RootFs::open(self.path()).expect("open root");
        let chroot = common::chroot(&self.path(), &self.dir.path().join("build.log"));
        rpm::install(&root, &chroot, rpms, options, &|_| {})
    }

    /// The real rpm on the root's database. Killed if stuck: rpm blocks
    /// the polite signals while it installs.
    fn rpm(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("timeout")
            .args(["-s", "KILL", "300", "rpm"])
            .arg("--root")
            .arg(self.path())
            .args(["--dbpath", "/var/lib/rpm"])
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("cannot run rpm: install the Debian package rpm (tests/run installs it)");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    }
}

fn nevras(installed: &[InstalledRpm]) -> Vec<String> {
    installed.iter().map(InstalledRpm::nevra).collect()
}

#[test]
fn files_owners_and_database_as_rpm_sees_them() {
    let (_built, rpms) = build(
        &["shell", "svc", "files", "fifo", "xz", "zstd", "bzip2"],
        &[],
    );
    let root = Root::new();
    // An administrator's configuration, there before the package.
    fs::create_dir_all(root.at("etc")).expect("mkdir");
    fs::write(root.at("etc/lc-files.conf"), "admin = 1\n").expect("write");
    let options = RpmInstallOptions {
        exclude_docs: true,
        install_langs: Some(vec!["de".to_string()]),
        ..RpmInstallOptions::default()
    };
    let installed = root.install(&rpms, &options).expect("install");
    let names = nevras(&installed);
    // Those whose %pre needs /bin/sh come after the package with it.
    let at = |name: &str| {
        installed
            .iter()
            .position(|p| p.name == name)
            .unwrap_or_else(|| panic!("{name} not installed: {names:?}"))
    };
    assert!(at("lc-shell") < at("lc-svc") && at("lc-shell") < at("lc-files"));

    // Owner from the user the package's own %pre created.
    let secret = fs::metadata(root.at("etc/svc/secret")).expect("secret");
    assert_eq!((secret.uid(), secret.gid()), (901, 901));
    assert_eq!(secret.permissions().mode() & 0o7777, 0o640);
    let suid = fs::metadata(root.at("usr/bin/lc-suid")).expect("suid");
    assert_eq!(suid.permissions().mode() & 0o7777, 0o4755);

    let hard1 = fs::metadata(root.at("usr/lib/lc-files/hard1")).expect("hard1");
    let hard2 = fs::metadata(root.at("usr/lib/lc-files/hard2")).expect("hard2");
    assert_eq!(hard1.ino(), hard2.ino());
    assert_eq!(hard1.nlink(), 2);
    assert_eq!(
        fs::read(root.at("usr/lib/lc-files/hard2")).expect("read"),
        b"linked\n"
    );
    assert_eq!(
        fs::read_link(root.at("usr/lib/lc-files/soft")).expect("soft"),
        Path::new("hard1")
    );
    let fifo = fs::symlink_metadata(root.at("usr/lib/lc-fifo/fifo")).expect("fifo");
    assert!(fifo.file_type().is_fifo());
    let null = fs::symlink_metadata(root.at("usr/lib/lc-files/null")).expect("null");
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), rustix::fs::makedev(1, 3));

    let ping = root.at("usr/bin/lc-ping");
    let caps = rpmrepo::run("getcap", "libcap2-bin", &[ping.to_str().expect("utf-8")]);
    assert!(caps.contains("cap_net_raw=ep"), "getcap: {caps}");

    assert!(!root.at("var/log/lc-files.log").exists(), "%ghost created");
    assert_eq!(
        fs::read_to_string(root.at("etc/lc-files.conf")).expect("conf"),
        "admin = 1\n"
    );
    assert_eq!(
        fs::read_to_string(root.at("etc/lc-files.conf.rpmnew")).expect("rpmnew"),
        "packaged = 1\n"
    );
    let files_pkg = installed
        .iter()
        .find(|p| p.name == "lc-files")
        .expect("lc-files installed");
    assert!(
        files_pkg.warnings.iter().any(|w| w.contains(".rpmnew")),
        "{:?}",
        files_pkg.warnings
    );
    let orphan = fs::metadata(root.at("usr/lib/lc-files/orphan")).expect("orphan");
    assert_eq!((orphan.uid(), orphan.gid()), (0, 0));
    for missing in [
        "user lc-nobody does not exist",
        "group lc-nogroup does not exist",
    ] {
        assert!(
            files_pkg.warnings.iter().any(|w| w.contains(missing)),
            "{:?}",
            files_pkg.warnings
        );
    }
    assert!(!root.at("usr/share/doc/lc-files/README").exists(), "%doc");
    assert!(root.at("usr/share/locale/de/lc-files.txt").exists());
    assert!(!root.at("usr/share/locale/fr/lc-files.txt").exists());

    let numbers: String = (1..=5000).map(|n| format!("{n}\n")).collect();
    for compression in ["xz", "zstd", "bzip2"] {
        let path = root.at(&format!("usr/share/lc-{compression}/numbers"));
        assert_eq!(fs::read_to_string(path).expect("numbers"), numbers);
    }

    // The database, as the real rpm reads it.
    let (ok, qa) = root.rpm(&["-qa"]);
    assert!(ok, "rpm -qa: {qa}");
    let mut listed: Vec<&str> = qa.lines().collect();
    listed.sort_unstable();
    let mut expected = names.clone();
    expected.sort();
    assert_eq!(listed, expected);
    let (ok, q) = root.rpm(&["-q", "lc-svc"]);
    assert!(ok && q.trim() == "lc-svc-2.1-4.noarch", "rpm -q: {q}");
    let (ok, qf) = root.rpm(&["-qf", "/usr/bin/lc-ping"]);
    assert!(ok && qf.trim() == "lc-files-3.0-2.noarch", "rpm -qf: {qf}");
    let (ok, provides) = root.rpm(&["-q", "--whatprovides", "/bin/sh"]);
    assert!(
        ok && provides.trim() == format!("lc-shell-1.0-1.{}", std::env::consts::ARCH),
        "{provides}"
    );
    // rpm -V finds only what changed after the packages were written, as
    // it would after `rpm -i`: the account files lc-svc's %pre appended
    // to, and the administrator's configuration file, kept in place of the
    // package's (which went to .rpmnew). Modes, owners, times, links,
    // devices, capabilities and every other digest match.
    let (_, verify) = root.rpm(&["-V", "-a"]);
    // The time column ('T') depends on whether the build and the test
    // fell in the same second; it is left out.
    let mut complaints: Vec<String> = verify.lines().map(|l| l.replacen('T', ".", 1)).collect();
    complaints.sort_unstable();
    assert_eq!(
        complaints,
        [
            "S.5......  c /etc/group",
            "S.5......  c /etc/lc-files.conf",
            "S.5......  c /etc/passwd",
        ],
        "rpm -V -a:\n{verify}"
    );
}

#[test]
fn scriptlets_run_in_rpm_order() {
    let (_built, rpms) = build(&["shell", "zz-early", "aa-late", "cyc-a", "cyc-b"], &[]);
    let root = Root::new();
    root.seed_shell();
    let installed = root
        .install(&rpms, &RpmInstallOptions::default())
        .expect("install");
    let order = [
        "lc-shell",
        "lc-zz-early",
        "lc-aa-late",
        "lc-cyc-b",
        "lc-cyc-a",
    ];
    let names: Vec<&str> = installed.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, order);
    let scripted = ["zz-early", "aa-late", "cyc-b", "cyc-a"];
    let mut expected = Vec::new();
    expected.extend(scripted.iter().map(|p| format!("pretrans {p} 1")));
    for p in scripted {
        expected.push(format!("pre {p} 1"));
        expected.push(format!("post {p} 1"));
    }
    expected.extend(scripted.iter().map(|p| format!("posttrans {p} 1")));
    let log = fs::read_to_string(root.at("var/log/order.log")).expect("order.log");
    assert_eq!(log.lines().collect::<Vec<_>>(), expected);
    // aa-late's %post and %posttrans fail: warnings, and nothing else
    // failed.
    for package in &installed {
        let failed: Vec<bool> = ["%post ", "%posttrans "]
            .iter()
            .map(|s| package.warnings.iter().any(|w| w.contains(s)))
            .collect();
        assert_eq!(
            failed,
            [package.name == "lc-aa-late"; 2],
            "{}: {:?}",
            package.name,
            package.warnings
        );
    }
}

/// `err` is the `%pre` of `package` failing, with `message` in its text.
fn assert_stopped_by_pre(err: &RpmInstallError, package: &str, message: &str) {
    match err {
        RpmInstallError::Scriptlet {
            package: failed,
            scriptlet,
            ..
        } => {
            assert_eq!(failed, package);
            assert_eq!(*scriptlet, "%pre");
        }
        other => panic!("unexpected error: {other}"),
    }
    assert!(err.to_string().contains(message), "{err}");
}

#[test]
fn failing_pre_stops_the_installation() {
    let (_built, rpms) = build(&["shell", "badpre"], &[]);
    let root = Root::new();
    let err = root
        .install(&rpms, &RpmInstallOptions::default())
        .expect_err("%pre fails");
    assert_stopped_by_pre(&err, "lc-badpre-1.0-1.noarch", "failing on purpose");
    assert!(!root.at("usr/share/lc-badpre").exists());
}

/// The escape fixture, built with its symlink pointing at `target`.
fn escape_rpm(target: &Path) -> (TempDir, PathBuf) {
    let target = target.display().to_string();
    let (dir, rpms) = build(&["escape"], &[("escape_target", &target)]);
    let rpm = rpms.into_iter().next().expect("one package");
    (dir, rpm)
}

#[test]
fn dotdot_path_in_a_package_is_refused() {
    let host = tempfile::tempdir().expect("tempdir");
    let (_built, rpm) = escape_rpm(&host.path().join("target"));
    // `/Z9/` becomes `/../` in the header's directory list and in the
    // archive's entry name; the payload is uncompressed, and the header
    // digests are not what the installer trusts.
    let mut bytes = fs::read(&rpm).expect("read rpm");
    let mut patched = 0;
    for i in 0..bytes.len().saturating_sub(4) {
        if &bytes[i..i + 4] == b"/Z9/" {
            bytes[i..i + 4].copy_from_slice(b"/../");
            patched += 1;
        }
    }
    assert_eq!(patched, 2, "header and archive");
    fs::write(&rpm, bytes).expect("write rpm");
    let root = Root::new();
    let err = root
        .install(&[rpm], &RpmInstallOptions::default())
        .expect_err("refused");
    assert!(err.to_string().contains("'..'"), "{err}");
    assert!(!root.dir.path().join("escape-file").exists());
    assert!(!root.at("escape-file").exists());
}

#[test]
fn file_beneath_its_own_symlink_to_a_host_directory_is_refused() {
    let host = tempfile::tempdir().expect("tempdir");
    let target = host.path().join("target");
    let (_built, rpm) = escape_rpm(&target);
    // rpmbuild wrote through the link on the build side; start clean.
    fs::remove_dir_all(&target).expect("clean target");
    let root = Root::new();
    let err = root
        .install(&[rpm], &RpmInstallOptions::default())
        .expect_err("refused");
    assert!(
        err.to_string()
            .contains("/escape-link/payload lies beneath /escape-link"),
        "{err}"
    );
    assert!(!target.exists(), "wrote outside the root");
    assert!(!root.at("escape-link").exists() && !root.at("Z9").exists());
}

/// Every index row as `(table, key, package name, idx)`, with the
/// install-time ones (`Installtid`) reduced to their count.
fn index_rows(db: &Path) -> Vec<(String, String, String, i64)> {
    let db = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open rpmdb");
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'Packages' AND name NOT LIKE 'sqlite%'")
        .expect("prepare")
        .query_map([], |row| row.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    let mut rows = Vec::new();
    for table in tables {
        let sql = format!(
            "SELECT CASE WHEN typeof(t.key) = 'blob' THEN hex(t.key) ELSE t.key END, n.key, t.idx \
             FROM '{table}' t JOIN 'Name' n ON n.hnum = t.hnum"
        );
        let mut stmt = db.prepare(&sql).expect("prepare");
        let found = stmt
            .query_map([], |row| {
                Ok((
                    table.clone(),
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                ))
            })
            .expect("query")
            .collect::<Result<Vec<_>, _>>()
            .expect("rows");
        for mut row in found {
            if table == "Installtid" {
                row.1 = String::from("(time)");
            }
            rows.push(row);
        }
    }
    rows.sort();
    rows
}

#[test]
fn database_indexes_match_what_rpm_writes() {
    let (_built, rpms) = build(
        &[
            "shell", "svc", "files", "xz", "zstd", "rich", "trig", "ft-owner",
        ],
        &[],
    );
    let ours = Root::new();
    ours.install(&rpms, &RpmInstallOptions::default())
        .expect("install");
    // The same packages installed by the real rpm, scripts aside.
    let theirs = Root::new();
    let mut args = vec![
        "-i",
        "--nodeps",
        "--noscripts",
        "--notriggers",
        "--nosignature",
        "--nodigest",
    ];
    let paths: Vec<String> = rpms.iter().map(|p| p.display().to_string()).collect();
    args.extend(paths.iter().map(String::as_str));
    let (ok, out) = theirs.rpm(&args);
    assert!(ok, "rpm -i: {out}");
    let db = "var/lib/rpm/rpmdb.sqlite";
    assert_eq!(index_rows(&ours.at(db)), index_rows(&theirs.at(db)));
    // And what rpm shows of the installed headers.
    let qf = "%{NEVRA} %{SIZE} %{INSTALLCOLOR} %{ARCHIVESIZE} %{SIGMD5} %{SHA256HEADER} [%{FILESTATES:fstate} ]\n";
    let query = |root: &Root| {
        let (ok, out) = root.rpm(&["-qa", "--qf", qf]);
        assert!(ok, "{out}");
        let mut lines: Vec<String> = out.lines().map(str::to_string).collect();
        lines.sort();
        lines
    };
    assert_eq!(query(&ours), query(&theirs));
}

#[test]
fn truncated_and_corrupted_packages_fail_cleanly() {
    let host = tempfile::tempdir().expect("tempdir");
    let target = host.path().join("target").display().to_string();
    let (_built, rpms) = build(&["xz", "escape"], &[("escape_target", &target)]);
    for rpm in &rpms {
        let bytes = fs::read(rpm).expect("read rpm");
        // Every prefix that ends before the payload is an error.
        let mut cut = 0;
        while rpm::RpmFile::read(rpm, &mut &bytes[..cut]).is_err() {
            cut += 1;
        }
        assert!(cut > 96 + 16, "headers read from {cut} bytes");
        assert!(rpm::RpmFile::read(rpm, &mut &bytes[..]).is_ok());
        // Byte flips anywhere: reading and installing give an error or a
        // result, never a panic, and nothing lands outside the root.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..40 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut corrupt = bytes.clone();
            let at = (state % corrupt.len() as u64) as usize;
            corrupt[at] ^= (state >> 32) as u8 | 1;
            let root = Root::new();
            let file = root.dir.path().join("corrupt.rpm");
            fs::write(&file, &corrupt).expect("write");
            let _ = root.install(&[file], &RpmInstallOptions::default());
            let outside: Vec<_> = fs::read_dir(root.dir.path())
                .expect("list")
                .map(|e| e.expect("entry").file_name())
                .collect();
            assert!(
                outside
                    .iter()
                    .all(|n| ["root", "corrupt.rpm", "build.log"]
                        .contains(&n.to_str().unwrap_or(""))),
                "{outside:?}"
            );
        }
    }
}

#[test]
fn a_second_installation_adds_to_the_database() {
    let (built, rpms) = build(&["xz", "zstd"], &[]);
    let gpg = common::Gpg::new();
    let primary = gpg.gen_key("Key Fixture <key@fixture.invalid>", "never");
    let key_file = built.path().join("key.asc");
    gpg.export(&[&primary], true, &key_file);
    let options = RpmInstallOptions {
        trusted_keys: Keyring::from_file(&key_file).expect("key").keys().to_vec(),
        // The build's time, as a reproducible build gives it.
        install_time: Some(1_700_000_000),
        ..RpmInstallOptions::default()
    };
    let root = Root::new();
    for rpm in &rpms {
        root.install(std::slice::from_ref(rpm), &options)
            .expect("install");
    }
    let (ok, qa) = root.rpm(&["-qa", "--qf", "%{NAME}-%{VERSION}\n"]);
    let mut listed: Vec<&str> = qa.lines().collect();
    listed.sort_unstable();
    assert!(ok);
    // The key is recorded by the first installation only.
    let key = format!("gpg-pubkey-{}", primary[32..].to_lowercase());
    assert_eq!(listed, [key.as_str(), "lc-xz-1.0", "lc-zstd-1.0"]);
    // Every record, the key's too, carries the given install time.
    let (ok, times) = root.rpm(&["-qa", "--qf", "%{INSTALLTIME} %{INSTALLTID}\n"]);
    assert!(ok);
    assert!(
        times.lines().count() == 3 && times.lines().all(|t| t == "1700000000 1700000000"),
        "{times}"
    );
    // rpm can also take a package out again through the indexes.
    let (ok, out) = root.rpm(&["-e", "lc-xz"]);
    assert!(ok, "rpm -e: {out}");
    assert!(!root.at("usr/share/lc-xz").exists());
    let (_, qa) = root.rpm(&["-qa", "lc-*"]);
    assert_eq!(qa.trim(), "lc-zstd-1.0-1.noarch");
    let (ok, out) = root.rpm(&["-qf", "/usr/share/lc-xz/numbers"]);
    assert!(!ok, "{out}");
}

/// Rewrites the uncompressed newc archive of `rpm` into rpm's stripped
/// form: each entry becomes `07070X` and the file's index in the header,
/// its content unchanged; the trailer stays a newc entry.
fn strip_payload(rpm: &Path) -> Vec<u8> {
    let bytes = fs::read(rpm).expect("read rpm");
    let package = rpm::RpmFile::open(rpm).expect("intact package");
    let index_of = |name: &[u8]| {
        let path = name.strip_prefix(b".").expect("./ name");
        package
            .files
            .iter()
            .position(|f| f.path == path)
            .expect("archived file is listed")
    };
    let start = bytes
        .windows(6)
        .position(|w| w == b"070701")
        .expect("newc payload");
    let mut out = bytes[..start].to_vec();
    let mut at = start;
    let pad = |n: usize| (4 - n % 4) % 4;
    loop {
        let field = |i: usize| {
            let text = std::str::from_utf8(&bytes[at + 6 + i * 8..at + 14 + i * 8]).expect("hex");
            usize::from_str_radix(text, 16).expect("hex")
        };
        let (size, name_size) = (field(6), field(11));
        let name_at = at + 110;
        let name = &bytes[name_at..name_at + name_size - 1];
        let data_at = name_at + name_size + pad(110 + name_size);
        if name == b"TRAILER!!!" {
            out.extend_from_slice(&bytes[at..data_at]);
            break;
        }
        out.extend_from_slice(format!("07070X{:08x}", index_of(name)).as_bytes());
        out.extend(std::iter::repeat_n(0, pad(out.len() - start)));
        out.extend_from_slice(&bytes[data_at..data_at + size]);
        out.extend(std::iter::repeat_n(0, pad(out.len() - start)));
        at = data_at + size + pad(size);
    }
    out
}

#[test]
fn stripped_cpio_payload_installs_like_newc() {
    let (built, rpms) = build(&["plain"], &[]);
    let newc = Root::new();
    newc.install(&rpms, &RpmInstallOptions::default())
        .expect("install newc");
    let stripped_rpm = built.path().join("stripped.rpm");
    fs::write(&stripped_rpm, strip_payload(&rpms[0])).expect("write");
    let stripped = Root::new();
    stripped
        .install(&[stripped_rpm], &RpmInstallOptions::default())
        .expect("install stripped");
    let tree = |root: &Root| common::snapshot(&root.at("usr/share/lc-plain"));
    assert_eq!(tree(&newc), tree(&stripped));
    let a = fs::metadata(stripped.at("usr/share/lc-plain/a")).expect("a");
    let b = fs::metadata(stripped.at("usr/share/lc-plain/b")).expect("b");
    assert_eq!(a.ino(), b.ino());
    assert_eq!(
        fs::read(stripped.at("usr/share/lc-plain/b")).expect("b"),
        b"first\n"
    );
}

#[test]
fn database_in_the_sysimage_dbpath_behind_the_var_lib_rpm_link() {
    let (_built, rpms) = build(&["sysimage", "xz"], &[]);
    let root = Root::new();
    let options = RpmInstallOptions {
        dbpath: Some(String::from("/usr/lib/sysimage/rpm")),
        ..RpmInstallOptions::default()
    };
    root.install(&rpms, &options).expect("install");
    assert!(root.at("usr/lib/sysimage/rpm/rpmdb.sqlite").exists());
    let link = fs::read_link(root.at("var/lib/rpm")).expect("link shipped");
    assert_eq!(link, Path::new("../../usr/lib/sysimage/rpm"));
    // rpm finds it through the link, as the image's rpm would.
    let (ok, qa) = root.rpm(&["-qa"]);
    let mut listed: Vec<&str> = qa.lines().collect();
    listed.sort_unstable();
    assert!(ok);
    assert_eq!(listed, ["lc-sysimage-1.0-1.noarch", "lc-xz-1.0-1.noarch"]);
}

#[test]
fn triggerin_runs_after_the_package_that_fires_it() {
    let (_built, rpms) = build(&["shell", "trig", "zz-early"], &[]);
    let root = Root::new();
    root.seed_shell();
    let installed = root
        .install(&rpms, &RpmInstallOptions::default())
        .expect("install");
    let names: Vec<&str> = installed.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["lc-shell", "lc-trig", "lc-zz-early"]);
    let log = fs::read_to_string(root.at("var/log/order.log")).expect("order.log");
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        [
            "pretrans zz-early 1",
            "triggerin trig on lc-shell 1 1",
            "pre zz-early 1",
            "post zz-early 1",
            "triggerin trig on lc-zz-early 1 1",
            "posttrans zz-early 1",
        ]
    );
    assert!(installed.iter().all(|p| p.warnings.is_empty()));
}

#[test]
fn file_triggers_fire_as_rpm_fires_them() {
    let (_built, rpms) = build(&["shell", "ft-before", "ft-owner", "ft-after"], &[]);
    file_triggers_as_rpm(&rpms, false);
    // Files left out are not fed to the triggers.
    file_triggers_as_rpm(&rpms, true);
}

fn file_triggers_as_rpm(rpms: &[PathBuf], exclude_docs: bool) {
    let ours = Root::new();
    ours.seed_shell();
    let options = RpmInstallOptions {
        exclude_docs,
        ..RpmInstallOptions::default()
    };
    let installed = ours.install(rpms, &options).expect("install");
    let names: Vec<&str> = installed.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["lc-shell", "lc-ft-before", "lc-ft-owner", "lc-ft-after"]
    );
    assert!(
        installed.iter().all(|p| p.warnings.is_empty()),
        "{installed:?}"
    );
    let theirs = Root::new();
    theirs.seed_shell();
    let rpm_options: &[&str] = if exclude_docs {
        &["--excludedocs"]
    } else {
        &[]
    };
    let (ok, out) = theirs.rpm_install(rpm_options, rpms);
    assert!(ok, "rpm -i: {out}");
    let log = ours.log("ft.log");
    assert_eq!(log, theirs.log("ft.log"));
    // What the comparison covers: the owner's triggers fired by a package
    // installed before it (when the owner is installed) and after it, on
    // both sides of the priority bound, and the transaction's triggers at
    // the very end, with the files on their standard input.
    let headers: Vec<&str> = log.lines().filter(|l| !l.starts_with(' ')).collect();
    assert_eq!(
        headers,
        [
            "post ft-before 1 1",
            "filetriggerin early 1 0",
            "filetriggerin early 1 0",
            "post ft-owner 1 1",
            "filetriggerin high 1 0",
            "filetriggerin high 1 0",
            "filetriggerin low 1 0",
            "filetriggerin early 1 0",
            "post ft-after 1 1",
            "filetriggerin high 1 0",
            "filetriggerin low 1 0",
            "posttrans ft-owner 1 1",
            "transfiletriggerin high 1 0",
            "transfiletriggerin low 1 0",
        ],
        "{log}"
    );
    assert!(log.contains("  /usr/lib/lc-ft-after/five\n"), "{log}");
    assert_eq!(
        log.contains("  /usr/share/lc-ft/after/README\n"),
        !exclude_docs,
        "{log}"
    );
}

/// What the lc-lua fixture's %post leaves in /var/lib/lc-lua.
fn lua_made(root: &Root) -> Vec<String> {
    let dir = root.at("var/lib/lc-lua");
    let mut found: Vec<String> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("entry").path();
            let meta = fs::symlink_metadata(&path).expect("stat");
            let what = if meta.file_type().is_symlink() {
                format!("-> {}", fs::read_link(&path).expect("link").display())
            } else {
                format!(
                    "{:o} {:?}",
                    meta.permissions().mode() & 0o7777,
                    fs::read_to_string(&path).expect("read")
                )
            };
            format!("{} {what}", path.file_name().expect("name").display())
        })
        .collect();
    found.sort();
    found
}

#[test]
fn lua_scriptlets_run_as_rpm_runs_them() {
    let (_built, rpms) = build(&["shell", "lua", "luabadpost"], &[]);
    let ours = Root::new();
    ours.seed_shell();
    let installed = ours
        .install(&rpms, &RpmInstallOptions::default())
        .expect("install");
    let theirs = Root::new();
    theirs.seed_shell();
    let (ok, out) = theirs.rpm_install(&[], &rpms);
    assert!(ok, "rpm -i: {out}");
    let log = ours.log("lua.log");
    assert_eq!(log, theirs.log("lua.log"));
    let made = lua_made(&ours);
    assert_eq!(made, lua_made(&theirs));
    assert_eq!(made, ["link -> moved", "moved 640 \"written by lua\\n\""]);
    // The comparison covers the arguments, the posix and rpm functions and
    // the Lua file triggers with their files.
    for line in [
        "pretrans 2 <lua> 1 integer 2",
        "post 2 <lua> 1 integer",
        "mkdir again nil /var/lib/lc-lua: File exists 17.0",
        "vercmp -1 1 0 -1 -1",
        "utime 0.0 1000000000.0",
        "executed",
        "installed regular",
        "forked",
        "waited true",
        "transfiletriggerin 2 <lua> 0",
        "triggerin 3 <lua> 1 1 integer",
        "  /usr/share/lc-luabadpost/file",
    ] {
        assert!(log.lines().any(|l| l == line), "{line:?} missing:\n{log}");
    }
    // A Lua %post that fails is a warning, as in rpm, and its package is
    // installed.
    assert!(ours.at("usr/share/lc-luabadpost/file").exists());
    assert!(theirs.at("usr/share/lc-luabadpost/file").exists());
    for package in &installed {
        let failed = package
            .warnings
            .iter()
            .any(|w| w.contains("%post") && w.contains("post failing on purpose"));
        assert_eq!(
            failed,
            package.name == "lc-luabadpost",
            "{}: {:?}",
            package.name,
            package.warnings
        );
    }
}

#[test]
fn failing_lua_pre_stops_the_installation() {
    let (_built, rpms) = build(&["shell", "luabadpre"], &[]);
    let ours = Root::new();
    ours.seed_shell();
    let err = ours
        .install(&rpms, &RpmInstallOptions::default())
        .expect_err("%pre fails");
    assert_stopped_by_pre(&err, "lc-luabadpre-1.0-1.noarch", "lua failing on purpose");
    assert!(!ours.at("usr/share/lc-luabadpre").exists());
    // rpm leaves the package out too.
    let theirs = Root::new();
    theirs.seed_shell();
    let (ok, out) = theirs.rpm_install(&[], &rpms);
    assert!(!ok, "rpm -i succeeded: {out}");
    assert!(out.contains("lua failing on purpose"), "{out}");
    assert!(!theirs.at("usr/share/lc-luabadpre").exists());
}

// ---------------------------------------------------------------------------
// File conflicts: builds of `overlap.spec` that ship the same paths, judged
// against the real `rpm -i --test` of the same packages.

/// Extra `rpmbuild --define`s for `overlap.spec`.
type Defines<'a> = &'a [(&'a str, &'a str)];

/// `lc-overlap-NAME` for each name, built with its extra defines.
fn overlap(variants: &[(&str, Defines)]) -> (Vec<TempDir>, Vec<PathBuf>) {
    let mut dirs = Vec::new();
    let mut rpms = Vec::new();
    for (name, extra) in variants {
        let mut defines = vec![("pkg", *name)];
        defines.extend_from_slice(extra);
        let (dir, built) = rpmrepo::build_with(&["install/overlap"], &defines);
        dirs.push(dir);
        rpms.extend(built);
    }
    (dirs, rpms)
}

#[test]
fn file_conflicts_are_refused_where_rpm_refuses_them_before_anything_is_written() {
    // The defines that make lc-overlap-b differ, the path, what differs.
    let cases: [(Defines, &str, &str); 4] = [
        (&[("content", "SAME")], "/usr/bin/lc-overlap", "content"),
        (&[("content", "longer")], "/usr/bin/lc-overlap", "size"),
        (&[("dirmode", "0700")], "/usr/share/lc-overlap", "mode"),
        (
            &[("conftext", "setting=2")],
            "/etc/lc-overlap.conf",
            "content",
        ),
    ];
    for (defines, path, what) in cases {
        let (_built, rpms) = overlap(&[("a", &[]), ("b", defines)]);
        let theirs = Root::new();
        let (ok, out) = theirs.rpm_install(&["--test"], &rpms);
        assert!(!ok, "rpm --test accepted {path}: {out}");
        assert!(
            out.contains(&format!("file {path} conflicts between attempted installs")),
            "{out}"
        );

        let ours = Root::new();
        let err = ours
            .install(&rpms, &RpmInstallOptions::default())
            .expect_err("a conflict");
        assert_eq!(
            err.to_string(),
            format!(
                "file {path} is in both lc-overlap-a-1.0-1.noarch and lc-overlap-b-1.0-1.noarch, and they differ in {what}; add --allow-file-conflicts to %packages to let the later one win"
            )
        );
        let left: Vec<_> = fs::read_dir(ours.path()).expect("read root").collect();
        assert!(
            left.is_empty(),
            "{path}: the root is not untouched: {left:?}"
        );
    }
}

#[test]
fn identical_files_shared_directories_and_ghosts_are_shared_as_rpm_shares_them() {
    // Same content, config and directory; the ghost and the file in the
    // directory differ per package.
    let (_built, rpms) = overlap(&[("a", &[]), ("b", &[])]);
    let theirs = Root::new();
    let (ok, out) = theirs.rpm_install(&["--test"], &rpms);
    assert!(ok, "rpm --test refused: {out}");

    let ours = Root::new();
    let installed = ours
        .install(&rpms, &RpmInstallOptions::default())
        .expect("install");
    assert!(
        installed.iter().all(|p| p.warnings.is_empty()),
        "{installed:?}"
    );
    for path in ["/usr/bin/lc-overlap", "/usr/share/lc-overlap"] {
        let (ok, owners) = ours.rpm(&["-qf", path]);
        assert!(ok, "{owners}");
        assert_eq!(
            owners.lines().collect::<Vec<_>>(),
            ["lc-overlap-a-1.0-1.noarch", "lc-overlap-b-1.0-1.noarch"],
            "{path}"
        );
    }
    let (ok, verify) = ours.rpm(&["-V", "lc-overlap-a", "lc-overlap-b"]);
    assert!(ok, "rpm -V: {verify}");
}

#[test]
fn allowed_file_conflicts_warn_and_the_later_file_wins_as_with_replacefiles() {
    let (_built, rpms) = overlap(&[
        ("a", &[("content", "from a")]),
        ("b", &[("content", "from b")]),
    ]);
    // rpm installs the two in an order of its own: its file is the one
    // of the package it installed last.
    let theirs = Root::new();
    let mut args = vec!["-ivh", "--nodeps", "--nosignature", "--replacefiles"];
    let paths: Vec<String> = rpms.iter().map(|p| p.display().to_string()).collect();
    args.extend(paths.iter().map(String::as_str));
    let (ok, out) = theirs.rpm(&args);
    assert!(ok, "rpm --replacefiles: {out}");
    let last = out
        .lines()
        .filter_map(|line| line.strip_prefix("lc-overlap-"))
        .next_back()
        .and_then(|line| line.chars().next())
        .expect("rpm's progress names the packages");

    let ours = Root::new();
    let options = RpmInstallOptions {
        file_conflicts: livecompose::install::FileConflicts::Allow,
        ..RpmInstallOptions::default()
    };
    let installed = ours.install(&rpms, &options).expect("install");
    let warnings: Vec<&String> = installed.iter().flat_map(|p| &p.warnings).collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with(
            "file /usr/bin/lc-overlap is in both lc-overlap-a-1.0-1.noarch and lc-overlap-b-1.0-1.noarch, and they differ in content; the one of lc-overlap-b-1.0-1.noarch is installed"
        ),
        "{}",
        warnings[0]
    );
    let content = |root: &Root| fs::read_to_string(root.at("usr/bin/lc-overlap")).expect("read");
    assert_eq!(content(&ours), "from b\n");
    assert_eq!(content(&theirs), format!("from {last}\n"));
}

#[test]
fn a_package_the_database_already_holds_is_checked_as_rpm_checks_it() {
    for (b_defines, refused) in [(&[("content", "SAME")][..], true), (&[][..], false)] {
        let (_built, rpms) = overlap(&[("a", &[]), ("b", b_defines)]);
        let (a, b) = (&rpms[..1], &rpms[1..]);
        let theirs = Root::new();
        let (ok, out) = theirs.rpm_install(&[], a);
        assert!(ok, "{out}");
        let (ok, out) = theirs.rpm_install(&[], b);
        assert_eq!(!ok, refused, "rpm: {out}");

        let ours = Root::new();
        ours.install(a, &RpmInstallOptions::default())
            .expect("install lc-overlap-a");
        let second = ours.install(b, &RpmInstallOptions::default());
        let (_, owners) = ours.rpm(&["-qf", "/usr/bin/lc-overlap"]);
        if refused {
            let err = second.expect_err("a conflict");
            assert_eq!(
                err.to_string(),
                "file /usr/bin/lc-overlap is in both lc-overlap-a-1.0-1.noarch and lc-overlap-b-1.0-1.noarch, and they differ in content; add --allow-file-conflicts to %packages to let the later one win"
            );
            assert_eq!(owners.trim(), "lc-overlap-a-1.0-1.noarch");
        } else {
            second.expect("install lc-overlap-b");
            assert_eq!(
                owners.lines().collect::<Vec<_>>(),
                ["lc-overlap-a-1.0-1.noarch", "lc-overlap-b-1.0-1.noarch"]
            );
        }
    }
}
