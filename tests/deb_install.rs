//! Offline tests of the install stage: packages built with the real
//! dpkg-deb, extractions compared with `dpkg-deb -x`, the database compared
//! with what real dpkg writes, and hostile packages crafted by hand.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use livecompose::install::deb::DebPackage;
use livecompose::install::{FileConflicts, RootFs, dpkg_db, unpack_deb, unpack_debs};

fn md5sum(path: &Path) -> String {
    let out = run(Command::new("md5sum").arg(path));
    out.split_whitespace()
        .next()
        .expect("md5sum output")
        .to_string()
}

/// A package tree with every kind of object dpkg-deb can put in a data
/// archive: owners, setuid/setgid/sticky, symlinks (relative, absolute,
/// dangling), a hard link, devices, a fifo, a long path, and a file large
/// enough to need several reads.
fn rich_tree(tree: &Path) {
    write_control(tree, "rich", "");
    let mk = |p: &str| fs::create_dir_all(tree.join(p)).expect("mkdir");
    mk("usr/bin");
    mk("usr/share/doc/rich");
    mk("var/tmp-sticky");
    mk("srv/setgid");
    let long_dir = "usr/share/rich/a-directory-name-that-is-long/another-long-directory-name-to-pass-100-bytes/and-more";
    mk(long_dir);
    fs::write(
        tree.join(long_dir).join("file-with-a-long-name.txt"),
        b"long\n",
    )
    .expect("write");
    fs::write(tree.join("usr/bin/tool"), b"#!/bin/sh\necho tool\n").expect("write");
    fs::set_permissions(
        tree.join("usr/bin/tool"),
        fs::Permissions::from_mode(0o4755),
    )
    .expect("chmod");
    fs::write(tree.join("usr/bin/owned"), b"owned\n").expect("write");
    std::os::unix::fs::chown(tree.join("usr/bin/owned"), Some(1234), Some(4321)).expect("chown");
    fs::set_permissions(
        tree.join("usr/bin/owned"),
        fs::Permissions::from_mode(0o2750),
    )
    .expect("chmod");
    fs::set_permissions(
        tree.join("var/tmp-sticky"),
        fs::Permissions::from_mode(0o1777),
    )
    .expect("chmod");
    fs::set_permissions(tree.join("srv/setgid"), fs::Permissions::from_mode(0o2775))
        .expect("chmod");
    std::os::unix::fs::chown(tree.join("srv/setgid"), Some(0), Some(50)).expect("chown");
    fs::write(tree.join("usr/share/doc/rich/empty"), b"").expect("write");
    let big: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    fs::write(tree.join("usr/share/rich/big.bin"), &big).expect("write");
    symlink("tool", tree.join("usr/bin/tool-rel")).expect("symlink");
    symlink("/usr/bin/tool", tree.join("usr/bin/tool-abs")).expect("symlink");
    symlink("../nowhere", tree.join("usr/bin/dangling")).expect("symlink");
    fs::hard_link(tree.join("usr/bin/tool"), tree.join("usr/bin/tool-hard")).expect("link");
    mk("dev");
    run(Command::new("mknod")
        .arg(tree.join("dev/null-like"))
        .args(["c", "1", "3"]));
    run(Command::new("mknod")
        .arg(tree.join("dev/loop-like"))
        .args(["b", "7", "0"]));
    run(Command::new("mkfifo").arg(tree.join("dev/fifo")));
}

#[test]
fn extraction_matches_dpkg_deb_for_every_compression() {
    let work = tempfile::tempdir().expect("tempdir");
    let tree = work.path().join("tree");
    rich_tree(&tree);

    for compression in ["gzip", "xz", "zstd", "none"] {
        let deb = work.path().join(format!("rich-{compression}.deb"));
        dpkg_deb_build(&tree, &deb, compression);
        let reference = work.path().join(format!("ref-{compression}"));
        dpkg_deb_extract(&deb, &reference);

        let ours = work.path().join(format!("ours-{compression}"));
        fs::create_dir(&ours).expect("mkdir");
        let root = RootFs::open(&ours).expect("open root");
        let mut package = DebPackage::open(&deb).expect("open deb");
        assert_eq!(package.name(), "rich");
        assert_eq!(package.version(), "1.0-1");
        let unpacked = package.unpack(&root).expect("unpack");

        assert_same_tree(&snapshot(&ours), &snapshot(&reference));
        assert_eq!(
            unpacked.paths,
            dpkg_deb_list(&deb),
            "{compression}: path list"
        );
        let hashed: Vec<_> = unpacked.md5.iter().map(|(p, _)| p.as_str()).collect();
        assert!(hashed.contains(&"/usr/bin/tool") && hashed.contains(&"/usr/bin/tool-hard"));
    }
}

#[test]
fn reextracting_replaces_files_and_keeps_directories() {
    let work = tempfile::tempdir().expect("tempdir");
    let tree = work.path().join("tree");
    rich_tree(&tree);
    let deb = work.path().join("rich.deb");
    dpkg_deb_build(&tree, &deb, "xz");
    let reference = work.path().join("ref");
    dpkg_deb_extract(&deb, &reference);

    let ours = work.path().join("ours");
    fs::create_dir(&ours).expect("mkdir");
    let root = RootFs::open(&ours).expect("open root");
    // Stale state a previous version could have left: a file where a
    // symlink goes, a symlink where a file goes, a file in a kept directory.
    fs::create_dir_all(ours.join("usr/bin")).expect("mkdir");
    fs::write(ours.join("usr/bin/tool-rel"), b"old file").expect("write");
    symlink("/etc/hostname", ours.join("usr/bin/tool")).expect("symlink");
    fs::write(ours.join("usr/bin/keep-me"), b"unrelated").expect("write");
    for _ in 0..2 {
        DebPackage::open(&deb)
            .expect("open")
            .unpack(&root)
            .expect("unpack");
    }
    fs::remove_file(ours.join("usr/bin/keep-me")).expect("kept file still there");
    assert_same_tree(&snapshot(&ours), &snapshot(&reference));
}

