//! The GUID Partition Table (UEFI 2.10, chapter 5) of a disk image, written
//! into the image file without a loop device, and read back for tests.
//!
//! What [`Gpt::write`] puts on the disk, in 512-byte sectors (LBAs):
//! - LBA 0: the protective MBR's partition table and 0x55AA signature
//!   (bytes 446..512). Bytes 0..440 are GRUB's boot code, written by the
//!   image assembly, and are never touched here.
//! - LBA 1: the primary header; LBA 2..=33: 128 entries of 128 bytes.
//! - the last 33 sectors: a copy of the entries, then the backup header in
//!   the very last sector.
//!
//! Nothing else is written, so a sparse image file stays sparse.

use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// GPT sizes are in logical blocks; disk images use 512-byte ones.
pub const SECTOR_SIZE: u64 = 512;

const SIGNATURE: &[u8; 8] = b"EFI PART";
/// UEFI 2.x headers all carry revision 1.0.
const REVISION: u32 = 0x0001_0000;
const HEADER_SIZE: usize = 92;
/// 128 entries of 128 bytes is the size every tool writes and the minimum
/// (16 KiB) the specification allows.
pub const ENTRY_COUNT: usize = 128;
const ENTRY_SIZE: usize = 128;
const ENTRY_ARRAY_BYTES: usize = ENTRY_COUNT * ENTRY_SIZE;
const ENTRY_ARRAY_SECTORS: u64 = ENTRY_ARRAY_BYTES as u64 / SECTOR_SIZE;
/// The primary header and entries sit at LBA 1 and 2.
const PRIMARY_HEADER_LBA: u64 = 1;
const PRIMARY_ENTRIES_LBA: u64 = 2;
/// LBA 0, the header and the entry array come before the first partition.
const FIRST_USABLE_LBA: u64 = PRIMARY_ENTRIES_LBA + ENTRY_ARRAY_SECTORS;
/// A partition name holds 36 UTF-16 code units (72 bytes).
const NAME_UNITS: usize = 36;
/// The protective MBR's partition table and boot signature.
const MBR_TABLE_OFFSET: usize = 446;
const MBR_SIGNATURE: [u8; 2] = [0x55, 0xAA];
const PROTECTIVE_TYPE: u8 = 0xEE;

/// A GUID, held in its textual byte order (the order of the hex digits in
/// `c12a7328-f81f-11d2-ba4b-00a0c93ec93b`); GPT stores the first three
/// fields little-endian, and the reader and writer convert.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Guid([u8; 16]);

impl Guid {
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The bytes in text order (as ext4 and swap headers store a UUID).
    pub const fn bytes(&self) -> [u8; 16] {
        self.0
    }

    /// A GUID written as text in the source, for the well-known type GUIDs.
    /// It is evaluated at compile time, so a typo fails the build.
    pub(crate) const fn from_text(text: &str) -> Self {
        let text = text.as_bytes();
        assert!(text.len() == 36, "a GUID has 36 characters");
        let mut bytes = [0u8; 16];
        let mut byte = 0;
        let mut at = 0;
        while at < text.len() {
            if at == 8 || at == 13 || at == 18 || at == 23 {
                assert!(text[at] == b'-', "GUID groups are separated by dashes");
                at += 1;
                continue;
            }
            bytes[byte] = hex_digit(text[at]) << 4 | hex_digit(text[at + 1]);
            byte += 1;
            at += 2;
        }
        Self(bytes)
    }

    fn is_nil(&self) -> bool {
        self.0 == [0; 16]
    }

    /// The on-disk form: the 32-bit and two 16-bit fields little-endian.
    fn to_gpt_bytes(self) -> [u8; 16] {
        let mut bytes = self.0;
        bytes[0..4].reverse();
        bytes[4..6].reverse();
        bytes[6..8].reverse();
        bytes
    }

    pub(crate) fn from_gpt_bytes(mut bytes: [u8; 16]) -> Self {
        // The swap is its own inverse.
        bytes[0..4].reverse();
        bytes[4..6].reverse();
        bytes[6..8].reverse();
        Self(bytes)
    }
}

const fn hex_digit(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => panic!("a GUID is made of hex digits"),
    }
}

