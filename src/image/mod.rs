//! The image writer: a live system's squashfs, kernel and initrd, plus the
//! bootloaders from the repository's packages, into one hybrid ISO that
//! boots from CD and USB with BIOS (ISOLINUX) and UEFI (systemd-boot).
//!
//! Layout of the image:
//! - `/live/filesystem.squashfs`, `/live/vmlinuz`, `/live/initrd.img`
//! - `/isolinux/`: ISOLINUX, its menu modules, `isolinux.cfg`, the boot catalog
//! - an appended EFI System Partition (FAT16, [`esp`]) with
//!   `EFI/BOOT/BOOTX64.EFI` (systemd-boot), `loader/` and its own copy of
//!   the kernel and initrd, because systemd-boot only loads from its own
//!   partition and UEFI firmware cannot read ISO 9660.
//!
//! The same writers make data volumes ([`write_volume`]): a few files in
//! the root of a labelled ISO 9660 or FAT volume, such as a NoCloud seed.

mod bootconfig;
mod esp;
mod iso;

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use hadris_fs::DateTime;

use crate::distro::{AssetFile, UnpackedAssets};
use crate::source_date::{SourceDate, SourceDateError};

pub use bootconfig::{isolinux_cfg, loader_conf, systemd_boot_entries};
pub use esp::{EspFile, Source, write_esp, write_fat_partition};

/// What the live initrd reads: the kernel argument naming the medium's
/// label, the `toram` argument of the second menu entry, and where the
/// squashfs must be on the medium. The initrd defines them; the ISO obeys.
pub use crate::initrd::{LABEL_ARG, SQUASHFS_PATH as ISO_SQUASHFS, TORAM_ARG};
/// Paths on the image of the kernel and initrd (also on the ESP).
pub const ISO_KERNEL: &str = "live/vmlinuz";
pub const ISO_INITRD: &str = "live/initrd.img";
/// An ISO 9660 volume id holds at most 32 characters.
pub const MAX_LABEL_LEN: usize = 32;

const ISOLINUX_DIR: &str = "isolinux";
const UEFI_LOADER: &str = "EFI/BOOT/BOOTX64.EFI";

/// The bootloader files, unpacked from the distribution's packages (where
/// they are is the distribution's business: [`crate::distro::BootAsset`]).
#[derive(Debug, Clone)]
pub struct BootloaderFiles {
    pub isolinux_bin: PathBuf,
    /// `isohdpfx.bin`, the MBR code that boots ISOLINUX from a disk.
    pub isohdpfx_bin: PathBuf,
    pub ldlinux_c32: PathBuf,
    pub menu_c32: PathBuf,
    pub libutil_c32: PathBuf,
    pub systemd_boot_efi: PathBuf,
}

impl BootloaderFiles {
    /// The files among unpacked boot assets.
    pub fn from_assets(assets: &UnpackedAssets) -> anyhow::Result<Self> {
        Ok(Self {
            isolinux_bin: assets.path(AssetFile::IsolinuxBin)?.to_owned(),
            isohdpfx_bin: assets.path(AssetFile::IsohdpfxBin)?.to_owned(),
            ldlinux_c32: assets.path(AssetFile::LdlinuxC32)?.to_owned(),
            menu_c32: assets.path(AssetFile::MenuC32)?.to_owned(),
            libutil_c32: assets.path(AssetFile::LibutilC32)?.to_owned(),
            systemd_boot_efi: assets.path(AssetFile::SystemdBootEfi)?.to_owned(),
        })
    }
}

/// What goes on a live ISO.
#[derive(Debug, Clone)]
pub struct LiveIsoSpec {
    /// The volume id, also passed to the initrd as [`LABEL_ARG`].
    pub label: String,
    pub squashfs: PathBuf,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    /// Appended after the label argument (kickstart `bootloader --append`).
    pub kernel_args: Vec<String>,
    /// Menu timeout (kickstart `bootloader --timeout`); 0 boots at once.
    pub timeout_secs: u32,
    pub bootloaders: BootloaderFiles,
    /// Every date in the image: the build's time.
    pub time: DateTime,
}

/// A written image.
#[derive(Debug, Clone)]
pub struct IsoReport {
    pub path: PathBuf,
    pub size: u64,
    pub esp_size: u64,
    /// Every date in the image, as Unix seconds.
    pub time: i64,
    /// What the ISO writer could not store as asked.
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(
        "the label {label:?} cannot be an ISO 9660 volume id: {reason} \
         (use at most {MAX_LABEL_LEN} of A-Z a-z 0-9 _ -)"
    )]
    Label { label: String, reason: &'static str },
    #[error("the kernel argument {arg:?} is empty or holds white space or control characters")]
    KernelArg { arg: String },
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("the EFI System Partition would exceed FAT16's 2 GiB or 512 root entries")]
    EspTooLarge,
    #[error("a FAT16 file system needs at least 2 MiB; the partition has {bytes} bytes")]
    EspTooSmall { bytes: u64 },
    #[error(
        "{label:?} cannot be a FAT volume label (at most 11 printable ASCII characters, no .,:;*?\"<>|+=[]/\\)"
    )]
    FatLabel { label: String },
    #[error("{name:?} cannot be a path on the EFI System Partition")]
    EspName { name: String },
    #[error(transparent)]
    SourceDateEpoch(#[from] SourceDateError),
    #[error("the ISO writer failed: {source}")]
    Iso { source: hadris_fs::PathError },
}

