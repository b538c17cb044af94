//! `livecompose audit` as a user runs it: each problem planted alone in a
//! clean root is found with its kind and path, and nothing else; the same
//! tree packed by mksquashfs, by our own writer and into a live ISO gives
//! the same findings; `--json` lists what the lines say; an image we
//! cannot read exits 2.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{PermissionsExt as _, symlink};
use std::path::Path;
use std::process::Command;

use common::{livecompose, require, rpmrepo, text};
use livecompose::install::RootFs;
use livecompose::install::rpm::{self, RpmInstallOptions};

/// Exit codes: the image failed the audit; it could not be read.
const FINDINGS: i32 = 3;
const BAD_INPUT: i32 = 2;

fn write(root: &Path, path: &str, body: &str, mode: u32) {
    let file = root.join(path);
    fs::create_dir_all(file.parent().expect("parent")).expect("dirs");
    fs::write(&file, body).expect("write");
    fs::set_permissions(&file, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A root as a clean template has it, with the things that look like
/// problems and are not: a locked root, an empty machine id and D-Bus's
/// link to it, a setuid program dpkg lists as /bin/su on a merged-/usr root,
/// a sticky /tmp with a world-writable file in it, dpkg's log, apt's lock,
/// a user's .ssh without authorized_keys.
fn clean_root(root: &Path) {
    write(
        root,
        "etc/shadow",
        "root:*:19000:0:99999:7:::\nadmin:!:19000::::::\n",
        0o640,
    );
    write(root, "etc/machine-id", "", 0o444);
    fs::create_dir_all(root.join("var/lib/dbus")).expect("dbus");
    symlink("/etc/machine-id", root.join("var/lib/dbus/machine-id")).expect("link");
    write(
        root,
        "etc/ssh/sshd_config",
        "PasswordAuthentication no\n",
        0o644,
    );
    write(root, "usr/bin/su", "su", 0o4755);
    symlink("usr/bin", root.join("bin")).expect("bin link");
    write(
        root,
        "var/lib/dpkg/info/util-linux.list",
        "/.\n/bin\n/bin/su\n",
        0o644,
    );
    write(root, "tmp/scratch", "", 0o666);
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777)).expect("tmp");
    write(root, "var/log/dpkg.log", "2026-01-01 install su\n", 0o644);
    write(root, "var/lib/apt/lists/lock", "", 0o640);
    write(root, "home/admin/.ssh/known_hosts", "", 0o600);
}

/// One problem a line: the kind it is found as, the file planted (a
/// directory when the path ends in `/`), its mode and body (`-`: none),
/// and the path it is found at when that is not the planted one.
const PROBLEMS: &str = "
ssh-host-key     etc/ssh/ssh_host_ed25519_key                    0600  KEY
machine-id       etc/machine-id                                  0444  0123456789abcdef
root-password    etc/shadow                                      0640  root:$6$salt$hash:19000::::::
root-password    etc/shadow                                      0640  root::19000::::::
cloud-init-state var/lib/cloud/instances/iid-build/boot-finished 0644  1    /var/lib/cloud/instances
authorized-keys  root/.ssh/authorized_keys                       0600  ssh-ed25519-AAAA
authorized-keys  home/admin/.ssh/authorized_keys                 0600  ssh-ed25519-AAAA
package-cache    var/cache/apt/archives/su_1_amd64.deb           0644  !<arch>  /var/cache/apt/archives
package-cache    var/lib/apt/lists/deb_dists_bookworm_InRelease  0644  x    /var/lib/apt/lists
build-log        root/anaconda-ks.cfg                            0600  rootpw
world-writable   etc/motd                                        0666  hi
world-writable   srv/drop/                                       0777  -
unowned-setuid   usr/local/bin/rootshell                         4755  sh
unowned-setuid   usr/bin/grp                                     2755  sh
";

