//! The partition layout of a disk image, from the kickstart's `part`,
//! `reqpart` and `autopart` lines, in two pure steps:
//!
//! 1. [`LayoutSpec::from_kickstart`] checks what the kickstart asks for
//!    before anything is downloaded, and refuses what a disk image cannot
//!    have, at the line that asked for it.
//! 2. [`LayoutSpec::allocate`] places the partitions once the size of the
//!    files on each is known, and derives every GUID from a seed.
//!
//! Decisions, with their reasons:
//! - Every disk boots with BIOS and UEFI, so it always has a BIOS boot
//!   partition (GRUB's core.img) and an EFI system partition. A kickstart
//!   that writes its own (`part biosboot`, `part /boot/efi`) gets those, at
//!   its sizes; whatever it lacks is added, as `reqpart` would add it. No
//!   kickstart option turns them off: the image is meant to boot anywhere.
//! - The added ones copy Debian's cloud images: BIOS boot 3 MiB from 1 MiB,
//!   ESP 124 MiB from 4 MiB, so data starts at 128 MiB. GRUB's core.img
//!   with the disk, GPT and filesystem modules needs well under 1 MiB; the
//!   rest is room for more modules and costs nothing in a sparse file. The
//!   ESP holds GRUB/shim (a few MiB), not kernels.
//! - With no partitioning command at all the disk is Debian's cloud layout:
//!   BIOS boot (partition 14), ESP (15), and an ext4 root (1) last on the
//!   disk, so cloud-init's growpart can grow it into a larger disk.
//! - Numbers: the kickstart's partitions (or autopart's root) are 1, 2, …
//!   in kickstart order; partitions added for booting follow from 14 on
//!   (BIOS boot 14, ESP 15, `reqpart --add-boot`'s /boot 16), or right
//!   after the kickstart's own when it has more than 13.
//! - Disk order: BIOS boot, ESP, then fixed-size partitions in kickstart
//!   order, then the `--grow` ones, so a growing partition is last and can
//!   be grown again when the disk is enlarged.
//! - `autopart` is that cloud layout (with `--fstype` for the root).
//!   `--type=lvm` and `--type=thinp` are mapped to plain partitions with a
//!   warning: the files end up the same, a plain root grows with growpart
//!   just as well, and LVM would need device-mapper (the kernel) at build
//!   time. `--type=btrfs` is refused: it asks for a different filesystem,
//!   which livecompose cannot make.
//! - `clearpart` and `zerombr` are accepted and change nothing: the disk is
//!   new. `clearpart --disklabel=msdos` is refused: the disk needs a GPT.
//! - A filesystem without `--size` is sized from its files: 20 % more than
//!   they need plus 256 MiB (see `HEADROOM_PERCENT`).

use sha2::{Digest, Sha256};

use super::gpt::{ENTRY_COUNT, Gpt, GptPartition, Guid, SECTOR_SIZE};
use crate::kickstart::commands::{AutoPart, AutoPartType, DiskLabel, Flags, Partition};
use crate::kickstart::{Diagnostic, Kickstart, Located, Origin};

pub const MIB: u64 = 1 << 20;
/// Partitions start and end on MiB boundaries, which suit every storage
/// device's erase and stripe sizes.
const SECTORS_PER_MIB: u64 = MIB / SECTOR_SIZE;
/// Before the first partition: the protective MBR, primary header and
/// entries (34 sectors), padded to the first MiB boundary.
const LEAD_MIB: u64 = 1;
/// After the last partition: the backup entries and header (33 sectors),
/// padded likewise, so partitions can end on a MiB boundary.
const TAIL_MIB: u64 = 1;
/// The BIOS boot and EFI system partitions the layout adds (Debian's sizes).
const BIOS_BOOT_MIB: u64 = 3;
const ESP_MIB: u64 = 124;
/// `reqpart --add-boot`'s /boot: Anaconda's default, room for three kernels
/// with their initramfs images.
const BOOT_MIB: u64 = 1024;
/// A filesystem sized from its files gets 20 % more than they need: ext4
/// reserves 5 % for root, its inode tables take about 1.6 % at one inode per
/// 16 KiB, and directories, extent trees and small-file tails need more.
const HEADROOM_PERCENT: u128 = 20;
/// ... plus 256 MiB: the journal (mke2fs 1.47 makes 16 MiB below 1 GiB,
/// 32 MiB below 2 GiB, 64 MiB below 16 GiB) and room for the first boot's
/// logs and package caches before growpart enlarges the root.
const HEADROOM_FIXED_MIB: u128 = 256;
/// mkfs.xfs refuses filesystems smaller than 300 MiB (xfsprogs 5.19 on).
const XFS_MINIMUM_MIB: u128 = 300;
/// The largest `--size`/`--maxsize` (64 PiB): 128 partitions of it still
/// fit a 64-bit byte count, so no size computation can overflow.
const MAX_SIZE_MIB: u64 = 1 << 36;
/// Where the numbers of the partitions added for booting start (Debian's
/// BIOS boot partition is 14 and its ESP 15).
const FIRST_ADDED_NUMBER: u32 = 14;
/// Mount points the system needs before it mounts other filesystems, or
/// where it mounts virtual ones: they must stay on the root filesystem.
const ROOT_ONLY: &[&str] = &[
    "/bin", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/run", "/sbin", "/sys",
];

/// The filesystems livecompose can make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsType {
    Ext4,
    Xfs,
    Vfat,
}

impl FsType {
    pub fn name(self) -> &'static str {
        match self {
            Self::Ext4 => "ext4",
            Self::Xfs => "xfs",
            Self::Vfat => "vfat",
        }
    }

    /// The longest label each mkfs accepts, in bytes.
    fn max_label_bytes(self) -> usize {
        match self {
            Self::Ext4 => 16,
            Self::Xfs => 12,
            Self::Vfat => 11,
        }
    }
}

/// How a partition is formatted: the kickstart's `--label`, `--fsoptions`
/// (the /etc/fstab options) and `--mkfsoptions` (passed to mkfs/mkswap).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Format {
    pub label: Option<String>,
    pub fsoptions: Option<String>,
    pub mkfsoptions: Option<String>,
}

/// A filesystem and where it is mounted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// Absolute and normalized: no trailing or doubled slashes.
    pub mountpoint: String,
    pub fstype: FsType,
    pub format: Format,
}

/// What a partition is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// GRUB's core.img for BIOS boot; no filesystem.
    BiosBoot,
    /// The EFI system partition; its `fstype` is always vfat.
    Esp(Mount),
    Filesystem(Mount),
    Swap(Format),
}

impl Role {
    fn mount(&self) -> Option<&Mount> {
        match self {
            Self::Esp(mount) | Self::Filesystem(mount) => Some(mount),
            Self::BiosBoot | Self::Swap(_) => None,
        }
    }

    /// How messages name the partition: the kickstart's word for it.
    fn describe(&self) -> String {
        match self {
            Self::BiosBoot => "biosboot".to_owned(),
            Self::Swap(_) => "swap".to_owned(),
            Self::Esp(mount) | Self::Filesystem(mount) => mount.mountpoint.clone(),
        }
    }

    /// The partition type: the Discoverable Partitions Specification's
    /// where it defines one (systemd then finds the partition by itself),
    /// generic Linux data elsewhere.
    fn type_guid(&self) -> Guid {
        match self {
            Self::BiosBoot => BIOS_BOOT_TYPE,
            Self::Esp(_) => ESP_TYPE,
            Self::Swap(_) => SWAP_TYPE,
            Self::Filesystem(mount) => match mount.mountpoint.as_str() {
                "/" => ROOT_X86_64_TYPE,
                "/home" => HOME_TYPE,
                "/srv" => SRV_TYPE,
                "/var" => VAR_TYPE,
                "/var/tmp" => VAR_TMP_TYPE,
                _ => LINUX_DATA_TYPE,
            },
        }
    }
}

