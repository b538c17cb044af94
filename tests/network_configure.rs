//! End-to-end tier for the configure stage: a real Debian root made by
//! mmdebstrap (from the machine's own apt sources), configured from a
//! kickstart with the image's own tools, then checked file by file and with
//! independent peers (`openssl passwd` for the password hashes).

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use livecompose::chroot::Chroot;
use livecompose::configure::{clean, configure, label};
use livecompose::distro::debian;
use livecompose::install::RootFs;
use livecompose::kickstart::{Kickstart, parse_file};
use livecompose::source_date::SourceDate;

/// One minimal bookworm root per test run, copied for each test.
fn base_root() -> &'static Path {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        mmdebstrap(
            "configure-base-root",
            "systemd-sysv,openssh-server,locales,tzdata",
        )
    })
}

/// The same with Debian's SELinux policy and `setfiles`.
fn selinux_root() -> &'static Path {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        mmdebstrap(
            "configure-selinux-root",
            "selinux-policy-default,policycoreutils",
        )
    })
}

/// A minbase root with `include`, made afresh in the target's temp dir.
fn mmdebstrap(name: &str, include: &str) -> PathBuf {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    if base.exists() {
        fs::remove_dir_all(&base).expect("remove the previous run's root");
    }
    let out = Command::new("mmdebstrap")
        .args(["--variant=minbase", &format!("--include={include}"), "bookworm"])
        .arg(&base)
        .output()
        .expect("this test builds its root with mmdebstrap: apt-get install mmdebstrap (tests/run does)");
    assert!(
        out.status.success(),
        "mmdebstrap failed (no access to the package archive?):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    base
}

/// A private copy of the base root, and the kickstart's directory.
struct Build {
    dir: tempfile::TempDir,
}

impl Build {
    fn new() -> Self {
        Self::from(base_root())
    }

    /// A private copy of `base`.
    fn from(base: &Path) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let status = Command::new("cp")
            .arg("-a")
            .arg(base)
            .arg(dir.path().join("root"))
            .status()
            .expect("cp");
        assert!(status.success(), "cp -a of the base root failed");
        Self { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.root().join(relative)
    }

    fn read(&self, relative: &str) -> String {
        fs::read_to_string(self.path(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
    }

    fn kickstart(&self, text: &str) -> Kickstart {
        let file = self.dir.path().join("ks.cfg");
        fs::write(&file, text).expect("write kickstart");
        parse_file(&file)
            .unwrap_or_else(|failure| panic!("{failure}"))
            .kickstart
    }

    fn configure(
        &self,
        kickstart: &Kickstart,
        overlays: &[PathBuf],
    ) -> Result<Vec<String>, String> {
        let (root, chroot) = self.tools();
        let mut all: Vec<PathBuf> = kickstart.overlays.iter().map(|o| o.value.clone()).collect();
        all.extend_from_slice(overlays);
        configure(
            &root,
            &chroot,
            kickstart,
            &all,
            &debian::CONVENTIONS,
            &SourceDate::for_build(None, [1_700_000_000]),
        )
        .map(|report| report.warnings)
        .map_err(|e| e.to_string())
    }

    /// The root, and a chroot into it that logs to the build's log.
    fn tools(&self) -> (RootFs, Chroot) {
        let root = RootFs::open(self.root()).expect("open root");
        let chroot = common::chroot(&self.root(), &self.dir.path().join("build.log"));
        (root, chroot)
    }

    /// The SELinux labelling step, after the clean-up as in a build.
    fn label(&self, kickstart: &Kickstart) -> Option<String> {
        let (root, chroot) = self.tools();
        clean(&root, &debian::CONVENTIONS).expect("clean");
        label(&root, &chroot, kickstart).expect("label")
    }

    /// The `/etc/shadow` hash of `user`.
    fn shadow_hash(&self, user: &str) -> String {
        self.read("etc/shadow")
            .lines()
            .find_map(|line| {
                let mut fields = line.split(':');
                (fields.next() == Some(user)).then(|| fields.next().unwrap_or_default().to_owned())
            })
            .unwrap_or_else(|| panic!("{user} has no shadow entry"))
    }

    /// The `/etc/passwd` fields of `user`.
    fn passwd(&self, user: &str) -> Vec<String> {
        self.read("etc/passwd")
            .lines()
            .map(|line| line.split(':').map(str::to_owned).collect::<Vec<_>>())
            .find(|fields| fields[0] == user)
            .unwrap_or_else(|| panic!("{user} is not in /etc/passwd"))
    }
}

/// `openssl passwd -6` with the salt of `hash`: an independent check that
/// `password` is what `hash` holds.
fn openssl_crypt(password: &str, salt: &str) -> String {
    let out = Command::new("openssl")
        .args(["passwd", "-6", "-salt", salt, "--", password])
        .output()
        .expect("openssl is the peer for password hashes: apt-get install openssl");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
}

fn verifies(hash: &str, password: &str) -> bool {
    let salt = hash
        .trim_start_matches('!')
        .split('$')
        .nth(2)
        .unwrap_or_default();
    openssl_crypt(password, salt) == hash.trim_start_matches('!')
}

#[test]
#[ignore = "end-to-end: builds a Debian root with mmdebstrap from the Debian mirror"]
fn net_configure_applies_the_kickstart_and_clean_leaves_no_build_traces() {
    let build = Build::new();
    let overlay = build.dir.path().join("overlay");
    fs::create_dir_all(overlay.join("etc/skel")).expect("overlay dirs");
    fs::write(overlay.join("etc/motd"), "configured by livecompose\n").expect("motd");
    fs::write(overlay.join("etc/skel/.hushlogin"), "").expect("hushlogin");
    std::os::unix::fs::symlink("motd", overlay.join("etc/motd.link")).expect("link");
    let cli_overlay = build.dir.path().join("cli-overlay");
    fs::create_dir_all(cli_overlay.join("usr/local/bin")).expect("cli overlay");
    fs::write(
        cli_overlay.join("usr/local/bin/hello"),
        "#!/bin/sh\necho hi\n",
    )
    .expect("hello");
    fs::set_permissions(
        cli_overlay.join("usr/local/bin/hello"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let bob_hash = openssl_crypt("bob pw", "bobsalt");
    let resolv_before = fs::symlink_metadata(build.path("etc/resolv.conf")).is_ok();

    let ks = build.kickstart(&format!(
        "lang de_DE.UTF-8 --addsupport=fr_FR.UTF-8\n\
         keyboard --vckeymap=de --xlayouts='de (nodeadkeys)',us --switch=grp:alt_shift_toggle\n\
         timezone Europe/Berlin --utc\n\
         rootpw --plaintext 'Root pass 1'\n\
         group --name=devs --gid=2500\n\
         user --name=alice --uid=1500 --groups=devs,adm --shell=/bin/bash --gecos='Alice A' --password='alice pw'\n\
         user --name=bob --password='{bob_hash}' --iscrypted --lock\n\
         sshkey --username=alice 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKtest alice@example'\n\
         sshkey --username=root 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKroot root@example'\n\
         network --hostname=kiosk.example.org\n\
         services --enabled=ssh,systemd-networkd --disabled=e2scrub_reap\n\
         selinux --disabled\n\
         overlay overlay\n\
         %pre\necho never\n%end\n\
         %post --log=/root/post.log\necho \"post ran as $(id -u)\" > /root/post-marker\necho to-the-log\n%end\n\
         %post --nochroot --log={log}\necho host > \"$INSTALL_ROOT/root/nochroot-marker\"\n%end\n\
         %post --interpreter=/usr/bin/perl\nopen(my $f, '>', '/root/perl-marker'); print $f \"perl\\n\";\n%end\n\
         %post\necho failing on purpose; exit 4\n%end\n",
        log = build.dir.path().join("host-post.log").display()
    ));
    let warnings = build
        .configure(&ks, &[cli_overlay])
        .unwrap_or_else(|e| panic!("{e}"));

    // Accounts, checked with openssl as the peer.
    assert!(verifies(&build.shadow_hash("root"), "Root pass 1"));
    let alice = build.shadow_hash("alice");
    assert!(
        alice.starts_with("$6$") && verifies(&alice, "alice pw"),
        "{alice}"
    );
    assert_eq!(
        build.shadow_hash("bob"),
        format!("!{bob_hash}"),
        "bob is locked"
    );
    let passwd = build.passwd("alice");
    assert_eq!(
        (
            &passwd[2][..],
            &passwd[4][..],
            &passwd[5][..],
            &passwd[6][..]
        ),
        ("1500", "Alice A", "/home/alice", "/bin/bash")
    );
    let group = build.read("etc/group");
    assert!(
        group
            .lines()
            .any(|l| l.starts_with("devs:x:2500:") && l.ends_with("alice")),
        "{group}"
    );
    assert!(
        group
            .lines()
            .any(|l| l.starts_with("adm:") && l.contains("alice")),
        "{group}"
    );

    // Keys: modes and owners.
    let ssh_dir = fs::metadata(build.path("home/alice/.ssh")).expect(".ssh");
    let keys = fs::metadata(build.path("home/alice/.ssh/authorized_keys")).expect("keys");
    assert_eq!(ssh_dir.mode() & 0o7777, 0o700);
    assert_eq!(keys.mode() & 0o7777, 0o600);
    let alice_gid: u32 = passwd[3].parse().expect("gid");
    assert_eq!((ssh_dir.uid(), ssh_dir.gid()), (1500, alice_gid));
    assert_eq!((keys.uid(), keys.gid()), (1500, alice_gid));
    assert!(
        build
            .read("home/alice/.ssh/authorized_keys")
            .contains("alice@example")
    );
    assert!(
        build
            .read("root/.ssh/authorized_keys")
            .contains("root@example")
    );

    // Locale, time, keyboard, host name.
    assert_eq!(
        fs::read_link(build.path("etc/localtime")).expect("localtime"),
        Path::new("/usr/share/zoneinfo/Europe/Berlin")
    );
    assert_eq!(build.read("etc/timezone"), "Europe/Berlin\n");
    assert!(build.read("etc/adjtime").ends_with("UTC\n"));
    assert_eq!(build.read("etc/default/locale"), "LANG=de_DE.UTF-8\n");
    let locales = Command::new("chroot")
        .arg(build.root())
        .args(["locale", "-a"])
        .output()
        .expect("locale -a");
    let locales = String::from_utf8_lossy(&locales.stdout);
    assert!(
        locales.contains("de_DE.utf8") && locales.contains("fr_FR.utf8"),
        "{locales}"
    );
    let keyboard = build.read("etc/default/keyboard");
    assert!(
        keyboard.contains("XKBLAYOUT=\"de,us\"") && keyboard.contains("XKBVARIANT=\"nodeadkeys,\""),
        "{keyboard}"
    );
    assert_eq!(build.read("etc/vconsole.conf"), "KEYMAP=de\n");
    assert_eq!(build.read("etc/hostname"), "kiosk.example.org\n");
    assert!(
        build
            .read("etc/hosts")
            .contains("127.0.1.1\tkiosk.example.org kiosk\n")
    );

    // Services: the unit symlinks systemctl made offline.
    let wants = build.path("etc/systemd/system/multi-user.target.wants");
    assert!(fs::read_link(wants.join("ssh.service")).is_ok());
    assert!(fs::read_link(wants.join("systemd-networkd.service")).is_ok());
    assert!(
        fs::symlink_metadata(
            build.path("etc/systemd/system/timers.target.wants/e2scrub_reap.timer")
        )
        .is_err()
            && fs::symlink_metadata(wants.join("e2scrub_reap.service")).is_err()
    );

    // Overlays: contents, links, modes, root ownership.
    assert_eq!(build.read("etc/motd"), "configured by livecompose\n");
    assert_eq!(
        fs::read_link(build.path("etc/motd.link")).expect("link"),
        Path::new("motd")
    );
    let hello = fs::metadata(build.path("usr/local/bin/hello")).expect("hello");
    assert_eq!(
        (hello.mode() & 0o7777, hello.uid(), hello.gid()),
        (0o755, 0, 0)
    );

    // %post scripts, their logs, and the warnings.
    assert_eq!(build.read("root/post-marker"), "post ran as 0\n");
    assert_eq!(build.read("root/post.log"), "to-the-log\n");
    assert_eq!(build.read("root/nochroot-marker"), "host\n");
    assert_eq!(build.read("root/perl-marker"), "perl\n");
    assert!(build.dir.path().join("host-post.log").exists());
    let text = warnings.join("\n");
    assert!(
        text.contains("ks.cfg:14: %pre scripts are not run"),
        "{text}"
    );
    assert!(
        text.contains("%post at ") && text.contains("failed with exit status 4"),
        "{text}"
    );
    assert!(text.contains("failing on purpose"), "{text}");
    assert_eq!(
        fs::symlink_metadata(build.path("etc/resolv.conf")).is_ok(),
        resolv_before,
        "the image's resolv.conf is as it was before %post"
    );
    let tmp: Vec<_> = fs::read_dir(build.path("tmp")).expect("tmp").collect();
    assert!(tmp.is_empty(), "{tmp:?}");

    // Clean.
    assert!(
        fs::read_dir(build.path("etc/ssh")).expect("ssh").any(|e| {
            e.expect("entry")
                .file_name()
                .to_string_lossy()
                .starts_with("ssh_host_")
        }),
        "openssh-server made host keys to remove"
    );
    fs::write(
        build.path("var/lib/apt/lists/deb_dists_bookworm_main_binary-amd64_Packages"),
        "x",
    )
    .expect("a package list");
    fs::write(build.path("var/cache/apt/pkgcache.bin"), "x").expect("a package cache");
    clean(
        &RootFs::open(build.root()).expect("root"),
        &debian::CONVENTIONS,
    )
    .expect("clean");
    assert!(!build.path("var/cache/apt/pkgcache.bin").exists());
    if let (Ok(host), Ok(image)) = (
        fs::read("/etc/resolv.conf"),
        fs::read(build.path("etc/resolv.conf")),
    ) {
        assert_ne!(
            host, image,
            "the build host's resolv.conf is left in the image"
        );
    }
    let host_keys: Vec<_> = fs::read_dir(build.path("etc/ssh"))
        .expect("ssh")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("ssh_host_"))
        .collect();
    assert!(host_keys.is_empty(), "{host_keys:?}");
    assert_eq!(
        fs::metadata(build.path("etc/machine-id"))
            .expect("machine-id")
            .len(),
        0
    );
    let lists: Vec<_> = fs::read_dir(build.path("var/lib/apt/lists"))
        .expect("lists")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name != "lock" && name != "partial" && name != "auxfiles")
        .collect();
    assert!(lists.is_empty(), "{lists:?}");
}

#[test]
#[ignore = "end-to-end: builds a Debian root with mmdebstrap from the Debian mirror"]
fn net_configure_errors_name_the_kickstart_line() {
    let build = Build::new();
    let failing =
        build.kickstart("lang C.UTF-8\n\n%post --erroronfail\necho about to fail\nexit 3\n%end\n");
    let error = build
        .configure(&failing, &[])
        .expect_err("--erroronfail stops the build");
    assert!(
        error.contains("%post at ") && error.contains("ks.cfg:3 failed with exit status 3"),
        "{error}"
    );
    assert!(error.contains("about to fail"), "{error}");

    let unit = build.kickstart("# units\nservices --enabled=no-such-unit\n");
    let error = build.configure(&unit, &[]).expect_err("a missing unit");
    assert!(
        error.starts_with("")
            && error.contains("ks.cfg:2: services: systemctl enable no-such-unit failed"),
        "{error}"
    );

    let zone = build.kickstart("timezone Mars/Olympus_Mons\n");
    let error = build.configure(&zone, &[]).expect_err("an unknown zone");
    assert!(
        error.contains("Mars/Olympus_Mons is not a time zone the image knows"),
        "{error}"
    );

    let key = build.kickstart("sshkey --username=nobody-here 'ssh-ed25519 AAAA x'\n");
    let error = build.configure(&key, &[]).expect_err("no such user");
    assert!(
        error.contains("--username=nobody-here: the image has no such user"),
        "{error}"
    );
}

/// The SELinux label of `path` (not following a symlink), if it has one.
fn selinux_label(path: &Path) -> Option<String> {
    let mut value = vec![0u8; 256];
    let len = rustix::fs::lgetxattr(path, "security.selinux", &mut value).ok()?;
    value.truncate(len);
    Some(
        String::from_utf8_lossy(&value)
            .trim_end_matches('\0')
            .to_owned(),
    )
}

/// Paths under `dir` (itself included) without an SELinux label.
fn unlabelled(dir: &Path, skip: &[PathBuf], out: &mut Vec<PathBuf>) {
    if skip.iter().any(|s| s == dir) {
        return;
    }
    if selinux_label(dir).is_none() {
        out.push(dir.to_owned());
    }
    let meta = fs::symlink_metadata(dir).expect("stat");
    if meta.is_dir() {
        for entry in fs::read_dir(dir).expect("read_dir") {
            unlabelled(&entry.expect("entry").path(), skip, out);
        }
    }
}

#[test]
#[ignore = "end-to-end: builds a Debian root with mmdebstrap from the Debian mirror"]
fn selinux_labels_every_file_with_the_images_policy_after_post() {
    let build = Build::from(selinux_root());
    let ks = build.kickstart(
        "selinux --enforcing\n\
         %post\necho made > /etc/made-by-post\n%end\n",
    );
    build.configure(&ks, &[]).expect("configure");
    assert_eq!(build.label(&ks), None);

    // Types as Debian's reference policy gives these paths.
    for (path, expected) in [
        ("etc/shadow", "system_u:object_r:shadow_t:s0"),
        ("etc/made-by-post", "system_u:object_r:etc_t:s0"),
        ("usr/bin/ls", "system_u:object_r:bin_t:s0"),
        (
            "etc/selinux/config",
            "system_u:object_r:selinux_config_t:s0",
        ),
    ] {
        assert_eq!(
            selinux_label(&build.path(path)).as_deref(),
            Some(expected),
            "{path}"
        );
    }
    assert!(
        build
            .read("etc/selinux/config")
            .contains("SELINUX=enforcing\n")
    );
    // Everything but the API filesystems' mount points.
    let skip: Vec<PathBuf> = ["proc", "sys", "dev"]
        .iter()
        .map(|d| build.path(d))
        .collect();
    let mut missing = Vec::new();
    unlabelled(&build.root(), &skip, &mut missing);
    assert!(missing.is_empty(), "unlabelled: {missing:?}");

    // selinux --disabled: nothing is labelled.
    let build = Build::from(selinux_root());
    let ks = build.kickstart("selinux --disabled\n");
    build.configure(&ks, &[]).expect("configure");
    assert_eq!(build.label(&ks), None);
    assert_eq!(selinux_label(&build.path("etc/shadow")), None);
}

#[test]
#[ignore = "end-to-end: builds a Debian root with mmdebstrap from the Debian mirror"]
fn selinux_without_a_policy_is_a_warning_and_labels_nothing() {
    let build = Build::new();
    fs::create_dir_all(build.path("etc/selinux")).expect("mkdir");
    fs::write(
        build.path("etc/selinux/config"),
        "SELINUX=enforcing\nSELINUXTYPE=targeted\n",
    )
    .expect("write");
    let ks = build.kickstart("selinux --enforcing\n");
    build.configure(&ks, &[]).expect("configure");
    let warning = build.label(&ks).expect("a warning");
    assert!(
        warning.contains("policy \"targeted\" is not installed"),
        "{warning}"
    );
    assert_eq!(selinux_label(&build.path("etc/shadow")), None);
}
