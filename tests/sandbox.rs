//! Offline tier: what a program from the image can reach. A root holding
//! only a static busybox runs shell commands through the same `Chroot` the
//! build uses for every script, and each is compared with this test
//! process (the build host). Needs root, as building an image does.

mod common;

use std::fs;

use common::rpmrepo;
use livecompose::chroot::{Chroot, ChrootError};

/// A root with busybox as `/bin/sh` and the mount points the sandbox uses.
struct Root {
    dir: tempfile::TempDir,
}

impl Root {
    fn new() -> Root {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("root");
        for sub in ["bin", "proc", "sys", "dev", "tmp"] {
            fs::create_dir_all(root.join(sub)).expect("mkdir");
        }
        fs::copy(rpmrepo::static_busybox(), root.join("bin/busybox")).expect("copy busybox");
        std::os::unix::fs::symlink("busybox", root.join("bin/sh")).expect("link sh");
        Root { dir }
    }

    fn chroot(&self) -> Chroot {
        common::chroot(&self.dir.path().join("root"), &self.dir.path().join("log"))
    }

    /// Runs `script` with the image's shell in `chroot`, returning what it
    /// printed.
    fn sh(&self, chroot: &Chroot, script: &str) -> Result<String, ChrootError> {
        let log = self.dir.path().join("log");
        let _ = fs::remove_file(&log);
        let command = chroot.command("/bin/sh", &["-c".as_ref(), script.as_ref()]);
        chroot.run(command, "the test script")?;
        let logged = fs::read(&log).expect("read the log");
        Ok(String::from_utf8_lossy(livecompose::chroot::command_output(&logged)).into_owned())
    }
}

fn own_namespace(kind: &str) -> String {
    fs::read_link(format!("/proc/self/ns/{kind}"))
        .expect("read our namespace")
        .display()
        .to_string()
}

#[test]
fn a_script_shares_no_namespace_with_the_build_host_but_the_user_one() {
    let root = Root::new();
    let printed = root
        .sh(
            &root.chroot(),
            "for ns in mnt pid uts ipc net; do echo $ns $(readlink /proc/self/ns/$ns); done",
        )
        .expect("the script runs");
    for kind in ["mnt", "pid", "uts", "ipc", "net"] {
        let line = printed
            .lines()
            .find(|l| l.starts_with(&format!("{kind} ")))
            .unwrap_or_else(|| panic!("no {kind} line in {printed:?}"));
        let theirs = line.split_once(' ').expect("two words").1;
        assert!(theirs.starts_with(&format!("{kind}:[")), "{line}");
        assert_ne!(theirs, own_namespace(kind), "{kind} is shared");
    }
}

#[test]
fn a_script_sees_only_its_own_processes_and_is_not_their_parent() {
    let root = Root::new();
    let printed = root
        // The shell expands the glob itself: no process of its own is counted.
        .sh(&root.chroot(), "echo $$; set -- /proc/[0-9]*; echo $#")
        .expect("the script runs");
    let mut lines = printed.lines();
    let pid: u32 = lines.next().expect("pid").parse().expect("a pid");
    let processes: u32 = lines.next().expect("count").parse().expect("a count");
    // The namespace's init is 1 and the shell 2; the host has hundreds.
    assert_eq!(pid, 2, "{printed}");
    assert_eq!(processes, 2, "{printed}");
}

#[test]
fn hostname_and_sysctl_stay_in_the_sandbox() {
    let root = Root::new();
    let host_name = fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    let swappiness = fs::read_to_string("/proc/sys/vm/swappiness").expect("swappiness");
    let printed = root
        .sh(
            &root.chroot(),
            "hostname renamed-by-a-script; hostname; \
             if echo 7 > /proc/sys/vm/swappiness; then echo sysctl-written; else echo sysctl-refused; fi",
        )
        .expect("the script runs");
    assert!(printed.contains("renamed-by-a-script"), "{printed}");
    assert!(printed.contains("sysctl-refused"), "{printed}");
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname"),
        host_name
    );
    assert_eq!(
        fs::read_to_string("/proc/sys/vm/swappiness").expect("swappiness"),
        swappiness
    );
}

/// The capabilities the sandbox promises to take away, by number.
const DROPPED: &[(u32, &str)] = &[
    (16, "CAP_SYS_MODULE"),
    (17, "CAP_SYS_RAWIO"),
    (19, "CAP_SYS_PTRACE"),
    (22, "CAP_SYS_BOOT"),
    (25, "CAP_SYS_TIME"),
    (12, "CAP_NET_ADMIN"),
    (33, "CAP_MAC_ADMIN"),
];