/// Plants each of [`PROBLEMS`] in turn, with `before` run first each time;
/// `check` gets the planted line and the (kind, path) it must be found as.
fn each_problem(
    mut before: impl FnMut(),
    root: &Path,
    mut check: impl FnMut(&str, (String, String)),
) {
    for line in PROBLEMS.lines().filter(|line| !line.trim().is_empty()) {
        before();
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [kind, path, mode, body, found @ ..] = fields.as_slice() else {
            panic!("a broken line in PROBLEMS: {line}");
        };
        let mode = u32::from_str_radix(mode, 8).expect("octal mode");
        if let Some(dir) = path.strip_suffix('/') {
            fs::create_dir_all(root.join(dir)).expect("dir");
            fs::set_permissions(root.join(dir), fs::Permissions::from_mode(mode)).expect("chmod");
        } else {
            write(root, path, body, mode);
        }
        let found = found.first().map_or_else(
            || format!("/{}", path.trim_end_matches('/')),
            |p| (*p).to_owned(),
        );
        check(line, ((*kind).to_owned(), found));
    }
}

/// The findings of `--json`, as (kind, path), checking the run's status.
fn audit_json(image: &Path, extra: &[&str], code: i32) -> BTreeSet<(String, String)> {
    let mut args = vec!["audit", image.to_str().expect("utf-8"), "--json"];
    args.extend(extra);
    let out = livecompose(&args);
    assert_eq!(out.status.code(), Some(code), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json is JSON");
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().expect("kind").to_owned(),
                f["path"].as_str().expect("path").to_owned(),
            )
        })
        .collect()
}

fn set(pairs: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    pairs
        .iter()
        .map(|(k, p)| ((*k).to_owned(), (*p).to_owned()))
        .collect()
}