#[test]
fn merged_usr_symlinks_are_followed_inside_the_root() {
    let work = tempfile::tempdir().expect("tempdir");
    let tree = work.path().join("tree");
    write_control(&tree, "libfoo", "");
    fs::create_dir_all(tree.join("lib/x86_64-linux-gnu")).expect("mkdir");
    fs::create_dir_all(tree.join("bin")).expect("mkdir");
    fs::write(tree.join("lib/foo.so"), b"foo").expect("write");
    fs::write(tree.join("lib/x86_64-linux-gnu/libfoo.so.1"), b"libfoo").expect("write");
    fs::write(tree.join("bin/foo"), b"bin").expect("write");
    let deb = work.path().join("libfoo.deb");
    dpkg_deb_build(&tree, &deb, "xz");

    let rootdir = work.path().join("root");
    fs::create_dir_all(rootdir.join("usr/lib")).expect("mkdir");
    fs::create_dir_all(rootdir.join("usr/bin")).expect("mkdir");
    symlink("usr/lib", rootdir.join("lib")).expect("symlink");
    // An absolute target must mean the image's /usr/bin, not the host's.
    symlink("/usr/bin", rootdir.join("bin")).expect("symlink");
    let root = RootFs::open(&rootdir).expect("open");
    let installed = unpack_deb(&root, &deb).expect("unpack");

    assert_eq!(
        fs::read(rootdir.join("usr/lib/foo.so")).expect("foo.so"),
        b"foo"
    );
    assert_eq!(
        fs::read(rootdir.join("usr/lib/x86_64-linux-gnu/libfoo.so.1")).expect("libfoo"),
        b"libfoo"
    );
    assert_eq!(
        fs::read(rootdir.join("usr/bin/foo")).expect("bin/foo"),
        b"bin"
    );
    assert!(
        fs::symlink_metadata(rootdir.join("lib"))
            .expect("lib")
            .file_type()
            .is_symlink()
    );
    assert!(
        fs::symlink_metadata(rootdir.join("bin"))
            .expect("bin")
            .file_type()
            .is_symlink()
    );
    // dpkg records the paths as shipped, not as resolved.
    assert!(
        installed
            .unpacked
            .paths
            .contains(&"/lib/foo.so".to_string())
    );
}

/// dpkg --root as the oracle for the database: the same package unpacked by
/// us and by real dpkg into two roots prepared the same way must give the
/// same tree, status stanza, `.list` and `.md5sums`.
#[test]
fn database_matches_real_dpkg_unpack_and_configure() {
    let work = tempfile::tempdir().expect("tempdir");
    let tree = work.path().join("tree");
    write_control(
        &tree,
        "oracle",
        "Source: oracle-src\nSection: misc\nPriority: optional\nInstalled-Size: 12\nMulti-Arch: foreign\nProvides: oracle-virtual\nReplaces: old-oracle\nHomepage: https://example.org/oracle\nBuilt-Using: foo (= 1)\n",
    );
    fs::create_dir_all(tree.join("usr/share/oracle")).expect("mkdir");
    fs::create_dir_all(tree.join("etc/oracle")).expect("mkdir");
    fs::write(tree.join("usr/share/oracle/data"), b"data\n").expect("write");
    fs::write(tree.join("etc/oracle/oracle.conf"), b"setting = 1\n").expect("write");
    fs::write(tree.join("DEBIAN/conffiles"), b"/etc/oracle/oracle.conf\n").expect("write");
    symlink("data", tree.join("usr/share/oracle/link")).expect("symlink");
    let deb = work.path().join("oracle.deb");
    dpkg_deb_build(&tree, &deb, "xz");

    let ours = work.path().join("ours");
    let theirs = work.path().join("theirs");
    for dir in [&ours, &theirs] {
        fs::create_dir(dir).expect("mkdir");
        dpkg_db::init(&RootFs::open(dir).expect("open"), "amd64").expect("init");
    }
    let root = RootFs::open(&ours).expect("open");
    unpack_deb(&root, &deb).expect("unpack");
    run(Command::new("dpkg")
        .arg(format!("--root={}", theirs.display()))
        .arg("--unpack")
        .arg(&deb));

    let status = |dir: &Path| fs::read_to_string(dir.join("var/lib/dpkg/status")).expect("status");
    // dpkg leaves an unconfigured conffile under .dpkg-new and records
    // "newconffile"; we unpack conffiles into place and record their hash.
    assert_eq!(
        status(&ours).replace(&md5sum(&ours.join("etc/oracle/oracle.conf")), "HASH"),
        status(&theirs).replace("newconffile", "HASH"),
        "unpacked status stanza"
    );
    for info in ["oracle.list", "oracle.md5sums", "oracle.conffiles"] {
        let read =
            |dir: &Path| fs::read_to_string(dir.join("var/lib/dpkg/info").join(info)).expect(info);
        assert_eq!(read(&ours), read(&theirs), "{info}");
    }

    dpkg_db::mark_installed(&root, "oracle", None).expect("mark installed");
    run(Command::new("dpkg")
        .arg(format!("--root={}", theirs.display()))
        .arg("--configure")
        .arg("oracle"));
    assert_eq!(status(&ours), status(&theirs), "installed status stanza");
    let outside_db = |dir: &Path| {
        let mut snap = snapshot(dir);
        snap.retain(|path, _| !path.starts_with("var/lib/dpkg"));
        snap
    };
    assert_same_tree(&outside_db(&ours), &outside_db(&theirs));
}

