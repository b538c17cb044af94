//! GRUB on a disk image without a device: the image's own `grub-mkimage`
//! makes the BIOS core image and the UEFI executable, and the BIOS boot
//! code is written into the image file the way `grub-bios-setup` writes it
//! onto a disk, so no loop device, mount or `grub-install` is needed.

use std::fs::File;
use std::os::unix::fs::FileExt as _;

/// The bytes of `boot.img` that are code; the rest of the MBR (disk
/// signature, partition table, 0x55AA) belongs to the partition table.
const BOOT_CODE_BYTES: usize = 440;
/// Where `boot.img` keeps the LBA of the core image's first sector
/// (GRUB_BOOT_MACHINE_KERNEL_SECTOR).
const KERNEL_SECTOR_OFFSET: usize = 0x5C;
/// Where the first sector of the core image (`diskboot.img`) keeps the LBA
/// of the rest of the core image: its first blocklist entry's start.
const BLOCKLIST_START_OFFSET: usize = 0x1F4;
const SECTOR: u64 = 512;

#[derive(Debug, thiserror::Error)]
pub enum GrubError {
    #[error("GRUB's boot.img has {0} bytes; it must have 512")]
    BootImage(usize),
    #[error(
        "GRUB's core image has {core} bytes but the BIOS boot partition only {partition}; make it larger (part biosboot --size=MiB)"
    )]
    CoreTooLarge { core: u64, partition: u64 },
    #[error("GRUB's core image is shorter than a sector")]
    CoreTooShort,
    #[error("cannot write GRUB into the disk image: {0}")]
    Write(#[from] std::io::Error),
}

/// Writes `boot_img`'s code into the MBR of `disk` and `core_img` into the
/// BIOS boot partition at `core_lba`, of `partition_bytes`, and links the
/// two as `grub-bios-setup` does.
pub fn install_bios(
    disk: &File,
    boot_img: &[u8],
    core_img: &[u8],
    core_lba: u64,
    partition_bytes: u64,
) -> Result<(), GrubError> {
    if boot_img.len() != SECTOR as usize {
        return Err(GrubError::BootImage(boot_img.len()));
    }
    let core_len = core_img.len() as u64;
    if core_len > partition_bytes {
        return Err(GrubError::CoreTooLarge {
            core: core_len,
            partition: partition_bytes,
        });
    }
    if core_len < SECTOR {
        return Err(GrubError::CoreTooShort);
    }
    let mut mbr = [0u8; SECTOR as usize];
    disk.read_exact_at(&mut mbr, 0)?;
    mbr[..BOOT_CODE_BYTES].copy_from_slice(&boot_img[..BOOT_CODE_BYTES]);
    mbr[KERNEL_SECTOR_OFFSET..KERNEL_SECTOR_OFFSET + 8].copy_from_slice(&core_lba.to_le_bytes());
    disk.write_all_at(&mbr, 0)?;

    let mut core = core_img.to_vec();
    core[BLOCKLIST_START_OFFSET..BLOCKLIST_START_OFFSET + 8]
        .copy_from_slice(&(core_lba + 1).to_le_bytes());
    disk.write_all_at(&core, core_lba * SECTOR)?;
    Ok(())
}

/// The modules built into both GRUB images: enough to find the partition
/// holding `grub.cfg` and boot Linux from it even if the module directory
/// cannot be read.
pub const CORE_MODULES: &[&str] = &[
    "part_gpt",
    "part_msdos",
    "ext2",
    "fat",
    "search",
    "search_fs_file",
    "search_fs_uuid",
    "configfile",
    "normal",
    "linux",
    "echo",
    "test",
    "gzio",
    "serial",
    "terminal",
];

/// The configuration built into the images: find the file system that
/// holds `config` (a path such as `/boot/grub/grub.cfg`) and read it from
/// there, wherever the firmware enumerates the disk.
pub fn early_config(grub_dir_on_fs: &str) -> String {
    format!(
        "search --no-floppy --file --set=root {grub_dir_on_fs}/grub.cfg\n\
         set prefix=($root){grub_dir_on_fs}\n\
         configfile $prefix/grub.cfg\n"
    )
}

/// What the boot menu boots.
pub struct MenuEntry<'a> {
    pub title: &'a str,
    /// The UUID of the file system holding the kernel and initramfs.
    pub boot_fs_uuid: &'a str,
    /// The kernel and initramfs, as paths on that file system.
    pub kernel: &'a str,
    pub initramfs: &'a str,
    pub cmdline: &'a str,
}

/// `grub.cfg`: one entry, on the console and the first serial port (cloud
/// consoles and `livecompose test` read ttyS0).
pub fn config(entry: &MenuEntry<'_>, timeout_secs: u32) -> String {
    format!(
        "serial --unit=0 --speed=115200\n\
         terminal_input console serial\n\
         terminal_output console serial\n\
         set default=0\n\
         set timeout={timeout_secs}\n\
         menuentry '{title}' {{\n\
         \tsearch --no-floppy --fs-uuid --set=root {uuid}\n\
         \tlinux {kernel} {cmdline}\n\
         \tinitrd {initramfs}\n\
         }}\n",
        title = entry.title,
        uuid = entry.boot_fs_uuid,
        kernel = entry.kernel,
        cmdline = entry.cmdline,
        initramfs = entry.initramfs,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_code_and_core_are_linked_by_their_sector_addresses() {
        let disk = tempfile::tempfile().unwrap();
        disk.set_len(4 << 20).unwrap();
        // A partition table already in the MBR must survive.
        let mut table = [0u8; 72];
        table[70..].copy_from_slice(&[0x55, 0xAA]);
        disk.write_all_at(&table, 440).unwrap();
        let boot = vec![0xB8; 512];
        let core = vec![0xC0; 3 * 512];
        install_bios(&disk, &boot, &core, 2048, 1 << 20).unwrap();
        let mut mbr = [0u8; 512];
        disk.read_exact_at(&mut mbr, 0).unwrap();
        assert_eq!(&mbr[..0x5C], &boot[..0x5C]);
        assert_eq!(
            u64::from_le_bytes(mbr[0x5C..0x64].try_into().unwrap()),
            2048
        );
        assert_eq!(&mbr[440..], &table[..]);
        let mut first = [0u8; 512];
        disk.read_exact_at(&mut first, 2048 * 512).unwrap();
        assert_eq!(
            u64::from_le_bytes(first[0x1F4..0x1FC].try_into().unwrap()),
            2049
        );
        assert_eq!(first[0], 0xC0);
    }

    #[test]
    fn a_core_image_larger_than_its_partition_is_refused() {
        let disk = tempfile::tempfile().unwrap();
        disk.set_len(1 << 20).unwrap();
        let error = install_bios(&disk, &[0; 512], &[0; 4096], 1, 2048).unwrap_err();
        assert!(matches!(error, GrubError::CoreTooLarge { .. }), "{error}");
    }
}
