//! The boot test: start an image in qemu with its serial port captured, and
//! wait for a line that proves it booted (by default a login prompt).
//!
//! [`boot`] is the whole stage: it picks the accelerator (KVM only when a
//! probe boot shows it works, else TCG), finds OVMF for UEFI, starts qemu
//! under a guard that always kills it, and watches the console.

pub mod cloud;
mod console;
mod firmware;
mod qemu;
mod ssh;

use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use regex::Regex;

use crate::disk::qcow2::BackingFormat;

pub use console::{DEFAULT_EXPECT, TAIL_LINES, Tail};
pub use firmware::{AccelChoice, AccelDecision, DEFAULT_OVMF_DIR, PROBE_BUDGET};
pub use qemu::{Accel, Firmware, Media};
pub use ssh::{CommandRun, DEFAULT_SSH_CLIENT, DEFAULT_SSH_USER, Runs, SshError, SshLogin};

use console::Watcher;
use qemu::{ImageFormat, Machine, Pflash, ProcessGuard};

/// The qemu binary looked up on PATH unless told otherwise.
pub const DEFAULT_QEMU: &str = "qemu-system-x86_64";

/// What `boot` does; `BootOptions::default()` is what `livecompose test`
/// does without options.
#[derive(Debug, Clone)]
pub struct BootOptions {
    pub firmware: Firmware,
    pub media: Media,
    /// Matched against each console line, escape sequences removed.
    pub expect: Regex,
    pub timeout: Duration,
    pub memory_mib: u32,
    pub accel: AccelChoice,
    /// Where the console is written; `None`: beside the image, as
    /// `IMAGE.console.log`.
    pub log: Option<PathBuf>,
    pub qemu: PathBuf,
    pub ovmf_dir: PathBuf,
    /// Show a spinner with the elapsed time and the console's current line
    /// on stderr (never drawn when stderr is not a terminal).
    pub progress: bool,
    /// Once the expected line is seen, log in over SSH and run commands;
    /// the guest then gets a network that leads nowhere but to its SSH
    /// port. `None`: the guest has no network.
    pub ssh: Option<SshLogin>,
    /// A NoCloud seed volume, attached read-only as a second virtio disk.
    pub seed: Option<PathBuf>,
    /// Boot a disk of this many bytes: the image, then zeros (a throwaway
    /// overlay, so the image is never written). `--media disk` only.
    pub disk_size: Option<u64>,
    /// Keep the guest's writes in the image, which must be a child made by
    /// `livecompose derive`, so no master is ever written. `--media disk` only.
    pub keep_writes: bool,
}

impl Default for BootOptions {
    fn default() -> Self {
        Self {
            firmware: Firmware::default(),
            media: Media::default(),
            expect: default_expect(),
            timeout: Duration::from_secs(300),
            memory_mib: 1024,
            accel: AccelChoice::default(),
            log: None,
            qemu: DEFAULT_QEMU.into(),
            ovmf_dir: DEFAULT_OVMF_DIR.into(),
            progress: false,
            ssh: None,
            seed: None,
            disk_size: None,
            keep_writes: false,
        }
    }
}

/// The login-prompt pattern, compiled.
pub fn default_expect() -> Regex {
    Regex::new(DEFAULT_EXPECT).expect("DEFAULT_EXPECT is a valid pattern")
}

/// The console log's place when none is given: beside the image.
pub fn default_log_path(image: &Path) -> PathBuf {
    let mut name = image.as_os_str().to_owned();
    name.push(".console.log");
    PathBuf::from(name)
}

/// A boot that reached the expected line.
#[derive(Debug, Clone)]
pub struct BootReport {
    pub accel: AccelDecision,
    /// From starting qemu to the end of the matching line.
    pub elapsed_to_match: Duration,
    pub matched_line: String,
    pub log_path: PathBuf,
    /// The SSH login and its commands, when one was asked for.
    pub ssh: Option<SshReport>,
}

/// How the SSH part of a boot test went.
#[derive(Debug, Clone)]
pub struct SshReport {
    pub user: String,
    /// From starting qemu to the first successful login.
    pub elapsed_to_login: Duration,
    pub runs: Runs,
}