const BIOS_BOOT_TYPE: Guid = Guid::from_text("21686148-6449-6e6f-744e-656564454649");
const ESP_TYPE: Guid = Guid::from_text("c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
const LINUX_DATA_TYPE: Guid = Guid::from_text("0fc63daf-8483-4772-8e79-3d69d8477de4");
const ROOT_X86_64_TYPE: Guid = Guid::from_text("4f68bce3-e8cd-4db1-96e7-fbcaf984b709");
const HOME_TYPE: Guid = Guid::from_text("933ac7e1-2eb4-4f13-b844-0e14e2aef915");
const SRV_TYPE: Guid = Guid::from_text("3b8f8425-20e0-4f3b-907f-1a25a76f98e8");
const VAR_TYPE: Guid = Guid::from_text("4d21b016-b534-45c2-a9fb-5c16e091fd2d");
const VAR_TMP_TYPE: Guid = Guid::from_text("7ec6f557-3bc5-4aca-b293-16ef5df639d1");
const SWAP_TYPE: Guid = Guid::from_text("0657fd6d-a4ab-43c4-84e5-0933c84b4f4f");

/// How big a partition is before `--grow` gives it more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Size {
    /// MiB, from `--size` or the layout's default.
    Fixed(u64),
    /// What its files need plus headroom.
    FromContent,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct PartitionSpec {
    number: u32,
    role: Role,
    size: Size,
    grow: bool,
    /// `--maxsize`, kept only with `--grow`.
    max_mib: Option<u64>,
    /// The line that asked for it; `None` for what the layout adds itself.
    origin: Option<Origin>,
}

/// A checked layout, in disk order, waiting for the sizes of its files.
#[derive(Clone, Debug)]
pub struct LayoutSpec {
    partitions: Vec<PartitionSpec>,
    /// What the layout did differently from what the kickstart says.
    pub warnings: Vec<Diagnostic>,
}

/// The disk, every partition placed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskLayout {
    /// Bytes, a whole number of MiB.
    pub size: u64,
    pub disk_guid: Guid,
    /// In disk order.
    pub partitions: Vec<PlacedPartition>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacedPartition {
    /// Its GPT entry number, the N of `/dev/vdaN`.
    pub number: u32,
    pub role: Role,
    /// The GPT partition name (PARTLABEL).
    pub name: String,
    pub type_guid: Guid,
    /// The GPT unique partition GUID (PARTUUID).
    pub partition_guid: Guid,
    /// For mkfs/mkswap; `None` for BIOS boot. A FAT volume ID is 32 bits:
    /// use its first four bytes.
    pub filesystem_uuid: Option<Guid>,
    pub first_lba: u64,
    /// Inclusive, as GPT counts.
    pub last_lba: u64,
    /// Bytes, a whole number of MiB.
    pub size: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("{}no root partition: add part / --size=MiB (or part / --grow), or autopart", at(.origin))]
    NoRoot { origin: Option<Origin> },
    #[error("{}mount point {mountpoint} is used twice{}", at(.origin), earlier(.first))]
    DuplicateMountPoint {
        mountpoint: String,
        origin: Option<Origin>,
        first: Option<Origin>,
    },
    #[error("{}a second {kind} partition{}; the disk has one", at(.origin), earlier(.first))]
    SecondFirmwarePartition {
        kind: &'static str,
        origin: Option<Origin>,
        first: Option<Origin>,
    },
    #[error(
        "{}--fstype={fstype} is not supported; use ext4, xfs, vfat, swap, biosboot or efi",
        at(.origin)
    )]
    UnsupportedFsType {
        fstype: String,
        origin: Option<Origin>,
    },
    #[error(
        "{}--fstype={fstype} is not written yet (no host tool fills it from a directory without a mount); use ext4",
        at(.origin)
    )]
    NotWrittenYet {
        fstype: &'static str,
        origin: Option<Origin>,
    },
    #[error("{}part {mountpoint} cannot be --fstype={fstype}: {hint}", at(.origin))]
    WrongFsType {
        mountpoint: String,
        fstype: String,
        hint: &'static str,
        origin: Option<Origin>,
    },
    #[error("{}mount point {mountpoint:?} {reason}", at(.origin))]
    BadMountPoint {
        mountpoint: String,
        reason: &'static str,
        origin: Option<Origin>,
    },
    #[error(
        "{}{member}: LVM physical volumes, RAID members and btrfs volumes are not supported; a disk image gets plain partitions (part / ...)",
        at(.origin)
    )]
    VolumeMember {
        member: String,
        origin: Option<Origin>,
    },
    #[error(
        "{}encryption is not supported: a LUKS volume needs the kernel's device-mapper at build time and a passphrase in the kickstart",
        at(.origin)
    )]
    Encrypted { origin: Option<Origin> },
    #[error("{}{option} reuses an existing partition, but a disk image starts empty", at(.origin))]
    ExistingPartition {
        option: &'static str,
        origin: Option<Origin>,
    },
    #[error(
        "{}--ondisk={disk} names a second disk: the image is one disk, {first_disk}{}",
        at(.origin),
        earlier(.first)
    )]
    SecondDisk {
        disk: String,
        first_disk: String,
        origin: Option<Origin>,
        first: Option<Origin>,
    },
    #[error(
        "{}--recommended sizes a partition from the RAM of the machine it is installed on, which a disk image does not know: give --size=MiB",
        at(.origin)
    )]
    RecommendedSize { origin: Option<Origin> },
    #[error("{}swap needs --size=MiB: it holds no files to size it from", at(.origin))]
    SwapWithoutSize { origin: Option<Origin> },
    #[error("{}{option}=0: a partition needs at least 1 MiB", at(.origin))]
    ZeroSize {
        option: &'static str,
        origin: Option<Origin>,
    },
    #[error(
        "{}{option}={mib} is larger than livecompose's largest partition ({MAX_SIZE_MIB} MiB)",
        at(.origin)
    )]
    SizeTooLarge {
        option: &'static str,
        mib: u64,
        origin: Option<Origin>,
    },
    #[error("{}--maxsize={maxsize} is smaller than --size={size}", at(.origin))]
    MaxSizeBelowSize {
        size: u64,
        maxsize: u64,
        origin: Option<Origin>,
    },
    #[error(
        "{}--label={label:?} is {} bytes; a {kind} label holds at most {max}",
        at(.origin),
        .label.len()
    )]
    LabelTooLong {
        label: String,
        kind: &'static str,
        max: usize,
        origin: Option<Origin>,
    },
    #[error(
        "{}{option} does not apply to the BIOS boot partition: it holds no filesystem",
        at(.origin)
    )]
    NotAFilesystem {
        option: &'static str,
        origin: Option<Origin>,
    },
    #[error(
        "{}--fsoptions={fsoptions:?} cannot go into /etc/fstab: it is empty or holds white space",
        at(.origin)
    )]
    BadFsOptions {
        fsoptions: String,
        origin: Option<Origin>,
    },
    #[error(
        "{}autopart and part{} both lay out the disk: keep one",
        at(.origin),
        earlier(.part)
    )]
    AutopartWithPart {
        origin: Option<Origin>,
        part: Option<Origin>,
    },
    #[error(
        "{}autopart --type=btrfs is not supported: livecompose cannot make btrfs; use autopart --type=plain (ext4 root) or add --fstype=xfs",
        at(.origin)
    )]
    AutopartBtrfs { origin: Option<Origin> },
    #[error(
        "{}clearpart --disklabel=msdos: the image always gets a GPT, which it needs to boot with both BIOS and UEFI",
        at(.origin)
    )]
    MsdosDiskLabel { origin: Option<Origin> },
    #[error(
        "{}{count} partitions with the ones added for booting: a GPT holds at most {ENTRY_COUNT}",
        at(.origin)
    )]
    TooManyPartitions {
        count: usize,
        origin: Option<Origin>,
    },
    #[error(
        "{}partition {partition} needs {needs_mib} MiB for its files but {limit} is {size_mib} MiB",
        at(.origin)
    )]
    PartitionTooSmall {
        partition: String,
        needs_mib: u128,
        limit: &'static str,
        size_mib: u64,
        origin: Option<Origin>,
    },
    #[error(
        "{}partition {partition} does not fit: the layout needs {needs_mib} MiB (1 MiB at each end is for the partition tables) but the disk has {disk_mib} MiB",
        at(.origin)
    )]
    DiskTooSmall {
        partition: String,
        needs_mib: u128,
        disk_mib: u128,
        origin: Option<Origin>,
    },
    #[error("the layout needs {needs_mib} MiB, more than a disk image can address")]
    TooLarge { needs_mib: u128 },
}

/// `FILE:LINE: ` before a message, when a line asked for the partition.
fn at(origin: &Option<Origin>) -> String {
    origin
        .as_ref()
        .map(|origin| format!("{origin}: "))
        .unwrap_or_default()
}

/// ` (first at FILE:LINE)` after a message about a repetition.
fn earlier(first: &Option<Origin>) -> String {
    first
        .as_ref()
        .map(|first| format!(" (first at {first})"))
        .unwrap_or_default()
}