/// Lower case, as blkid, fstab and the kernel's PARTUUID= print it.
impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, byte) in self.0.iter().enumerate() {
            if matches!(index, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A partition table: what [`Gpt::write`] writes and [`Gpt::read`] returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gpt {
    /// The whole disk in bytes, a multiple of [`SECTOR_SIZE`].
    pub disk_size: u64,
    pub disk_guid: Guid,
    /// [`Gpt::read`] returns them by number; [`Gpt::write`] takes any order.
    pub partitions: Vec<GptPartition>,
}

/// One used entry of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GptPartition {
    /// 1-based: the entry's index plus one, the N in Linux's `/dev/vdaN`.
    pub number: u32,
    pub type_guid: Guid,
    /// The partition's own GUID (PARTUUID).
    pub unique_guid: Guid,
    pub first_lba: u64,
    /// Inclusive, as GPT stores it.
    pub last_lba: u64,
    pub name: String,
}

#[derive(Debug, thiserror::Error)]
pub enum GptError {
    #[error("cannot write the partition table: {0}")]
    Io(#[from] io::Error),
    #[error(
        "the image file is {actual} bytes but its partition table is for a {expected}-byte disk"
    )]
    FileSize { expected: u64, actual: u64 },
    #[error("a disk of {size} bytes is not a whole number of {SECTOR_SIZE}-byte sectors")]
    PartialSector { size: u64 },
    #[error("a disk of {size} bytes is too small for a GPT, which needs {minimum} bytes")]
    DiskTooSmall { size: u64, minimum: u64 },
    #[error("partition number {number} is not between 1 and {ENTRY_COUNT}")]
    NumberOutOfRange { number: u32 },
    #[error("two partitions have the number {number}")]
    DuplicateNumber { number: u32 },
    #[error("partition {number} has the nil type GUID, which marks an unused entry")]
    NilType { number: u32 },
    #[error(
        "partition {number} (sectors {first_lba}..={last_lba}) is not within the usable sectors {first_usable}..={last_usable}"
    )]
    OutsideUsable {
        number: u32,
        first_lba: u64,
        last_lba: u64,
        first_usable: u64,
        last_usable: u64,
    },
    #[error("partitions {first} and {second} overlap")]
    Overlap { first: u32, second: u32 },
    #[error("partition {number}'s name {name:?} is longer than {NAME_UNITS} UTF-16 code units")]
    NameTooLong { number: u32, name: String },
    #[error("partition {number}'s name is not valid UTF-16")]
    InvalidName { number: u32 },
    #[error("the data ends at byte {length}, but the GPT goes on to byte {needed}")]
    Truncated { length: usize, needed: u64 },
    #[error("sector 0 holds no protective MBR (0x55AA and a partition of type 0xEE)")]
    NoProtectiveMbr,
    #[error("the {which} GPT header (sector {lba}) has no \"EFI PART\" signature")]
    NoSignature { which: &'static str, lba: u64 },
    #[error("the {which} GPT header: {problem}")]
    BadHeader {
        which: &'static str,
        problem: String,
    },
    #[error("the {which} GPT header's CRC32 is {stored:#010x} but its bytes give {computed:#010x}")]
    HeaderCrc {
        which: &'static str,
        stored: u32,
        computed: u32,
    },
    #[error(
        "the {which} partition entries' CRC32 is {stored:#010x} but their bytes give {computed:#010x}"
    )]
    EntriesCrc {
        which: &'static str,
        stored: u32,
        computed: u32,
    },
    #[error("the backup GPT does not match the primary one: {field} differs")]
    BackupMismatch { field: &'static str },
}

impl Gpt {
    /// Writes the protective MBR, both headers and both entry arrays into
    /// `image`, which must already be `disk_size` bytes long (`File::set_len`
    /// keeps it sparse). Only those sectors are written.
    pub fn write(&self, image: &File) -> Result<(), GptError> {
        let sectors = self.check()?;
        let actual = image.metadata()?.len();
        if actual != self.disk_size {
            return Err(GptError::FileSize {
                expected: self.disk_size,
                actual,
            });
        }
        let entries = self.entry_array();
        let entries_crc = crc32fast::hash(&entries);
        let last_lba = sectors - 1;
        let backup_entries_lba = last_lba - ENTRY_ARRAY_SECTORS;
        let primary = self.header(
            PRIMARY_HEADER_LBA,
            last_lba,
            PRIMARY_ENTRIES_LBA,
            entries_crc,
        );
        let backup = self.header(
            last_lba,
            PRIMARY_HEADER_LBA,
            backup_entries_lba,
            entries_crc,
        );
        image.write_all_at(&protective_mbr(sectors), MBR_TABLE_OFFSET as u64)?;
        image.write_all_at(&primary, PRIMARY_HEADER_LBA * SECTOR_SIZE)?;
        image.write_all_at(&entries, PRIMARY_ENTRIES_LBA * SECTOR_SIZE)?;
        image.write_all_at(&entries, backup_entries_lba * SECTOR_SIZE)?;
        image.write_all_at(&backup, last_lba * SECTOR_SIZE)?;
        Ok(())
    }

