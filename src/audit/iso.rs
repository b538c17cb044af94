//! A live ISO: the squashfs root where livecompose puts it
//! (`/live/filesystem.squashfs`, [`crate::initrd::SQUASHFS_PATH`]), read in
//! place as a [`SquashfsTree`] at the file's offset in the ISO.
//!
//! The ISO 9660 directory is parsed here rather than with hadris-iso: two
//! directory lookups need only the primary volume descriptor and directory
//! records (ECMA-119 9.1), and what we need from them is the file's extents
//! as byte offsets, to hand the ISO itself to the squashfs reader without
//! copying gigabytes out. Names are Rock Ridge's (`NM`, as our writer and
//! xorriso record them), else the ISO name without its `;1` version.

use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::Path;

use super::squashfs::SquashfsTree;
use super::{AuditError, Tree};

const SECTOR: u64 = 2048;
/// More than any live ISO's directory holds; a bigger one is a broken image.
const DIRECTORY_LIMIT: u64 = 16 << 20;

/// One directory record: where its data is, and what it is.
struct Record {
    name: String,
    lba: u64,
    len: u64,
    is_dir: bool,
    /// Bit 7 of the flags: more extents of the same file follow (level 3).
    more: bool,
}

pub fn open(path: &Path) -> Result<Box<dyn Tree>, AuditError> {
    let bad = |detail: String| AuditError::BadIso {
        path: path.to_owned(),
        detail,
    };
    let io = |source| AuditError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    let pvd = read_at(&mut file, 16 * SECTOR, SECTOR).map_err(io)?;
    if pvd[0] != 1 || &pvd[1..6] != b"CD001" {
        return Err(bad("no primary volume descriptor at sector 16".into()));
    }
    let block = u64::from(u16::from_le_bytes([pvd[128], pvd[129]]));
    if block != SECTOR {
        return Err(bad(format!("a logical block of {block} bytes, not 2048")));
    }
    let root =
        parse_record(&pvd[156..190]).ok_or_else(|| bad("a broken root directory record".into()))?;
    let mut dir = root;
    let squashfs_path = crate::initrd::SQUASHFS_PATH;
    let mut components = squashfs_path.split('/').peekable();
    while let Some(name) = components.next() {
        let records = read_dir(&mut file, &dir).map_err(io)?;
        let last = components.peek().is_none();
        let mut matching = records
            .into_iter()
            .skip_while(|r| !r.name.eq_ignore_ascii_case(name) || r.is_dir == last);
        let first = matching.next().ok_or_else(|| {
            bad(format!(
                "no /{squashfs_path}: not a live ISO of livecompose's layout"
            ))
        })?;
        if !last {
            dir = first;
            continue;
        }
        // A squashfs of 4 GiB or more takes several extents; ours and
        // xorriso's follow each other, which is what reading in place needs.
        let mut end = first.lba * SECTOR + first.len;
        let mut more = first.more;
        for next in matching {
            if !more {
                break;
            }
            if next.lba * SECTOR != end.div_ceil(SECTOR) * SECTOR {
                return Err(bad(format!(
                    "/{squashfs_path} is split into extents that do not follow each other"
                )));
            }
            end = next.lba * SECTOR + next.len;
            more = next.more;
        }
        return Ok(Box::new(SquashfsTree::open(path, first.lba * SECTOR)?));
    }
    Err(bad(format!("no /{squashfs_path}")))
}

fn read_at(file: &mut File, offset: u64, len: u64) -> std::io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(offset))?;
    let mut bytes = Vec::new();
    file.take(len).read_to_end(&mut bytes)?;
    if (bytes.len() as u64) < len {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(bytes)
}

/// The records of a directory, `.` and `..` left out. A record never
/// crosses a sector; a zero length byte pads to the next one.
fn read_dir(file: &mut File, dir: &Record) -> std::io::Result<Vec<Record>> {
    if dir.len > DIRECTORY_LIMIT {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("a directory of {} bytes", dir.len),
        ));
    }
    let bytes = read_at(file, dir.lba * SECTOR, dir.len)?;
    let mut records = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        let len = usize::from(bytes[at]);
        if len == 0 {
            at = (at / SECTOR as usize + 1) * SECTOR as usize;
            continue;
        }
        let Some(record) = bytes.get(at..at + len).and_then(parse_record) else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("a broken directory record at byte {at} of a directory"),
            ));
        };
        if !record.name.is_empty() {
            records.push(record);
        }
        at += len;
    }
    Ok(records)
}

/// One record (ECMA-119 9.1); `.` and `..` (names 0 and 1) get an empty name.
fn parse_record(bytes: &[u8]) -> Option<Record> {
    let u32_at = |at: usize| -> Option<u64> {
        Some(u64::from(u32::from_le_bytes(
            bytes.get(at..at + 4)?.try_into().ok()?,
        )))
    };
    let flags = *bytes.get(25)?;
    let name_len = usize::from(*bytes.get(32)?);
    let raw = bytes.get(33..33 + name_len)?;
    // The System Use area (Rock Ridge) follows the name, padded to even.
    let system_use = bytes
        .get(33 + name_len + (1 - name_len % 2)..)
        .unwrap_or(&[]);
    let name = if raw == [0] || raw == [1] {
        String::new()
    } else if let Some(nm) = rock_ridge_name(system_use) {
        nm
    } else {
        let iso = String::from_utf8_lossy(raw);
        let iso = iso.split(';').next().unwrap_or("");
        iso.strip_suffix('.').unwrap_or(iso).to_owned()
    };
    Some(Record {
        name,
        lba: u32_at(2)?,
        len: u32_at(10)?,
        is_dir: flags & 0x02 != 0,
        more: flags & 0x80 != 0,
    })
}

/// The `NM` entries' name (RRIP 4.1.4), joined when continued; None when
/// there is none. Continuation areas (`CE`) are not followed: a name too
/// long for the record falls back to the ISO name.
fn rock_ridge_name(mut area: &[u8]) -> Option<String> {
    let mut name = Vec::new();
    while area.len() >= 4 {
        let len = usize::from(area[2]);
        if len < 4 || len > area.len() {
            break;
        }
        if &area[..2] == b"NM" && len >= 5 {
            name.extend_from_slice(&area[5..len]);
        }
        area = &area[len..];
    }
    (!name.is_empty()).then(|| String::from_utf8_lossy(&name).into_owned())
}