impl LayoutSpec {
    /// Checks the kickstart's partitioning; nothing here needs the files.
    pub fn from_kickstart(ks: &Kickstart) -> Result<Self, LayoutError> {
        let mut warnings = Vec::new();
        if let Some(clearpart) = &ks.clearpart
            && clearpart.value.disklabel == Some(DiskLabel::Msdos)
        {
            return Err(LayoutError::MsdosDiskLabel {
                origin: Some(clearpart.origin.clone()),
            });
        }
        let mut partitions = match (&ks.autopart, ks.partitions.first()) {
            (Some(autopart), Some(part)) => {
                return Err(LayoutError::AutopartWithPart {
                    origin: Some(autopart.origin.clone()),
                    part: Some(part.origin.clone()),
                });
            }
            (Some(autopart), None) => vec![autopart_root(autopart, &mut warnings)?],
            (None, Some(_)) => kickstart_partitions(&ks.partitions, &mut warnings)?,
            (None, None) if ks.reqpart.is_none() => vec![grown_root(FsType::Ext4, None)],
            // reqpart alone: the boot partitions, and no root (an error below).
            (None, None) => Vec::new(),
        };
        add_boot_partitions(&mut partitions, ks.reqpart.as_ref());
        if partitions
            .iter()
            .any(|part| part.number as usize > ENTRY_COUNT)
        {
            return Err(LayoutError::TooManyPartitions {
                count: partitions.len(),
                origin: ks.partitions.last().map(|part| part.origin.clone()),
            });
        }
        check_unique(&partitions)?;
        let has_root = partitions
            .iter()
            .any(|part| matches!(&part.role, Role::Filesystem(mount) if mount.mountpoint == "/"));
        if !has_root {
            return Err(LayoutError::NoRoot {
                origin: partitions.iter().find_map(|part| part.origin.clone()),
            });
        }
        // A stable sort: within each group the kickstart's order stays.
        partitions.sort_by_key(|part| match (&part.role, part.grow) {
            (Role::BiosBoot, _) => 0,
            (Role::Esp(_), _) => 1,
            (_, false) => 2,
            (_, true) => 3,
        });
        Ok(Self {
            partitions,
            warnings,
        })
    }

    /// Refuses a layout with a file system of `fstype`, which the disk
    /// writer cannot make yet, naming the line that asks for it.
    pub fn refuse(&self, fstype: FsType) -> Result<(), LayoutError> {
        match self.partitions.iter().find(|part| {
            part.role
                .mount()
                .is_some_and(|mount| mount.fstype == fstype)
        }) {
            Some(part) => Err(LayoutError::NotWrittenYet {
                fstype: fstype.name(),
                origin: part.origin.clone(),
            }),
            None => Ok(()),
        }
    }

    /// One line per partition, in disk order, for `--dry-run`.
    pub fn describe(&self) -> Vec<String> {
        self.partitions
            .iter()
            .map(|part| {
                let what = match &part.role {
                    Role::BiosBoot => "BIOS boot".to_owned(),
                    Role::Esp(mount) => {
                        format!("{} (EFI System Partition, vfat)", mount.mountpoint)
                    }
                    Role::Filesystem(mount) => {
                        format!("{} ({})", mount.mountpoint, mount.fstype.name())
                    }
                    Role::Swap(_) => "swap".to_owned(),
                };
                let size = match part.size {
                    Size::Fixed(mib) => format!("{mib} MiB"),
                    Size::FromContent => "as its files need".to_owned(),
                };
                let grows = if part.grow { ", grows" } else { "" };
                format!("{what}: {size}{grows}")
            })
            .collect()
    }

    /// The mount points of the layout's file systems, in disk order.
    pub fn mountpoints(&self) -> Vec<&str> {
        self.partitions
            .iter()
            .filter_map(|part| part.role.mount())
            .map(|mount| mount.mountpoint.as_str())
            .collect()
    }

    /// Places the partitions. `seed` (the image label) determines every
    /// GUID, so the same label gives the same disk: give different images
    /// different labels. `disk_size` is rounded up to a whole MiB; without
    /// it the disk is as small as the partitions allow. `content` gives the
    /// bytes the files on the filesystem mounted at a mount point take
    /// (excluding filesystems mounted below it), rounded to their blocks.
    pub fn allocate(
        &self,
        seed: &str,
        disk_size: Option<u64>,
        content: &dyn Fn(&str) -> u64,
    ) -> Result<DiskLayout, LayoutError> {
        let mut sizes = self
            .partitions
            .iter()
            .map(|part| minimum_mib(part, content))
            .collect::<Result<Vec<u128>, LayoutError>>()?;
        let needs_mib = u128::from(LEAD_MIB) + sizes.iter().sum::<u128>() + u128::from(TAIL_MIB);
        let disk_mib = match disk_size {
            None => needs_mib,
            Some(bytes) => {
                let disk_mib = u128::from(bytes).div_ceil(u128::from(MIB));
                if disk_mib < needs_mib {
                    return Err(self.misfit(&sizes, needs_mib, disk_mib));
                }
                grow(&self.partitions, &mut sizes, disk_mib - needs_mib);
                disk_mib
            }
        };
        let too_large = || LayoutError::TooLarge {
            needs_mib: disk_mib,
        };
        // Every sector number below is smaller than the disk's byte size,
        // so once that fits in 64 bits they all do.
        let size = u64::try_from(disk_mib * u128::from(MIB)).map_err(|_| too_large())?;
        let mut next_mib = LEAD_MIB;
        let mut swaps = 0;
        let mut placed = Vec::with_capacity(self.partitions.len());
        for (part, &mib) in self.partitions.iter().zip(&sizes) {
            let mib = u64::try_from(mib).map_err(|_| too_large())?;
            let key = match &part.role {
                Role::BiosBoot => "bios-boot".to_owned(),
                Role::Esp(_) => "esp".to_owned(),
                Role::Swap(_) => {
                    swaps += 1;
                    format!("swap {swaps}")
                }
                Role::Filesystem(mount) => format!("mount {}", mount.mountpoint),
            };
            let first_lba = next_mib * SECTORS_PER_MIB;
            placed.push(PlacedPartition {
                number: part.number,
                name: partition_name(&part.role, swaps),
                type_guid: part.role.type_guid(),
                partition_guid: derived_guid(seed, &format!("partition {key}")),
                filesystem_uuid: (part.role != Role::BiosBoot)
                    .then(|| derived_guid(seed, &format!("filesystem {key}"))),
                first_lba,
                last_lba: first_lba + mib * SECTORS_PER_MIB - 1,
                size: mib * MIB,
                role: part.role.clone(),
            });
            next_mib += mib;
        }
        Ok(DiskLayout {
            size,
            disk_guid: derived_guid(seed, "disk"),
            partitions: placed,
        })
    }

    /// The error for a disk smaller than the layout: it names the first
    /// partition that ends past the disk's last usable MiB.
    fn misfit(&self, sizes: &[u128], needs_mib: u128, disk_mib: u128) -> LayoutError {
        let usable_end = disk_mib.saturating_sub(u128::from(TAIL_MIB));
        let mut end = u128::from(LEAD_MIB);
        let first_misfit = self
            .partitions
            .iter()
            .zip(sizes)
            .find(|(_, mib)| {
                end += **mib;
                end > usable_end
            })
            .map(|(part, _)| part)
            .or(self.partitions.last());
        LayoutError::DiskTooSmall {
            partition: first_misfit
                .map(|part| part.role.describe())
                .unwrap_or_default(),
            needs_mib,
            disk_mib,
            origin: first_misfit.and_then(|part| part.origin.clone()),
        }
    }
}

impl DiskLayout {
    /// The partition table that describes this layout.
    pub fn gpt(&self) -> Gpt {
        let mut partitions: Vec<GptPartition> = self
            .partitions
            .iter()
            .map(|part| GptPartition {
                number: part.number,
                type_guid: part.type_guid,
                unique_guid: part.partition_guid,
                first_lba: part.first_lba,
                last_lba: part.last_lba,
                name: part.name.clone(),
            })
            .collect();
        partitions.sort_by_key(|part| part.number);
        Gpt {
            disk_size: self.size,
            disk_guid: self.disk_guid,
            partitions,
        }
    }
}

/// A root that takes what its files need and grows into the rest of the
/// disk: Debian's cloud layout, and autopart's.
fn grown_root(fstype: FsType, origin: Option<Origin>) -> PartitionSpec {
    PartitionSpec {
        number: 1,
        role: Role::Filesystem(Mount {
            mountpoint: "/".to_owned(),
            fstype,
            format: Format::default(),
        }),
        size: Size::FromContent,
        grow: true,
        max_mib: None,
        origin,
    }
}