    /// Everything `write` would have the firmware reject, found before the
    /// first byte is written. Returns the disk's sector count.
    fn check(&self) -> Result<u64, GptError> {
        if !self.disk_size.is_multiple_of(SECTOR_SIZE) {
            return Err(GptError::PartialSector {
                size: self.disk_size,
            });
        }
        let sectors = self.disk_size / SECTOR_SIZE;
        // Both tables plus at least one usable sector between them.
        let minimum_sectors = FIRST_USABLE_LBA + 1 + ENTRY_ARRAY_SECTORS + 1;
        if sectors < minimum_sectors {
            return Err(GptError::DiskTooSmall {
                size: self.disk_size,
                minimum: minimum_sectors * SECTOR_SIZE,
            });
        }
        let last_usable = last_usable_lba(sectors);
        let mut by_start: Vec<&GptPartition> = self.partitions.iter().collect();
        by_start.sort_by_key(|p| p.first_lba);
        let mut numbers = std::collections::BTreeSet::new();
        for part in &by_start {
            let number = part.number;
            if !(1..=ENTRY_COUNT as u32).contains(&number) {
                return Err(GptError::NumberOutOfRange { number });
            }
            if !numbers.insert(number) {
                return Err(GptError::DuplicateNumber { number });
            }
            if part.type_guid.is_nil() {
                return Err(GptError::NilType { number });
            }
            if part.first_lba < FIRST_USABLE_LBA
                || part.last_lba > last_usable
                || part.first_lba > part.last_lba
            {
                return Err(GptError::OutsideUsable {
                    number,
                    first_lba: part.first_lba,
                    last_lba: part.last_lba,
                    first_usable: FIRST_USABLE_LBA,
                    last_usable,
                });
            }
            if part.name.encode_utf16().count() > NAME_UNITS {
                return Err(GptError::NameTooLong {
                    number,
                    name: part.name.clone(),
                });
            }
        }
        for pair in by_start.windows(2) {
            if let [earlier, later] = pair
                && later.first_lba <= earlier.last_lba
            {
                return Err(GptError::Overlap {
                    first: earlier.number,
                    second: later.number,
                });
            }
        }
        Ok(sectors)
    }

    /// The 128 entries, each at its number's slot; unused ones stay zero.
    fn entry_array(&self) -> Vec<u8> {
        let mut array = vec![0u8; ENTRY_ARRAY_BYTES];
        for part in &self.partitions {
            // `check` has kept the numbers within 1..=128.
            let at = (part.number as usize - 1) * ENTRY_SIZE;
            let entry = &mut array[at..at + ENTRY_SIZE];
            entry[0..16].copy_from_slice(&part.type_guid.to_gpt_bytes());
            entry[16..32].copy_from_slice(&part.unique_guid.to_gpt_bytes());
            entry[32..40].copy_from_slice(&part.first_lba.to_le_bytes());
            entry[40..48].copy_from_slice(&part.last_lba.to_le_bytes());
            // Bytes 48..56, the attributes, stay 0: no partition here needs
            // the firmware or the OS to treat it specially.
            for (unit, slot) in part
                .name
                .encode_utf16()
                .zip(entry[56..].chunks_exact_mut(2))
            {
                slot.copy_from_slice(&unit.to_le_bytes());
            }
        }
        array
    }