impl fmt::Display for BootReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "reached {:?} after {:.1} s\naccelerator: {}\nconsole log: {}",
            self.matched_line.trim_end(),
            self.elapsed_to_match.as_secs_f64(),
            self.accel,
            self.log_path.display()
        )?;
        if let Some(ssh) = &self.ssh {
            write!(
                f,
                "\nlogged in over SSH as {} after {:.1} s",
                ssh.user,
                ssh.elapsed_to_login.as_secs_f64()
            )?;
            if !ssh.runs.0.is_empty() {
                write!(f, "\n{}", ssh.runs)?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("cannot read the image {}: {source}", path.display())]
    Image {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the seed {}: {source}", path.display())]
    Seed {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--disk-size and --keep-writes apply to --media disk only")]
    NeedsDiskMedia,
    #[error("--disk-size makes a throwaway disk, so it cannot be combined with --keep-writes")]
    GrowAndKeep,
    #[error(
        "--keep-writes writes into {}, which is not a child made by `livecompose derive` (a qcow2 image with a backing file); derive a child and boot that, so that no master is ever written",
        path.display()
    )]
    KeepWritesNeedsChild { path: PathBuf },
    #[error("cannot make the larger disk of --disk-size: {0}")]
    Grow(#[source] crate::derive::DeriveError),
    #[error(
        "qemu not found ({}): install the Debian package qemu-system-x86",
        qemu.display()
    )]
    QemuMissing { qemu: PathBuf },
    #[error("cannot run {}: {source}", qemu.display())]
    QemuStart {
        qemu: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "UEFI firmware not found in {} (looked for {looked_for}): install the Debian package ovmf",
        dir.display()
    )]
    OvmfMissing { dir: PathBuf, looked_for: String },
    #[error("--accel kvm, but KVM cannot be used: {reason}")]
    KvmUnusable { reason: String },
    #[error("scratch space for the UEFI variables and the KVM probe: {0}")]
    Scratch(std::io::Error),
    #[error("cannot write the console log {}: {source}", path.display())]
    Log {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "no console line matched /{}/ within {} s ({accel}); console log: {}\nlast console lines:\n{}",
        console.expect,
        timeout.as_secs(),
        console.log.display(),
        console.tail
    )]
    Timeout {
        timeout: Duration,
        accel: Accel,
        console: Box<Unmatched>,
    },
    #[error(
        "qemu ended ({status}) after {:.1} s before a console line matched /{}/; console log: {}\nqemu said: {stderr}\nlast console lines:\n{}",
        elapsed.as_secs_f64(),
        console.expect,
        console.log.display(),
        console.tail
    )]
    QemuExited {
        status: String,
        elapsed: Duration,
        stderr: String,
        console: Box<Unmatched>,
    },
    #[error("interrupted; qemu was stopped; console log: {}", log.display())]
    Interrupted { log: PathBuf },
    #[error("{source}\nconsole log: {}", log.display())]
    Ssh { source: SshError, log: PathBuf },
}

impl BootError {
    /// Whether the image was booted and failed the test (as opposed to a
    /// problem of the host, the options or the tool).
    /// Whether the command line or the image named on it is at fault (exit
    /// code 2), not the machine or the boot.
    pub fn is_bad_input(&self) -> bool {
        match self {
            BootError::Image { .. }
            | BootError::Seed { .. }
            | BootError::NeedsDiskMedia
            | BootError::GrowAndKeep
            | BootError::KeepWritesNeedsChild { .. } => true,
            BootError::Grow(error) => error.is_bad_input(),
            _ => false,
        }
    }

    pub fn is_test_failure(&self) -> bool {
        match self {
            BootError::Timeout { .. } | BootError::QemuExited { .. } => true,
            BootError::Ssh { source, .. } => source.is_test_failure(),
            _ => false,
        }
    }
}

/// The console of a boot that did not show the expected line.
#[derive(Debug, Clone)]
pub struct Unmatched {
    pub expect: String,
    pub log: PathBuf,
    pub tail: Tail,
}

