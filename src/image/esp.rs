//! The EFI System Partition: a FAT16 image written in one pass.
//!
//! Our own writer rather than the `fatfs` crate: its last release (0.3.6)
//! writes long-name entries in front of `.` and `..`, which `fsck.fat`
//! rejects (its issue #117, fixed but unreleased), and patching those
//! directory clusters afterwards takes as much FAT code as writing the
//! image. A write-once image of a few known files is small to write: the
//! layout is computed up front, then the image is streamed, so the kernel
//! and initrd are never held in memory, and the only time in it is the
//! caller's, so the bytes are reproducible.
//!
//! FAT16 only: it covers 2 MiB to 2 GiB, which holds a kernel and an
//! initrd, and UEFI firmware reads it on removable media.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use hadris_fs::DateTime;

use super::ImageError;

const SECTOR: u64 = 512;
const RESERVED_SECTORS: u64 = 1;
const FATS: u64 = 2;
const ROOT_ENTRIES: u64 = 512;
const ENTRY: usize = 32;
/// FAT16 by the cluster-count rule every FAT driver applies: fewer
/// clusters would be read as FAT12, more as FAT32.
const MIN_CLUSTERS: u64 = 4085;
const MAX_CLUSTERS: u64 = 65524;
const MAX_SECTORS_PER_CLUSTER: u64 = 64;
const END_OF_CHAIN: u16 = 0xFFFF;
const ATTR_VOLUME_ID: u8 = 0x08;
const ATTR_DIRECTORY: u8 = 0x10;
const ATTR_ARCHIVE: u8 = 0x20;
const ATTR_LONG_NAME: u8 = 0x0F;
/// UCS-2 units in one long-name entry.
const LFN_CHARS: usize = 13;
/// The root entries there is room for: one is kept for a volume label.
const ROOT_FILE_ENTRIES: u64 = ROOT_ENTRIES - 1;
/// "NO NAME": the boot sector's label when the volume has none.
const NO_LABEL: [u8; 11] = *b"NO NAME    ";

/// Where a file's bytes come from.
#[derive(Debug, Clone)]
pub enum Source {
    Host(PathBuf),
    Bytes(Vec<u8>),
}

/// A file of the partition at `path` (`/`-separated, no leading `/`).
#[derive(Debug, Clone)]
pub struct EspFile {
    pub path: String,
    pub source: Source,
}

impl EspFile {
    pub fn host(path: &str, host: &Path) -> Self {
        Self {
            path: path.to_owned(),
            source: Source::Host(host.to_owned()),
        }
    }

    pub fn bytes(path: &str, bytes: impl Into<Vec<u8>>) -> Self {
        Self {
            path: path.to_owned(),
            source: Source::Bytes(bytes.into()),
        }
    }
}

struct FileEntry {
    source: Source,
    len: u64,
    /// First cluster, set by the layout (0 for an empty file).
    cluster: u16,
}

#[derive(Default)]
struct Dir {
    dirs: BTreeMap<String, Dir>,
    files: BTreeMap<String, FileEntry>,
    /// First cluster, set by the layout (0 for the root, which has none).
    cluster: u16,
}

impl Dir {
    fn insert(&mut self, file: &EspFile) -> Result<(), ImageError> {
        let parts: Vec<&str> = file.path.split('/').collect();
        let bad = || ImageError::EspName {
            name: file.path.clone(),
        };
        if parts.iter().any(|part| !valid_long_name(part)) {
            return Err(bad());
        }
        let (name, parents) = parts.split_last().ok_or_else(bad)?;
        let mut dir = self;
        for parent in parents {
            if dir.files.contains_key(*parent) {
                return Err(bad());
            }
            dir = dir.dirs.entry((*parent).to_owned()).or_default();
        }
        if dir.dirs.contains_key(*name) {
            return Err(bad());
        }
        let len = match &file.source {
            Source::Bytes(bytes) => bytes.len() as u64,
            Source::Host(path) => std::fs::metadata(path)
                .map_err(ImageError::read(path))?
                .len(),
        };
        if dir
            .files
            .insert(
                (*name).to_owned(),
                FileEntry {
                    source: file.source.clone(),
                    len,
                    cluster: 0,
                },
            )
            .is_some()
        {
            return Err(bad());
        }
        Ok(())
    }