#[test]
fn a_clean_root_passes() {
    let work = tempfile::tempdir().expect("tempdir");
    clean_root(work.path());
    let out = livecompose(&["audit", work.path().to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
    assert!(
        text(&out.stderr).ends_with(": nothing to report\n"),
        "{}",
        text(&out.stderr)
    );
    assert!(audit_json(work.path(), &[], 0).is_empty());
}

#[test]
fn each_problem_is_found_alone_with_its_kind_and_path() {
    let work = tempfile::tempdir().expect("tempdir");
    let root = work.path().join("root");
    let fresh = || {
        if root.exists() {
            fs::remove_dir_all(&root).expect("rm");
        }
        clean_root(&root);
    };
    each_problem(fresh, &root, |what, (kind, path)| {
        assert_eq!(
            audit_json(&root, &[], FINDINGS),
            set(&[(kind.as_str(), path.as_str())]),
            "{what}"
        );
        // The line a person reads names the same.
        let out = livecompose(&["audit", root.to_str().expect("utf-8")]);
        assert_eq!(out.status.code(), Some(FINDINGS), "{what}");
        assert!(
            text(&out.stdout).starts_with(&format!("{kind}: {path}: ")),
            "{what}: {}",
            text(&out.stdout)
        );
    });
}

#[test]
fn what_the_kickstart_asked_for_can_be_allowed() {
    let work = tempfile::tempdir().expect("tempdir");
    clean_root(work.path());
    write(
        work.path(),
        "etc/shadow",
        "root:$6$s$h:19000::::::\n",
        0o640,
    );
    write(
        work.path(),
        "root/.ssh/authorized_keys",
        "ssh-ed25519 AAAA x",
        0o600,
    );
    let both = ["--allow-root-password", "--allow-authorized-keys"];
    assert!(audit_json(work.path(), &both, 0).is_empty());
    assert_eq!(
        audit_json(work.path(), &both[..1], FINDINGS),
        set(&[("authorized-keys", "/root/.ssh/authorized_keys")])
    );
}

/// Every problem at once, in a root that also holds what is not one.
fn dirty_root(root: &Path) -> BTreeSet<(String, String)> {
    clean_root(root);
    let mut expected = BTreeSet::new();
    each_problem(
        || (),
        root,
        |_, found| {
            expected.insert(found);
        },
    );
    // Both shadow variants were planted, as one finding: the last one wins.
    assert_eq!(expected.len(), 13, "every line of PROBLEMS planted");
    expected
}

#[test]
fn squashfs_and_live_iso_images_give_the_same_findings_as_the_directory() {
    require("mksquashfs", "squashfs-tools");
    require("xorriso", "xorriso");
    let work = tempfile::tempdir().expect("tempdir");
    let root = work.path().join("root");
    let expected = dirty_root(&root);
    assert_eq!(audit_json(&root, &[], FINDINGS), expected, "directory");

    let theirs = work.path().join("theirs.squashfs");
    let status = Command::new("mksquashfs")
        .args([&root, &theirs])
        .args(["-noappend", "-quiet", "-no-progress"])
        .status()
        .expect("mksquashfs runs");
    assert!(status.success());
    assert_eq!(audit_json(&theirs, &[], FINDINGS), expected, "mksquashfs");

    let ours = work.path().join("ours.squashfs");
    let out = livecompose(&[
        "squashfs",
        root.to_str().expect("utf-8"),
        ours.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(audit_json(&ours, &[], FINDINGS), expected, "our squashfs");

    // A live ISO as livecompose lays it out, with other files around it.
    let iso_tree = work.path().join("iso");
    fs::create_dir_all(iso_tree.join("live")).expect("live");
    fs::create_dir_all(iso_tree.join("boot/grub")).expect("boot");
    fs::write(iso_tree.join("live/vmlinuz"), "kernel").expect("kernel");
    fs::write(iso_tree.join("boot/grub/grub.cfg"), "menuentry").expect("grub");
    fs::copy(&ours, iso_tree.join("live/filesystem.squashfs")).expect("copy");
    // Rock Ridge names (ours and xorriso's), with Joliet beside them, and
    // plain ISO 9660 level 3 names (`FILESYSTEM.SQUASHFS;1`).
    for (name, extra) in [
        ("rr.iso", &["-R"][..]),
        ("joliet.iso", &["-R", "-J"][..]),
        ("plain.iso", &["-iso-level", "3"][..]),
    ] {
        let iso = work.path().join(name);
        xorriso(&iso_tree, &iso, extra);
        assert_eq!(audit_json(&iso, &[], FINDINGS), expected, "{name}");
    }

    // An ISO without a live root is no live ISO.
    fs::remove_file(iso_tree.join("live/filesystem.squashfs")).expect("rm");
    let empty = work.path().join("empty.iso");
    xorriso(&iso_tree, &empty, &["-R"]);
    refused(&empty, "no /live/filesystem.squashfs");
}

/// The ext4 root of disks as livecompose writes them (mke2fs -d, then our
/// reader): a bare file system, a GPT disk with an ESP before the root, and
/// that disk as qcow2. A directory big enough for an htree index hides one
/// problem at its end; a symlink too long for its inode leads dpkg's path
/// to a setuid file it owns.
#[test]
fn raw_and_qcow2_disks_give_the_same_findings_as_the_directory() {
    require("mke2fs", "e2fsprogs");
    require("sfdisk", "fdisk");
    require("qemu-img", "qemu-utils");
    let work = tempfile::tempdir().expect("tempdir");
    let root = work.path().join("root");
    let mut expected = dirty_root(&root);
    for i in 0..3000 {
        write(&root, &format!("usr/share/many/file-{i:04}"), "", 0o644);
    }
    write(&root, "usr/share/many/zz-last", "open", 0o666);
    expected.insert(("world-writable".into(), "/usr/share/many/zz-last".into()));
    let long = "usr/lib/a-directory-name-long-enough/to-need/a-block-of-its-own/bin";
    write(&root, &format!("{long}/helper"), "x", 0o4755);
    symlink(format!("/{long}"), root.join("opt-tools")).expect("long link");
    write(
        &root,
        "var/lib/dpkg/info/helper.list",
        "/opt-tools/helper\n",
        0o644,
    );
    assert_eq!(audit_json(&root, &[], FINDINGS), expected, "directory");

    let bare = work.path().join("root.ext4");
    mke2fs(&root, &bare, &[], "64M");
    assert_eq!(audit_json(&bare, &[], FINDINGS), expected, "bare ext4");

    let disk = work.path().join("disk.raw");
    gpt_disk(
        &disk,
        96 << 20,
        &format!("start=2048, size=20480, type={ESP}\nstart=22528, size=153600, type={ROOT}\n"),
    );
    mke2fs(
        &root,
        &disk,
        &["-E", &format!("offset={}", 22528 * 512)],
        "75M",
    );
    assert_eq!(audit_json(&disk, &[], FINDINGS), expected, "GPT disk");

    let qcow2 = work.path().join("disk.qcow2");
    qemu_img_convert(&disk, &qcow2);
    assert_eq!(audit_json(&qcow2, &[], FINDINGS), expected, "qcow2 disk");
}

/// GPT partition types: the ESP, a Linux root (x86-64) and a Linux `/var`.
const ESP: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
const ROOT: &str = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709";
const VAR: &str = "4D21B016-B534-45C2-A9FB-5C16E091FD2D";

/// An ext4 file system of `tree` made by mke2fs in `image` (`extra`: where
/// on a disk, its UUID...).
fn mke2fs(tree: &Path, image: &Path, extra: &[&str], size: &str) {
    let out = Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-d"])
        .arg(tree)
        .args(extra)
        .arg(image)
        .arg(size)
        .output()
        .expect("mke2fs runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// A sparse disk of `size` bytes partitioned by sfdisk with `partitions`
/// (its script lines) under a GPT label.
fn gpt_disk(disk: &Path, size: u64, partitions: &str) {
    fs::File::create(disk)
        .and_then(|file| file.set_len(size))
        .expect("disk");
    let mut sfdisk = Command::new("sfdisk")
        .args(["-q", disk.to_str().expect("utf-8")])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("sfdisk runs");
    std::io::Write::write_all(
        sfdisk.stdin.as_mut().expect("stdin"),
        format!("label: gpt\n{partitions}").as_bytes(),
    )
    .expect("table");
    assert!(sfdisk.wait().expect("sfdisk").success());
}

fn qemu_img_convert(raw: &Path, qcow2: &Path) {
    let out = Command::new("qemu-img")
        .args(["convert", "-O", "qcow2"])
        .args([raw, qcow2])
        .output()
        .expect("qemu-img runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// The notes of `--json` (the run must exit `code`).
fn audit_notes(image: &Path, code: i32) -> Vec<String> {
    let out = livecompose(&["audit", image.to_str().expect("utf-8"), "--json"]);
    assert_eq!(out.status.code(), Some(code), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    report["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .map(|note| note.as_str().expect("a string").to_owned())
        .collect()
}

/// A disk laid out with `/var` apart, as `part /var` makes it: the root's
/// fstab names `/var` by UUID (what livecompose writes) and `/var/log`,
/// mounted in it, by label, beside an ESP, swap and tmpfs lines that are
/// not on the disk's ext4. Cloud-init state, a world-writable file and an
/// unowned setuid file in `/var`, and a world-writable log in `/var/log`,
/// are found with their full paths, and dpkg's lists, which live in `/var`, still
/// own the root's setuid `su`: the findings are the directory's. The same
/// through qcow2. A `/var` the reader refuses is an error; a fstab naming
/// an ext4 file system the disk lacks gives a note, not silence.
#[test]
fn a_separate_var_partition_is_audited_at_its_mount_point() {
    require("mke2fs", "e2fsprogs");
    require("sfdisk", "fdisk");
    require("qemu-img", "qemu-utils");
    const VAR_UUID: &str = "5c1e2a8e-0d1b-4c43-9a3e-7a1f0e9d2b41";
    let work = tempfile::tempdir().expect("tempdir");
    let root = work.path().join("root");
    clean_root(&root);
    write(
        &root,
        "var/lib/cloud/instances/iid-build/boot-finished",
        "1",
        0o644,
    );
    write(&root, "var/lib/drop/open", "x", 0o666);
    write(&root, "var/opt/tools/rootshell", "sh", 0o4755);
    write(&root, "var/log/app/open.log", "", 0o666);
    let expected = audit_json(&root, &[], FINDINGS);
    for planted in [
        ("cloud-init-state", "/var/lib/cloud/instances"),
        ("world-writable", "/var/lib/drop/open"),
        ("unowned-setuid", "/var/opt/tools/rootshell"),
        ("world-writable", "/var/log/app/open.log"),
    ] {
        assert!(
            expected.contains(&(planted.0.to_owned(), planted.1.to_owned())),
            "{planted:?} not in {expected:?}"
        );
    }
    assert_eq!(expected.len(), 4, "{expected:?}");

    let fstab = |var_uuid: &str| {
        format!(
            "# livecompose\nUUID=0123-4567 /boot/efi vfat umask=0077 0 2\n\
             UUID=11111111-2222-3333-4444-555555555555 / ext4 defaults 0 1\n\
             UUID={var_uuid} /var ext4 defaults 0 2\n\
             LABEL=logs /var/log ext4 defaults 0 2\n\
             UUID=66666666-7777-8888-9999-000000000000 none swap sw 0 0\n\
             tmpfs /tmp tmpfs defaults 0 0\n"
        )
    };
    let var = work.path().join("var");
    fs::rename(root.join("var"), &var).expect("move /var aside");
    fs::create_dir(root.join("var")).expect("mount point");
    let logs = work.path().join("logs");
    fs::rename(var.join("log"), &logs).expect("move /var/log aside");
    fs::create_dir(var.join("log")).expect("mount point");
    write(&root, "etc/fstab", &fstab(VAR_UUID), 0o644);

    let disk = work.path().join("disk.raw");
    gpt_disk(
        &disk,
        160 << 20,
        &format!(
            "start=2048, size=20480, type={ESP}\nstart=22528, size=131072, type={ROOT}\n\
             start=153600, size=96256, type={VAR}\nstart=249856, size=32768\n"
        ),
    );
    mke2fs(
        &root,
        &disk,
        &["-E", &format!("offset={}", 22528 * 512)],
        "64M",
    );
    let var_fs = ["-U", VAR_UUID, "-L", "var", "-E"];
    let var_offset = format!("offset={}", 153600 * 512);
    mke2fs(&var, &disk, &[&var_fs[..], &[&var_offset]].concat(), "47M");
    let logs_offset = format!("offset={}", 249856 * 512);
    mke2fs(&logs, &disk, &["-L", "logs", "-E", &logs_offset], "16M");
    assert_eq!(audit_json(&disk, &[], FINDINGS), expected, "raw disk");
    assert_eq!(audit_notes(&disk, FINDINGS), Vec::<String>::new());

    let qcow2 = work.path().join("disk.qcow2");
    qemu_img_convert(&disk, &qcow2);
    assert_eq!(audit_json(&qcow2, &[], FINDINGS), expected, "qcow2 disk");

    // A /var this reader refuses (inline data) is an error, not a root
    // audited without it.
    let inline = [&var_fs[..], &[&var_offset], &["-O", "inline_data"]].concat();
    mke2fs(&var, &disk, &inline, "47M");
    refused(&disk, "ext4 features this reader does not know");

    // The same root, its fstab naming a /var that is not on the disk: the
    // root is audited with /var/log mounted on its own /var (dpkg's lists
    // are gone with /var, so su is unowned), and a note names what was
    // missed.
    let missing = "0badc0de-0000-4000-8000-000000000000";
    write(&root, "etc/fstab", &fstab(missing), 0o644);
    mke2fs(
        &root,
        &disk,
        &["-E", &format!("offset={}", 22528 * 512)],
        "64M",
    );
    assert_eq!(
        audit_json(&disk, &[], FINDINGS),
        set(&[
            ("unowned-setuid", "/usr/bin/su"),
            ("world-writable", "/var/log/app/open.log")
        ])
    );
    let notes = audit_notes(&disk, FINDINGS);
    assert!(
        notes.len() == 1 && notes[0].contains(&format!("UUID={missing} (ext4) on /var")),
        "{notes:?}"
    );
}

#[test]
fn json_and_lines_list_the_same_findings() {
    let work = tempfile::tempdir().expect("tempdir");
    let expected = dirty_root(work.path());
    let out = livecompose(&["audit", work.path().to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(FINDINGS));
    let lines: BTreeSet<(String, String)> = text(&out.stdout)
        .lines()
        .map(|line| {
            let mut parts = line.splitn(3, ": ");
            let kind = parts.next().expect("kind").to_owned();
            let path = parts.next().expect("path").to_owned();
            (kind, path)
        })
        .collect();
    assert_eq!(lines, expected);
    assert!(text(&out.stderr).contains(&format!("{} findings", expected.len())));
}

/// `image` is refused as unreadable (exit 2) with `fragment` on stderr.
fn refused(image: &Path, fragment: &str) {
    let out = livecompose(&["audit", image.to_str().expect("utf-8")]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(BAD_INPUT), "{stderr}");
    assert!(stderr.contains(fragment), "{fragment:?} not in: {stderr}");
}

/// A live-ISO-shaped ISO of `tree`, as xorriso writes it with `extra`.
fn xorriso(tree: &Path, iso: &Path, extra: &[&str]) {
    let out = Command::new("xorriso")
        .args(["-as", "mkisofs", "-quiet", "-V", "LIVE"])
        .args(extra)
        .arg("-o")
        .args([iso, tree])
        .output()
        .expect("xorriso runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn what_is_not_an_image_exits_2() {
    let work = tempfile::tempdir().expect("tempdir");
    refused(&work.path().join("missing.iso"), "missing.iso");

    let qcow2 = work.path().join("disk.qcow2");
    let mut header = b"QFI\xfb\0\0\0\x03".to_vec();
    header.resize(4096, 0);
    fs::write(&qcow2, &header).expect("qcow2");
    refused(&qcow2, "not a disk we can read");

    let blank = work.path().join("blank.raw");
    let mut mbr = vec![0u8; 1 << 20];
    mbr[510] = 0x55;
    mbr[511] = 0xaa;
    fs::write(&blank, &mbr).expect("blank disk");
    refused(&blank, "no ext4 file system with /etc on the disk");

    let junk = work.path().join("notes.txt");
    fs::write(&junk, "hello").expect("junk");
    refused(&junk, "not a directory, squashfs, ISO 9660 or disk image");
}

/// A symlink in the image to the host's files is never read as the image's.
#[test]
fn symlinks_are_not_followed_out_of_the_image() {
    let work = tempfile::tempdir().expect("tempdir");
    let root = work.path().join("root");
    clean_root(&root);
    let host = work.path().join("host-machine-id");
    fs::write(&host, "0123456789abcdef0123456789abcdef\n").expect("host id");
    fs::remove_file(root.join("etc/machine-id")).expect("rm");
    symlink(&host, root.join("etc/machine-id")).expect("link");
    assert!(audit_json(&root, &[], 0).is_empty());
}

/// An RPM root as `install::rpm` writes it (packages built by `rpmbuild`
/// from the install fixtures; the database in `/usr/lib/sysimage/rpm`
/// behind Fedora's `/var/lib/rpm` link): `lc-files`' setuid program is
/// owned, one planted beside it is not, and the real `rpm -qf` agrees on
/// every setuid file of the root.
#[test]
fn an_rpm_roots_setuid_files_are_judged_by_its_rpm_database() {
    let busybox = rpmrepo::static_busybox().display().to_string();
    let (_built, rpms) = rpmrepo::build_with(
        &["install/shell", "install/files", "install/sysimage"],
        &[("busybox", busybox.as_str())],
    );
    let work = tempfile::tempdir().expect("tempdir");
    let root = work.path().join("root");
    fs::create_dir(&root).expect("root");
    let rootfs = RootFs::open(&root).expect("open root");
    let chroot = common::chroot(&root, &work.path().join("build.log"));
    let options = RpmInstallOptions {
        dbpath: Some("/usr/lib/sysimage/rpm".into()),
        ..RpmInstallOptions::default()
    };
    rpm::install(&rootfs, &chroot, &rpms, &options, &|_| {}).expect("install");
    assert_eq!(
        fs::metadata(root.join("usr/bin/lc-suid"))
            .expect("lc-suid")
            .permissions()
            .mode()
            & 0o7777,
        0o4755
    );
    assert!(audit_json(&root, &[], 0).is_empty());

    write(&root, "usr/local/bin/rootshell", "sh", 0o4755);
    write(&root, "usr/bin/lc-suid.orig", "sh", 0o2755);
    let found = audit_json(&root, &[], FINDINGS);
    assert_eq!(
        found,
        set(&[
            ("unowned-setuid", "/usr/bin/lc-suid.orig"),
            ("unowned-setuid", "/usr/local/bin/rootshell"),
        ])
    );
    let privileged = setuid_files(&root, &root);
    assert_eq!(privileged.len(), 3, "{privileged:?}");
    for path in privileged {
        let owned = Command::new("rpm")
            .arg("--root")
            .arg(&root)
            // Through the image's link, as its own rpm finds the database
            // (Debian's rpm has another default).
            .args(["--dbpath", "/var/lib/rpm", "-qf", &path])
            .output()
            .expect("rpm runs: install the Debian package rpm")
            .status
            .success();
        let unowned = found.contains(&("unowned-setuid".to_owned(), path.clone()));
        assert_eq!(owned, !unowned, "rpm -qf {path} and the audit disagree");
    }
}

/// The setuid and setgid regular files under `dir`, as absolute paths in
/// the root `root`.
fn setuid_files(root: &Path, dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).expect("read_dir") {
        let entry = entry.expect("entry");
        let kind = entry.file_type().expect("type");
        if kind.is_dir() {
            found.extend(setuid_files(root, &entry.path()));
        } else if kind.is_file()
            && entry.metadata().expect("metadata").permissions().mode() & 0o6000 != 0
        {
            let path = entry.path();
            let inside = path.strip_prefix(root).expect("in the root");
            found.push(format!("/{}", inside.display()));
        }
    }
    found
}

/// rpm's older databases are not read: a note says why, and it is no
/// finding. A damaged `rpmdb.sqlite` is an error naming it, never a pass;
/// what its `-wal` file holds is read with it.
#[test]
fn an_rpm_database_not_read_gives_a_note_and_a_damaged_one_exits_2() {
    let work = tempfile::tempdir().expect("tempdir");
    let root = work.path();
    write(root, "etc/shadow", "root:!locked::::::::\n", 0o640);
    write(root, "usr/bin/passwd", "passwd", 0o4755);
    write(root, "var/lib/rpm/Packages", "Berkeley DB", 0o644);
    let out = livecompose(&["audit", root.to_str().expect("utf-8"), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["findings"], serde_json::json!([]));
    let notes = report["notes"].to_string();
    assert!(
        notes.contains("1 setuid/setgid file(s)") && notes.contains("no rpmdb.sqlite"),
        "{notes}"
    );

    write(root, "var/lib/rpm/rpmdb.sqlite", "not SQLite at all", 0o644);
    refused(
        root,
        "rpm database /var/lib/rpm/rpmdb.sqlite: file is not a database",
    );
    // SQLite's own files: without rpm's table; with a view in its place
    // (it could compute without bound); with rows that are no rpm header.
    for schema in [
        "CREATE TABLE other (x);",
        "CREATE VIEW Packages AS SELECT 1 AS hnum, zeroblob(1000) AS blob;",
        "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB NOT NULL);\
         INSERT INTO Packages (blob) VALUES (x'8eade801deadbeef');",
    ] {
        let db = root.join("var/lib/rpm/rpmdb.sqlite");
        fs::remove_file(&db).expect("rm");
        rusqlite::Connection::open(&db)
            .and_then(|db| db.execute_batch(schema))
            .expect("sqlite");
        let out = livecompose(&["audit", root.to_str().expect("utf-8")]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(BAD_INPUT), "{schema}: {stderr}");
        assert!(
            stderr.contains("rpm database") && stderr.contains("/var/lib/rpm/rpmdb.sqlite"),
            "{schema}: {stderr}"
        );
    }

    // rpm keeps SQLite in WAL mode: a record still in the `-wal` file is
    // read (a broken one here, so the error shows it was seen; without
    // the `-wal` file there is not even a table).
    let scratch = tempfile::tempdir().expect("tempdir");
    let source = scratch.path().join("rpmdb.sqlite");
    let db = rusqlite::Connection::open(&source).expect("sqlite");
    db.pragma_update(None, "journal_mode", "WAL")
        .and_then(|()| db.pragma_update(None, "wal_autocheckpoint", 0))
        .and_then(|()| {
            db.execute_batch(
                "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB NOT NULL);\
                 INSERT INTO Packages (blob) VALUES (x'8eade801deadbeef');",
            )
        })
        .expect("WAL database");
    let image_db = root.join("var/lib/rpm/rpmdb.sqlite");
    fs::copy(&source, &image_db).expect("copy");
    fs::copy(
        scratch.path().join("rpmdb.sqlite-wal"),
        root.join("var/lib/rpm/rpmdb.sqlite-wal"),
    )
    .expect("copy the WAL");
    drop(db);
    refused(root, "header of record 1 in /var/lib/rpm/rpmdb.sqlite");
    fs::remove_file(root.join("var/lib/rpm/rpmdb.sqlite-wal")).expect("rm");
    refused(root, "no Packages table");
}

/// A disk is untrusted input: an ext4 root with bytes of its metadata
/// flipped (superblock, group descriptors, inode table, directory blocks)
/// gives findings or an error, never a panic or a hang. Its fstab mounts
/// it again by its label, so the flips reach the composed tree too.
#[test]
fn a_corrupted_ext4_disk_never_panics() {
    require("mke2fs", "e2fsprogs");
    let work = tempfile::tempdir().expect("tempdir");
    let root = work.path().join("root");
    dirty_root(&root);
    write(
        &root,
        "etc/fstab",
        "LABEL=self /mnt/again ext4 defaults 0 2\n",
        0o644,
    );
    let image = work.path().join("root.ext4");
    let out = Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-b", "1024", "-L", "self", "-d"])
        .arg(&root)
        .arg(&image)
        .arg("4M")
        .output()
        .expect("mke2fs runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pristine = fs::read(&image).expect("image");
    let composed = livecompose::audit::open(&image)
        .and_then(|tree| tree.entries())
        .expect("the pristine image reads");
    assert!(composed.iter().any(|e| e.path == "mnt/again/etc/shadow"));
    // Where mke2fs put the metadata and the directories: the first blocks,
    // the inode table (256 KiB), then the tree's directory blocks and data.
    let metadata = 640 * 1024;
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let corrupted = work.path().join("corrupted.ext4");
    let mut errors = 0;
    for _ in 0..600 {
        let mut bytes = pristine.clone();
        for _ in 0..1 + next() % 8 {
            let at = 1024 + (next() % (metadata - 1024)) as usize;
            bytes[at] ^= 1 << (next() % 8);
        }
        fs::write(&corrupted, &bytes).expect("write");
        let result = livecompose::audit::open(&corrupted)
            .and_then(|tree| livecompose::audit::audit(tree.as_ref(), &Default::default()));
        errors += usize::from(result.is_err());
    }
    // Some flips must have hit what the reader checks.
    assert!(errors > 0);
}