    /// A header sector: `my_lba` is where it lies, `alternate_lba` where the
    /// other copy lies, `entries_lba` where its entry array starts.
    fn header(
        &self,
        my_lba: u64,
        alternate_lba: u64,
        entries_lba: u64,
        entries_crc: u32,
    ) -> Vec<u8> {
        let sectors = self.disk_size / SECTOR_SIZE;
        let mut sector = vec![0u8; SECTOR_SIZE as usize];
        sector[0..8].copy_from_slice(SIGNATURE);
        sector[8..12].copy_from_slice(&REVISION.to_le_bytes());
        sector[12..16].copy_from_slice(&(HEADER_SIZE as u32).to_le_bytes());
        // 16..20: the header CRC, computed over the header with it zeroed.
        sector[24..32].copy_from_slice(&my_lba.to_le_bytes());
        sector[32..40].copy_from_slice(&alternate_lba.to_le_bytes());
        sector[40..48].copy_from_slice(&FIRST_USABLE_LBA.to_le_bytes());
        sector[48..56].copy_from_slice(&last_usable_lba(sectors).to_le_bytes());
        sector[56..72].copy_from_slice(&self.disk_guid.to_gpt_bytes());
        sector[72..80].copy_from_slice(&entries_lba.to_le_bytes());
        sector[80..84].copy_from_slice(&(ENTRY_COUNT as u32).to_le_bytes());
        sector[84..88].copy_from_slice(&(ENTRY_SIZE as u32).to_le_bytes());
        sector[88..92].copy_from_slice(&entries_crc.to_le_bytes());
        let crc = crc32fast::hash(&sector[..HEADER_SIZE]);
        sector[16..20].copy_from_slice(&crc.to_le_bytes());
        sector
    }

    /// Reads the table of the disk whose bytes start at `disk[0]`. It checks
    /// the protective MBR, the primary header and entries with their CRCs;
    /// when `disk` reaches the end of the disk the header describes, the
    /// backup must also be intact and equal to the primary. It never panics
    /// and never allocates more than `disk` holds, whatever the bytes.
    pub fn read(disk: &[u8]) -> Result<Gpt, GptError> {
        let mbr = slice(disk, 0, SECTOR_SIZE)?;
        let table = &mbr[MBR_TABLE_OFFSET..];
        let protective = table[..64]
            .chunks_exact(16)
            .any(|entry| entry[4] == PROTECTIVE_TYPE);
        if table[64..] != MBR_SIGNATURE || !protective {
            return Err(GptError::NoProtectiveMbr);
        }
        let primary = Header::read(disk, PRIMARY_HEADER_LBA, "primary")?;
        let sectors = primary
            .alternate_lba
            .checked_add(1)
            .ok_or_else(|| primary.problem("its backup header lies beyond any disk"))?;
        if primary.alternate_lba <= FIRST_USABLE_LBA {
            return Err(primary.problem("its backup header lies before the usable sectors"));
        }
        let disk_size = sectors
            .checked_mul(SECTOR_SIZE)
            .ok_or_else(|| primary.problem("its backup header lies beyond any disk"))?;
        if primary.first_usable > primary.last_usable.saturating_add(1)
            || primary.last_usable >= primary.alternate_lba
        {
            return Err(primary.problem("its usable sectors are not between the two tables"));
        }
        let partitions = primary.partitions()?;
        let backup_in_reach = u64::try_from(disk.len()).is_ok_and(|length| length >= disk_size);
        if backup_in_reach {
            let backup = Header::read(disk, primary.alternate_lba, "backup")?;
            let differs = [
                ("the disk GUID", backup.disk_guid != primary.disk_guid),
                (
                    "the location of the other header",
                    backup.alternate_lba != PRIMARY_HEADER_LBA,
                ),
                (
                    "the usable sectors",
                    (backup.first_usable, backup.last_usable)
                        != (primary.first_usable, primary.last_usable),
                ),
                ("the partition entries", backup.entries != primary.entries),
            ];
            if let Some((field, _)) = differs.into_iter().find(|(_, differs)| *differs) {
                return Err(GptError::BackupMismatch { field });
            }
        }
        Ok(Gpt {
            disk_size,
            disk_guid: primary.disk_guid,
            partitions,
        })
    }
}

/// The last sector a partition may use: the backup entries and header follow.
fn last_usable_lba(sectors: u64) -> u64 {
    sectors - 1 - ENTRY_ARRAY_SECTORS - 1
}