#[test]
fn real_dpkg_reads_our_database() {
    let work = tempfile::tempdir().expect("tempdir");
    let tree = work.path().join("tree");
    write_control(&tree, "scripted", "Section: misc\nPriority: optional\n");
    fs::create_dir_all(tree.join("etc")).expect("mkdir");
    fs::create_dir_all(tree.join("usr/bin")).expect("mkdir");
    fs::write(tree.join("etc/scripted.conf"), b"x=1\n").expect("write");
    fs::write(tree.join("usr/bin/scripted"), b"#!/bin/sh\n").expect("write");
    fs::write(tree.join("DEBIAN/conffiles"), b"/etc/scripted.conf\n").expect("write");
    fs::write(
        tree.join("DEBIAN/triggers"),
        b"interest-noawait /usr/share/scripted\n",
    )
    .expect("write");
    for script in ["preinst", "postinst", "prerm", "postrm"] {
        let path = tree.join("DEBIAN").join(script);
        fs::write(&path, format!("#!/bin/sh\necho {script}\n")).expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let deb = work.path().join("scripted.deb");
    dpkg_deb_build(&tree, &deb, "gzip");

    let rootdir = work.path().join("root");
    fs::create_dir(&rootdir).expect("mkdir");
    let root = RootFs::open(&rootdir).expect("open");
    let installed = unpack_deb(&root, &deb).expect("unpack");
    assert_eq!(installed.name, "scripted");

    let info = rootdir.join("var/lib/dpkg/info");
    for script in ["preinst", "postinst", "prerm", "postrm"] {
        let path = info.join(format!("scripted.{script}"));
        assert_eq!(
            fs::read_to_string(&path).expect("script"),
            format!("#!/bin/sh\necho {script}\n")
        );
        assert_eq!(
            fs::metadata(&path).expect("stat").mode() & 0o777,
            0o755,
            "{script}"
        );
    }
    assert_eq!(
        fs::read_to_string(info.join("scripted.triggers")).expect("triggers"),
        "interest-noawait /usr/share/scripted\n"
    );

    let admindir = rootdir.join("var/lib/dpkg");
    let query = |format: &str| {
        run(Command::new("dpkg-query")
            .arg(format!("--admindir={}", admindir.display()))
            .args(["-W", "-f", format, "scripted"]))
    };
    assert_eq!(query("${db:Status-Abbrev}|${Version}"), "iU |1.0-1");
    let conffiles = query("${Conffiles}");
    let expected = format!(
        "/etc/scripted.conf {}",
        md5sum(&rootdir.join("etc/scripted.conf"))
    );
    assert!(conffiles.contains(&expected), "conffiles: {conffiles}");
    let listed = run(Command::new("dpkg")
        .arg(format!("--root={}", rootdir.display()))
        .args(["-L", "scripted"]));
    assert!(listed.lines().any(|l| l == "/usr/bin/scripted"), "{listed}");
    // --verify recomputes every file's md5 from our generated md5sums.
    run(Command::new("dpkg")
        .arg(format!("--root={}", rootdir.display()))
        .args(["--verify", "scripted"]));
    let audit = Command::new("dpkg")
        .arg(format!("--root={}", rootdir.display()))
        .arg("--audit")
        .output()
        .expect("dpkg --audit");
    assert!(
        String::from_utf8_lossy(&audit.stdout).contains("scripted"),
        "unpacked package not reported by --audit"
    );

    dpkg_db::mark_installed(&root, "scripted", None).expect("mark installed");
    assert_eq!(query("${db:Status-Abbrev}"), "ii ");
    run(Command::new("dpkg")
        .arg(format!("--root={}", rootdir.display()))
        .args(["-s", "scripted"]));
    let audit = run(Command::new("dpkg")
        .arg(format!("--root={}", rootdir.display()))
        .arg("--audit"));
    assert!(audit.trim().is_empty(), "audit after configure: {audit}");
}

// ---------------------------------------------------------------------------
// Hostile packages, crafted with raw tar headers.

/// One raw tar entry: the name and link target bytes are written into the
/// header as they are, bypassing the tar crate's own path checks.
struct Raw<'a> {
    name: &'a [u8],
    kind: tar::EntryType,
    link: &'a [u8],
    data: &'a [u8],
    mode: u32,
}

fn file<'a>(name: &'a [u8], data: &'a [u8]) -> Raw<'a> {
    Raw {
        name,
        kind: tar::EntryType::Regular,
        link: b"",
        data,
        mode: 0o644,
    }
}
fn dir(name: &[u8]) -> Raw<'_> {
    Raw {
        name,
        kind: tar::EntryType::Directory,
        link: b"",
        data: b"",
        mode: 0o755,
    }
}
fn link<'a>(name: &'a [u8], target: &'a [u8]) -> Raw<'a> {
    Raw {
        name,
        kind: tar::EntryType::Symlink,
        link: target,
        data: b"",
        mode: 0o777,
    }
}
fn hard<'a>(name: &'a [u8], target: &'a [u8]) -> Raw<'a> {
    Raw {
        name,
        kind: tar::EntryType::Link,
        link: target,
        data: b"",
        mode: 0o644,
    }
}

fn raw_tar(entries: &[Raw]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for e in entries {
        let mut header = tar::Header::new_gnu();
        {
            let old = header.as_old_mut();
            assert!(e.name.len() < old.name.len() && e.link.len() < old.linkname.len());
            old.name[..e.name.len()].copy_from_slice(e.name);
            old.linkname[..e.link.len()].copy_from_slice(e.link);
        }
        header.set_entry_type(e.kind);
        header.set_size(e.data.len() as u64);
        header.set_mode(e.mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1_700_000_000);
        header.set_cksum();
        builder.append(&header, e.data).expect("append");
    }
    builder.into_inner().expect("finish tar")
}

/// A .deb around a hand-made data.tar (uncompressed, as deb(5) allows).
fn raw_deb(path: &Path, entries: &[Raw]) {
    raw_deb_with_control(path, &[], entries)
}

