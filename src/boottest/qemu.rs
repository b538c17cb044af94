//! The qemu command line, and a guard that never leaves qemu running.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// Firmware the machine starts.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Firmware {
    /// SeaBIOS, qemu's built-in PC BIOS.
    #[default]
    Bios,
    /// OVMF (EDK II), from the Debian package ovmf.
    Uefi,
}

/// How the image is attached.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Media {
    /// A CD-ROM drive (read-only).
    #[default]
    Cdrom,
    /// A USB stick on an xHCI controller (writes go to a throwaway overlay).
    Usb,
    /// A virtio hard disk (writes go to a throwaway overlay).
    Disk,
}

/// The accelerator qemu runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

impl fmt::Display for Accel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Kvm => "kvm",
            Self::Tcg => "tcg",
        })
    }
}

/// How qemu reads the image file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFormat {
    Raw,
    Qcow2,
}

impl ImageFormat {
    const QCOW2_MAGIC: &[u8; 4] = b"QFI\xfb";

    /// qcow2 files announce themselves; everything else (ISO, raw disk) is raw.
    pub fn sniff(first_bytes: &[u8]) -> Self {
        if first_bytes.starts_with(Self::QCOW2_MAGIC) {
            Self::Qcow2
        } else {
            Self::Raw
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::Qcow2 => "qcow2",
        }
    }
}

/// UEFI flash images: OVMF's code, and the guest's own copy of the variables
/// (the firmware writes boot entries into it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pflash {
    pub code: PathBuf,
    pub vars: PathBuf,
}

/// Everything the boot command line depends on.
#[derive(Debug, Clone)]
pub struct Machine<'a> {
    pub image: &'a Path,
    pub format: ImageFormat,
    pub media: Media,
    /// `None` boots SeaBIOS.
    pub uefi: Option<&'a Pflash>,
    pub memory_mib: u32,
    pub accel: Accel,
    /// The host port (on 127.0.0.1) forwarded to the guest's SSH port;
    /// `None`: the guest has no network at all.
    pub ssh_port: Option<u16>,
    /// A NoCloud seed, attached as a read-only virtio disk.
    pub seed: Option<&'a Path>,
    /// A disk keeps the guest's writes (a derived child); else qemu's
    /// snapshot overlay takes them and is thrown away.
    pub keep_writes: bool,
}

/// What every machine we start shares: q35, no default devices (no network,
/// no display), and an exit instead of a reboot, so a guest that panics and
/// reboots ends the test instead of looping.
fn common_arguments(accel: Accel, memory_mib: u32) -> Vec<OsString> {
    [
        "-machine",
        "q35",
        "-accel",
        match accel {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        },
        "-m",
        &memory_mib.to_string(),
        "-nodefaults",
        "-display",
        "none",
        "-no-reboot",
    ]
    .into_iter()
    .map(OsString::from)
    .collect()
}

/// One `key=value,...` option whose values include a path: qemu doubles a
/// comma to keep it inside a value.
fn option_with_path(before: &str, path: &Path, after: &str) -> OsString {
    let mut escaped = OsString::from(before);
    escaped.push(path.to_string_lossy().replace(',', ",,"));
    escaped.push(after);
    escaped
}