/// Bytes 446..512 of LBA 0: one partition of type 0xEE covering the disk
/// from LBA 1, so MBR-only tools see the disk as in use.
fn protective_mbr(sectors: u64) -> [u8; 66] {
    let mut table = [0u8; 66];
    let entry = &mut table[..16];
    // Byte 0, the boot indicator, stays 0: the UEFI specification requires
    // it for a protective MBR.
    entry[1..4].copy_from_slice(&chs(PRIMARY_HEADER_LBA));
    entry[4] = PROTECTIVE_TYPE;
    entry[5..8].copy_from_slice(&chs(sectors - 1));
    // A 32-bit count: larger disks record the largest value, as specified.
    let covered = u32::try_from(sectors - 1).unwrap_or(u32::MAX);
    entry[8..12].copy_from_slice(&(PRIMARY_HEADER_LBA as u32).to_le_bytes());
    entry[12..16].copy_from_slice(&covered.to_le_bytes());
    table[64..].copy_from_slice(&MBR_SIGNATURE);
    table
}

/// The cylinder/head/sector address of `lba` in the 255-head, 63-sector
/// geometry every tool assumes, or 0xFFFFFF past what CHS can reach, as the
/// UEFI specification asks.
fn chs(lba: u64) -> [u8; 3] {
    const HEADS: u64 = 255;
    const SECTORS_PER_TRACK: u64 = 63;
    let cylinder = lba / (HEADS * SECTORS_PER_TRACK);
    if cylinder > 1023 {
        return [0xFF; 3];
    }
    let head = (lba / SECTORS_PER_TRACK) % HEADS;
    let sector = lba % SECTORS_PER_TRACK + 1;
    // The two high bits of the 10-bit cylinder ride in the sector byte.
    [
        head as u8,
        (sector as u8) | ((cylinder >> 2) as u8 & 0xC0),
        cylinder as u8,
    ]
}

/// `length` bytes of `disk` from `offset`, or the error naming how far the
/// table reaches.
fn slice(disk: &[u8], offset: u64, length: u64) -> Result<&[u8], GptError> {
    let truncated = || GptError::Truncated {
        length: disk.len(),
        needed: offset.saturating_add(length),
    };
    let start = usize::try_from(offset).map_err(|_| truncated())?;
    let end = start
        .checked_add(usize::try_from(length).map_err(|_| truncated())?)
        .ok_or_else(truncated)?;
    disk.get(start..end).ok_or_else(truncated)
}

/// A header as read, with its entry array, both CRC-checked.
struct Header<'a> {
    which: &'static str,
    alternate_lba: u64,
    first_usable: u64,
    last_usable: u64,
    disk_guid: Guid,
    entries: &'a [u8],
    entry_size: usize,
}

impl<'a> Header<'a> {
    fn read(disk: &'a [u8], lba: u64, which: &'static str) -> Result<Self, GptError> {
        let offset = lba.checked_mul(SECTOR_SIZE).ok_or(GptError::Truncated {
            length: disk.len(),
            needed: u64::MAX,
        })?;
        let sector = slice(disk, offset, SECTOR_SIZE)?;
        let u32_at = |at: usize| u32::from_le_bytes(array(&sector[at..]));
        let u64_at = |at: usize| u64::from_le_bytes(array(&sector[at..]));
        if &sector[0..8] != SIGNATURE {
            return Err(GptError::NoSignature { which, lba });
        }
        let bad = |problem: String| GptError::BadHeader { which, problem };
        let header_size = u32_at(12) as usize;
        if !(HEADER_SIZE..=SECTOR_SIZE as usize).contains(&header_size) {
            return Err(bad(format!(
                "its size is {header_size} bytes, not between {HEADER_SIZE} and {SECTOR_SIZE}"
            )));
        }
        let stored = u32_at(16);
        let mut zeroed = sector[..header_size].to_vec();
        zeroed[16..20].fill(0);
        let computed = crc32fast::hash(&zeroed);
        if stored != computed {
            return Err(GptError::HeaderCrc {
                which,
                stored,
                computed,
            });
        }
        if u64_at(24) != lba {
            return Err(bad(format!(
                "it says it lies at sector {}, not {lba}",
                u64_at(24)
            )));
        }
        let entry_count = u64::from(u32_at(80));
        let entry_size = u32_at(84) as usize;
        // The specification allows 128 * 2^n bytes per entry.
        if entry_size < ENTRY_SIZE || !entry_size.is_power_of_two() {
            return Err(bad(format!(
                "its entries are {entry_size} bytes, not 128 times a power of two"
            )));
        }
        let entries_offset = u64_at(72).checked_mul(SECTOR_SIZE);
        let entries_length = entry_count.checked_mul(entry_size as u64);
        let (Some(entries_offset), Some(entries_length)) = (entries_offset, entries_length) else {
            return Err(bad("its entry array lies beyond any disk".to_owned()));
        };
        let entries = slice(disk, entries_offset, entries_length)?;
        let stored = u32_at(88);
        let computed = crc32fast::hash(entries);
        if stored != computed {
            return Err(GptError::EntriesCrc {
                which,
                stored,
                computed,
            });
        }
        Ok(Self {
            which,
            alternate_lba: u64_at(32),
            first_usable: u64_at(40),
            last_usable: u64_at(48),
            disk_guid: Guid::from_gpt_bytes(array(&sector[56..])),
            entries,
            entry_size,
        })
    }