    /// Directory entries this directory's table holds, `.` and `..` included
    /// for a subdirectory.
    fn entry_count(&self, is_root: bool) -> u64 {
        let names = self.dirs.keys().chain(self.files.keys());
        let own: u64 = names.map(|name| entries_for(name)).sum();
        if is_root { own } else { own + 2 }
    }
}

/// Long names FAT and UEFI can look up: printable ASCII without the
/// characters FAT forbids, at most 255 characters.
fn valid_long_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| (0x20..0x7F).contains(&b) && !b"\"*/:<>?\\|".contains(&b))
}

/// The short name when `name` is already an upper-case 8.3 name, so it
/// needs no long-name entries.
fn plain_short_name(name: &str) -> Option<[u8; 11]> {
    let (base, ext) = name.split_once('.').unwrap_or((name, ""));
    let allowed = |s: &str| {
        s.bytes().all(|b| {
            b.is_ascii_uppercase() || b.is_ascii_digit() || b"_-~!#$%&'()@^`{}".contains(&b)
        })
    };
    if base.is_empty() || base.len() > 8 || ext.len() > 3 || !allowed(base) || !allowed(ext) {
        return None;
    }
    let mut short = [b' '; 11];
    short[..base.len()].copy_from_slice(base.as_bytes());
    short[8..8 + ext.len()].copy_from_slice(ext.as_bytes());
    Some(short)
}

fn entries_for(name: &str) -> u64 {
    match plain_short_name(name) {
        Some(_) => 1,
        None => 1 + name.len().div_ceil(LFN_CHARS) as u64,
    }
}

/// A unique short name `BASIS~N.EXT` for a long name; unique within the
/// directory because `index` is the entry's position in it.
fn generated_short_name(name: &str, index: usize) -> [u8; 11] {
    let clean = |s: &str, max: usize| -> Vec<u8> {
        s.bytes()
            .filter(u8::is_ascii_alphanumeric)
            .map(|b| b.to_ascii_uppercase())
            .take(max)
            .collect()
    };
    let (base, ext) = name.rsplit_once('.').unwrap_or((name, ""));
    let tail = format!("~{}", index + 1);
    let mut basis = clean(base, 8 - tail.len());
    if basis.is_empty() {
        basis.push(b'_');
    }
    basis.extend_from_slice(tail.as_bytes());
    let ext = clean(ext, 3);
    let mut short = [b' '; 11];
    short[..basis.len()].copy_from_slice(&basis);
    short[8..8 + ext.len()].copy_from_slice(&ext);
    short
}

fn lfn_checksum(short: &[u8; 11]) -> u8 {
    short
        .iter()
        .fold(0u8, |sum, &b| sum.rotate_right(1).wrapping_add(b))
}

/// FAT's packed local date and time; FAT cannot date before 1980.
fn fat_time(time: DateTime) -> (u16, u16) {
    let (date, clock) = time.to_civil_utc();
    if date.year() < 1980 {
        return ((1 << 5) | 1, 0);
    }
    let year = (date.year() - 1980).min(127) as u16;
    let day = (year << 9) | (u16::from(date.month()) << 5) | u16::from(date.day());
    let hms = (u16::from(clock.hour()) << 11)
        | (u16::from(clock.minute()) << 5)
        | (u16::from(clock.second()) / 2);
    (day, hms)
}

fn short_entry(
    short: &[u8; 11],
    attr: u8,
    cluster: u16,
    size: u32,
    stamp: (u16, u16),
) -> [u8; ENTRY] {
    let (date, time) = stamp;
    let mut e = [0u8; ENTRY];
    e[..11].copy_from_slice(short);
    e[11] = attr;
    e[14..16].copy_from_slice(&time.to_le_bytes());
    e[16..18].copy_from_slice(&date.to_le_bytes());
    e[18..20].copy_from_slice(&date.to_le_bytes());
    e[22..24].copy_from_slice(&time.to_le_bytes());
    e[24..26].copy_from_slice(&date.to_le_bytes());
    e[26..28].copy_from_slice(&cluster.to_le_bytes());
    e[28..32].copy_from_slice(&size.to_le_bytes());
    e
}

