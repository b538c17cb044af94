//! End-to-end tests of `livecompose test`: real qemu boots of a small hybrid
//! ISO that grub-mkrescue builds at test time. Its GRUB prints a login-like
//! line on the serial port, which is all the boot test needs to see.
//!
//! Run with `cargo test --test boottest -- --ignored --nocapture` to see the
//! boot times.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use livecompose::boottest::{self, AccelChoice, BootError, BootOptions, Firmware, Media};
use regex::Regex;
use sha2::{Digest, Sha256};

/// The Debian packages that provide each host tool the fixture needs.
const TOOLS: [(&str, &str); 3] = [
    ("grub-mkrescue", "grub-common"),
    ("xorriso", "xorriso"),
    ("mformat", "mtools"),
];
const GRUB_PLATFORMS: [(&str, &str); 2] = [
    ("/usr/lib/grub/i386-pc", "grub-pc-bin"),
    ("/usr/lib/grub/x86_64-efi", "grub-efi-amd64-bin"),
];

/// Generous: a UEFI boot of the fixture takes about half a minute under TCG
/// on an idle machine, and the tests boot in parallel with other work.
const BOOT_TIMEOUT: Duration = Duration::from_secs(300);

/// Only the serial terminal: under OVMF the firmware's console is mirrored
/// to the serial port too, so `console` would print every line twice.
const GRUB_CFG: &str = "\
serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
echo \"livecompose boot fixture\"
echo \"fixture login:\"
sleep 3600
";

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
}

/// Fails, never skips, when the host lacks something: a test that passes
/// without booting anything would prove nothing.
fn require_host_tools() {
    let mut missing: Vec<&str> = TOOLS
        .iter()
        .filter(|(tool, _)| !on_path(tool))
        .map(|(_, package)| *package)
        .collect();
    missing.extend(
        GRUB_PLATFORMS
            .iter()
            .filter(|(dir, _)| !Path::new(dir).is_dir())
            .map(|(_, package)| *package),
    );
    if !on_path(boottest::DEFAULT_QEMU) {
        missing.push("qemu-system-x86");
    }
    if !Path::new(boottest::DEFAULT_OVMF_DIR)
        .join("OVMF_CODE_4M.fd")
        .is_file()
    {
        missing.push("ovmf");
    }
    assert!(
        missing.is_empty(),
        "the boot tests need these Debian packages: apt-get install {}",
        missing.join(" ")
    );
}

/// The fixture ISO, built once per test binary.
fn fixture() -> &'static Path {
    static FIXTURE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &FIXTURE
        .get_or_init(|| {
            require_host_tools();
            let dir = tempfile::tempdir().expect("temp dir");
            let grub_dir = dir.path().join("root/boot/grub");
            std::fs::create_dir_all(&grub_dir).expect("mkdir");
            std::fs::write(grub_dir.join("grub.cfg"), GRUB_CFG).expect("grub.cfg");
            let iso = dir.path().join("fixture.iso");
            let output = Command::new("grub-mkrescue")
                .arg("-o")
                .arg(&iso)
                .arg(dir.path().join("root"))
                .output()
                .expect("run grub-mkrescue");
            assert!(
                output.status.success(),
                "grub-mkrescue failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            (dir, iso)
        })
        .1
}

fn sha256(path: &Path) -> Vec<u8> {
    Sha256::digest(std::fs::read(path).expect("read image")).to_vec()
}

fn boot_fixture(firmware: Firmware, media: Media) {
    let image = fixture();
    let before = sha256(image);
    let log = tempfile::NamedTempFile::new().expect("log file");
    let options = BootOptions {
        firmware,
        media,
        timeout: BOOT_TIMEOUT,
        memory_mib: 256,
        log: Some(log.path().to_owned()),
        ..BootOptions::default()
    };
    let report =
        boottest::boot(image, &options).unwrap_or_else(|e| panic!("{firmware:?} {media:?}: {e}"));
    println!(
        "{firmware:?} {media:?}: {:?} after {:.1} s with {}",
        report.matched_line,
        report.elapsed_to_match.as_secs_f64(),
        report.accel
    );
    assert_eq!(report.matched_line, "fixture login:");
    assert_eq!(report.log_path, log.path());
    let console = std::fs::read_to_string(log.path()).expect("console log");
    assert!(console.contains("livecompose boot fixture"), "{console}");
    assert_eq!(sha256(image), before, "the boot changed the image file");
}

