//! What the guest runs on: OVMF for UEFI, and whether KVM or software
//! emulation (TCG) executes it.

use std::fmt;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::BootError;
use super::qemu::{self, Accel, ProcessGuard};

/// The OVMF file pairs we know, newest layout first: Debian 12 and later ship
/// the 4 MiB flash images, older releases only the 2 MiB ones.
const OVMF_PAIRS: [(&str, &str); 2] = [
    ("OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd"),
    ("OVMF_CODE.fd", "OVMF_VARS.fd"),
];

/// Where Debian's `ovmf` package installs its firmware.
pub const DEFAULT_OVMF_DIR: &str = "/usr/share/OVMF";

/// OVMF's read-only code and the pristine variable store it starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ovmf {
    pub code: PathBuf,
    pub vars_template: PathBuf,
}

/// Finds an OVMF code/vars pair in `dir`.
pub fn find_ovmf(dir: &Path) -> Result<Ovmf, BootError> {
    OVMF_PAIRS
        .iter()
        .map(|(code, vars)| Ovmf {
            code: dir.join(code),
            vars_template: dir.join(vars),
        })
        .find(|pair| pair.code.is_file() && pair.vars_template.is_file())
        .ok_or_else(|| BootError::OvmfMissing {
            dir: dir.to_owned(),
            looked_for: OVMF_PAIRS
                .iter()
                .map(|(code, vars)| format!("{code} + {vars}"))
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// Which accelerator the user asked for.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AccelChoice {
    /// KVM if a probe boot shows it works, else TCG.
    #[default]
    Auto,
    /// KVM without probing; an error when /dev/kvm cannot be opened.
    Kvm,
    /// Software emulation.
    Tcg,
}

/// The accelerator chosen, and why, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccelDecision {
    pub accel: Accel,
    pub reason: String,
}

impl fmt::Display for AccelDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.accel, self.reason)
    }
}

/// How the KVM probe boot went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    Finished(Duration),
    Failed(String),
}

/// A working KVM should run the probe (qemu start, SeaBIOS, the boot sector)
/// in well under a second. The nested KVM of our build machines needs over
/// four, and on it GRUB printed nothing in 30 s where TCG boots it in one
/// second. So a probe slower than this means "KVM does not really work".
pub const PROBE_BUDGET: Duration = Duration::from_secs(2);

/// Picks the accelerator. `kvm_device` says whether /dev/kvm can be opened;
/// `probe` boots the probe under KVM and is only run when its answer matters.
pub fn decide(
    choice: AccelChoice,
    kvm_device: Result<(), String>,
    probe: impl FnOnce() -> ProbeOutcome,
) -> Result<AccelDecision, BootError> {
    let decision = |accel, reason: String| Ok(AccelDecision { accel, reason });
    match choice {
        AccelChoice::Tcg => decision(Accel::Tcg, "requested with --accel tcg".into()),
        AccelChoice::Kvm => match kvm_device {
            Ok(()) => decision(Accel::Kvm, "requested with --accel kvm, not probed".into()),
            Err(reason) => Err(BootError::KvmUnusable { reason }),
        },
        AccelChoice::Auto => match kvm_device {
            Err(reason) => decision(Accel::Tcg, reason),
            Ok(()) => match probe() {
                ProbeOutcome::Finished(took) if took <= PROBE_BUDGET => decision(
                    Accel::Kvm,
                    format!("the KVM probe boot took {:.1} s", took.as_secs_f64()),
                ),
                ProbeOutcome::Finished(took) => decision(
                    Accel::Tcg,
                    format!(
                        "KVM is too slow here: the probe boot took {:.1} s, over {} s",
                        took.as_secs_f64(),
                        PROBE_BUDGET.as_secs()
                    ),
                ),
                ProbeOutcome::Failed(reason) => {
                    decision(Accel::Tcg, format!("the KVM probe boot failed: {reason}"))
                }
            },
        },
    }
}

/// Whether the KVM device can be opened as qemu will open it.
pub fn kvm_device(path: &Path) -> Result<(), String> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map(drop)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))
}