/// Same, with extra control members besides `control`.
fn raw_deb_with_control(path: &Path, extra_control: &[(&str, &[u8])], entries: &[Raw]) {
    let control = {
        let mut builder = tar::Builder::new(Vec::new());
        let text: &[u8] = b"Package: hostile\nVersion: 1\nArchitecture: all\nMaintainer: T <t@example.org>\nDescription: hostile\n";
        for (name, data) in [("control", text)]
            .into_iter()
            .chain(extra_control.iter().copied())
        {
            let mut header = tar::Header::new_gnu();
            header.set_path(format!("./{name}")).expect("path");
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append(&header, data).expect("append");
        }
        builder.into_inner().expect("finish")
    };
    write_deb(path, control, "data.tar", raw_tar(entries));
}

fn write_deb(path: &Path, control: Vec<u8>, data_name: &str, data: Vec<u8>) {
    let mut ar = ar::Builder::new(fs::File::create(path).expect("create deb"));
    for (name, bytes) in [
        ("debian-binary", b"2.0\n".to_vec()),
        ("control.tar", control),
        (data_name, data),
    ] {
        let header = ar::Header::new(name.as_bytes().to_vec(), bytes.len() as u64);
        ar.append(&header, bytes.as_slice()).expect("append member");
    }
}

/// A "host" directory holding the root and sentinels beside it; every test
/// checks that nothing outside `root/` changed.
struct Host {
    dir: tempfile::TempDir,
}

impl Host {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir(dir.path().join("root")).expect("mkdir root");
        fs::create_dir(dir.path().join("etc")).expect("mkdir etc");
        fs::write(dir.path().join("etc/passwd"), b"host passwd\n").expect("sentinel");
        Host { dir }
    }
    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }
    /// The host sentinel's absolute path without its leading '/'.
    fn sentinel_rel(&self) -> String {
        self.dir
            .path()
            .join("etc/passwd")
            .to_string_lossy()
            .trim_start_matches('/')
            .to_string()
    }
    fn outside(&self) -> std::collections::BTreeMap<String, Node> {
        let mut snap = snapshot(self.dir.path());
        snap.retain(|path, _| path != "root" && !path.starts_with("root/"));
        snap
    }
    /// Unpacks a crafted package; returns the error text, if any, after
    /// asserting that the host outside the root is untouched.
    fn unpack(&self, entries: &[Raw]) -> Result<(), String> {
        let before = self.outside();
        let deb = self.dir.path().join("hostile.deb");
        raw_deb(&deb, entries);
        let root = RootFs::open(self.root()).expect("open root");
        let result = DebPackage::open(&deb)
            .expect("open hostile deb")
            .unpack(&root)
            .map(|_| ())
            .map_err(|e| e.to_string());
        fs::remove_file(&deb).expect("remove deb");
        assert_same_tree(&self.outside(), &before);
        assert_eq!(
            fs::read(self.dir.path().join("etc/passwd")).expect("sentinel"),
            b"host passwd\n"
        );
        result
    }
}

#[test]
fn hostile_dotdot_is_refused_and_names_package_and_entry() {
    for name in [&b"../escape"[..], b"./usr/../../escape", b"usr/.."] {
        let host = Host::new();
        let err = host
            .unpack(&[file(name, b"x")])
            .expect_err("'..' must be refused");
        assert!(err.contains("hostile.deb"), "{err}");
        assert!(err.contains("data.tar"), "{err}");
        assert!(err.contains(&*String::from_utf8_lossy(name)), "{err}");
        assert!(!host.dir.path().join("escape").exists());
    }
}

#[test]
fn hostile_absolute_path_lands_inside_root() {
    let host = Host::new();
    host.unpack(&[file(b"/etc/x", b"inside")])
        .expect("absolute paths are relative to the root");
    assert_eq!(
        fs::read(host.root().join("etc/x")).expect("etc/x"),
        b"inside"
    );
}

#[test]
fn hostile_symlink_to_slash_is_resolved_in_the_root() {
    let host = Host::new();
    let through = format!("evil/{}", host.sentinel_rel());
    host.unpack(&[link(b"evil", b"/"), file(through.as_bytes(), b"pwned")])
        .expect("chroot semantics keep this inside");
    assert_eq!(
        fs::read(host.root().join(host.sentinel_rel())).expect("contained"),
        b"pwned"
    );
    // The classic `evil -> /` + `evil/etc/passwd` is the case above with
    // the sentinel's full path in place of the machine's own /etc/passwd:
    // a regression in the resolver must not be able to damage the machine
    // that runs the tests.
}

#[test]
fn hostile_dotdot_symlink_is_clamped_at_the_root() {
    let host = Host::new();
    let through = format!("evil/{}", host.sentinel_rel());
    let up = b"../../../../../../../../../../../../../../../..";
    host.unpack(&[link(b"evil", up), file(through.as_bytes(), b"pwned")])
        .expect("contained");
    assert_eq!(
        fs::read(host.root().join(host.sentinel_rel())).expect("contained"),
        b"pwned"
    );
    // One level up from the root is exactly the sentinel's "host" directory.
    let host = Host::new();
    host.unpack(&[link(b"up", b".."), file(b"up/etc/passwd", b"pwned")])
        .expect("contained");
    assert_eq!(
        fs::read(host.root().join("etc/passwd")).expect("contained"),
        b"pwned"
    );
}

#[test]
fn hostile_file_over_symlink_replaces_the_link() {
    let host = Host::new();
    let sentinel = host.dir.path().join("etc/passwd");
    let target = sentinel.to_string_lossy().into_owned();
    host.unpack(&[
        link(b"passwd-link", target.as_bytes()),
        file(b"passwd-link", b"pwned"),
    ])
    .expect("replacing a symlink is allowed");
    let meta = fs::symlink_metadata(host.root().join("passwd-link")).expect("stat");
    assert!(meta.file_type().is_file());
    // A pre-existing link placed by something else is replaced too.
    let host = Host::new();
    symlink(host.dir.path().join("etc/passwd"), host.root().join("x")).expect("symlink");
    host.unpack(&[file(b"x", b"pwned")]).expect("replaced");
    assert_eq!(fs::read(host.root().join("x")).expect("x"), b"pwned");
}