/// How often the watcher looks at the clock and the interrupt flag when the
/// console is quiet.
const POLL: Duration = Duration::from_millis(100);

/// qemu's own messages kept for an error report.
const MAX_STDERR: u64 = 16 * 1024;

/// Boots `image` and waits for `options.expect` on the serial console.
pub fn boot(image: &Path, options: &BootOptions) -> Result<BootReport, BootError> {
    let format = sniff_image(image)?;
    if let Some(seed) = &options.seed {
        // qemu would say only that it cannot open the file.
        std::fs::File::open(seed).map_err(|source| BootError::Seed {
            path: seed.clone(),
            source,
        })?;
    }
    check_qemu(&options.qemu)?;
    let log_path = options
        .log
        .clone()
        .unwrap_or_else(|| default_log_path(image));
    let ssh_error = |source| BootError::Ssh {
        source,
        log: log_path.clone(),
    };
    if let Some(login) = &options.ssh {
        ssh::check(login).map_err(ssh_error)?;
    }
    let scratch = tempfile::Builder::new()
        .prefix("livecompose-boot")
        .tempdir()
        .map_err(BootError::Scratch)?;
    let (booted, booted_format) = disk_to_boot(image, format, options, scratch.path())?;
    let pflash = match options.firmware {
        Firmware::Bios => None,
        Firmware::Uefi => Some(uefi_flash(&options.ovmf_dir, scratch.path())?),
    };
    let accel = firmware::decide(
        options.accel,
        firmware::kvm_device(Path::new("/dev/kvm")),
        || firmware::probe_kvm(&options.qemu, scratch.path()),
    )?;
    // Looked for just before qemu starts, so another program has the
    // least time to take it first.
    let ssh_port = match &options.ssh {
        Some(_) => Some(ssh::free_port().map_err(ssh_error)?),
        None => None,
    };
    let machine = Machine {
        image: &booted,
        format: booted_format,
        media: options.media,
        uefi: pflash.as_ref(),
        memory_mib: options.memory_mib,
        accel: accel.accel,
        ssh_port,
        seed: options.seed.as_deref(),
        keep_writes: options.keep_writes,
    };
    let log = File::create(&log_path).map_err(|source| BootError::Log {
        path: log_path.clone(),
        source,
    })?;
    let mut command = Command::new(&options.qemu);
    command
        .args(qemu::arguments(&machine))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    // Kills qemu whichever way this function returns; with SSH, only once
    // the session is over.
    let mut guard = ProcessGuard::new(command.spawn().map_err(|source| BootError::QemuStart {
        qemu: options.qemu.clone(),
        source,
    })?);
    let run = Run {
        options,
        accel,
        log,
        log_path: log_path.clone(),
        started,
        spinner: spinner(options.progress, image, &machine),
    };
    let mut report = run.watch(&mut guard)?;
    if let (Some(login), Some(port)) = (&options.ssh, ssh_port) {
        let session = ssh::session(login, port, started + options.timeout, options.timeout)
            .map_err(ssh_error)?;
        report.ssh = Some(SshReport {
            user: login.user.clone(),
            elapsed_to_login: session.logged_in.duration_since(started),
            runs: session.runs,
        });
    }
    Ok(report)
}

/// Reads the first bytes: a missing image is the user's error, reported
/// before anything starts; the bytes tell qcow2 from raw.
fn sniff_image(image: &Path) -> Result<ImageFormat, BootError> {
    let mut head = Vec::with_capacity(8);
    File::open(image)
        .and_then(|file| file.take(8).read_to_end(&mut head))
        .map_err(|source| BootError::Image {
            path: image.to_owned(),
            source,
        })?;
    Ok(ImageFormat::sniff(&head))
}

