//! SSH on a live ISO, end to end: a kickstart with `openssh-server`, `sudo`
//! and an `sshkey` line for a user (the key made by this test), built from
//! the real Debian archive (the mirror from `--mirror`, `LIVECOMPOSE_MIRROR`
//! or the host's apt sources), then booted twice by `livecompose test
//! --ssh-key`, which logs in with the host's ssh client and runs commands.
//!
//! Run with `cargo test --test network_ssh -- --ignored --nocapture` to see
//! the build's stage lines and the boot times.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use common::{build_image, extract_squashfs, output_of, run};
use regex::Regex;

const LABEL: &str = "LC-SSH-Test";
const USER: &str = "tester";
const HOSTNAME: &str = "ssh-test";
const UNIT: &str = "livecompose-ssh-host-keys.service";

struct Fixture {
    dir: tempfile::TempDir,
    iso: PathBuf,
    /// The private half of the key the kickstart's `sshkey` line names.
    key: PathBuf,
    /// What the build printed on standard error.
    stderr: String,
}

fn kickstart(public_key: &str) -> String {
    format!(
        r#"url --url=$mirror --suite=bookworm
repo --name=updates --baseurl=$mirror --suite=bookworm-updates
timezone Etc/UTC --utc
rootpw --lock
user --name={USER} --password={USER} --plaintext --groups=sudo
sshkey --username={USER} "{public_key}"
network --bootproto=dhcp --device=link --activate --hostname={HOSTNAME}
services --enabled=systemd-networkd
bootloader --timeout=1 --append="console=ttyS0,115200n8"
selinux --disabled
firewall --disabled

%packages
linux-image-amd64
systemd-sysv
openssh-server
sudo
%end

%post
echo '{USER} ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/{USER}
chmod 0440 /etc/sudoers.d/{USER}
printf 'PasswordAuthentication no\nKbdInteractiveAuthentication no\n' > /etc/ssh/sshd_config.d/keys-only.conf
%end
"#
    )
}

/// Built once for all tests of this file: the build takes minutes.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = common::static_tempdir();
        let key = dir.path().join("id_ed25519");
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "network_ssh", "-f"])
            .arg(&key));
        let public_key = fs::read_to_string(key.with_extension("pub")).expect("public key");
        let config = dir.path().join("ssh.ks");
        fs::write(&config, kickstart(public_key.trim())).expect("kickstart");
        let stderr = build_image(&config, LABEL, dir.path(), &[]);
        let iso = dir.path().join(format!("{LABEL}.iso"));
        Fixture {
            dir,
            iso,
            key,
            stderr,
        }
    })
}

/// What every boot runs in the guest, in order.
const COMMANDS: &[&str] = &[
    "systemctl is-active ssh",
    "systemctl show -p ConditionResult -p Result livecompose-ssh-host-keys.service",
    "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub",
    "hostname",
    "getent hosts \"$(hostname)\"",
    "sudo -n true",
    // sshd's answer lists the methods it offers; with BatchMode the client
    // tries none interactively, so this always fails, and says which.
    "ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
     -o PubkeyAuthentication=no localhost true 2>&1; true",
];