#[test]
fn hostile_symlink_loops_are_errors() {
    let host = Host::new();
    let err = host
        .unpack(&[link(b"a", b"b"), link(b"b", b"a"), file(b"a/x", b"loop")])
        .expect_err("loop");
    assert!(err.contains("too many levels of symbolic links"), "{err}");
    let host = Host::new();
    let err = host
        .unpack(&[link(b"self", b"self/more"), file(b"self/x", b"loop")])
        .expect_err("self loop");
    assert!(err.contains("too many levels of symbolic links"), "{err}");
}

#[test]
fn hostile_hard_links_stay_inside() {
    let host = Host::new();
    let err = host
        .unpack(&[hard(b"h", b"../etc/passwd")])
        .expect_err("'..' in link");
    assert!(err.contains("'..'"), "{err}");
    let through = format!("evil/{}", host.sentinel_rel());
    // Through a symlink to "/": resolved in the root, where nothing is.
    let host = Host::new();
    assert!(
        host.unpack(&[link(b"evil", b"/"), hard(b"h", through.as_bytes())])
            .is_err()
    );
    assert_eq!(
        fs::metadata(host.dir.path().join("etc/passwd"))
            .expect("stat")
            .nlink(),
        1
    );
}

#[test]
fn hostile_directory_through_symlink_to_host_dir_stays_inside() {
    // The link's target does not exist inside the root: a directory entry
    // through it is refused rather than created on the host.
    let host = Host::new();
    let host_etc = host.dir.path().join("etc").to_string_lossy().into_owned();
    let err = host
        .unpack(&[
            link(b"d", host_etc.as_bytes()),
            dir(b"d/"),
            file(b"d/f", b"x"),
        ])
        .expect_err("dangling link where a directory is expected");
    assert!(err.contains("not a directory"), "{err}");
    // Once the target exists inside the root, everything lands there.
    let host = Host::new();
    let inside = format!("{}/", host_etc.trim_start_matches('/'));
    host.unpack(&[
        dir(inside.as_bytes()),
        link(b"d", host_etc.as_bytes()),
        dir(b"d/"),
        dir(b"d/sub"),
        file(b"d/sub/f", b"x"),
    ])
    .expect("contained");
    assert!(host.root().join(&inside).join("sub/f").exists());
}

#[test]
fn wrong_format_version_is_refused() {
    let work = tempfile::tempdir().expect("tempdir");
    let deb = work.path().join("v3.deb");
    let mut ar = ar::Builder::new(fs::File::create(&deb).expect("create"));
    ar.append(
        &ar::Header::new(b"debian-binary".to_vec(), 4),
        &b"3.0\n"[..],
    )
    .expect("append");
    drop(ar);
    let err = DebPackage::open(&deb).expect_err("3.0 refused").to_string();
    assert!(err.contains("v3.deb") && err.contains("3.0"), "{err}");
}

#[test]
fn control_members_cannot_clobber_database_files() {
    let work = tempfile::tempdir().expect("tempdir");
    for bad in ["list", ".hidden", "a b"] {
        let deb = work.path().join("bad-control.deb");
        raw_deb_with_control(&deb, &[(bad, b"/etc/passwd\n")], &[file(b"x", b"x")]);
        let err = DebPackage::open(&deb).expect_err(bad).to_string();
        assert!(
            err.contains("bad-control.deb") && err.contains("control.tar"),
            "{err}"
        );
    }
}

fn versioned_tree(tree: &Path, version: &str, postinst: bool) {
    fs::create_dir_all(tree.join("DEBIAN")).expect("mkdir");
    fs::create_dir_all(tree.join("usr/share/up")).expect("mkdir");
    fs::write(
        tree.join("DEBIAN/control"),
        format!("Package: up\nVersion: {version}\nArchitecture: all\nMaintainer: T <t@example.org>\nDescription: up\n"),
    )
    .expect("control");
    fs::write(tree.join(format!("usr/share/up/{version}")), version).expect("write");
    if postinst {
        let path = tree.join("DEBIAN/postinst");
        fs::write(&path, "#!/bin/sh\n").expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
    }
}

#[test]
fn upgrade_replaces_the_status_stanza_and_stale_scripts() {
    let work = tempfile::tempdir().expect("tempdir");
    let rootdir = work.path().join("root");
    fs::create_dir(&rootdir).expect("mkdir");
    let root = RootFs::open(&rootdir).expect("open");
    for (version, postinst) in [("1", true), ("2", false)] {
        let tree = work.path().join(format!("tree-{version}"));
        versioned_tree(&tree, version, postinst);
        let deb = work.path().join(format!("up-{version}.deb"));
        dpkg_deb_build(&tree, &deb, "xz");
        unpack_deb(&root, &deb).expect("unpack");
        dpkg_db::mark_installed(&root, "up", None).expect("mark");
    }
    let status = fs::read_to_string(rootdir.join("var/lib/dpkg/status")).expect("status");
    assert_eq!(status.matches("Package: up\n").count(), 1, "{status}");
    assert!(status.contains("Version: 2\n"), "{status}");
    let info = rootdir.join("var/lib/dpkg/info");
    assert!(!info.join("up.postinst").exists(), "stale postinst kept");
    let list = fs::read_to_string(info.join("up.list")).expect("list");
    assert!(list.contains("/usr/share/up/2\n") && !list.contains("/usr/share/up/1\n"));
    let shown = run(Command::new("dpkg-query")
        .arg(format!(
            "--admindir={}",
            rootdir.join("var/lib/dpkg").display()
        ))
        .args(["-W", "-f", "${Version} ${db:Status-Abbrev}", "up"]));
    assert_eq!(shown, "2 ii ");
    assert!(matches!(
        dpkg_db::mark_installed(&root, "not-there", None),
        Err(livecompose::install::DbError::NoSuchPackage { .. })
    ));
    // The arch file names the native architecture only when init says so,
    // never a package's "all".
    assert!(!rootdir.join("var/lib/dpkg/arch").exists());
}