fn autopart_root(
    autopart: &Located<AutoPart>,
    warnings: &mut Vec<Diagnostic>,
) -> Result<PartitionSpec, LayoutError> {
    let origin = Some(autopart.origin.clone());
    let options = &autopart.value;
    if options.encrypted {
        return Err(LayoutError::Encrypted { origin });
    }
    match options.kind {
        Some(AutoPartType::Btrfs) => return Err(LayoutError::AutopartBtrfs { origin }),
        Some(kind @ (AutoPartType::Lvm | AutoPartType::ThinP)) => {
            let name = if kind == AutoPartType::Lvm {
                "lvm"
            } else {
                "thinp"
            };
            warnings.push(Diagnostic::warning(
                &autopart.origin,
                format!(
                    "autopart --type={name}: the disk gets plain partitions instead; a plain root \
                     grows with cloud-init's growpart as well, and LVM would need device-mapper \
                     at build time"
                ),
            ));
        }
        Some(AutoPartType::Plain) | None => {}
    }
    // --noboot, --nohome and --noswap ask for less than autopart makes by
    // default; this layout has none of those partitions anyway.
    let fstype = match options.fstype.as_deref() {
        None => FsType::Ext4,
        Some(name) => match FsKind::parse(name, &origin)? {
            FsKind::Filesystem(fstype @ (FsType::Ext4 | FsType::Xfs)) => fstype,
            _ => {
                return Err(LayoutError::WrongFsType {
                    mountpoint: "/".to_owned(),
                    fstype: name.to_owned(),
                    hint: ROOT_FSTYPE_HINT,
                    origin,
                });
            }
        },
    };
    Ok(grown_root(fstype, origin))
}

const ROOT_FSTYPE_HINT: &str = "the root needs ext4 or xfs (FAT has no owners or permissions)";

/// The `part` lines, numbered 1, 2, … in kickstart order.
fn kickstart_partitions(
    parts: &[Located<Partition>],
    warnings: &mut Vec<Diagnostic>,
) -> Result<Vec<PartitionSpec>, LayoutError> {
    // The image is one disk: --ondisk may name it, but only one name.
    let mut first_disk: Option<(&str, &Origin)> = None;
    for part in parts {
        let Some(disk) = part.value.ondisk.as_deref() else {
            continue;
        };
        let disk = disk.strip_prefix("/dev/").unwrap_or(disk);
        match first_disk {
            None => first_disk = Some((disk, &part.origin)),
            Some((first, first_origin)) if first != disk => {
                return Err(LayoutError::SecondDisk {
                    disk: disk.to_owned(),
                    first_disk: first.to_owned(),
                    origin: Some(part.origin.clone()),
                    first: Some(first_origin.clone()),
                });
            }
            Some(_) => {}
        }
    }
    parts
        .iter()
        .enumerate()
        .map(|(index, part)| {
            // More lines than u32 counts cannot be read; more than 128
            // partitions are refused once numbered.
            let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
            partition_spec(part, number, warnings)
        })
        .collect()
}

/// The `--fstype` values livecompose knows.
#[derive(Clone, Copy)]
enum FsKind {
    Filesystem(FsType),
    Efi,
    Swap,
    BiosBoot,
}

impl FsKind {
    fn parse(name: &str, origin: &Option<Origin>) -> Result<Self, LayoutError> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "ext4" => Self::Filesystem(FsType::Ext4),
            "xfs" => Self::Filesystem(FsType::Xfs),
            "vfat" => Self::Filesystem(FsType::Vfat),
            "efi" => Self::Efi,
            "swap" => Self::Swap,
            "biosboot" => Self::BiosBoot,
            _ => {
                return Err(LayoutError::UnsupportedFsType {
                    fstype: name.to_owned(),
                    origin: origin.clone(),
                });
            }
        })
    }
}

/// One `part` line, checked.
fn partition_spec(
    located: &Located<Partition>,
    number: u32,
    warnings: &mut Vec<Diagnostic>,
) -> Result<PartitionSpec, LayoutError> {
    let part = &located.value;
    let origin = Some(located.origin.clone());
    if part.encrypted {
        return Err(LayoutError::Encrypted { origin });
    }
    if part.onpart.is_some() {
        return Err(LayoutError::ExistingPartition {
            option: "--onpart",
            origin,
        });
    }
    if part.noformat {
        return Err(LayoutError::ExistingPartition {
            option: "--noformat",
            origin,
        });
    }
    if part.recommended {
        return Err(LayoutError::RecommendedSize { origin });
    }
    // --asprimary means nothing on a GPT, where every partition is primary.
    let role = partition_role(part, &origin)?;
    check_format(&role, &origin)?;
    for (option, value) in [("--size", part.size), ("--maxsize", part.maxsize)] {
        match value {
            Some(0) => return Err(LayoutError::ZeroSize { option, origin }),
            Some(mib) if mib > MAX_SIZE_MIB => {
                return Err(LayoutError::SizeTooLarge {
                    option,
                    mib,
                    origin,
                });
            }
            _ => {}
        }
    }
    let size = match (part.size, &role) {
        (Some(mib), _) => Size::Fixed(mib),
        (None, Role::BiosBoot) => Size::Fixed(BIOS_BOOT_MIB),
        (None, Role::Esp(_)) => Size::Fixed(ESP_MIB),
        (None, Role::Swap(_)) => return Err(LayoutError::SwapWithoutSize { origin }),
        (None, Role::Filesystem(_)) => Size::FromContent,
    };
    let max_mib = match (part.maxsize, part.grow, size) {
        (Some(maxsize), true, Size::Fixed(size)) if maxsize < size => {
            return Err(LayoutError::MaxSizeBelowSize {
                size,
                maxsize,
                origin,
            });
        }
        (Some(_), false, _) => {
            warnings.push(Diagnostic::warning(
                &located.origin,
                "--maxsize has no effect without --grow; the partition keeps its size",
            ));
            None
        }
        (maxsize, _, _) => maxsize,
    };
    Ok(PartitionSpec {
        number,
        role,
        size,
        grow: part.grow,
        max_mib,
        origin,
    })
}

/// What a `part` line's mount point and `--fstype` make of the partition.
fn partition_role(part: &Partition, origin: &Option<Origin>) -> Result<Role, LayoutError> {
    let name = part.mountpoint.as_str();
    let fstype = part.fstype.as_deref();
    let is_member = ["pv.", "raid.", "btrfs."]
        .iter()
        .any(|prefix| name.starts_with(prefix))
        || fstype.is_some_and(|f| matches!(f, "lvmpv" | "mdmember"));
    if is_member {
        return Err(LayoutError::VolumeMember {
            member: format!("part {name}"),
            origin: origin.clone(),
        });
    }
    let kind = fstype
        .map(|fstype| FsKind::parse(fstype, origin))
        .transpose()?;
    let format = Format {
        label: part.label.clone(),
        fsoptions: part.fsoptions.clone(),
        mkfsoptions: part.mkfsoptions.clone(),
    };
    let wrong = |hint| LayoutError::WrongFsType {
        mountpoint: name.to_owned(),
        fstype: fstype.unwrap_or_default().to_owned(),
        hint,
        origin: origin.clone(),
    };
    match (name, kind) {
        ("swap", None | Some(FsKind::Swap)) => return Ok(Role::Swap(format)),
        ("biosboot", None | Some(FsKind::BiosBoot)) => {
            let given = [
                ("--label", &format.label),
                ("--fsoptions", &format.fsoptions),
                ("--mkfsoptions", &format.mkfsoptions),
            ];
            return match given.into_iter().find(|(_, value)| value.is_some()) {
                Some((option, _)) => Err(LayoutError::NotAFilesystem {
                    option,
                    origin: origin.clone(),
                }),
                None => Ok(Role::BiosBoot),
            };
        }
        ("swap" | "biosboot", Some(_)) => {
            return Err(wrong("its --fstype is its mount point's name, or none"));
        }
        (_, Some(FsKind::Swap)) => return Err(wrong("swap is written part swap --size=MiB")),
        (_, Some(FsKind::BiosBoot)) => {
            return Err(wrong("BIOS boot is written part biosboot --size=MiB"));
        }
        _ => {}
    }
    let mountpoint = normalize_mountpoint(name).map_err(|reason| LayoutError::BadMountPoint {
        mountpoint: name.to_owned(),
        reason,
        origin: origin.clone(),
    })?;
    // Swap and BIOS boot have returned above: what is left is efi, a
    // filesystem, or no --fstype.
    let wants_esp = matches!(kind, Some(FsKind::Efi));
    let fstype = match kind {
        Some(FsKind::Filesystem(fstype)) => Some(fstype),
        _ => None,
    };
    let boot_efi = mountpoint == "/boot/efi";
    let mount = |fstype| Mount {
        mountpoint: mountpoint.clone(),
        fstype,
        format: format.clone(),
    };
    Ok(match fstype {
        _ if wants_esp => Role::Esp(mount(FsType::Vfat)),
        None | Some(FsType::Vfat) if boot_efi => Role::Esp(mount(FsType::Vfat)),
        Some(_) if boot_efi => {
            return Err(wrong(
                "UEFI firmware reads only FAT: use --fstype=efi or vfat",
            ));
        }
        Some(FsType::Vfat) if mountpoint == "/" => return Err(wrong(ROOT_FSTYPE_HINT)),
        Some(FsType::Xfs)
            if [part.size, part.maxsize]
                .iter()
                .flatten()
                .any(|mib| u128::from(*mib) < XFS_MINIMUM_MIB) =>
        {
            return Err(wrong(
                "mkfs.xfs makes no filesystem smaller than 300 MiB: raise --size/--maxsize",
            ));
        }
        Some(fstype) => Role::Filesystem(mount(fstype)),
        // Debian's default filesystem.
        None => Role::Filesystem(mount(FsType::Ext4)),
    })
}