/// The long-name entries for `name`, in on-disk order (last part first).
fn long_entries(name: &str, short: &[u8; 11]) -> Vec<[u8; ENTRY]> {
    let units: Vec<u16> = name.encode_utf16().collect();
    let parts = units.len().div_ceil(LFN_CHARS);
    let checksum = lfn_checksum(short);
    (0..parts)
        .rev()
        .map(|part| {
            let mut chars = [0xFFFFu16; LFN_CHARS];
            let start = part * LFN_CHARS;
            for (i, slot) in chars.iter_mut().enumerate() {
                match units.get(start + i) {
                    Some(&unit) => *slot = unit,
                    // The name ends with one NUL, then 0xFFFF padding.
                    None if start + i == units.len() => *slot = 0,
                    None => {}
                }
            }
            let mut e = [0u8; ENTRY];
            e[0] = (part + 1) as u8 | if part + 1 == parts { 0x40 } else { 0 };
            e[11] = ATTR_LONG_NAME;
            e[13] = checksum;
            let offsets = (1..11)
                .step_by(2)
                .chain((14..26).step_by(2))
                .chain((28..32).step_by(2));
            for (offset, unit) in offsets.zip(chars) {
                e[offset..offset + 2].copy_from_slice(&unit.to_le_bytes());
            }
            e
        })
        .collect()
}

/// What fills the clusters from one allocation.
enum Blob<'a> {
    Table(Vec<u8>),
    File(&'a FileEntry),
}

/// Gives every subdirectory and file its clusters, depth first in name
/// order, and writes their chains into `fat`.
fn allocate(dir: &mut Dir, cluster_bytes: u64, next: &mut u16, fat: &mut [u16]) {
    let mut chain = |len: u64| -> u16 {
        // The plan keeps the cluster count within FAT16's, so this fits.
        let count = len.div_ceil(cluster_bytes) as u16;
        if count == 0 {
            return 0;
        }
        let first = *next;
        for cluster in first..first + count {
            fat[usize::from(cluster)] = if cluster + 1 == first + count {
                END_OF_CHAIN
            } else {
                cluster + 1
            };
        }
        *next += count;
        first
    };
    for sub in dir.dirs.values_mut() {
        sub.cluster = chain(sub.entry_count(false) * ENTRY as u64);
    }
    for file in dir.files.values_mut() {
        file.cluster = chain(file.len);
    }
    for sub in dir.dirs.values_mut() {
        allocate(sub, cluster_bytes, next, fat);
    }
}

/// What goes into the data area, keyed by first cluster.
fn blobs<'a>(dir: &'a Dir, stamp: (u16, u16), out: &mut BTreeMap<u16, Blob<'a>>) {
    for sub in dir.dirs.values() {
        out.insert(
            sub.cluster,
            Blob::Table(table(sub, Some(dir.cluster), stamp)),
        );
        blobs(sub, stamp, out);
    }
    for file in dir.files.values().filter(|file| file.cluster != 0) {
        out.insert(file.cluster, Blob::File(file));
    }
}

/// The directory table of `dir`; a subdirectory's starts with `.` and
/// `..`, whose cluster is the parent's (0 for the root).
fn table(dir: &Dir, parent: Option<u16>, stamp: (u16, u16)) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(parent) = parent {
        out.extend(short_entry(
            b".          ",
            ATTR_DIRECTORY,
            dir.cluster,
            0,
            stamp,
        ));
        out.extend(short_entry(
            b"..         ",
            ATTR_DIRECTORY,
            parent,
            0,
            stamp,
        ));
    }
    let dirs = dir
        .dirs
        .iter()
        .map(|(name, sub)| (name, ATTR_DIRECTORY, sub.cluster, 0));
    let files = dir
        .files
        .iter()
        .map(|(name, file)| (name, ATTR_ARCHIVE, file.cluster, file.len));
    for (index, (name, attr, cluster, len)) in dirs.chain(files).enumerate() {
        let short = match plain_short_name(name) {
            Some(short) => short,
            None => {
                let short = generated_short_name(name, index);
                out.extend(long_entries(name, &short).concat());
                short
            }
        };
        // FAT16 volumes end below 2 GiB, so every size fits.
        out.extend(short_entry(&short, attr, cluster, len as u32, stamp));
    }
    out
}