#[test]
#[ignore = "end-to-end: boots a grub-mkrescue ISO in qemu (BIOS, CD)"]
fn bios_cdrom_reaches_the_prompt() {
    boot_fixture(Firmware::Bios, Media::Cdrom);
}

#[test]
#[ignore = "end-to-end: boots a grub-mkrescue ISO in qemu (BIOS, USB)"]
fn bios_usb_reaches_the_prompt() {
    boot_fixture(Firmware::Bios, Media::Usb);
}

#[test]
#[ignore = "end-to-end: boots a grub-mkrescue ISO in qemu with OVMF (UEFI, CD)"]
fn uefi_cdrom_reaches_the_prompt() {
    boot_fixture(Firmware::Uefi, Media::Cdrom);
}

#[test]
#[ignore = "end-to-end: boots a grub-mkrescue ISO in qemu with OVMF (UEFI, USB)"]
fn uefi_usb_reaches_the_prompt() {
    boot_fixture(Firmware::Uefi, Media::Usb);
}

#[test]
#[ignore = "end-to-end: boots a grub-mkrescue ISO in qemu as a hard disk"]
fn bios_disk_reaches_the_prompt() {
    boot_fixture(Firmware::Bios, Media::Disk);
}

#[test]
#[ignore = "end-to-end: a boot that never shows the expected line times out"]
fn wrong_expectation_times_out_with_the_last_console_lines() {
    let image = fixture();
    let log = tempfile::NamedTempFile::new().expect("log file");
    let options = BootOptions {
        expect: Regex::new("^this line never appears$").expect("pattern"),
        timeout: Duration::from_secs(15),
        memory_mib: 256,
        accel: AccelChoice::Tcg,
        log: Some(log.path().to_owned()),
        ..BootOptions::default()
    };
    let error = boottest::boot(image, &options).expect_err("must time out");
    let BootError::Timeout { ref console, .. } = error else {
        panic!("expected a timeout, got: {error}");
    };
    assert!(
        console.tail.0.iter().any(|line| line == "fixture login:"),
        "{error}"
    );
    let message = error.to_string();
    assert!(message.contains("within 15 s"), "{message}");
    assert!(message.contains("  | fixture login:"), "{message}");
    let console = std::fs::read_to_string(log.path()).expect("console log");
    assert!(console.contains("fixture login:"), "{console}");
}

#[test]
#[ignore = "end-to-end: needs qemu; UEFI without OVMF names the package"]
fn missing_ovmf_names_the_package() {
    let image = fixture();
    let empty = tempfile::tempdir().expect("temp dir");
    let options = BootOptions {
        firmware: Firmware::Uefi,
        ovmf_dir: empty.path().to_owned(),
        ..BootOptions::default()
    };
    let error = boottest::boot(image, &options).expect_err("no OVMF");
    assert!(matches!(error, BootError::OvmfMissing { .. }), "{error}");
    assert!(
        error
            .to_string()
            .contains("install the Debian package ovmf"),
        "{error}"
    );
}

#[test]
#[ignore = "end-to-end: the command line, a timeout exits 3 with the console tail"]
fn cli_timeout_exits_3_and_shows_the_console() {
    let image = fixture();
    let log = tempfile::NamedTempFile::new().expect("log file");
    let output = Command::new(env!("CARGO_BIN_EXE_livecompose"))
        .arg("test")
        .arg(image)
        .args([
            "--expect",
            "never",
            "--timeout",
            "10",
            "--accel",
            "tcg",
            "--memory",
            "256",
        ])
        .arg("--log")
        .arg(log.path())
        .output()
        .expect("run livecompose");
    let stderr = String::from_utf8_lossy(&output.stderr);
    // 3: the image booted and did not show the line (1 is a tool failure).
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("no console line matched /never/ within 10 s"),
        "{stderr}"
    );
    assert!(stderr.contains("  | fixture login:"), "{stderr}");
}