/// A 512-byte boot sector (assembled by hand, listing below). It runs what
/// boot loaders run before a kernel takes over: real-mode code that switches
/// to protected mode and back, here 1000 times, then writes 0x31 to the
/// isa-debug-exit port, which ends qemu with status (0x31 << 1) | 1.
///
/// ```text
/// 7c00 fa                cli
/// 7c01 31 c0 8e d8 8e d0 ds = ss = 0
/// 7c07 bc 00 7c          sp = 0x7c00
/// 7c0a 66 0f 01 16 58 7c lgdt [gdtr]
/// 7c10 b9 e8 03          cx = 1000
/// 7c13 0f 20 c0 0c 01    eax = cr0 | PE
/// 7c18 0f 22 c0          cr0 = eax
/// 7c1b ea 20 7c 08 00    jmp 0x08:7c20        ; 16-bit protected mode
/// 7c20 b8 10 00 8e d8    ds = 0x10
/// 7c25 0f 20 c0 24 fe    eax = cr0 & ~PE
/// 7c2a 0f 22 c0          cr0 = eax
/// 7c2d ea 32 7c 00 00    jmp 0:7c32           ; real mode again
/// 7c32 31 c0 8e d8       ds = 0
/// 7c36 e2 db             loop 7c13
/// 7c38 b0 31 e6 f4       out 0xf4, 0x31
/// 7c3c f4 eb fd          hlt; jmp 7c3c
/// 7c40 gdt: null, 16-bit code and data (base 0, limit 64 KiB)
/// 7c58 gdtr: limit 0x17, base 0x7c40
/// ```
const PROBE_SECTOR_CODE: [u8; 0x5e] = [
    0xfa, 0x31, 0xc0, 0x8e, 0xd8, 0x8e, 0xd0, 0xbc, 0x00, 0x7c, 0x66, 0x0f, 0x01, 0x16, 0x58, 0x7c,
    0xb9, 0xe8, 0x03, 0x0f, 0x20, 0xc0, 0x0c, 0x01, 0x0f, 0x22, 0xc0, 0xea, 0x20, 0x7c, 0x08, 0x00,
    0xb8, 0x10, 0x00, 0x8e, 0xd8, 0x0f, 0x20, 0xc0, 0x24, 0xfe, 0x0f, 0x22, 0xc0, 0xea, 0x32, 0x7c,
    0x00, 0x00, 0x31, 0xc0, 0x8e, 0xd8, 0xe2, 0xdb, 0xb0, 0x31, 0xe6, 0xf4, 0xf4, 0xeb, 0xfd, 0x90,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x9a, 0x00, 0x00,
    0xff, 0xff, 0x00, 0x00, 0x00, 0x92, 0x00, 0x00, 0x17, 0x00, 0x40, 0x7c, 0x00, 0x00,
];

/// The exit status qemu reports when the probe sector ran to its end.
const PROBE_EXIT_STATUS: i32 = (0x31 << 1) | 1;

/// SeaBIOS does not boot from a disk as small as one sector.
const PROBE_DISK_SIZE: u64 = 1 << 20;

/// Boots the probe sector under KVM and times it. Errors writing the probe
/// disk count as a failed probe: the boot then simply uses TCG.
pub fn probe_kvm(qemu_binary: &Path, scratch: &Path) -> ProbeOutcome {
    let disk = scratch.join("kvm-probe.img");
    if let Err(e) = write_probe_disk(&disk) {
        return ProbeOutcome::Failed(format!("cannot write {}: {e}", disk.display()));
    }
    let mut command = Command::new(qemu_binary);
    command
        .args(qemu::probe_arguments(&disk))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let started = Instant::now();
    let mut guard = match command.spawn() {
        Ok(child) => ProcessGuard::new(child),
        Err(e) => return ProbeOutcome::Failed(format!("cannot start qemu: {e}")),
    };
    // Waiting a little past the budget tells "slow" from "hung" in the report.
    match guard.wait_timeout(PROBE_BUDGET * 2) {
        Ok(Some(status)) if status.code() == Some(PROBE_EXIT_STATUS) => {
            ProbeOutcome::Finished(started.elapsed())
        }
        Ok(Some(status)) => ProbeOutcome::Failed(format!("qemu ended with {status}")),
        Ok(None) => ProbeOutcome::Failed(format!(
            "no result within {} s",
            (PROBE_BUDGET * 2).as_secs()
        )),
        Err(e) => ProbeOutcome::Failed(format!("cannot wait for qemu: {e}")),
    }
}