/// The disk qemu boots: the image itself, or with `--disk-size` a larger
/// overlay in `scratch` backed by it. With `--keep-writes`, the image must
/// be a derived child.
fn disk_to_boot(
    image: &Path,
    format: ImageFormat,
    options: &BootOptions,
    scratch: &Path,
) -> Result<(PathBuf, ImageFormat), BootError> {
    if (options.disk_size.is_some() || options.keep_writes) && options.media != Media::Disk {
        return Err(BootError::NeedsDiskMedia);
    }
    if options.keep_writes {
        if options.disk_size.is_some() {
            return Err(BootError::GrowAndKeep);
        }
        let child = match format {
            ImageFormat::Qcow2 => {
                let mut head = Vec::new();
                File::open(image)
                    .and_then(|file| file.take(64 * 1024).read_to_end(&mut head))
                    .map_err(|source| BootError::Image {
                        path: image.to_owned(),
                        source,
                    })?;
                crate::disk::qcow2::read_header(&head)
                    .is_ok_and(|header| header.backing_file.is_some())
            }
            ImageFormat::Raw => false,
        };
        if !child {
            return Err(BootError::KeepWritesNeedsChild {
                path: image.to_owned(),
            });
        }
    }
    let Some(size) = options.disk_size else {
        return Ok((image.to_owned(), format));
    };
    let overlay = scratch.join("grown.qcow2");
    let backing_format = match format {
        ImageFormat::Raw => BackingFormat::Raw,
        ImageFormat::Qcow2 => BackingFormat::Qcow2,
    };
    crate::derive::grown_overlay(image, backing_format, size, &overlay).map_err(BootError::Grow)?;
    Ok((overlay, ImageFormat::Qcow2))
}

/// Runs `qemu -version`, so that a missing qemu is named as such and not
/// mistaken for a failed KVM probe.
fn check_qemu(qemu: &Path) -> Result<(), BootError> {
    match starts(qemu, "-version") {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(BootError::QemuMissing {
            qemu: qemu.to_owned(),
        }),
        Err(source) => Err(BootError::QemuStart {
            qemu: qemu.to_owned(),
            source,
        }),
    }
}

/// Whether `program` can be started, asked for its version (whatever it
/// answers): the tools the test needs are checked before a boot starts.
fn starts(program: &Path, version_option: &str) -> std::io::Result<()> {
    Command::new(program)
        .arg(version_option)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|_| ())
}

/// OVMF's code as installed, and a fresh copy of its variable store: the
/// firmware writes to it, and the installed template must stay pristine.
fn uefi_flash(ovmf_dir: &Path, scratch: &Path) -> Result<Pflash, BootError> {
    let ovmf = firmware::find_ovmf(ovmf_dir)?;
    let vars = scratch.join("OVMF_VARS.fd");
    std::fs::copy(&ovmf.vars_template, &vars).map_err(BootError::Scratch)?;
    Ok(Pflash {
        code: ovmf.code,
        vars,
    })
}

fn spinner(show: bool, image: &Path, machine: &Machine) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} [{elapsed}] {prefix}: {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_prefix(format!(
        "{} ({:?}, {:?}, {})",
        image.display(),
        machine.uefi.map_or(Firmware::Bios, |_| Firmware::Uefi),
        machine.media,
        machine.accel
    ));
    bar.enable_steady_tick(POLL);
    bar
}

/// One boot in progress.
struct Run<'a> {
    options: &'a BootOptions,
    accel: AccelDecision,
    log: File,
    log_path: PathBuf,
    started: Instant,
    spinner: ProgressBar,
}