impl ImageError {
    /// The error for a failed read of `path`, for `map_err`.
    fn read(path: &Path) -> impl Fn(io::Error) -> Self + Copy + '_ {
        move |source| Self::Read {
            path: path.to_owned(),
            source,
        }
    }

    /// The error for a failed write of `path`, for `map_err`.
    fn write(path: &Path) -> impl Fn(io::Error) -> Self + Copy + '_ {
        move |source| Self::Write {
            path: path.to_owned(),
            source,
        }
    }
}

/// Checks that `label` can be the volume id, and so the label the initrd
/// searches for. ISO 9660 strictly allows only A-Z 0-9 _ there; lower case
/// and `-` are accepted too because live media use them (`Debian-mini`),
/// and Linux and blkid read them back unchanged. Spaces and other
/// characters are refused: they would also break the kernel command line.
pub fn validate_label(label: &str) -> Result<(), ImageError> {
    let fail = |reason| {
        Err(ImageError::Label {
            label: label.to_owned(),
            reason,
        })
    };
    if label.is_empty() {
        return fail("it is empty");
    }
    if label.len() > MAX_LABEL_LEN {
        return fail("it is longer than 32 characters");
    }
    if !label
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return fail("it holds a character other than A-Z a-z 0-9 _ -");
    }
    // It also names the output files, and a leading '-' reads as an option.
    if label.starts_with('-') {
        return fail("it starts with '-'");
    }
    Ok(())
}

/// The kernel command line of the default entry: the label argument, then
/// the caller's arguments.
pub fn kernel_cmdline(label: &str, args: &[String]) -> Result<Vec<String>, ImageError> {
    // One argument per word: a newline would end the config line early.
    if let Some(arg) = args
        .iter()
        .find(|arg| arg.is_empty() || arg.chars().any(|c| c.is_whitespace() || c.is_control()))
    {
        return Err(ImageError::KernelArg { arg: arg.clone() });
    }
    let mut cmdline = vec![format!("{LABEL_ARG}={label}")];
    cmdline.extend(args.iter().cloned());
    Ok(cmdline)
}

/// The time every date of a volume made from `input` alone gets (a
/// seed): `SOURCE_DATE_EPOCH` when set, else `input`'s modification time,
/// which stays the same while the input does.
pub fn image_time(input: &Path) -> Result<DateTime, ImageError> {
    if let Some(date) = SourceDate::from_environment()? {
        return Ok(date.date_time());
    }
    let modified = fs::metadata(input)
        .and_then(|meta| meta.modified())
        .map_err(ImageError::read(input))?;
    let seconds = modified
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    // Whole seconds: the image's date fields have no finer resolution.
    Ok(
        DateTime::from_unix_seconds(i64::try_from(seconds).unwrap_or(i64::MAX))
            .unwrap_or(DateTime::UNIX_EPOCH),
    )
}

fn read(path: &Path) -> Result<Vec<u8>, ImageError> {
    fs::read(path).map_err(ImageError::read(path))
}

/// Writes the live ISO to `output`: first to a temporary file beside it,
/// renamed into place only when complete, so `output` is never half written.
pub fn write_live_iso(spec: &LiveIsoSpec, output: &Path) -> Result<IsoReport, ImageError> {
    validate_label(&spec.label)?;
    let cmdline = kernel_cmdline(&spec.label, &spec.kernel_args)?;
    let time = spec.time;
    let boot = &spec.bootloaders;
    let temp = |suffix: &str| temp_beside(output, suffix);

    let mut esp_files = vec![
        EspFile::host(UEFI_LOADER, &boot.systemd_boot_efi),
        EspFile::bytes("loader/loader.conf", loader_conf(spec.timeout_secs)),
        EspFile::host(ISO_KERNEL, &spec.kernel),
        EspFile::host(ISO_INITRD, &spec.initrd),
    ];
    for (name, text) in systemd_boot_entries(&spec.label, &cmdline) {
        esp_files.push(EspFile::bytes(&format!("loader/entries/{name}"), text));
    }
    let esp_image = temp(".esp")?;
    let esp_size = write_esp(&esp_files, time, esp_image.path())?;

    let host = |path: &str, host: &Path| iso::IsoFile::Host {
        path: path.to_owned(),
        host: host.to_owned(),
    };
    let isolinux = |name: &str| format!("{ISOLINUX_DIR}/{name}");
    let bios_boot = isolinux("isolinux.bin");
    let boot_catalog = isolinux("boot.cat");
    let layout = iso::IsoLayout {
        volume_id: &spec.label,
        files: vec![
            host(ISO_SQUASHFS, &spec.squashfs),
            host(ISO_KERNEL, &spec.kernel),
            host(ISO_INITRD, &spec.initrd),
            host(&bios_boot, &boot.isolinux_bin),
            host(&isolinux("ldlinux.c32"), &boot.ldlinux_c32),
            host(&isolinux("menu.c32"), &boot.menu_c32),
            host(&isolinux("libutil.c32"), &boot.libutil_c32),
            iso::IsoFile::Bytes {
                path: isolinux("isolinux.cfg"),
                bytes: isolinux_cfg(&spec.label, &cmdline, spec.timeout_secs).into_bytes(),
            },
        ],
        boot: Some(iso::IsoBoot {
            bios_boot: &bios_boot,
            boot_catalog: &boot_catalog,
            esp: esp_image.path(),
            mbr: &read(&boot.isohdpfx_bin)?,
        }),
        time,
    };
    let image = temp(".iso")?;
    let (size, warnings) = iso::write_iso(&layout, image.path())?;
    persist(image, output)?;
    Ok(IsoReport {
        path: output.to_owned(),
        size,
        esp_size,
        time: time.unix_seconds(),
        warnings,
    })
}