#[test]
fn a_script_lacks_the_capabilities_that_reach_the_host_kernel() {
    let root = Root::new();
    let printed = root
        .sh(&root.chroot(), "grep -E '^Cap(Eff|Bnd)' /proc/self/status")
        .expect("the script runs");
    for set in ["CapEff", "CapBnd"] {
        let hex = printed
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{set}:")))
            .unwrap_or_else(|| panic!("no {set} in {printed:?}"))
            .trim();
        let bits = u64::from_str_radix(hex, 16).expect("hex capabilities");
        for (bit, name) in DROPPED {
            assert_eq!(bits & (1 << bit), 0, "{set} {hex} still has {name}");
        }
        // What installing packages is made of stays: chown, chroot, mknod.
        for (bit, name) in [(0, "CAP_CHOWN"), (18, "CAP_SYS_CHROOT"), (27, "CAP_MKNOD")] {
            assert_ne!(bits & (1 << bit), 0, "{set} {hex} lost {name}");
        }
    }
}

/// Whether any process on the host has `needle` in its command line.
fn host_runs(needle: &str) -> bool {
    fs::read_dir("/proc")
        .expect("read /proc")
        .filter_map(Result::ok)
        .filter_map(|entry| fs::read(entry.path().join("cmdline")).ok())
        .any(|cmdline| {
            String::from_utf8_lossy(&cmdline)
                .replace('\0', " ")
                .contains(needle)
        })
}

#[test]
fn a_daemon_a_script_starts_ends_with_it() {
    let root = Root::new();
    // An odd duration, so that the process is ours to recognise.
    let needle = "sleep 4093";
    root.sh(
        &root.chroot(),
        &format!("busybox {needle} </dev/null >/dev/null 2>&1 & echo started"),
    )
    .expect("the script runs");
    assert!(!host_runs(needle), "the script's daemon outlived it");
}

/// The network interfaces in `/proc/net/dev` as printed.
fn interfaces(net_dev: &str) -> Vec<String> {
    net_dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split_once(':'))
        .map(|(name, _)| name.trim().to_owned())
        .collect()
}

#[test]
fn package_scripts_get_only_a_loopback_and_post_keeps_the_network() {
    let root = Root::new();
    let chroot = root.chroot();
    let printed = root
        .sh(
            &chroot,
            "cat /proc/net/dev; ping -c 1 -W 2 127.0.0.1 >/dev/null && echo lo-up",
        )
        .expect("the script runs");
    assert_eq!(interfaces(&printed), ["lo"], "{printed}");
    assert!(printed.contains("lo-up"), "loopback is down: {printed}");

    let host = interfaces(&fs::read_to_string("/proc/net/dev").expect("net/dev"));
    assert!(host.len() > 1, "the test host has only {host:?}");
    let printed = root
        .sh(&chroot.with_network(), "cat /proc/net/dev")
        .expect("the script runs");
    let mut seen = interfaces(&printed);
    let mut expected = host;
    seen.sort();
    expected.sort();
    assert_eq!(seen, expected);
}

#[test]
fn a_failing_script_reports_its_status_and_output() {
    let root = Root::new();
    let error = root
        .sh(&root.chroot(), "echo about to fail; exit 3")
        .expect_err("the script fails");
    let text = error.to_string();
    assert!(text.contains("exit status 3"), "{text}");
    assert!(text.contains("about to fail"), "{text}");
}

#[test]
fn no_mount_of_the_sandbox_is_left_on_the_host() {
    let root = Root::new();
    root.sh(&root.chroot(), "true").expect("the script runs");
    let mounts = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let path = root.dir.path().display().to_string();
    assert!(!mounts.contains(&path), "{mounts}");
    // And the root's mount points are empty again.
    for sub in ["proc", "sys", "dev"] {
        let dir = root.dir.path().join("root").join(sub);
        assert_eq!(
            fs::read_dir(&dir).expect("read").count(),
            0,
            "{}",
            dir.display()
        );
    }
}

#[test]
fn a_program_missing_from_the_image_is_named_in_the_error() {
    let root = Root::new();
    let chroot = root.chroot();
    let error = chroot
        .run(
            chroot.command("/usr/bin/not-in-the-image", &[]),
            "the missing program",
        )
        .expect_err("nothing to run");
    let text = error.to_string();
    assert!(text.contains("exit status 127"), "{text}");
    assert!(
        text.contains("cannot start /usr/bin/not-in-the-image"),
        "{text}"
    );
}