/// A volume label as FAT stores it, space-padded; `None` when `label` is
/// not one (empty, longer than 11 bytes, or holding characters a short
/// name cannot).
fn volume_label(label: &str) -> Option<[u8; 11]> {
    let fits = !label.is_empty()
        && label.len() <= 11
        && !label.starts_with(' ')
        && label
            .bytes()
            .all(|b| (0x20..0x7F).contains(&b) && !b"\"*+,./:;<=>?[\\]|".contains(&b));
    fits.then(|| {
        let mut field = [b' '; 11];
        field[..label.len()].copy_from_slice(label.as_bytes());
        field
    })
}

fn boot_sector(layout: &Layout, volume_id: u32, label: &[u8; 11]) -> [u8; SECTOR as usize] {
    let mut s = [0u8; SECTOR as usize];
    s[..3].copy_from_slice(&[0xEB, 0x3C, 0x90]);
    s[3..11].copy_from_slice(b"LIVECOMP");
    s[11..13].copy_from_slice(&(SECTOR as u16).to_le_bytes());
    s[13] = layout.sectors_per_cluster as u8;
    s[14..16].copy_from_slice(&(RESERVED_SECTORS as u16).to_le_bytes());
    s[16] = FATS as u8;
    s[17..19].copy_from_slice(&(ROOT_ENTRIES as u16).to_le_bytes());
    let total = layout.total_sectors();
    match u16::try_from(total) {
        Ok(small) => s[19..21].copy_from_slice(&small.to_le_bytes()),
        // Below 2 GiB in 512-byte sectors always fits 32 bits.
        Err(_) => s[32..36].copy_from_slice(&(total as u32).to_le_bytes()),
    }
    s[21] = 0xF8;
    s[22..24].copy_from_slice(&(layout.fat_sectors as u16).to_le_bytes());
    s[24..26].copy_from_slice(&32u16.to_le_bytes());
    s[26..28].copy_from_slice(&64u16.to_le_bytes());
    s[36] = 0x80;
    s[38] = 0x29;
    s[39..43].copy_from_slice(&volume_id.to_le_bytes());
    // Blkid and the kernel read the label from the root entry; the boot
    // sector's copy matches it, as mkfs.fat writes them.
    s[43..54].copy_from_slice(label);
    s[54..62].copy_from_slice(b"FAT16   ");
    s[510..].copy_from_slice(&[0x55, 0xAA]);
    s
}

/// Writes a FAT16 image holding `files` to `output`, as small as they
/// allow, every entry dated `time`, and returns its size in bytes.
pub fn write_esp(files: &[EspFile], time: DateTime, output: &Path) -> Result<u64, ImageError> {
    write_image(files, time, None, output)
}

/// Writes a FAT16 image as [`write_esp`] does, with the volume label
/// `label` (what `blkid` shows as LABEL).
pub(super) fn write_labelled(
    files: &[EspFile],
    time: DateTime,
    label: &str,
    output: &Path,
) -> Result<u64, ImageError> {
    let label = volume_label(label).ok_or_else(|| ImageError::FatLabel {
        label: label.to_owned(),
    })?;
    write_image(files, time, Some(label), output)
}

fn write_image(
    files: &[EspFile],
    time: DateTime,
    label: Option<[u8; 11]>,
    output: &Path,
) -> Result<u64, ImageError> {
    let root = tree(files)?;
    let layout = plan(&root)?;
    let write_error = ImageError::write(output);
    let file = File::create(output).map_err(write_error)?;
    let mut out = BufWriter::new(file);
    // The serial number only tells volumes apart; the time is as good as any.
    let volume = Volume {
        serial: time.unix_seconds() as u32,
        label,
    };
    let size = write_fat(root, &layout, time, volume, &mut out, output)?;
    out.into_inner()
        .map_err(|err| write_error(err.into_error()))?
        .sync_all()
        .map_err(write_error)?;
    Ok(size)
}

