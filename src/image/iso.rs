//! The one place that knows hadris-iso. Its writer API changed completely
//! between 2.x and 3.x, so it is pinned exactly and only this file follows
//! it; the rest of the module describes an image as an [`IsoLayout`].

use std::fs::File;
use std::path::{Path, PathBuf};

use hadris_fs::{Content, DateTime, Node, Tree};
use hadris_iso::{
    AppendedPartition, BootEntry, BootInfo, ElTorito, Hybrid, IsoId, IsoLevel, IsoOptions,
};
use hadris_storage::host::FileDevice;

use super::ImageError;

/// A file of the image: its path there and where its bytes come from.
pub enum IsoFile {
    Host { path: String, host: PathBuf },
    Bytes { path: String, bytes: Vec<u8> },
}

/// Everything an image holds.
pub struct IsoLayout<'a> {
    pub volume_id: &'a str,
    pub files: Vec<IsoFile>,
    /// How it boots; `None` for a data volume (a NoCloud seed).
    pub boot: Option<IsoBoot<'a>>,
    /// Every date in the image.
    pub time: DateTime,
}

/// What makes the image a hybrid that boots from CD and USB.
pub struct IsoBoot<'a> {
    /// The ISOLINUX image among the layout's files, booted without emulation.
    pub bios_boot: &'a str,
    pub boot_catalog: &'a str,
    /// The FAT image appended as the EFI System Partition and booted by
    /// the El Torito UEFI entry.
    pub esp: &'a Path,
    /// The isohybrid MBR code (syslinux `isohdpfx.bin`).
    pub mbr: &'a [u8],
}

/// ISOLINUX's boot image is four 512-byte sectors loaded by the BIOS; it
/// loads the rest itself, using the boot info table the writer patches in.
const BIOS_LOAD_SECTORS: u16 = 4;

/// Writes the image to `output` (an empty file) and returns its size and
/// the writer's warnings (names it had to shorten, for example).
pub fn write_iso(layout: &IsoLayout, output: &Path) -> Result<(u64, Vec<String>), ImageError> {
    let iso_error = |source| ImageError::Iso { source };
    let mut tree = Tree::new();
    for file in &layout.files {
        // No attributes: every entry gets the layout's time and the
        // writer's read-only modes, nothing from the build host.
        let (path, content) = match file {
            IsoFile::Host { path, host } => (path, hadris_fs::host::file(host).map_err(iso_error)?),
            IsoFile::Bytes { path, bytes } => (path, Content::bytes(bytes.clone())),
        };
        tree.insert(path, Node::file(content)).map_err(iso_error)?;
    }
    let mut options = IsoOptions::new()
        .with_id(IsoId::Volume, layout.volume_id)
        .with_id(IsoId::Application, "livecompose")
        // Level 3: a squashfs of 4 GiB or more takes several extents.
        .with_level(IsoLevel::L3)
        // Rock Ridge and Joliet keep names such as `user-data` as they are.
        .with_rock_ridge()
        .with_joliet()
        .with_time(layout.time);
    if let Some(boot) = &layout.boot {
        let esp = hadris_fs::host::file(boot.esp).map_err(iso_error)?;
        options = options
            .with_el_torito(
                ElTorito::new()
                    .with_entry(
                        BootEntry::bios(boot.bios_boot)
                            .with_load_size(BIOS_LOAD_SECTORS)
                            .with_boot_info(BootInfo::Table),
                    )
                    .with_entry(BootEntry::uefi_appended(0))
                    .with_catalog_path(boot.boot_catalog),
            )
            .with_hybrid(
                Hybrid::gpt_hybrid_mbr()
                    .with_bootstrap(boot.mbr)
                    .with_appended(AppendedPartition::esp(esp)),
            );
    }
    let write_error = ImageError::write(output);
    let file = File::options()
        .read(true)
        .write(true)
        .open(output)
        .map_err(write_error)?;
    let device = FileDevice::new(file).map_err(write_error)?;
    let report = hadris_iso::sync::write(device, &tree, &options).map_err(iso_error)?;
    let warnings = report.warnings().iter().map(ToString::to_string).collect();
    Ok((report.size(), warnings))
}