/// A temporary file beside `output`, to be renamed onto it by [`persist`]
/// (and removed if it never is).
fn temp_beside(output: &Path, suffix: &str) -> Result<tempfile::NamedTempFile, ImageError> {
    let dir = match output.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    tempfile::Builder::new()
        .prefix(".livecompose-")
        .suffix(suffix)
        .tempfile_in(dir)
        .map_err(ImageError::write(dir))
}

/// Renames a complete image onto `output`, after syncing it, so that
/// `output` is either the old file or the whole new one.
fn persist(image: tempfile::NamedTempFile, output: &Path) -> Result<(), ImageError> {
    let write_error = ImageError::write(output);
    image.as_file().sync_all().map_err(write_error)?;
    // The temporary file is private (0600); the image is for everyone.
    fs::set_permissions(image.path(), fs::Permissions::from_mode(0o644)).map_err(write_error)?;
    image
        .persist(output)
        .map_err(|err| write_error(err.error))?;
    Ok(())
}

/// The file system of a data volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VolumeFs {
    /// ISO 9660 with Rock Ridge and Joliet names (what cloud-localds writes by default).
    Iso9660,
    /// FAT16 (2 MiB, the smallest FAT16 there is).
    Vfat,
}

/// A volume of a few files in its root directory, such as a NoCloud seed.
#[derive(Debug, Clone)]
pub struct VolumeSpec {
    /// The ISO 9660 volume id or the FAT volume label.
    pub label: String,
    pub fs: VolumeFs,
    /// Names and contents; names are kept as they are (Rock Ridge and
    /// Joliet names on ISO 9660, long names on FAT).
    pub files: Vec<(String, Vec<u8>)>,
    /// Every date in the volume.
    pub time: DateTime,
}

/// Writes a data volume to `output` through a temporary file beside it, so
/// `output` is never half written; returns its size.
pub fn write_volume(spec: &VolumeSpec, output: &Path) -> Result<u64, ImageError> {
    let image = temp_beside(output, ".img")?;
    let size = match spec.fs {
        VolumeFs::Iso9660 => {
            validate_label(&spec.label)?;
            let layout = iso::IsoLayout {
                volume_id: &spec.label,
                files: spec
                    .files
                    .iter()
                    .map(|(path, bytes)| iso::IsoFile::Bytes {
                        path: path.clone(),
                        bytes: bytes.clone(),
                    })
                    .collect(),
                boot: None,
                time: spec.time,
            };
            iso::write_iso(&layout, image.path())?.0
        }
        VolumeFs::Vfat => {
            let files: Vec<EspFile> = spec
                .files
                .iter()
                .map(|(path, bytes)| EspFile::bytes(path, bytes.clone()))
                .collect();
            esp::write_labelled(&files, spec.time, &spec.label, image.path())?
        }
    };
    persist(image, output)?;
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_the_volume_id_can_hold() {
        for good in ["Debian-mini", "LIVE_2024", &"A".repeat(32)] {
            assert!(validate_label(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn labels_it_cannot_hold_fail_with_the_reason() {
        for (bad, reason) in [
            ("", "empty"),
            (&"A".repeat(33) as &str, "longer than 32"),
            ("my live", "character other"),
            ("live.iso", "character other"),
            ("-live", "starts with '-'"),
            ("Ünicode", "character other"),
        ] {
            let err = validate_label(bad).expect_err(bad).to_string();
            assert!(err.contains(reason), "{bad}: {err}");
        }
    }

    #[test]
    fn the_cmdline_starts_with_the_label() {
        let args = vec!["console=ttyS0".to_owned(), "quiet".to_owned()];
        assert_eq!(
            kernel_cmdline("LIVE", &args).unwrap(),
            ["livecompose.label=LIVE", "console=ttyS0", "quiet"]
        );
        let bad = vec!["a\nLABEL evil".to_owned()];
        assert!(matches!(
            kernel_cmdline("LIVE", &bad),
            Err(ImageError::KernelArg { .. })
        ));
    }
}