/// The boot command line: the serial port on qemu's standard output, the
/// image as the first boot device.
pub fn arguments(machine: &Machine) -> Vec<OsString> {
    let mut args = common_arguments(machine.accel, machine.memory_mib);
    // signal=off: a ^C typed into the guest is the guest's, not qemu's.
    args.extend(
        [
            "-chardev",
            "stdio,id=console,signal=off",
            "-serial",
            "chardev:console",
        ]
        .map(OsString::from),
    );
    if let Some(pflash) = machine.uefi {
        args.push("-drive".into());
        args.push(option_with_path(
            "if=pflash,format=raw,unit=0,readonly=on,file=",
            &pflash.code,
            "",
        ));
        args.push("-drive".into());
        args.push(option_with_path(
            "if=pflash,format=raw,unit=1,file=",
            &pflash.vars,
            "",
        ));
    }
    // The image file is never written: a CD is read-only, and USB sticks and
    // disks get a snapshot overlay that qemu throws away on exit; only a
    // derived child asked to keep them takes the guest's writes.
    let format = machine.format.name();
    let (protection, device) = match machine.media {
        Media::Cdrom => (",media=cdrom,readonly=on", "ide-cd,drive=boot,bus=ide.0"),
        Media::Usb => (",snapshot=on", "usb-storage,drive=boot,bus=xhci.0"),
        Media::Disk if machine.keep_writes => ("", "virtio-blk-pci,drive=boot"),
        Media::Disk => (",snapshot=on", "virtio-blk-pci,drive=boot"),
    };
    if machine.media == Media::Usb {
        args.extend(["-device", "qemu-xhci,id=xhci"].map(OsString::from));
    }
    args.push("-drive".into());
    args.push(option_with_path(
        "if=none,id=boot,file=",
        machine.image,
        &format!(",format={format}{protection}"),
    ));
    args.push("-device".into());
    args.push(format!("{device},bootindex=1").into());
    if let Some(seed) = machine.seed {
        args.push("-drive".into());
        args.push(option_with_path(
            "if=none,id=seed,file=",
            seed,
            ",format=raw,readonly=on",
        ));
        args.extend(["-device", "virtio-blk-pci,drive=seed"].map(OsString::from));
    }
    if let Some(port) = machine.ssh_port {
        // restrict=on: the guest reaches neither the host nor the outside
        // (qemu's own DHCP still answers it); only the forwarded port leads
        // in, and only from the host's loopback.
        args.push("-netdev".into());
        args.push(format!("user,id=net,restrict=on,hostfwd=tcp:127.0.0.1:{port}-:22").into());
        args.extend(["-device", "virtio-net-pci,netdev=net"].map(OsString::from));
    }
    args
}

/// The KVM probe's command line: SeaBIOS boots the probe sector, whose
/// write to the isa-debug-exit port ends qemu.
pub fn probe_arguments(disk: &Path) -> Vec<OsString> {
    let mut args = common_arguments(Accel::Kvm, 32);
    args.extend(
        [
            "-device",
            "isa-debug-exit,iobase=0xf4,iosize=0x04",
            "-drive",
        ]
        .map(OsString::from),
    );
    args.push(option_with_path(
        "if=none,id=probe,format=raw,snapshot=on,file=",
        disk,
        "",
    ));
    args.extend(["-device", "ide-hd,drive=probe,bootindex=1"].map(OsString::from));
    args
}

/// Owns a running qemu and kills it when dropped, whichever way the caller
/// leaves: a match, a timeout, an error, a panic or an interrupt.
#[derive(Debug)]
pub struct ProcessGuard {
    child: Child,
}