/// `/var//log/` as `/var/log`; `Err` says why the path cannot be a mount point.
fn normalize_mountpoint(path: &str) -> Result<String, &'static str> {
    if !path.starts_with('/') {
        return Err("is not an absolute path, swap or biosboot");
    }
    if path
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
    {
        return Err(
            "holds white space, a control character or a backslash, which /etc/fstab cannot hold as they are",
        );
    }
    let components: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    if components.iter().any(|c| *c == "." || *c == "..") {
        return Err("has . or .. in it");
    }
    let normalized = format!("/{}", components.join("/"));
    if ROOT_ONLY.contains(&normalized.as_str()) {
        return Err(
            "must stay on the root filesystem: the system needs it before it mounts other filesystems, or mounts a virtual one there",
        );
    }
    Ok(normalized)
}

/// Labels and fstab options each formatter can take.
fn check_format(role: &Role, origin: &Option<Origin>) -> Result<(), LayoutError> {
    let (format, kind, max) = match role {
        // It carries no format: partition_role refused its options.
        Role::BiosBoot => return Ok(()),
        Role::Swap(format) => (format, "swap", 16),
        Role::Esp(mount) | Role::Filesystem(mount) => (
            &mount.format,
            mount.fstype.name(),
            mount.fstype.max_label_bytes(),
        ),
    };
    if let Some(label) = &format.label
        && label.len() > max
    {
        return Err(LayoutError::LabelTooLong {
            label: label.clone(),
            kind,
            max,
            origin: origin.clone(),
        });
    }
    if let Some(fsoptions) = &format.fsoptions
        && (fsoptions.is_empty() || fsoptions.chars().any(char::is_whitespace))
    {
        return Err(LayoutError::BadFsOptions {
            fsoptions: fsoptions.clone(),
            origin: origin.clone(),
        });
    }
    Ok(())
}

/// Adds the BIOS boot partition and ESP the kickstart lacks, and
/// `reqpart --add-boot`'s /boot. `reqpart` only gives them its line.
fn add_boot_partitions(partitions: &mut Vec<PartitionSpec>, reqpart: Option<&Located<Flags>>) {
    let origin = reqpart.map(|reqpart| reqpart.origin.clone());
    let count = u32::try_from(partitions.len()).unwrap_or(u32::MAX);
    let first_number = FIRST_ADDED_NUMBER.max(count.saturating_add(1));
    let fixed = |number, role, mib| PartitionSpec {
        number,
        role,
        size: Size::Fixed(mib),
        grow: false,
        max_mib: None,
        origin: origin.clone(),
    };
    let mount = |mountpoint: &str, fstype| Mount {
        mountpoint: mountpoint.to_owned(),
        fstype,
        format: Format::default(),
    };
    let mut added = Vec::new();
    if !partitions.iter().any(|part| part.role == Role::BiosBoot) {
        added.push(fixed(first_number, Role::BiosBoot, BIOS_BOOT_MIB));
    }
    if !partitions
        .iter()
        .any(|part| matches!(part.role, Role::Esp(_)))
    {
        let esp = Role::Esp(mount("/boot/efi", FsType::Vfat));
        added.push(fixed(first_number.saturating_add(1), esp, ESP_MIB));
    }
    if reqpart.is_some_and(|reqpart| reqpart.value.has("--add-boot")) {
        let boot = Role::Filesystem(mount("/boot", FsType::Ext4));
        added.push(fixed(first_number.saturating_add(2), boot, BOOT_MIB));
    }
    partitions.append(&mut added);
}

/// One BIOS boot partition, one ESP, and each mount point once. The
/// parser already keeps only the last `part` of a repeated mount point;
/// this catches the same one written differently (`/var/`), and reqpart's
/// /boot next to a `part /boot`.
fn check_unique(partitions: &[PartitionSpec]) -> Result<(), LayoutError> {
    for (index, later) in partitions.iter().enumerate() {
        for earlier in &partitions[..index] {
            let origin = later.origin.clone();
            let first = earlier.origin.clone();
            let firmware = match (&earlier.role, &later.role) {
                (Role::BiosBoot, Role::BiosBoot) => Some("BIOS boot"),
                (Role::Esp(_), Role::Esp(_)) => Some("EFI system"),
                _ => None,
            };
            if let Some(kind) = firmware {
                return Err(LayoutError::SecondFirmwarePartition {
                    kind,
                    origin,
                    first,
                });
            }
            if let (Some(a), Some(b)) = (earlier.role.mount(), later.role.mount())
                && a.mountpoint == b.mountpoint
            {
                return Err(LayoutError::DuplicateMountPoint {
                    mountpoint: b.mountpoint.clone(),
                    origin,
                    first,
                });
            }
        }
    }
    Ok(())
}

/// The smallest size in MiB the partition can have with its files.
fn minimum_mib(part: &PartitionSpec, content: &dyn Fn(&str) -> u64) -> Result<u128, LayoutError> {
    let mount = part.role.mount();
    let files = mount.map_or(0, |mount| content(&mount.mountpoint));
    let files_mib = u128::from(files).div_ceil(u128::from(MIB));
    let too_small = |limit, size_mib| LayoutError::PartitionTooSmall {
        partition: part.role.describe(),
        needs_mib: files_mib,
        limit,
        size_mib,
        origin: part.origin.clone(),
    };
    let from_content = || {
        let bytes = u128::from(files) * (100 + HEADROOM_PERCENT) / 100
            + HEADROOM_FIXED_MIB * u128::from(MIB);
        let mib = bytes.div_ceil(u128::from(MIB));
        match mount.map(|mount| mount.fstype) {
            Some(FsType::Xfs) => mib.max(XFS_MINIMUM_MIB),
            _ => mib,
        }
    };
    let minimum = match part.size {
        Size::Fixed(mib) if files_mib <= u128::from(mib) => u128::from(mib),
        // --grow lets a partition be larger than --size: as large as its
        // files need.
        Size::Fixed(_) if part.grow => from_content(),
        Size::Fixed(mib) => return Err(too_small("its size", mib)),
        Size::FromContent => from_content(),
    };
    match part.max_mib {
        // Headroom is a wish; --maxsize is the kickstart's word.
        Some(max) if minimum > u128::from(max) => {
            if files_mib > u128::from(max) {
                Err(too_small("its --maxsize", max))
            } else {
                Ok(u128::from(max))
            }
        }
        _ => Ok(minimum),
    }
}

/// Shares `slack` MiB among the `--grow` partitions in proportion to their
/// size, as Anaconda does, none past its `--maxsize`; what a capped one
/// cannot take goes to the others. Slack no one can take stays free space.
fn grow(partitions: &[PartitionSpec], sizes: &mut [u128], mut slack: u128) {
    let mut growing: Vec<usize> = (0..partitions.len())
        .filter(|&index| partitions[index].grow)
        .collect();
    while slack > 0 && !growing.is_empty() {
        // Every partition is at least 1 MiB; max(1) only keeps the
        // division defined.
        let weight = growing
            .iter()
            .map(|&index| sizes[index])
            .sum::<u128>()
            .max(1);
        let mut shares: Vec<u128> = growing
            .iter()
            .map(|&index| slack * sizes[index] / weight)
            .collect();
        // Rounding down leaves less than one MiB per partition; the first
        // ones take it, so the result does not depend on anything else.
        let remainder = slack - shares.iter().sum::<u128>();
        for share in shares
            .iter_mut()
            .take(usize::try_from(remainder).unwrap_or(usize::MAX))
        {
            *share += 1;
        }
        let capped: Vec<usize> = growing
            .iter()
            .zip(&shares)
            .filter(|&(&index, &share)| {
                partitions[index]
                    .max_mib
                    .is_some_and(|max| sizes[index] + share > u128::from(max))
            })
            .map(|(&index, _)| index)
            .collect();
        if capped.is_empty() {
            for (&index, share) in growing.iter().zip(shares) {
                sizes[index] += share;
            }
            return;
        }
        for &index in &capped {
            let max = partitions[index].max_mib.map_or(sizes[index], u128::from);
            slack -= max.saturating_sub(sizes[index]);
            sizes[index] = max;
        }
        growing.retain(|index| !capped.contains(index));
    }
}