/// Writes a FAT16 file system of `bytes` (a disk's partition, which it
/// fills) holding `files` to `out` (`output` names it in errors), with the
/// serial number `volume_id` (what `/etc/fstab` names it by); returns its
/// size in bytes, at most `bytes`.
pub fn write_fat_partition(
    files: &[EspFile],
    time: DateTime,
    volume_id: u32,
    bytes: u64,
    out: &mut impl Write,
    output: &Path,
) -> Result<u64, ImageError> {
    let root = tree(files)?;
    let layout = plan_filling(&root, bytes / SECTOR)?;
    let volume = Volume {
        serial: volume_id,
        label: None,
    };
    let size = write_fat(root, &layout, time, volume, out, output)?;
    out.flush().map_err(ImageError::write(output))?;
    Ok(size)
}

fn tree(files: &[EspFile]) -> Result<Dir, ImageError> {
    let mut root = Dir::default();
    for file in files {
        root.insert(file)?;
    }
    Ok(root)
}

/// What tells a volume apart: its serial number and its label, if any.
struct Volume {
    serial: u32,
    label: Option<[u8; 11]>,
}

/// Writes the file system to `out`, front to back; `output` names it in
/// errors.
fn write_fat(
    mut root: Dir,
    layout: &Layout,
    time: DateTime,
    volume: Volume,
    out: &mut impl Write,
    output: &Path,
) -> Result<u64, ImageError> {
    let mut fat = vec![0u16; layout.clusters as usize + 2];
    fat[0] = 0xFFF8;
    fat[1] = END_OF_CHAIN;
    let mut next = 2;
    allocate(&mut root, layout.cluster_bytes(), &mut next, &mut fat);
    let stamp = fat_time(time);
    let mut data = BTreeMap::new();
    blobs(&root, stamp, &mut data);

    let write_error = ImageError::write(output);
    out.write_all(&boot_sector(
        layout,
        volume.serial,
        volume.label.as_ref().unwrap_or(&NO_LABEL),
    ))
    .map_err(write_error)?;
    let fat_bytes: Vec<u8> = fat.iter().flat_map(|entry| entry.to_le_bytes()).collect();
    for _ in 0..FATS {
        write_padded(out, &fat_bytes, layout.fat_sectors * SECTOR).map_err(write_error)?;
    }
    let mut root_table = Vec::new();
    if let Some(label) = &volume.label {
        root_table.extend(short_entry(label, ATTR_VOLUME_ID, 0, 0, stamp));
    }
    root_table.extend(table(&root, None, stamp));
    write_padded(out, &root_table, ROOT_ENTRIES * ENTRY as u64).map_err(write_error)?;
    let cluster_bytes = layout.cluster_bytes();
    for blob in data.values() {
        match blob {
            Blob::Table(bytes) => {
                let size = (bytes.len() as u64).div_ceil(cluster_bytes) * cluster_bytes;
                write_padded(out, bytes, size).map_err(write_error)?;
            }
            Blob::File(file) => copy_file(out, file, cluster_bytes, output)?,
        }
    }
    let used = u64::from(next) - 2;
    io::copy(
        &mut io::repeat(0).take((layout.clusters - used) * cluster_bytes),
        out,
    )
    .map_err(write_error)?;
    Ok(layout.total_sectors() * SECTOR)
}

fn write_padded(out: &mut impl Write, bytes: &[u8], size: u64) -> io::Result<()> {
    out.write_all(bytes)?;
    io::copy(&mut io::repeat(0).take(size - bytes.len() as u64), out)?;
    Ok(())
}