impl Run<'_> {
    /// Watches the console until the expected line; then a thread goes on
    /// copying the console into the log for as long as qemu runs: without a
    /// reader, a full pipe would stall the guest's serial port.
    fn watch(mut self, guard: &mut ProcessGuard) -> Result<BootReport, BootError> {
        let child = guard.child_mut();
        let (Some(mut stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(BootError::QemuStart {
                qemu: self.options.qemu.clone(),
                source: std::io::Error::other("qemu's output pipes are missing"),
            });
        };
        // qemu fills its pipes at its own pace; threads keep it from ever
        // blocking on them while we look at the clock.
        let (chunks, console) = mpsc::channel::<Vec<u8>>();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n @ 1..) = stdout.read(&mut buffer) {
                if chunks.send(buffer[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        let stderr_reader = std::thread::spawn(move || {
            let mut text = String::new();
            // Whatever qemu managed to say is enough for the report.
            let _ = stderr.take(MAX_STDERR).read_to_string(&mut text);
            text
        });

        let mut watcher = Watcher::new(self.options.expect.clone());
        let deadline = self.started + self.options.timeout;
        let result = loop {
            if crate::interrupt::requested() {
                break Err(BootError::Interrupted {
                    log: self.log_path.clone(),
                });
            }
            let now = Instant::now();
            if now >= deadline {
                break Err(BootError::Timeout {
                    timeout: self.options.timeout,
                    accel: self.accel.accel,
                    console: self.unmatched(&watcher),
                });
            }
            match console.recv_timeout(POLL.min(deadline - now)) {
                Ok(chunk) => {
                    if let Err(source) = self.log.write_all(&chunk) {
                        break Err(BootError::Log {
                            path: self.log_path.clone(),
                            source,
                        });
                    }
                    if let Some(line) = watcher.feed(&chunk) {
                        break Ok(BootReport {
                            accel: self.accel.clone(),
                            elapsed_to_match: self.started.elapsed(),
                            matched_line: line,
                            log_path: self.log_path.clone(),
                            ssh: None,
                        });
                    }
                    self.spinner.set_message(watcher.current_line());
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    let elapsed = self.started.elapsed();
                    let status = match guard.wait_timeout(POLL * 10) {
                        Ok(Some(status)) => status.to_string(),
                        Ok(None) => "its console closed".to_owned(),
                        Err(e) => format!("cannot wait for it: {e}"),
                    };
                    break Err(BootError::QemuExited {
                        status,
                        elapsed,
                        stderr: stderr_reader
                            .join()
                            .unwrap_or_default()
                            .trim_end()
                            .to_owned(),
                        console: self.unmatched(&watcher),
                    });
                }
            }
        };
        self.spinner.finish_and_clear();
        if result.is_ok() {
            let mut log = self.log;
            std::thread::spawn(move || {
                // Ends when qemu does and its console closes. A log that
                // cannot be written only loses the lines after the match;
                // the console is still read, so qemu never waits on it.
                let mut writable = true;
                for chunk in console {
                    writable = writable && log.write_all(&chunk).is_ok();
                }
            });
        }
        result
    }

    fn unmatched(&self, watcher: &Watcher) -> Box<Unmatched> {
        Box::new(Unmatched {
            expect: self.options.expect.to_string(),
            log: self.log_path.clone(),
            tail: Tail(watcher.last_lines()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_log_sits_beside_the_image() {
        assert_eq!(
            default_log_path(Path::new("out/Debian-mini.iso")),
            Path::new("out/Debian-mini.iso.console.log")
        );
    }

    #[test]
    fn defaults_boot_bios_cdrom_to_a_login_prompt() {
        let options = BootOptions::default();
        assert_eq!(options.firmware, Firmware::Bios);
        assert_eq!(options.media, Media::Cdrom);
        assert_eq!(options.accel, AccelChoice::Auto);
        assert!(options.expect.is_match("debian login: "));
        assert!(!options.expect.is_match("Last login: Mon Jan  1 on ttyS0"));
    }

    #[test]
    fn missing_image_is_reported_before_qemu_is_looked_for() {
        let options = BootOptions {
            qemu: "/nonexistent/qemu".into(),
            ..BootOptions::default()
        };
        let e = boot(Path::new("/nonexistent/image.iso"), &options).expect_err("no image");
        assert!(matches!(e, BootError::Image { .. }), "{e}");
    }

    #[test]
    fn missing_qemu_names_the_package() {
        let image = tempfile::NamedTempFile::new().expect("temp image");
        let options = BootOptions {
            qemu: "/nonexistent/qemu-system-x86_64".into(),
            ..BootOptions::default()
        };
        let e = boot(image.path(), &options).expect_err("no qemu");
        assert!(e.to_string().contains("qemu-system-x86"), "{e}");
    }
}