/// The GPT partition name: short, without spaces, so it also works as a
/// /dev/disk/by-partlabel/ name.
fn partition_name(role: &Role, swap_number: usize) -> String {
    let name = match role {
        Role::BiosBoot => "bios-boot".to_owned(),
        Role::Esp(_) => "esp".to_owned(),
        Role::Swap(_) if swap_number <= 1 => "swap".to_owned(),
        Role::Swap(_) => format!("swap-{swap_number}"),
        Role::Filesystem(mount) if mount.mountpoint == "/" => "root".to_owned(),
        Role::Filesystem(mount) => mount
            .mountpoint
            .strip_prefix('/')
            .unwrap_or(&mount.mountpoint)
            .replace('/', "-"),
    };
    // A GPT name holds 36 UTF-16 code units.
    let mut units = 0;
    name.chars()
        .take_while(|c| {
            units += c.len_utf16();
            units <= 36
        })
        .collect()
}

/// A GUID from the seed and what it identifies: the first 16 bytes of
/// SHA-256 over both, marked as a version-4 (random) RFC 9562 UUID, which
/// is what it is to everyone who cannot see the seed. The seed's length
/// goes first so no two (seed, purpose) pairs hash the same bytes.
fn derived_guid(seed: &str, purpose: &str) -> Guid {
    let digest = Sha256::new()
        .chain_update(b"livecompose disk identity\0")
        .chain_update((seed.len() as u64).to_le_bytes())
        .chain_update(seed)
        .chain_update(purpose)
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0F) | 0x40;
    bytes[8] = (bytes[8] & 0x3F) | 0x80;
    Guid::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::kickstart::parse_text;

    const GIB: u64 = 1 << 30;

    fn spec(text: &str) -> Result<LayoutSpec, LayoutError> {
        let parsed = parse_text(Path::new("test.ks"), text).expect("the kickstart parses");
        LayoutSpec::from_kickstart(&parsed.kickstart)
    }

    fn error(text: &str) -> String {
        spec(text).expect_err("the layout is refused").to_string()
    }

    fn no_files(_: &str) -> u64 {
        0
    }

    fn layout(text: &str, disk: Option<u64>, content: &dyn Fn(&str) -> u64) -> DiskLayout {
        let layout = spec(text)
            .expect("the layout is accepted")
            .allocate("test-image", disk, content)
            .expect("the partitions fit");
        assert_well_formed(&layout);
        layout
    }

    /// (number, mount point or kind, first LBA, MiB) in disk order.
    fn summary(layout: &DiskLayout) -> Vec<(u32, String, u64, u64)> {
        layout
            .partitions
            .iter()
            .map(|p| (p.number, p.role.describe(), p.first_lba, p.size / MIB))
            .collect()
    }

    fn mib(layout: &DiskLayout, what: &str) -> u64 {
        let part = layout.partitions.iter().find(|p| p.role.describe() == what);
        part.expect("the partition is there").size / MIB
    }

    /// MiB-aligned, in order, inside the disk with room for the backup GPT,
    /// and every GUID unique.
    fn assert_well_formed(layout: &DiskLayout) {
        let sectors = layout.size / SECTOR_SIZE;
        assert_eq!(layout.size % MIB, 0);
        let mut end = SECTORS_PER_MIB;
        for part in &layout.partitions {
            assert_eq!(part.first_lba, end, "partition {} is not next", part.number);
            assert_eq!(part.first_lba % SECTORS_PER_MIB, 0);
            assert_eq!((part.last_lba + 1) % SECTORS_PER_MIB, 0);
            assert_eq!(
                (part.last_lba + 1 - part.first_lba) * SECTOR_SIZE,
                part.size
            );
            end = part.last_lba + 1;
        }
        assert!(end <= sectors - SECTORS_PER_MIB);
        let mut guids: Vec<Guid> = layout
            .partitions
            .iter()
            .flat_map(|p| [Some(p.partition_guid), p.filesystem_uuid])
            .flatten()
            .chain([layout.disk_guid])
            .collect();
        let count = guids.len();
        guids.sort();
        guids.dedup();
        assert_eq!(guids.len(), count, "a GUID is used twice");
    }

    #[test]
    fn no_partitioning_gives_debians_cloud_layout() {
        let small = layout("lang en_US.UTF-8\n", None, &no_files);
        assert_eq!(
            summary(&small),
            [
                (14, "biosboot".into(), 2048, 3),
                (15, "/boot/efi".into(), 8192, 124),
                (1, "/".into(), 262144, 256),
            ]
        );
        assert_eq!(small.size, (1 + 3 + 124 + 256 + 1) * MIB);
        let root = &small.partitions[2];
        assert_eq!(root.type_guid, ROOT_X86_64_TYPE);
        assert!(matches!(&root.role, Role::Filesystem(m) if m.fstype == FsType::Ext4));
        assert_eq!(small.partitions[0].type_guid, BIOS_BOOT_TYPE);
        assert_eq!(small.partitions[1].type_guid, ESP_TYPE);
        assert!(matches!(&small.partitions[1].role, Role::Esp(m) if m.fstype == FsType::Vfat));
        // Given a disk, the root takes all but the last MiB.
        let big = layout(
            "zerombr\nclearpart --all --initlabel\n",
            Some(2 * GIB),
            &no_files,
        );
        assert_eq!(mib(&big, "/"), 2048 - 1 - 3 - 124 - 1);
        assert_eq!(
            big.partitions[2].last_lba,
            2 * GIB / SECTOR_SIZE - SECTORS_PER_MIB - 1
        );
        assert!(
            spec("zerombr\nclearpart --all\n")
                .unwrap()
                .warnings
                .is_empty()
        );
    }

    #[test]
    fn a_root_without_size_takes_its_files_plus_headroom() {
        let content = |mountpoint: &str| if mountpoint == "/" { 1000 * MIB } else { 0 };
        let sized = layout("part / --fstype=ext4\n", None, &content);
        assert_eq!(mib(&sized, "/"), 1000 * 120 / 100 + 256);
        // mkfs.xfs needs 300 MiB.
        assert_eq!(
            mib(&layout("part / --fstype=xfs\n", None, &no_files), "/"),
            300
        );
    }

    #[test]
    fn part_lines_get_boot_partitions_and_growing_ones_go_last() {
        let text = "part /boot --size=512\npart / --grow\npart /var --size=1024\n";
        let disk = layout(text, Some(4 * GIB), &|_| 0);
        assert_eq!(
            summary(&disk),
            [
                (14, "biosboot".into(), 2048, 3),
                (15, "/boot/efi".into(), 8192, 124),
                (1, "/boot".into(), 262144, 512),
                (3, "/var".into(), (128 + 512) * 2048, 1024),
                (
                    2,
                    "/".into(),
                    (128 + 512 + 1024) * 2048,
                    4096 - 128 - 512 - 1024 - 1
                ),
            ]
        );
        assert_eq!(disk.partitions[3].type_guid, VAR_TYPE);
        assert_eq!(disk.partitions[2].type_guid, LINUX_DATA_TYPE);
        assert!(spec(text).unwrap().warnings.is_empty());
    }

    #[test]
    fn a_kickstarts_own_boot_partitions_are_used_as_written() {
        let text = "part biosboot --size=1\n\
                    part /boot/efi --size=600 --fstype=vfat --label=EFI --fsoptions=umask=0077\n\
                    part / --size=2048\n";
        let disk = layout(text, None, &no_files);
        assert_eq!(
            summary(&disk),
            [
                (1, "biosboot".into(), 2048, 1),
                (2, "/boot/efi".into(), 4096, 600),
                (3, "/".into(), (2 + 600) * 2048, 2048),
            ]
        );
        let Role::Esp(esp) = &disk.partitions[1].role else {
            panic!("not an ESP: {:?}", disk.partitions[1].role);
        };
        assert_eq!(esp.format.label.as_deref(), Some("EFI"));
        assert_eq!(esp.format.fsoptions.as_deref(), Some("umask=0077"));
        // Only what is missing is added: here the BIOS boot partition.
        let disk = layout(
            "part /efi --fstype=efi --size=200\npart / --size=1000\n",
            None,
            &no_files,
        );
        assert_eq!(
            summary(&disk),
            [
                (14, "biosboot".into(), 2048, 3),
                (1, "/efi".into(), 4 * 2048, 200),
                (2, "/".into(), 204 * 2048, 1000),
            ]
        );
    }

    #[test]
    fn reqpart_adds_the_boot_partitions_at_its_line() {
        let with_reqpart = spec("reqpart\npart / --size=1000\n").unwrap();
        let origins: Vec<Option<usize>> = with_reqpart
            .partitions
            .iter()
            .map(|p| p.origin.as_ref().map(|o| o.line))
            .collect();
        assert_eq!(origins, [Some(1), Some(1), Some(2)]);
        let disk = layout("reqpart --add-boot\npart / --size=1000\n", None, &no_files);
        assert_eq!(
            summary(&disk),
            [
                (14, "biosboot".into(), 2048, 3),
                (15, "/boot/efi".into(), 8192, 124),
                (1, "/".into(), 128 * 2048, 1000),
                (16, "/boot".into(), 1128 * 2048, 1024),
            ]
        );
        assert_eq!(
            error("reqpart --add-boot\npart /boot --size=500\npart / --size=1000\n"),
            "test.ks:1: mount point /boot is used twice (first at test.ks:2)"
        );
        assert!(error("reqpart\n").starts_with("test.ks:1: no root partition"));
    }

    #[test]
    fn autopart_is_the_cloud_layout() {
        let plain = layout("autopart --nohome --noswap\n", None, &no_files);
        assert_eq!(summary(&plain), summary(&layout("", None, &no_files)));
        let lvm = spec("autopart --type=lvm\n").unwrap();
        assert_eq!(lvm.warnings.len(), 1);
        assert!(lvm.warnings[0].to_string().starts_with(
            "test.ks:1: warning: autopart --type=lvm: the disk gets plain partitions"
        ));
        let xfs = layout("autopart --type=plain --fstype=xfs\n", None, &no_files);
        assert!(matches!(&xfs.partitions[2].role, Role::Filesystem(m) if m.fstype == FsType::Xfs));
        for (text, expected) in [
            (
                "autopart --type=btrfs\n",
                "test.ks:1: autopart --type=btrfs is not supported",
            ),
            (
                "autopart --fstype=vfat\n",
                "test.ks:1: part / cannot be --fstype=vfat",
            ),
            (
                "autopart --fstype=ext3\n",
                "test.ks:1: --fstype=ext3 is not supported",
            ),
            (
                "autopart --encrypted\n",
                "test.ks:1: encryption is not supported",
            ),
            (
                "autopart\npart / --size=100\n",
                "test.ks:1: autopart and part (first at test.ks:2) both lay out the disk",
            ),
        ] {
            let message = error(text);
            assert!(message.starts_with(expected), "{text:?}: {message}");
        }
    }

    #[test]
    fn what_a_disk_image_cannot_have_is_refused_at_its_line() {
        let root = "part / --size=1000\n";
        let cases = [
            (
                "part /var --size=100\n".to_owned(),
                "test.ks:1: no root partition",
            ),
            (
                format!("{root}part /data --fstype=ext3\n"),
                "test.ks:2: --fstype=ext3 is not supported",
            ),
            (
                format!("{root}part swap --fstype=ext4 --size=10\n"),
                "test.ks:2: part swap cannot be --fstype=ext4",
            ),
            (
                format!("{root}part biosboot --fstype=ext4\n"),
                "test.ks:2: part biosboot cannot be --fstype=ext4",
            ),
            (
                format!("{root}part /data --fstype=swap --size=1\n"),
                "test.ks:2: part /data cannot be --fstype=swap",
            ),
            (
                format!("{root}part /data --fstype=biosboot\n"),
                "test.ks:2: part /data cannot be --fstype=biosboot",
            ),
            (
                format!("{root}part /boot/efi --fstype=xfs\n"),
                "test.ks:2: part /boot/efi cannot be --fstype=xfs: UEFI firmware reads only FAT",
            ),
            (
                "part / --fstype=vfat\n".to_owned(),
                "test.ks:1: part / cannot be --fstype=vfat: the root needs ext4 or xfs",
            ),
            (
                format!("{root}part /data --fstype=xfs --size=200\n"),
                "test.ks:2: part /data cannot be --fstype=xfs: mkfs.xfs makes no filesystem smaller than 300 MiB",
            ),
            (
                "part / --size=100 --encrypted --passphrase=secret\n".to_owned(),
                "test.ks:1: encryption is not supported",
            ),
            (
                "part / --onpart=vda1\n".to_owned(),
                "test.ks:1: --onpart reuses an existing partition",
            ),
            (
                "part / --size=100 --noformat\n".to_owned(),
                "test.ks:1: --noformat reuses an existing partition",
            ),
            (
                format!("{root}part pv.01 --size=100\n"),
                "test.ks:2: part pv.01: LVM physical volumes, RAID members",
            ),
            (
                format!("{root}part raid.01 --size=100\n"),
                "test.ks:2: part raid.01: LVM",
            ),
            (
                format!("{root}part /data --fstype=lvmpv\n"),
                "test.ks:2: part /data: LVM",
            ),
            (
                "part / --recommended\n".to_owned(),
                "test.ks:1: --recommended sizes a partition from the RAM",
            ),
            (
                format!("{root}part swap\n"),
                "test.ks:2: swap needs --size=MiB",
            ),
            (
                "part / --size=0\n".to_owned(),
                "test.ks:1: --size=0: a partition needs at least 1 MiB",
            ),
            (
                "part / --grow --maxsize=0\n".to_owned(),
                "test.ks:1: --maxsize=0",
            ),
            (
                "part / --size=68719476737\n".to_owned(),
                "test.ks:1: --size=68719476737 is larger than",
            ),
            (
                "part / --size=2000 --grow --maxsize=1000\n".to_owned(),
                "test.ks:1: --maxsize=1000 is smaller than --size=2000",
            ),
            (
                "part / --size=100 --label=seventeen-letters\n".to_owned(),
                "test.ks:1: --label=\"seventeen-letters\" is 17 bytes; a ext4 label holds at most 16",
            ),
            (
                format!("{root}part /boot/efi --label=TWELVE-BYTES\n"),
                "test.ks:2: --label=\"TWELVE-BYTES\" is 12 bytes; a vfat label holds at most 11",
            ),
            (
                format!("{root}part biosboot --size=1 --label=grub\n"),
                "test.ks:2: --label does not apply to the BIOS boot partition",
            ),
            (
                "part / --size=100 --fsoptions=\"noatime, discard\"\n".to_owned(),
                "test.ks:1: --fsoptions=\"noatime, discard\" cannot go into /etc/fstab",
            ),
            (
                format!("{root}part var --size=100\n"),
                "test.ks:2: mount point \"var\" is not an absolute path",
            ),
            (
                format!("{root}part /etc --size=100\n"),
                "test.ks:2: mount point \"/etc\" must stay on the root filesystem",
            ),
            (
                format!("{root}part /srv/../etc --size=100\n"),
                "test.ks:2: mount point \"/srv/../etc\" has . or ..",
            ),
            (
                format!("{root}part \"/my data\" --size=100\n"),
                "test.ks:2: mount point \"/my data\" holds white space",
            ),
            (
                format!("{root}part /var --size=10\npart /var/ --size=20\n"),
                "test.ks:3: mount point /var is used twice (first at test.ks:2)",
            ),
            (
                format!("{root}part //home --size=10\npart /home --size=20\n"),
                "test.ks:3: mount point /home is used twice (first at test.ks:2)",
            ),
            (
                format!("{root}part /boot/efi\npart /efi --fstype=efi\n"),
                "test.ks:3: a second EFI system partition (first at test.ks:2); the disk has one",
            ),
            (
                "part / --size=100 --ondisk=sda\npart /var --size=10 --ondisk=/dev/sda\npart /home --size=10 --ondisk=vdb\n".to_owned(),
                "test.ks:3: --ondisk=vdb names a second disk: the image is one disk, sda (first at test.ks:1)",
            ),
            (
                format!("{root}clearpart --all --disklabel=msdos\n"),
                "test.ks:2: clearpart --disklabel=msdos: the image always gets a GPT",
            ),
        ];
        for (text, expected) in cases {
            let message = error(&text);
            assert!(
                message.starts_with(expected),
                "{text:?}:\n{message}\nexpected:\n{expected}"
            );
        }
        // A kickstart with 127 partitions leaves no number for the ESP.
        let many: String = (0..126).map(|i| format!("part /d{i} --size=1\n")).collect();
        assert_eq!(
            error(&format!("{many}{root}")),
            "test.ks:127: 129 partitions with the ones added for booting: a GPT holds at most 128"
        );
        // With 126 they all fit: BIOS boot is 127, the ESP 128.
        let many: String = (0..125).map(|i| format!("part /d{i} --size=1\n")).collect();
        let disk = layout(&format!("{many}{root}"), None, &no_files);
        assert_eq!(disk.partitions.len(), 128);
        assert_eq!(disk.partitions.iter().map(|p| p.number).max(), Some(128));
    }

    #[test]
    fn the_options_a_disk_image_can_take_are_kept() {
        let spec = spec(
            "zerombr\nclearpart --all --drives=vda,vdb\n\
             part / --size=1000 --ondisk=vda --asprimary --mkfsoptions=\"-O ^has_journal\"\n\
             part /data --size=50 --maxsize=100 --fstype=vfat\n",
        )
        .unwrap();
        let root = spec.partitions.iter().find(|p| p.number == 1).unwrap();
        let Role::Filesystem(mount) = &root.role else {
            panic!("{:?}", root.role)
        };
        assert_eq!(mount.format.mkfsoptions.as_deref(), Some("-O ^has_journal"));
        // --maxsize without --grow: a warning, and the size stays.
        assert_eq!(spec.warnings.len(), 1);
        assert!(
            spec.warnings[0]
                .to_string()
                .starts_with("test.ks:4: warning: --maxsize has no effect without --grow")
        );
        let data = spec.partitions.iter().find(|p| p.number == 2).unwrap();
        assert_eq!((data.size, data.max_mib), (Size::Fixed(50), None));
    }

    #[test]
    fn growing_partitions_share_the_disk_in_proportion_up_to_their_maxsize() {
        let text = "part / --size=1000 --grow\n\
                    part /var --size=3000 --grow --maxsize=3500\n\
                    part /home --size=1000 --grow\n";
        // 4000 MiB to share 1:3:1 would give /var 2400; it may take 500.
        let disk = layout(text, Some((1 + 127 + 5000 + 4000 + 1) * MIB), &no_files);
        assert_eq!(
            (mib(&disk, "/"), mib(&disk, "/var"), mib(&disk, "/home")),
            (2750, 3500, 2750)
        );
        assert_eq!(disk.partitions[4].type_guid, HOME_TYPE);
        // Shares round down; the leftover MiB go to the first partitions.
        let disk = layout(
            "part / --size=1 --grow\npart /srv --size=1 --grow\npart /x --size=1 --grow\n",
            Some((1 + 127 + 3 + 5 + 1) * MIB),
            &no_files,
        );
        assert_eq!(
            (mib(&disk, "/"), mib(&disk, "/srv"), mib(&disk, "/x")),
            (3, 3, 2)
        );
        // When every growing partition is capped, the rest stays free.
        let capped = layout(
            "part / --size=1000 --grow --maxsize=1500\n",
            Some(4 * GIB),
            &no_files,
        );
        assert_eq!(mib(&capped, "/"), 1500);
        assert_eq!(capped.size, 4 * GIB);
    }

    #[test]
    fn the_files_must_fit() {
        let content = |mountpoint: &str| match mountpoint {
            "/" => 200 * MIB,
            "/boot/efi" => 130 * MIB,
            _ => 0,
        };
        let allocate =
            |text: &str, disk: Option<u64>| spec(text).unwrap().allocate("seed", disk, &content);
        let message = |text: &str, disk| allocate(text, disk).unwrap_err().to_string();
        assert_eq!(
            message("part / --size=100\npart /boot/efi --size=200\n", None),
            "test.ks:1: partition / needs 200 MiB for its files but its size is 100 MiB"
        );
        // The ESP the layout adds has no line to point at.
        assert_eq!(
            message("part / --size=300\n", None),
            "partition /boot/efi needs 130 MiB for its files but its size is 124 MiB"
        );
        let esp = "part /boot/efi --size=200\n";
        // --grow lets a partition take what its files need, up to --maxsize.
        let grown = allocate(&format!("{esp}part / --size=100 --grow\n"), None).unwrap();
        assert_eq!(mib(&grown, "/"), 200 * 120 / 100 + 256);
        let capped = allocate(&format!("{esp}part / --grow --maxsize=300\n"), None).unwrap();
        assert_eq!(mib(&capped, "/"), 300);
        assert_eq!(
            message(&format!("{esp}part / --grow --maxsize=150\n"), None),
            "test.ks:2: partition / needs 200 MiB for its files but its --maxsize is 150 MiB"
        );
        assert_eq!(
            message(
                &format!("{esp}part /boot --size=512\npart / --size=4096\n"),
                Some(2 * GIB)
            ),
            "test.ks:3: partition / does not fit: the layout needs 4813 MiB (1 MiB at each end \
             is for the partition tables) but the disk has 2048 MiB"
        );
        // A given disk size is rounded up to a whole MiB.
        let rounded = allocate(&format!("{esp}part / --size=300\n"), Some(3 * GIB + 1)).unwrap();
        assert_eq!(rounded.size, 3 * GIB + MIB);
        assert!(matches!(
            allocate(&format!("{esp}part / --size=300\n"), Some(u64::MAX)),
            Err(LayoutError::TooLarge { .. })
        ));
        let huge = |mountpoint: &str| if mountpoint == "/" { u64::MAX } else { 0 };
        assert!(matches!(
            spec("part / --grow\n")
                .unwrap()
                .allocate("seed", None, &huge),
            Err(LayoutError::TooLarge { .. })
        ));
    }

    #[test]
    fn guids_come_from_the_seed_and_what_they_name() {
        let text = "part / --size=1000\npart swap --size=100\npart swap --size=200\n";
        let spec_one = spec(text).unwrap();
        let one = spec_one.allocate("image-a", None, &no_files).unwrap();
        assert_eq!(one, spec_one.allocate("image-a", None, &no_files).unwrap());
        let other = spec_one.allocate("image-b", None, &no_files).unwrap();
        assert_ne!(one.disk_guid, other.disk_guid);
        assert_ne!(
            one.partitions[2].partition_guid,
            other.partitions[2].partition_guid
        );
        for guid in [one.disk_guid, one.partitions[2].partition_guid] {
            let text = guid.to_string();
            assert_eq!(&text[14..15], "4", "version 4: {text}");
            assert!("89ab".contains(&text[19..20]), "RFC variant: {text}");
        }
        assert_eq!(one.partitions[0].filesystem_uuid, None, "BIOS boot");
        // Adding a partition leaves the root's PARTUUID (in fstab) alone.
        let more = spec(&format!("part /var --size=10\n{text}"))
            .unwrap()
            .allocate("image-a", None, &no_files)
            .unwrap();
        let root = |layout: &DiskLayout| {
            let root = layout.partitions.iter().find(|p| p.role.describe() == "/");
            root.map(|p| (p.partition_guid, p.filesystem_uuid))
        };
        assert_eq!(root(&more), root(&one));
        assert_eq!(
            one.partitions
                .iter()
                .map(|p| (p.name.as_str(), p.type_guid))
                .collect::<Vec<_>>(),
            [
                ("bios-boot", BIOS_BOOT_TYPE),
                ("esp", ESP_TYPE),
                ("root", ROOT_X86_64_TYPE),
                ("swap", SWAP_TYPE),
                ("swap-2", SWAP_TYPE),
            ]
        );
    }

    #[test]
    fn partition_names_fit_the_gpt() {
        let long = format!("/srv/{}", "é".repeat(40));
        let disk = layout(
            &format!(
                "part / --size=10\npart /var/lib/docker --size=10\npart /var/tmp --size=10\npart {long} --size=10\n"
            ),
            None,
            &no_files,
        );
        let names: Vec<&str> = disk.partitions.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(&names[2..5], ["root", "var-lib-docker", "var-tmp"]);
        assert_eq!(names[5], format!("srv-{}", "é".repeat(32)));
        assert_eq!(disk.partitions[4].type_guid, VAR_TMP_TYPE);
        let file = tempfile::tempfile().unwrap();
        file.set_len(disk.size).unwrap();
        let gpt = disk.gpt();
        gpt.write(&file).unwrap();
        let mut head = vec![0u8; 34 * 512];
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut head, 0).unwrap();
        assert_eq!(Gpt::read(&head).unwrap(), gpt);
    }
}