    fn problem(&self, problem: &str) -> GptError {
        GptError::BadHeader {
            which: self.which,
            problem: problem.to_owned(),
        }
    }

    /// The used entries (non-nil type), numbered by their slot.
    fn partitions(&self) -> Result<Vec<GptPartition>, GptError> {
        let mut partitions = Vec::new();
        for (index, entry) in self.entries.chunks_exact(self.entry_size).enumerate() {
            let type_guid = Guid::from_gpt_bytes(array(entry));
            if type_guid.is_nil() {
                continue;
            }
            let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
            let first_lba = u64::from_le_bytes(array(&entry[32..]));
            let last_lba = u64::from_le_bytes(array(&entry[40..]));
            if first_lba < self.first_usable || last_lba > self.last_usable || first_lba > last_lba
            {
                return Err(GptError::OutsideUsable {
                    number,
                    first_lba,
                    last_lba,
                    first_usable: self.first_usable,
                    last_usable: self.last_usable,
                });
            }
            let units: Vec<u16> = entry[56..56 + 2 * NAME_UNITS]
                .chunks_exact(2)
                .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
                .take_while(|unit| *unit != 0)
                .collect();
            let name = String::from_utf16(&units).map_err(|_| GptError::InvalidName { number })?;
            partitions.push(GptPartition {
                number,
                type_guid,
                unique_guid: Guid::from_gpt_bytes(array(&entry[16..])),
                first_lba,
                last_lba,
                name,
            });
        }
        Ok(partitions)
    }
}