fn copy_file(
    out: &mut impl Write,
    file: &FileEntry,
    cluster_bytes: u64,
    output: &Path,
) -> Result<(), ImageError> {
    let size = file.len.div_ceil(cluster_bytes) * cluster_bytes;
    let path = match &file.source {
        Source::Bytes(bytes) => {
            return write_padded(out, bytes, size).map_err(ImageError::write(output));
        }
        Source::Host(path) => path,
    };
    let read_error = ImageError::read(path);
    let mut input = File::open(path).map_err(read_error)?.take(file.len);
    let copied = io::copy(&mut input, out).map_err(read_error)?;
    if copied != file.len {
        return Err(read_error(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the file shrank while the ESP was written",
        )));
    }
    io::copy(&mut io::repeat(0).take(size - copied), out).map_err(ImageError::write(output))?;
    Ok(())
}

struct Layout {
    sectors_per_cluster: u64,
    clusters: u64,
    fat_sectors: u64,
}

impl Layout {
    fn cluster_bytes(&self) -> u64 {
        self.sectors_per_cluster * SECTOR
    }

    fn total_sectors(&self) -> u64 {
        RESERVED_SECTORS
            + FATS * self.fat_sectors
            + ROOT_ENTRIES * ENTRY as u64 / SECTOR
            + self.clusters * self.sectors_per_cluster
    }
}

/// Clusters `dir`'s subdirectories and files take at `cluster_bytes`.
fn clusters_needed(dir: &Dir, cluster_bytes: u64) -> u64 {
    let files: u64 = dir
        .files
        .values()
        .map(|file| file.len.div_ceil(cluster_bytes))
        .sum();
    let dirs: u64 = dir
        .dirs
        .values()
        .map(|sub| {
            (sub.entry_count(false) * ENTRY as u64).div_ceil(cluster_bytes)
                + clusters_needed(sub, cluster_bytes)
        })
        .sum();
    files + dirs
}

/// The smallest cluster size at which `total_sectors` hold at most
/// FAT16's cluster count, all of them used by the file system.
fn plan_filling(root: &Dir, total_sectors: u64) -> Result<Layout, ImageError> {
    if root.entry_count(true) > ROOT_FILE_ENTRIES {
        return Err(ImageError::EspTooLarge);
    }
    let fixed = RESERVED_SECTORS + ROOT_ENTRIES * ENTRY as u64 / SECTOR;
    let mut sectors_per_cluster = 1;
    while sectors_per_cluster <= MAX_SECTORS_PER_CLUSTER {
        // The largest cluster count whose two FATs still fit beside it.
        let mut clusters = total_sectors.saturating_sub(fixed) / sectors_per_cluster;
        let fat_sectors = |clusters: u64| ((clusters + 2) * 2).div_ceil(SECTOR);
        while clusters > 0
            && fixed + FATS * fat_sectors(clusters) + clusters * sectors_per_cluster > total_sectors
        {
            clusters -= 1;
        }
        if clusters < MIN_CLUSTERS {
            return Err(ImageError::EspTooSmall {
                bytes: total_sectors * SECTOR,
            });
        }
        if clusters <= MAX_CLUSTERS {
            if clusters_needed(root, sectors_per_cluster * SECTOR) > clusters {
                return Err(ImageError::EspTooLarge);
            }
            return Ok(Layout {
                sectors_per_cluster,
                clusters,
                fat_sectors: fat_sectors(clusters),
            });
        }
        sectors_per_cluster *= 2;
    }
    Err(ImageError::EspTooLarge)
}

/// The smallest cluster size that keeps the cluster count within FAT16's.
fn plan(root: &Dir) -> Result<Layout, ImageError> {
    if root.entry_count(true) > ROOT_FILE_ENTRIES {
        return Err(ImageError::EspTooLarge);
    }
    let mut sectors_per_cluster = 1;
    loop {
        let needed = clusters_needed(root, sectors_per_cluster * SECTOR);
        if needed <= MAX_CLUSTERS {
            let clusters = needed.max(MIN_CLUSTERS);
            // Two bytes per cluster, plus the two reserved entries.
            let fat_sectors = ((clusters + 2) * 2).div_ceil(SECTOR);
            return Ok(Layout {
                sectors_per_cluster,
                clusters,
                fat_sectors,
            });
        }
        if sectors_per_cluster == MAX_SECTORS_PER_CLUSTER {
            return Err(ImageError::EspTooLarge);
        }
        sectors_per_cluster *= 2;
    }
}