/// Boots the ISO with `livecompose test --ssh-key`, runs [`COMMANDS`], and
/// returns what it printed on standard output and error. One qemu at a time:
/// two emulated boots on two cores would each take twice as long.
fn boot_and_log_in(name: &str) -> (String, String) {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let fixture = fixture();
    let mut command = Command::new(env!("CARGO_BIN_EXE_livecompose"));
    command
        .arg("test")
        .arg(&fixture.iso)
        .args(["--timeout", "900", "--ssh-user", USER, "--ssh-key"])
        .arg(&fixture.key)
        .arg("--log")
        .arg(fixture.dir.path().join(format!("{name}.console.log")));
    for remote in COMMANDS {
        command.args(["--run", remote]);
    }
    let out = command.output().expect("run livecompose test");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!("{name}:\n{stdout}");
    assert!(
        out.status.success(),
        "{name}: the SSH boot test failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    (stdout, stderr)
}

fn ed25519_fingerprint(report: &str) -> String {
    let output = output_of(report, COMMANDS[2]).join("\n");
    let pattern =
        Regex::new(r"^256 (SHA256:[A-Za-z0-9+/]{43}) root@\S+ \(ED25519\)$").expect("pattern");
    pattern
        .captures(&output)
        .unwrap_or_else(|| panic!("no ED25519 fingerprint in {output:?}"))[1]
        .to_owned()
}

#[test]
#[ignore = "end-to-end: builds a live ISO from the Debian mirror and boots it twice in qemu"]
fn net_ssh_login_with_the_kickstart_key_host_keys_made_at_each_boot() {
    let (first, first_stderr) = boot_and_log_in("first");
    // Every command exited 0 (the test would have failed otherwise), and
    // each said what it should.
    assert_eq!(
        first.matches("\nexit status 0").count(),
        COMMANDS.len(),
        "{first}"
    );
    assert!(
        first.contains(&format!("logged in over SSH as {USER} after ")),
        "{first}"
    );
    assert_eq!(output_of(&first, COMMANDS[0]), ["active"]);
    let mut unit_state = output_of(&first, COMMANDS[1]);
    unit_state.sort_unstable();
    assert_eq!(
        unit_state,
        ["ConditionResult=yes", "Result=success"],
        "{UNIT} did not make the keys"
    );
    assert_eq!(output_of(&first, COMMANDS[3]), [HOSTNAME]);
    let hosts = output_of(&first, COMMANDS[4]);
    assert_eq!(hosts.len(), 1, "{hosts:?}");
    assert_eq!(
        hosts[0].split_whitespace().collect::<Vec<_>>(),
        ["127.0.1.1", HOSTNAME]
    );
    // sudo says nothing at all: no "unable to resolve host", no prompt.
    assert!(output_of(&first, COMMANDS[5]).is_empty(), "{first}");
    let (second, second_stderr) = boot_and_log_in("second");
    for report in [&first, &first_stderr, &second, &second_stderr] {
        assert!(!report.contains("unable to resolve host"), "{report}");
    }
    // The kickstart's %post turned password logins off; sshd offers only keys.
    let refusal = output_of(&second, COMMANDS[6]).join("\n");
    assert!(
        refusal.ends_with(": Permission denied (publickey)."),
        "{refusal}"
    );
    let (one, two) = (ed25519_fingerprint(&first), ed25519_fingerprint(&second));
    assert_ne!(one, two, "the two boots share a host key");
}

#[test]
#[ignore = "end-to-end: builds a live ISO from the Debian mirror"]
fn net_ssh_the_iso_holds_no_host_key_but_the_unit_that_makes_them() {
    let fixture = fixture();
    assert!(
        fixture.stderr.contains(&format!(
            "SSH host keys: made at first boot by {UNIT}, before ssh.service"
        )),
        "{}",
        fixture.stderr
    );
    let squashfs = fixture.dir.path().join("filesystem.squashfs");
    extract_squashfs(&fixture.iso, &squashfs);
    let listing = unsquashfs_list(&squashfs);
    let paths: Vec<&str> = listing
        .lines()
        .filter_map(|line| line.strip_prefix("squashfs-root"))
        .collect();
    // The listing is the whole tree: the SSH server and its configuration.
    for present in [
        "/usr/sbin/sshd",
        "/etc/ssh/sshd_config",
        "/etc/ssh/sshd_config.d/keys-only.conf",
        "/etc/systemd/system/livecompose-ssh-host-keys.service",
        "/etc/systemd/system/ssh.service.wants/livecompose-ssh-host-keys.service",
    ] {
        assert!(paths.contains(&present), "{present} missing:\n{listing}");
    }
    let keys: Vec<&&str> = paths
        .iter()
        .filter(|path| path.starts_with("/etc/ssh/ssh_host_"))
        .collect();
    assert!(keys.is_empty(), "host keys baked into the image: {keys:?}");
}

fn unsquashfs_list(image: &Path) -> String {
    run(Command::new("unsquashfs").arg("-l").arg(image))
}