impl ProcessGuard {
    pub fn new(child: Child) -> Self {
        Self { child }
    }

    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Waits for the process to end by itself, at most `timeout`.
    pub fn wait_timeout(&mut self, timeout: Duration) -> std::io::Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ProcessGuard {
    fn drop(&mut self) {
        // Errors mean the process is already gone, which is what we want.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: Vec<OsString>) -> Vec<String> {
        args.into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    fn pflash() -> Pflash {
        Pflash {
            code: "/usr/share/OVMF/OVMF_CODE_4M.fd".into(),
            vars: "/tmp/t/OVMF_VARS_4M.fd".into(),
        }
    }

    fn line(firmware: Firmware, media: Media, pflash: &Pflash) -> String {
        let machine = Machine {
            image: Path::new("/images/Debian-mini.iso"),
            format: ImageFormat::Raw,
            media,
            uefi: (firmware == Firmware::Uefi).then_some(pflash),
            memory_mib: 1024,
            accel: Accel::Tcg,
            ssh_port: None,
            seed: None,
            keep_writes: false,
        };
        strings(arguments(&machine)).join(" ")
    }

    const COMMON: &str = "-machine q35 -accel tcg -m 1024 -nodefaults -display none -no-reboot \
-chardev stdio,id=console,signal=off -serial chardev:console";
    const PFLASH: &str = "-drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd \
-drive if=pflash,format=raw,unit=1,file=/tmp/t/OVMF_VARS_4M.fd";
    const CDROM: &str = "-drive if=none,id=boot,file=/images/Debian-mini.iso,format=raw,media=cdrom,readonly=on \
-device ide-cd,drive=boot,bus=ide.0,bootindex=1";
    const USB: &str = "-device qemu-xhci,id=xhci \
-drive if=none,id=boot,file=/images/Debian-mini.iso,format=raw,snapshot=on \
-device usb-storage,drive=boot,bus=xhci.0,bootindex=1";
    const DISK: &str = "-drive if=none,id=boot,file=/images/Debian-mini.iso,format=raw,snapshot=on \
-device virtio-blk-pci,drive=boot,bootindex=1";

    #[test]
    fn every_firmware_and_media() {
        let p = pflash();
        for (firmware, media, expected) in [
            (Firmware::Bios, Media::Cdrom, format!("{COMMON} {CDROM}")),
            (Firmware::Bios, Media::Usb, format!("{COMMON} {USB}")),
            (Firmware::Bios, Media::Disk, format!("{COMMON} {DISK}")),
            (
                Firmware::Uefi,
                Media::Cdrom,
                format!("{COMMON} {PFLASH} {CDROM}"),
            ),
            (
                Firmware::Uefi,
                Media::Usb,
                format!("{COMMON} {PFLASH} {USB}"),
            ),
            (
                Firmware::Uefi,
                Media::Disk,
                format!("{COMMON} {PFLASH} {DISK}"),
            ),
        ] {
            assert_eq!(
                line(firmware, media, &p),
                expected,
                "{firmware:?} {media:?}"
            );
        }
    }

    #[test]
    fn kvm_and_qcow2_and_commas_in_paths() {
        let image = Path::new("/images/a,b.qcow2");
        let machine = Machine {
            image,
            format: ImageFormat::Qcow2,
            media: Media::Disk,
            uefi: None,
            memory_mib: 512,
            accel: Accel::Kvm,
            ssh_port: None,
            seed: None,
            keep_writes: false,
        };
        let args = strings(arguments(&machine));
        assert!(args.windows(2).any(|w| w == ["-accel", "kvm"]));
        assert!(args.windows(2).any(|w| w == ["-m", "512"]));
        assert!(
            args.contains(
                &"if=none,id=boot,file=/images/a,,b.qcow2,format=qcow2,snapshot=on".into()
            ),
            "{args:?}"
        );
    }

    #[test]
    fn ssh_forwards_one_loopback_port_into_a_restricted_network() {
        for media in [Media::Cdrom, Media::Usb, Media::Disk] {
            let machine = Machine {
                image: Path::new("/images/d.qcow2"),
                format: ImageFormat::Qcow2,
                media,
                uefi: None,
                memory_mib: 1024,
                accel: Accel::Tcg,
                ssh_port: Some(40022),
                seed: None,
                keep_writes: false,
            };
            let line = strings(arguments(&machine)).join(" ");
            assert!(line.contains(" -nodefaults "), "{line}");
            assert!(
                line.ends_with(
                    " -netdev user,id=net,restrict=on,hostfwd=tcp:127.0.0.1:40022-:22 \
-device virtio-net-pci,netdev=net"
                ),
                "{line}"
            );
            assert_eq!(line.matches("-netdev").count(), 1, "{line}");
        }
        // Without SSH, no network device at all.
        let line = line(Firmware::Bios, Media::Cdrom, &pflash());
        assert!(!line.contains("netdev") && !line.contains("-nic"), "{line}");
    }

    #[test]
    fn a_seed_is_a_second_read_only_virtio_disk_that_is_not_booted() {
        let machine = Machine {
            image: Path::new("/images/d.qcow2"),
            format: ImageFormat::Qcow2,
            media: Media::Disk,
            uefi: None,
            memory_mib: 1024,
            accel: Accel::Tcg,
            ssh_port: None,
            seed: Some(Path::new("/seeds/a,b.iso")),
            keep_writes: false,
        };
        let line = strings(arguments(&machine)).join(" ");
        assert!(
            line.ends_with(
                "-device virtio-blk-pci,drive=boot,bootindex=1 \
-drive if=none,id=seed,file=/seeds/a,,b.iso,format=raw,readonly=on \
-device virtio-blk-pci,drive=seed"
            ),
            "{line}"
        );
    }

    #[test]
    fn image_format_sniffing() {
        assert_eq!(ImageFormat::sniff(b"QFI\xfb\0\0\0\x03"), ImageFormat::Qcow2);
        assert_eq!(ImageFormat::sniff(&[0; 8]), ImageFormat::Raw);
        assert_eq!(ImageFormat::sniff(b""), ImageFormat::Raw);
    }

    #[test]
    fn probe_line_boots_the_probe_disk_under_kvm_with_the_exit_device() {
        let args = strings(probe_arguments(Path::new("/tmp/p/kvm-probe.img")));
        assert!(args.windows(2).any(|w| w == ["-accel", "kvm"]));
        assert!(args.contains(&"isa-debug-exit,iobase=0xf4,iosize=0x04".into()));
        assert!(
            args.contains(
                &"if=none,id=probe,format=raw,snapshot=on,file=/tmp/p/kvm-probe.img".into()
            )
        );
    }
}