fn write_probe_disk(path: &Path) -> std::io::Result<()> {
    let mut sector = [0u8; 512];
    sector[..PROBE_SECTOR_CODE.len()].copy_from_slice(&PROBE_SECTOR_CODE);
    sector[510] = 0x55;
    sector[511] = 0xaa;
    let file = std::fs::File::create(path)?;
    std::io::Write::write_all(&mut &file, &sector)?;
    file.set_len(PROBE_DISK_SIZE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(secs: f64) -> impl FnOnce() -> ProbeOutcome {
        move || ProbeOutcome::Finished(Duration::from_secs_f64(secs))
    }

    fn never_probed() -> ProbeOutcome {
        panic!("the probe must not run for this choice")
    }

    #[test]
    fn tcg_when_asked_without_probing() {
        let d = decide(AccelChoice::Tcg, Ok(()), never_probed).expect("decision");
        assert_eq!(d.accel, Accel::Tcg);
    }

    #[test]
    fn kvm_when_asked_and_the_device_opens() {
        let d = decide(AccelChoice::Kvm, Ok(()), never_probed).expect("decision");
        assert_eq!(d.accel, Accel::Kvm);
    }

    #[test]
    fn asking_for_kvm_without_a_device_is_an_error() {
        let e = decide(AccelChoice::Kvm, Err("no /dev/kvm".into()), never_probed)
            .expect_err("must fail");
        assert!(e.to_string().contains("no /dev/kvm"), "{e}");
    }

    #[test]
    fn auto_without_a_device_is_tcg_without_probing() {
        let d = decide(
            AccelChoice::Auto,
            Err("cannot open /dev/kvm".into()),
            never_probed,
        )
        .expect("decision");
        assert_eq!(d.accel, Accel::Tcg);
        assert!(d.reason.contains("/dev/kvm"), "{}", d.reason);
    }

    #[test]
    fn auto_uses_kvm_when_the_probe_is_fast() {
        let d = decide(AccelChoice::Auto, Ok(()), finished(0.4)).expect("decision");
        assert_eq!(d.accel, Accel::Kvm);
    }

    #[test]
    fn auto_falls_back_when_the_probe_is_slow_or_fails() {
        let slow = decide(AccelChoice::Auto, Ok(()), finished(4.2)).expect("decision");
        assert_eq!(slow.accel, Accel::Tcg);
        assert!(slow.reason.contains("4.2 s"), "{}", slow.reason);
        let failed = decide(AccelChoice::Auto, Ok(()), || {
            ProbeOutcome::Failed("KVM internal error".into())
        })
        .expect("decision");
        assert_eq!(failed.accel, Accel::Tcg);
        assert!(failed.reason.contains("KVM internal error"));
    }

    #[test]
    fn probe_sector_is_a_boot_sector_with_its_gdt_where_the_code_expects() {
        let gdtr = 0x58;
        assert_eq!(&PROBE_SECTOR_CODE[gdtr..gdtr + 2], &[0x17, 0x00]);
        assert_eq!(&PROBE_SECTOR_CODE[gdtr + 2..gdtr + 4], &[0x40, 0x7c]);
        assert_eq!(PROBE_EXIT_STATUS, 99);
    }

    #[test]
    fn ovmf_found_in_the_4m_layout_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in [
            "OVMF_CODE_4M.fd",
            "OVMF_VARS_4M.fd",
            "OVMF_CODE.fd",
            "OVMF_VARS.fd",
        ] {
            std::fs::write(dir.path().join(name), b"fd").expect("write");
        }
        let ovmf = find_ovmf(dir.path()).expect("found");
        assert_eq!(ovmf.code, dir.path().join("OVMF_CODE_4M.fd"));
        assert_eq!(ovmf.vars_template, dir.path().join("OVMF_VARS_4M.fd"));
    }

    #[test]
    fn missing_ovmf_names_the_package() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("OVMF_CODE_4M.fd"), b"fd").expect("write");
        let e = find_ovmf(dir.path()).expect_err("vars missing");
        let message = e.to_string();
        assert!(message.contains("ovmf"), "{message}");
        assert!(message.contains("OVMF_VARS_4M.fd"), "{message}");
    }
}