/// dpkg-deb no longer builds bzip2 packages but still reads them; so do we.
#[test]
fn bzip2_data_member_matches_dpkg_deb() {
    use std::io::Write;
    let work = tempfile::tempdir().expect("tempdir");
    let control = {
        let mut builder = tar::Builder::new(Vec::new());
        let text: &[u8] = b"Package: bz\nVersion: 1\nArchitecture: all\nMaintainer: T <t@example.org>\nDescription: bz\n";
        let mut header = tar::Header::new_gnu();
        header.set_path("./control").expect("path");
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append(&header, text).expect("append");
        builder.into_inner().expect("finish")
    };
    let tar = raw_tar(&[
        dir(b"./"),
        dir(b"./usr/"),
        file(b"./usr/bz", b"bzip2 payload\n"),
        link(b"./usr/bz-link", b"bz"),
    ]);
    let mut encoder = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
    encoder.write_all(&tar).expect("compress");
    let deb = work.path().join("bz.deb");
    write_deb(
        &deb,
        control,
        "data.tar.bz2",
        encoder.finish().expect("finish"),
    );

    let reference = work.path().join("ref");
    dpkg_deb_extract(&deb, &reference);
    let ours = work.path().join("ours");
    fs::create_dir(&ours).expect("mkdir");
    DebPackage::open(&deb)
        .expect("open")
        .unpack(&RootFs::open(&ours).expect("root"))
        .expect("unpack");
    assert_same_tree(&snapshot(&ours), &snapshot(&reference));
}

// ---------------------------------------------------------------------------
// File conflicts: packages that ship the same paths, unpacked by us and by
// the real `dpkg --unpack` of the same files in the same order.

/// Builds `name` for `arch` shipping `files` (a path ending in `/` is a
/// directory, data `-> TARGET` a symlink) with `extra` control fields.
fn sharing_deb(
    work: &Path,
    name: &str,
    arch: &str,
    extra: &str,
    files: &[(&str, &str)],
) -> PathBuf {
    let tree = work.join(format!("tree-{name}-{arch}"));
    fs::create_dir_all(tree.join("DEBIAN")).expect("mkdir");
    fs::write(
        tree.join("DEBIAN/control"),
        format!(
            "Package: {name}\nVersion: 1.0-1\nArchitecture: {arch}\nMaintainer: Test <test@example.org>\n{extra}Description: test package\n for the file-conflict tests\n"
        ),
    )
    .expect("write control");
    for (path, data) in files {
        let at = tree.join(path);
        if path.ends_with('/') {
            fs::create_dir_all(&at).expect("mkdir");
        } else {
            fs::create_dir_all(at.parent().expect("parent")).expect("mkdir");
            match data.strip_prefix("-> ") {
                Some(target) => symlink(target, &at).expect("symlink"),
                None => fs::write(&at, data).expect("write"),
            }
        }
    }
    let deb = work.join(format!("{name}_{arch}.deb"));
    dpkg_deb_build(&tree, &deb, "gzip");
    deb
}

/// Two empty roots with a dpkg database that knows amd64 and i386: ours and
/// real dpkg's.
fn sharing_roots(work: &Path) -> (PathBuf, PathBuf) {
    let ours = work.join("ours");
    let theirs = work.join("theirs");
    for dir in [&ours, &theirs] {
        fs::create_dir(dir).expect("mkdir");
        dpkg_db::init(&RootFs::open(dir).expect("open"), "amd64").expect("init");
    }
    // Both: the architecture table changes the order `dpkg -S` lists
    // owners in.
    for dir in [&ours, &theirs] {
        run(Command::new("dpkg")
            .arg(format!("--root={}", dir.display()))
            .args(["--add-architecture", "i386"]));
    }
    (ours, theirs)
}