#[test]
#[ignore = "end-to-end: the command line, a successful boot prints the time"]
fn cli_success_prints_the_time_and_the_accelerator() {
    let image = fixture();
    let log = tempfile::NamedTempFile::new().expect("log file");
    let output = Command::new(env!("CARGO_BIN_EXE_livecompose"))
        .arg("test")
        .arg(image)
        .args(["--memory", "256", "--log"])
        .arg(log.path())
        .output()
        .expect("run livecompose");
    let stdout = successful_stdout(&output);
    assert!(stdout.contains("accelerator: "), "{stdout}");
}

/// What a `livecompose test` that reached the fixture's prompt printed;
/// the test fails, showing both streams, if it did not.
fn successful_stdout(output: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("reached \"fixture login:\" after "),
        "{stdout}"
    );
    stdout
}

/// A directory holding a stand-in `ssh` that runs its last argument (the
/// command) on the host: the fixture has no SSH server, but qemu still gets
/// the forwarded network, and everything around the login is the real
/// command line's.
fn stand_in_ssh() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let client = dir.path().join("ssh");
    std::fs::write(
        &client,
        "#!/bin/sh\n[ \"$1\" = -V ] && exit 0\nfor command; do :; done\nexec sh -c \"$command\"\n",
    )
    .expect("client");
    std::fs::set_permissions(&client, std::fs::Permissions::from_mode(0o755)).expect("executable");
    std::fs::write(dir.path().join("key"), "key").expect("key");
    dir
}

/// `livecompose test` with the stand-in client first on PATH.
fn test_over_ssh(ssh: &Path, runs: &[&str]) -> std::process::Output {
    let path = std::env::join_paths(std::iter::once(ssh.to_owned()).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .expect("PATH");
    let log = tempfile::NamedTempFile::new().expect("log file");
    let mut command = Command::new(env!("CARGO_BIN_EXE_livecompose"));
    command
        .arg("test")
        .arg(fixture())
        .args(["--accel", "tcg", "--memory", "256", "--ssh-user", "tester"])
        .arg("--ssh-key")
        .arg(ssh.join("key"))
        .arg("--log")
        .arg(log.path())
        .env("PATH", path);
    for run in runs {
        command.args(["--run", run]);
    }
    command.output().expect("run livecompose")
}

#[test]
#[ignore = "end-to-end: the command line over SSH (a stand-in client), qemu with the forwarded network"]
fn cli_ssh_commands_are_reported_and_a_failure_exits_3() {
    let ssh = stand_in_ssh();
    let output = test_over_ssh(ssh.path(), &["echo hello; echo warned >&2"]);
    let stdout = successful_stdout(&output);
    assert!(
        stdout.contains("logged in over SSH as tester after "),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("\n$ echo hello; echo warned >&2\n  hello\n  warned\nexit status 0\n"),
        "{stdout}"
    );

    let output = test_over_ssh(ssh.path(), &["echo one", "echo two; exit 4", "echo three"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // 3: the image booted and failed the test (1 is a tool failure).
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(
            "a command failed in the guest:\n$ echo one\n  one\nexit status 0\n$ echo two; exit 4\n  two\nexit status 4\n"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("three"), "{stderr}");

    // A key that cannot be read is the user's mistake, found before qemu starts.
    let output = Command::new(env!("CARGO_BIN_EXE_livecompose"))
        .arg("test")
        .arg(fixture())
        .args(["--ssh-key", "/nonexistent/key"])
        .output()
        .expect("run livecompose");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot read the SSH key /nonexistent/key"),
        "{stderr}"
    );
}