/// The first N bytes of `bytes` as an array; callers pass slices they have
/// already bounds-checked to be at least N long (a sector, an entry).
fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[..N]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: Guid = Guid::from_text("0fc63daf-8483-4772-8e79-3d69d8477de4");
    const ESP: Guid = Guid::from_text("C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
    const MIB: u64 = 1 << 20;

    /// A 4 MiB disk with two partitions, listed out of number order.
    fn table() -> Gpt {
        let sectors = 4 * MIB / SECTOR_SIZE;
        Gpt {
            disk_size: 4 * MIB,
            disk_guid: Guid::from_text("01234567-89ab-4cde-8f01-23456789abcd"),
            partitions: vec![
                GptPartition {
                    number: 3,
                    type_guid: DATA,
                    unique_guid: Guid::from_text("aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"),
                    first_lba: 4096,
                    last_lba: sectors - 34,
                    name: "données ✓ 𝄞".to_owned(),
                },
                GptPartition {
                    number: 1,
                    type_guid: ESP,
                    unique_guid: Guid::from_text("11111111-2222-4333-8444-555555555555"),
                    first_lba: 2048,
                    last_lba: 4095,
                    name: "x".repeat(NAME_UNITS),
                },
            ],
        }
    }

    fn image(size: u64) -> File {
        let file = tempfile::tempfile().unwrap();
        file.set_len(size).unwrap();
        file
    }

    fn bytes(file: &File) -> Vec<u8> {
        let mut data = vec![0; file.metadata().unwrap().len() as usize];
        file.read_exact_at(&mut data, 0).unwrap();
        data
    }

    fn written(gpt: &Gpt) -> Vec<u8> {
        let file = image(gpt.disk_size);
        gpt.write(&file).unwrap();
        bytes(&file)
    }

    fn by_number(mut gpt: Gpt) -> Gpt {
        gpt.partitions.sort_by_key(|part| part.number);
        gpt
    }

    #[test]
    fn guids_print_lower_case_and_are_stored_mixed_endian() {
        assert_eq!(ESP.to_string(), "c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
        assert_eq!(
            ESP.to_gpt_bytes(),
            [
                0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e,
                0xc9, 0x3b
            ]
        );
        assert_eq!(Guid::from_gpt_bytes(ESP.to_gpt_bytes()), ESP);
    }

    #[test]
    fn what_is_written_reads_back_from_the_whole_disk_and_from_its_head() {
        let gpt = table();
        let disk = written(&gpt);
        assert_eq!(Gpt::read(&disk).unwrap(), by_number(gpt.clone()));
        // The primary table alone: the backup is out of reach, not checked.
        let head = &disk[..(FIRST_USABLE_LBA * SECTOR_SIZE) as usize];
        assert_eq!(Gpt::read(head).unwrap(), by_number(gpt));
    }

    #[test]
    fn the_layout_on_disk_is_the_specified_one() {
        let disk = written(&table());
        let sectors = 4 * MIB / SECTOR_SIZE;
        let sector = |lba: u64| &disk[(lba * SECTOR_SIZE) as usize..][..SECTOR_SIZE as usize];
        let u64_at = |bytes: &[u8], at: usize| u64::from_le_bytes(array(&bytes[at..]));
        let (primary, backup) = (sector(1), sector(sectors - 1));
        assert_eq!(&primary[..8], b"EFI PART");
        assert_eq!(&backup[..8], b"EFI PART");
        // MyLBA, AlternateLBA, FirstUsableLBA, LastUsableLBA, PartitionEntryLBA.
        let fields = |header: &[u8]| [24, 32, 40, 48, 72].map(|at| u64_at(header, at));
        assert_eq!(fields(primary), [1, sectors - 1, 34, sectors - 34, 2]);
        assert_eq!(
            fields(backup),
            [sectors - 1, 1, 34, sectors - 34, sectors - 33]
        );
        // Entry 1 (index 0) in both arrays; entry 2 unused.
        for entries_lba in [2, sectors - 33] {
            let entries = &disk[(entries_lba * SECTOR_SIZE) as usize..];
            assert_eq!(entries[..16], ESP.to_gpt_bytes());
            assert_eq!(u64_at(entries, 32), 2048);
            assert!(entries[128..256].iter().all(|b| *b == 0));
        }
        // The protective MBR: one 0xEE partition from LBA 1 over the disk.
        let mbr = &disk[446..512];
        assert_eq!(mbr[4], 0xEE);
        assert_eq!(mbr[1..4], [0, 2, 0]);
        assert_eq!(u32::from_le_bytes(array(&mbr[8..])), 1);
        assert_eq!(u32::from_le_bytes(array(&mbr[12..])), (sectors - 1) as u32);
        assert_eq!(mbr[64..], [0x55, 0xAA]);
    }

    #[test]
    fn boot_code_stays_and_the_file_stays_sparse() {
        let gpt = Gpt {
            disk_size: 1 << 30,
            ..table()
        };
        let file = image(gpt.disk_size);
        file.write_all_at(&[0xAB; 440], 0).unwrap();
        gpt.write(&file).unwrap();
        let mut head = [0u8; 440];
        file.read_exact_at(&mut head, 0).unwrap();
        assert!(
            head.iter().all(|b| *b == 0xAB),
            "GRUB's boot code was overwritten"
        );
        use std::os::unix::fs::MetadataExt;
        let allocated = file.metadata().unwrap().blocks() * 512;
        assert!(
            allocated <= 256 * 1024,
            "{allocated} bytes allocated for a 1 GiB disk"
        );
    }

    #[test]
    fn chs_addresses_and_their_limit() {
        assert_eq!(chs(1), [0, 2, 0]);
        // Cylinder 1023, head 254, sector 63: the last CHS address.
        let last = 1024 * 255 * 63 - 1;
        assert_eq!(chs(last), [254, 63 | 0xC0, 0xFF]);
        assert_eq!(chs(last + 1), [0xFF; 3]);
    }

    #[test]
    fn the_writer_refuses_tables_the_firmware_would() {
        let sectors = 4 * MIB / SECTOR_SIZE;
        let with = |change: &dyn Fn(&mut Gpt)| {
            let mut gpt = table();
            change(&mut gpt);
            gpt.write(&image(gpt.disk_size)).unwrap_err().to_string()
        };
        type Change<'a> = &'a dyn Fn(&mut Gpt);
        let cases: [(Change, &str); 9] = [
            (
                &|g| g.partitions[1].number = 0,
                "partition number 0 is not between 1 and 128",
            ),
            (&|g| g.partitions[1].number = 129, "number 129"),
            (
                &|g| g.partitions[1].number = 3,
                "two partitions have the number 3",
            ),
            (
                &|g| g.partitions[1].type_guid = Guid::from_bytes([0; 16]),
                "nil type GUID",
            ),
            (
                &|g| g.partitions[1].last_lba = 4096,
                "partitions 1 and 3 overlap",
            ),
            (
                &|g| g.partitions[0].last_lba = sectors - 33,
                "not within the usable sectors 34..=",
            ),
            (
                &|g| g.partitions[1].first_lba = 33,
                "not within the usable sectors",
            ),
            (
                &|g| g.partitions[1].name.push('y'),
                "longer than 36 UTF-16 code units",
            ),
            (
                &|g| g.disk_size = 4 * MIB + 1,
                "not a whole number of 512-byte sectors",
            ),
        ];
        for (change, expected) in cases {
            let message = with(change);
            assert!(message.contains(expected), "{message:?} lacks {expected:?}");
        }
        let small = Gpt {
            disk_size: 67 * SECTOR_SIZE,
            partitions: vec![],
            ..table()
        };
        assert!(matches!(
            small.write(&image(small.disk_size)),
            Err(GptError::DiskTooSmall { .. })
        ));
        let gpt = table();
        assert!(matches!(
            gpt.write(&image(gpt.disk_size + MIB)),
            Err(GptError::FileSize { .. })
        ));
    }

    #[test]
    fn the_reader_names_what_is_damaged() {
        let disk = written(&table());
        let sectors = (disk.len() as u64) / SECTOR_SIZE;
        let damaged = |offset: u64| {
            let mut copy = disk.clone();
            copy[offset as usize] ^= 0x01;
            Gpt::read(&copy).unwrap_err()
        };
        assert!(matches!(damaged(510), GptError::NoProtectiveMbr));
        assert!(matches!(
            damaged(512 + 60),
            GptError::HeaderCrc {
                which: "primary",
                ..
            }
        ));
        assert!(matches!(
            damaged(512),
            GptError::NoSignature {
                which: "primary",
                lba: 1
            }
        ));
        assert!(matches!(
            damaged(1024 + 40),
            GptError::EntriesCrc {
                which: "primary",
                ..
            }
        ));
        let backup_entries = (sectors - 33) * SECTOR_SIZE;
        assert!(matches!(
            damaged(backup_entries + 40),
            GptError::EntriesCrc {
                which: "backup",
                ..
            }
        ));
        assert!(matches!(
            damaged((sectors - 1) * SECTOR_SIZE + 60),
            GptError::HeaderCrc {
                which: "backup",
                ..
            }
        ));
        assert!(matches!(
            Gpt::read(&disk[..600]),
            Err(GptError::Truncated { .. })
        ));
        // A backup that is intact but describes other partitions.
        let mut other = table();
        other.partitions[0].name = "other".to_owned();
        let mut mixed = disk.clone();
        let tail = (backup_entries as usize)..;
        mixed[tail.clone()].copy_from_slice(&written(&other)[tail]);
        assert!(matches!(
            Gpt::read(&mixed),
            Err(GptError::BackupMismatch {
                field: "the partition entries"
            })
        ));
    }

    /// A cheap stand-in for the fuzz target: thousands of damaged tables,
    /// each read without a panic.
    #[test]
    fn damaged_tables_never_panic_the_reader() {
        // A small disk keeps 20 000 copies cheap.
        let mut partition = table().partitions[0].clone();
        (partition.first_lba, partition.last_lba) = (40, 200);
        let small = Gpt {
            disk_size: 128 * 1024,
            partitions: vec![partition],
            ..table()
        };
        let disk = written(&small);
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        // The metadata: MBR, header, entries, and the backup's sectors.
        let backup = disk.len() - 33 * SECTOR_SIZE as usize;
        for _ in 0..20_000 {
            let mut copy = disk.clone();
            for _ in 0..1 + next() % 4 {
                let at = match next() % 3 {
                    0 => (next() % 1024) as usize,
                    1 => 1024 + (next() % 256) as usize,
                    _ => backup + (next() % (33 * SECTOR_SIZE)) as usize,
                };
                copy[at] = next() as u8;
            }
            let length = match next() % 4 {
                0 => (next() as usize) % copy.len(),
                _ => copy.len(),
            };
            let _ = Gpt::read(&copy[..length]);
        }
    }
}