/// Real dpkg unpacks `debs` in one run: whether it succeeded, and its
/// output.
fn real_unpack(root: &Path, options: &[&str], debs: &[&Path]) -> (bool, String) {
    let out = Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        .args(options)
        .arg("--unpack")
        .args(debs)
        .output()
        .expect("dpkg");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// Real dpkg refuses to unpack `debs`, saying `dpkg_says`; so do we, with
/// the root left as it was. Returns our error's message.
fn both_refuse(work: &Path, debs: &[&Path], dpkg_says: &str) -> String {
    let (ours, theirs) = sharing_roots(work);
    let (ok, out) = real_unpack(&theirs, &[], debs);
    assert!(!ok, "dpkg accepted it: {out}");
    assert!(out.contains(dpkg_says), "{out}");

    let before = snapshot(&ours);
    let root = RootFs::open(&ours).expect("open");
    let err = unpack_debs(&root, debs, FileConflicts::Refuse).expect_err("a conflict");
    // Not even the first package was unpacked.
    assert_eq!(snapshot(&ours), before);
    err.to_string()
}

/// The owners of `path` by `dpkg -S` in `root`, sorted: dpkg lists them in
/// the order of its package table, which depends on more than the
/// packages (the architectures it knows, its journal).
fn owners(root: &Path, path: &str) -> Vec<String> {
    let out = run(Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        .args(["-S", path]));
    let listed = out
        .trim()
        .strip_suffix(&format!(": {path}"))
        .unwrap_or_else(|| panic!("dpkg -S {path}: {out}"));
    let mut names: Vec<String> = listed.split(", ").map(str::to_owned).collect();
    names.sort();
    names
}

#[test]
fn a_file_of_two_packages_without_replaces_is_refused_as_dpkg_refuses_it() {
    // Identical content does not help: dpkg wants Replaces.
    for b_content in ["b\n", "a\n"] {
        let work = tempfile::tempdir().expect("tempdir");
        let a = sharing_deb(work.path(), "foo-a", "all", "", &[("usr/bin/x", "a\n")]);
        let b = sharing_deb(work.path(), "foo-b", "all", "", &[("usr/bin/x", b_content)]);
        let err = both_refuse(
            work.path(),
            &[&a, &b],
            "trying to overwrite '/usr/bin/x', which is also in package foo-a",
        );
        assert_eq!(
            err,
            "file /usr/bin/x is in both foo-a 1.0-1 and foo-b 1.0-1, and foo-b does not declare Replaces: foo-a; add --allow-file-conflicts to %packages to let the later one win"
        );
    }
}

#[test]
fn replaces_moves_the_file_to_the_replacing_package_as_dpkg_does() {
    // The later package replaces the earlier one, then the earlier one
    // replaces the later (dpkg keeps the installed file and leaves the new
    // one out).
    let cases = [
        ("", "Replaces: foo-a (<< 1.0-2)\n", "foo-b", "b\n"),
        ("Replaces: foo-b\n", "", "foo-a", "a\n"),
    ];
    for (a_extra, b_extra, winner, content) in cases {
        let work = tempfile::tempdir().expect("tempdir");
        // Each keeps a file of its own: dpkg drops a package whose every
        // file was replaced from its database.
        let files = |name: &'static str, data: &'static str| {
            [("usr/bin/x", data), ("usr/share/doc/", ""), (name, data)]
        };
        let a = sharing_deb(
            work.path(),
            "foo-a",
            "all",
            a_extra,
            &files("usr/share/a", "a\n"),
        );
        let b = sharing_deb(
            work.path(),
            "foo-b",
            "all",
            b_extra,
            &files("usr/share/b", "b\n"),
        );
        let (ours, theirs) = sharing_roots(work.path());
        let (ok, out) = real_unpack(&theirs, &[], &[&a, &b]);
        assert!(ok, "dpkg refused: {out}");

        let root = RootFs::open(&ours).expect("open");
        let done = unpack_debs(&root, &[&a, &b], FileConflicts::Refuse).expect("unpack");
        assert!(done.warnings.is_empty(), "{:?}", done.warnings);
        for dir in [&ours, &theirs] {
            assert_eq!(owners(dir, "/usr/bin/x"), [winner]);
            assert_eq!(
                fs::read_to_string(dir.join("usr/bin/x")).expect("read"),
                content
            );
        }
        for list in ["foo-a.list", "foo-b.list"] {
            let read = |dir: &Path| {
                fs::read_to_string(dir.join("var/lib/dpkg/info").join(list)).expect(list)
            };
            assert_eq!(read(&ours), read(&theirs), "{winner}: {list}");
        }
        for package in ["foo-a", "foo-b"] {
            dpkg_db::mark_installed(&root, package, None).expect("mark installed");
        }
        let audit = run(Command::new("dpkg")
            .arg(format!("--root={}", ours.display()))
            .arg("--audit"));
        assert!(audit.trim().is_empty(), "audit: {audit}");
    }
}

#[test]
fn shared_directories_and_identical_multi_arch_same_files_are_shared_as_dpkg_shares_them() {
    let work = tempfile::tempdir().expect("tempdir");
    let ma = "Multi-Arch: same\n";
    let debs = [
        sharing_deb(
            work.path(),
            "foo-a",
            "all",
            "",
            &[("usr/share/shared/a", "a\n")],
        ),
        sharing_deb(
            work.path(),
            "foo-b",
            "all",
            "",
            &[("usr/share/shared/b", "b\n")],
        ),
        // A directory where an earlier package has a link to one: dpkg
        // unpacks through the link.
        sharing_deb(
            work.path(),
            "link-a",
            "all",
            "",
            &[
                ("usr/share/real/", ""),
                ("usr/lib/alias", "-> ../share/real"),
            ],
        ),
        sharing_deb(
            work.path(),
            "link-b",
            "all",
            "",
            &[("usr/lib/alias/file", "b\n")],
        ),
        sharing_deb(
            work.path(),
            "libx",
            "amd64",
            ma,
            &[("usr/share/libx/data", "same\n")],
        ),
        sharing_deb(
            work.path(),
            "libx",
            "i386",
            ma,
            &[("usr/share/libx/data", "same\n")],
        ),
    ];
    let debs: Vec<&Path> = debs.iter().map(PathBuf::as_path).collect();
    let (ours, theirs) = sharing_roots(work.path());
    let (ok, out) = real_unpack(&theirs, &[], &debs);
    assert!(ok, "dpkg refused: {out}");

    let root = RootFs::open(&ours).expect("open");
    unpack_debs(&root, &debs, FileConflicts::Refuse).expect("unpack");
    for path in [
        "/usr/share/shared",
        "/usr/share/libx/data",
        "/usr/lib/alias",
        "/usr/lib/alias/file",
    ] {
        assert_eq!(owners(&ours, path), owners(&theirs, path), "{path}");
    }
    for dir in [&ours, &theirs] {
        let file = fs::read_to_string(dir.join("usr/share/real/file")).expect("through the link");
        assert_eq!(file, "b\n");
    }
    assert_eq!(owners(&ours, "/usr/share/shared"), ["foo-a", "foo-b"]);
    assert_eq!(owners(&ours, "/usr/lib/alias"), ["link-a", "link-b"]);
}

#[test]
fn multi_arch_same_instances_that_ship_a_file_differently_are_refused_as_dpkg_refuses_them() {
    let work = tempfile::tempdir().expect("tempdir");
    let ma = "Multi-Arch: same\n";
    let amd64 = sharing_deb(
        work.path(),
        "libx",
        "amd64",
        ma,
        &[("usr/share/libx/data", "64\n")],
    );
    let i386 = sharing_deb(
        work.path(),
        "libx",
        "i386",
        ma,
        &[("usr/share/libx/data", "32\n")],
    );
    let err = both_refuse(
        work.path(),
        &[&amd64, &i386],
        "trying to overwrite shared '/usr/share/libx/data'",
    );
    assert!(
        err.starts_with(
            "file /usr/share/libx/data is in both libx:amd64 1.0-1 and libx:i386 1.0-1, instances of one Multi-Arch: same package"
        ),
        "{err}"
    );
}

#[test]
fn allowed_file_conflicts_warn_and_the_later_file_wins_as_with_force_overwrite() {
    let work = tempfile::tempdir().expect("tempdir");
    let a = sharing_deb(work.path(), "foo-a", "all", "", &[("usr/bin/x", "a\n")]);
    let b = sharing_deb(work.path(), "foo-b", "all", "", &[("usr/bin/x", "b\n")]);
    let (ours, theirs) = sharing_roots(work.path());
    let (ok, out) = real_unpack(&theirs, &["--force-overwrite"], &[&a, &b]);
    assert!(ok, "dpkg --force-overwrite: {out}");

    let root = RootFs::open(&ours).expect("open");
    let done = unpack_debs(&root, &[&a, &b], FileConflicts::Allow).expect("unpack");
    assert_eq!(
        done.warnings,
        [
            "file /usr/bin/x is in both foo-a 1.0-1 and foo-b 1.0-1, and foo-b does not declare Replaces: foo-a; the one of foo-b 1.0-1 is installed (--allow-file-conflicts)"
        ]
    );
    for dir in [&ours, &theirs] {
        assert_eq!(
            fs::read_to_string(dir.join("usr/bin/x")).expect("read"),
            "b\n"
        );
    }
    assert_eq!(owners(&ours, "/usr/bin/x"), owners(&theirs, "/usr/bin/x"));
}

#[test]
fn a_conflict_with_a_diverting_package_passes_once_the_path_is_diverted() {
    let work = tempfile::tempdir().expect("tempdir");
    let a = sharing_deb(work.path(), "foo-a", "all", "", &[("usr/bin/x", "a\n")]);
    // Only the mention of dpkg-divert matters; the diversion itself is
    // registered by hand below, as the preinst would have.
    let tree = work.path().join("tree-foo-a-all");
    let preinst = tree.join("DEBIAN/preinst");
    fs::write(
        &preinst,
        "#!/bin/sh\n# dpkg-divert is run by hand in the test\nexit 0\n",
    )
    .expect("write");
    fs::set_permissions(&preinst, fs::Permissions::from_mode(0o755)).expect("chmod");
    dpkg_deb_build(&tree, &a, "gzip");
    let b = sharing_deb(work.path(), "foo-b", "all", "", &[("usr/bin/x", "b\n")]);

    // Not diverted: refused when foo-b's turn comes.
    let (ours, theirs) = sharing_roots(work.path());
    let root = RootFs::open(&ours).expect("open");
    let err = unpack_debs(&root, &[&a, &b], FileConflicts::Refuse).expect_err("a conflict");
    assert!(
        err.to_string()
            .starts_with("file /usr/bin/x is in both foo-a 1.0-1 and foo-b 1.0-1"),
        "{err}"
    );
    assert!(!ours.join("var/lib/dpkg/info/foo-b.list").exists());

    // Diverted by foo-a: foo-b's file goes to the diverted name.
    fs::remove_dir_all(&ours).expect("clean");
    fs::remove_dir_all(&theirs).expect("clean");
    let (ours, theirs) = sharing_roots(work.path());
    for dir in [&ours, &theirs] {
        run(Command::new("dpkg-divert")
            .arg(format!("--root={}", dir.display()))
            .args([
                "--package",
                "foo-a",
                "--divert",
                "/usr/bin/x.distrib",
                "--no-rename",
            ])
            .args(["--add", "/usr/bin/x"]));
    }
    let (ok, out) = real_unpack(&theirs, &["--force-script-chrootless"], &[&a, &b]);
    assert!(ok, "dpkg refused: {out}");
    let root = RootFs::open(&ours).expect("open");
    unpack_debs(&root, &[&a, &b], FileConflicts::Refuse).expect("unpack");
    for dir in [&ours, &theirs] {
        let read = |path: &str| fs::read_to_string(dir.join(path)).expect(path);
        assert_eq!(read("usr/bin/x"), "a\n");
        assert_eq!(read("usr/bin/x.distrib"), "b\n");
    }
}

#[test]
fn a_package_the_root_already_holds_is_checked_as_dpkg_checks_it() {
    for (b_extra, refused) in [("", true), ("Replaces: foo-a\n", false)] {
        let work = tempfile::tempdir().expect("tempdir");
        let a = sharing_deb(
            work.path(),
            "foo-a",
            "all",
            "",
            &[("usr/bin/x", "a\n"), ("usr/share/a", "a\n")],
        );
        let b = sharing_deb(
            work.path(),
            "foo-b",
            "all",
            b_extra,
            &[("usr/bin/x", "b\n")],
        );
        let (ours, theirs) = sharing_roots(work.path());
        let (ok, out) = real_unpack(&theirs, &[], &[&a]);
        assert!(ok, "{out}");
        let (ok, out) = real_unpack(&theirs, &[], &[&b]);
        assert_eq!(!ok, refused, "dpkg: {out}");

        let root = RootFs::open(&ours).expect("open");
        unpack_debs(&root, &[&a], FileConflicts::Refuse).expect("unpack foo-a");
        let second = unpack_debs(&root, &[&b], FileConflicts::Refuse);
        if refused {
            let err = second.expect_err("a conflict");
            assert!(
                err.to_string()
                    .starts_with("file /usr/bin/x is in both foo-a 1.0-1 and foo-b 1.0-1"),
                "{err}"
            );
            assert!(!ours.join("var/lib/dpkg/info/foo-b.list").exists());
        } else {
            second.expect("unpack foo-b");
            assert_eq!(owners(&ours, "/usr/bin/x"), ["foo-b"]);
        }
        for list in ["foo-a.list", "foo-b.list"] {
            let read =
                |dir: &Path| fs::read_to_string(dir.join("var/lib/dpkg/info").join(list)).ok();
            assert_eq!(read(&ours), read(&theirs), "{b_extra:?}: {list}");
        }
        assert_eq!(
            fs::read_to_string(ours.join("usr/bin/x")).expect("read"),
            fs::read_to_string(theirs.join("usr/bin/x")).expect("read")
        );
    }
}
