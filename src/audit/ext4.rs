//! The ext4 root of a raw or qcow2 disk (what `--format raw|qcow2` writes),
//! read by us: a disk is found by its partition table (GPT, else MBR) or
//! is a bare file system; the partition whose root holds `etc` is the
//! root. Only what mke2fs makes for our images is read: extent-mapped
//! files and linear directory blocks (an htree directory reads linearly
//! too); block-mapped files, inline data, encryption and the rest of the
//! rarer features are refused by name rather than misread. Every size and
//! block number comes from the image and is bounded before use.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::disk::qcow2::GuestDisk as _;
use crate::disk::qcow2_read::Chain;

use super::{AuditError, Entry, EntryKind, READ_LIMIT, Tree};

/// Where the guest's bytes come from.
enum Disk {
    Raw(File),
    /// The qcow2 reader needs `&mut` (it keeps its last L2 table).
    Qcow2(Mutex<Chain>),
}

/// incompat features we read correctly: filetype, recover (a journal to
/// replay only matters for the latest writes, and a finished image has
/// none), extents, 64bit, mmp, flex_bg, ea_inode, csum_seed, largedir.
const KNOWN_INCOMPAT: u32 = 0x2 | 0x4 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x2000 | 0x4000;
const EXTENTS_FL: u32 = 0x8_0000;
const INLINE_DATA_FL: u32 = 0x1000_0000;
const ROOT_INODE: u32 = 2;
/// More entries than any root file system holds: a loop in a hostile image.
const MAX_ENTRIES: usize = 10_000_000;

pub struct Ext4Tree {
    image: PathBuf,
    disk: Disk,
    size: u64,
    /// The file system's first byte on the disk.
    base: u64,
    block: u64,
    inodes_per_group: u64,
    inode_size: u64,
    desc_size: u64,
    groups: u64,
    /// The group descriptors' first byte, relative to `base`.
    descriptors: u64,
    entries: Vec<Entry>,
    inodes: HashMap<String, u32>,
}

/// An inode's fields the audit needs.
struct Inode {
    mode: u16,
    uid: u32,
    size: u64,
    flags: u32,
    block: [u8; 60],
}

/// Opens the disk at `path` (`qcow2` tells which reader) and its ext4 root.
pub fn open(path: &Path, qcow2: bool) -> Result<Box<dyn Tree>, AuditError> {
    let (disk, size) = if qcow2 {
        let chain = Chain::open(path).map_err(|error| AuditError::BadDisk {
            path: path.to_owned(),
            detail: error.to_string(),
        })?;
        let size = chain.virtual_size();
        (Disk::Qcow2(Mutex::new(chain)), size)
    } else {
        let file = File::open(path).map_err(|source| AuditError::Io {
            path: path.to_owned(),
            source,
        })?;
        let size = file
            .metadata()
            .map_err(|source| AuditError::Io {
                path: path.to_owned(),
                source,
            })?
            .len();
        (Disk::Raw(file), size)
    };
    let mut tree = Ext4Tree {
        image: path.to_owned(),
        disk,
        size,
        base: 0,
        block: 0,
        inodes_per_group: 0,
        inode_size: 0,
        desc_size: 0,
        groups: 0,
        descriptors: 0,
        entries: Vec::new(),
        inodes: HashMap::new(),
    };
    // A broken file system is worth naming, more than the partitions
    // without one.
    let mut broken = None;
    for base in tree.partitions()? {
        match tree.mount(base) {
            Ok(true) if tree.inodes.contains_key("etc") => return Ok(Box::new(tree)),
            Ok(_) => {}
            Err(error) => broken = Some(error),
        }
    }
    Err(broken.unwrap_or_else(|| tree.bad("no ext4 file system with /etc on the disk".into())))
}

fn u16_at(bytes: &[u8], at: usize) -> u64 {
    bytes
        .get(at..at + 2)
        .map_or(0, |b| u64::from(u16::from_le_bytes([b[0], b[1]])))
}

fn u32_at(bytes: &[u8], at: usize) -> u64 {
    bytes.get(at..at + 4).map_or(0, |b| {
        u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    })
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u32_at(bytes, at) | (u32_at(bytes, at + 4) << 32)
}

impl Ext4Tree {
    fn bad(&self, detail: String) -> AuditError {
        AuditError::BadDisk {
            path: self.image.clone(),
            detail,
        }
    }

    /// `len` bytes of the disk from `offset`, checked against its size.
    fn read_disk(&self, offset: u64, len: u64) -> Result<Vec<u8>, AuditError> {
        let end = offset.checked_add(len).filter(|&end| end <= self.size);
        if end.is_none() || len > READ_LIMIT {
            return Err(self.bad(format!("a read of {len} bytes at {offset} leaves the disk")));
        }
        let mut buf = vec![0; len as usize];
        match &self.disk {
            Disk::Raw(file) => {
                file.read_exact_at(&mut buf, offset)
                    .map_err(|source| AuditError::Io {
                        path: self.image.clone(),
                        source,
                    })?
            }
            Disk::Qcow2(chain) => chain
                .lock()
                .map_err(|_| self.bad("the qcow2 reader failed earlier".into()))?
                .read_at(offset, &mut buf)
                .map_err(|error| self.bad(error.to_string()))?,
        }
        Ok(buf)
    }

    /// Where file systems may start: the disk itself, then each GPT or
    /// MBR partition.
    fn partitions(&self) -> Result<Vec<u64>, AuditError> {
        let mut starts = vec![0];
        let head = self.read_disk(0, 1024.min(self.size))?;
        if head.get(512..520) == Some(b"EFI PART") {
            let entries_lba = u64_at(&head, 512 + 72);
            let count = u32_at(&head, 512 + 80).min(256);
            let entry_size = u32_at(&head, 512 + 84).clamp(128, 4096);
            let table = self.read_disk(entries_lba.saturating_mul(512), count * entry_size)?;
            for i in 0..count as usize {
                let entry = &table[i * entry_size as usize..][..entry_size as usize];
                if entry[..16].iter().any(|&b| b != 0) {
                    starts.push(u64_at(entry, 32).saturating_mul(512));
                }
            }
        } else if head.get(510..512) == Some(&[0x55, 0xaa]) {
            for i in 0..4 {
                let entry = &head[446 + i * 16..][..16];
                if entry[4] != 0 {
                    starts.push(u32_at(entry, 8) * 512);
                }
            }
        }
        Ok(starts)
    }

    /// Reads the superblock at `base` and walks the tree from the root;
    /// false when there is no ext2/3/4 file system at `base`.
    fn mount(&mut self, base: u64) -> Result<bool, AuditError> {
        let Ok(sb) = self.read_disk(base.saturating_add(1024), 1024) else {
            return Ok(false);
        };
        if u16_at(&sb, 56) != 0xEF53 {
            return Ok(false);
        }
        let incompat = u32_at(&sb, 96) as u32;
        if incompat & !KNOWN_INCOMPAT != 0 {
            return Err(self.bad(format!(
                "ext4 features this reader does not know (incompat {:#x})",
                incompat & !KNOWN_INCOMPAT
            )));
        }
        let log_block = u32_at(&sb, 24);
        if log_block > 6 {
            return Err(self.bad(format!("a block size of 2^{} KiB", log_block)));
        }
        self.base = base;
        self.block = 1024 << log_block;
        self.inodes_per_group = u32_at(&sb, 40);
        let blocks_per_group = u32_at(&sb, 32);
        let blocks = u32_at(&sb, 4)
            | if incompat & 0x80 != 0 {
                u32_at(&sb, 0x150) << 32
            } else {
                0
            };
        self.inode_size = if u32_at(&sb, 76) == 0 {
            128
        } else {
            u16_at(&sb, 88)
        };
        self.desc_size = if incompat & 0x80 != 0 {
            u16_at(&sb, 0xFE)
        } else {
            32
        };
        if self.inodes_per_group == 0
            || blocks_per_group == 0
            || self.inode_size < 128
            || self.desc_size < 32
        {
            return Err(self.bad("a broken ext4 superblock".into()));
        }
        let first_data_block = u32_at(&sb, 20);
        self.groups = blocks
            .saturating_sub(first_data_block)
            .div_ceil(blocks_per_group);
        self.descriptors = (first_data_block + 1) * self.block;
        self.walk().map(|()| true)
    }

    fn inode(&self, number: u32) -> Result<Inode, AuditError> {
        let index = u64::from(number)
            .checked_sub(1)
            .ok_or_else(|| self.bad("inode 0".into()))?;
        let group = index / self.inodes_per_group;
        if group >= self.groups {
            return Err(self.bad(format!("inode {number} beyond the last group")));
        }
        let desc = self.read_disk(
            self.base + self.descriptors + group * self.desc_size,
            self.desc_size,
        )?;
        let table = u32_at(&desc, 8)
            | if self.desc_size >= 64 {
                u32_at(&desc, 0x28) << 32
            } else {
                0
            };
        let at = table
            .saturating_mul(self.block)
            .saturating_add((index % self.inodes_per_group) * self.inode_size);
        let raw = self.read_disk(self.base.saturating_add(at), 128)?;
        let mut block = [0; 60];
        block.copy_from_slice(&raw[0x28..0x64]);
        Ok(Inode {
            mode: u16_at(&raw, 0) as u16,
            uid: (u16_at(&raw, 2) | (u16_at(&raw, 0x78) << 16)) as u32,
            size: u32_at(&raw, 4) | (u32_at(&raw, 0x6C) << 32),
            flags: u32_at(&raw, 0x20) as u32,
            block,
        })
    }

    /// The first `len` bytes of an inode's data, through its extent tree;
    /// holes and unwritten extents read as zeros.
    fn data(&self, inode: &Inode, len: u64) -> Result<Vec<u8>, AuditError> {
        // Nothing to map (an empty file may have no extent header at all).
        if len == 0 {
            return Ok(Vec::new());
        }
        if inode.flags & INLINE_DATA_FL != 0 {
            return Err(self.bad("a file with inline data (not read yet)".into()));
        }
        if inode.flags & EXTENTS_FL == 0 {
            return Err(self
                .bad("a block-mapped file (not read yet; mke2fs's ext4 maps by extents)".into()));
        }
        let mut out = vec![0u8; len as usize];
        self.extents(&inode.block, 0, &mut out)?;
        Ok(out)
    }

    /// Copies what the extent node `node` maps into `out` (a file's start).
    fn extents(&self, node: &[u8], depth: u32, out: &mut [u8]) -> Result<(), AuditError> {
        if u16_at(node, 0) != 0xF30A || depth > 5 {
            return Err(self.bad("a broken extent tree".into()));
        }
        let entries = u16_at(node, 2) as usize;
        let leaf = u16_at(node, 6) == 0;
        for i in 0..entries {
            let entry = node
                .get(12 + i * 12..24 + i * 12)
                .ok_or_else(|| self.bad("an extent node overflows".into()))?;
            let logical = u32_at(entry, 0) * self.block;
            if logical >= out.len() as u64 {
                continue;
            }
            if leaf {
                let raw_len = u16_at(entry, 4);
                // Above 32768: unwritten (preallocated), reads as zeros.
                if raw_len > 32768 {
                    continue;
                }
                let physical = (u16_at(entry, 6) << 32) | u32_at(entry, 8);
                let len = (raw_len * self.block).min(out.len() as u64 - logical);
                let bytes = self.read_disk(
                    self.base
                        .saturating_add(physical.saturating_mul(self.block)),
                    len,
                )?;
                out[logical as usize..][..len as usize].copy_from_slice(&bytes);
            } else {
                let child = (u16_at(entry, 8) << 32) | u32_at(entry, 4);
                let block = self.read_disk(
                    self.base.saturating_add(child.saturating_mul(self.block)),
                    self.block,
                )?;
                self.extents(&block, depth + 1, out)?;
            }
        }
        Ok(())
    }

    /// Lists the tree from the root inode, never entering a directory twice.
    fn walk(&mut self) -> Result<(), AuditError> {
        let mut entries = Vec::new();
        let mut inodes = HashMap::new();
        let mut seen = HashSet::from([ROOT_INODE]);
        let mut pending = vec![(ROOT_INODE, String::new())];
        while let Some((number, dir)) = pending.pop() {
            let inode = self.inode(number)?;
            if inode.size > READ_LIMIT {
                return Err(self.bad(format!("/{dir}: a directory of {} bytes", inode.size)));
            }
            let bytes = self.data(&inode, inode.size)?;
            let mut at = 0usize;
            while at + 8 <= bytes.len() {
                let child = u32_at(&bytes, at) as u32;
                let rec_len = u16_at(&bytes, at + 4) as usize;
                let name_len = usize::from(bytes[at + 6]);
                if rec_len < 8 || at + rec_len > bytes.len() || 8 + name_len > rec_len {
                    return Err(self.bad(format!("/{dir}: a broken directory entry")));
                }
                let name = String::from_utf8_lossy(&bytes[at + 8..at + 8 + name_len]).into_owned();
                at += rec_len;
                if child == 0 || name == "." || name == ".." {
                    continue;
                }
                let path = if dir.is_empty() {
                    name
                } else {
                    format!("{dir}/{name}")
                };
                let found = self.inode(child)?;
                let (kind, link) = match found.mode & 0xF000 {
                    0x4000 => {
                        if seen.insert(child) {
                            pending.push((child, path.clone()));
                        }
                        (EntryKind::Dir, None)
                    }
                    0x8000 => (EntryKind::File, None),
                    0xA000 => {
                        // A target of under 60 bytes sits in the inode itself.
                        let target = if found.size < 60 && found.flags & EXTENTS_FL == 0 {
                            found.block[..found.size as usize].to_vec()
                        } else {
                            self.data(&found, found.size.min(4096))?
                        };
                        (
                            EntryKind::Symlink,
                            Some(PathBuf::from(String::from_utf8_lossy(&target).into_owned())),
                        )
                    }
                    _ => (EntryKind::Other, None),
                };
                inodes.insert(path.clone(), child);
                entries.push(Entry {
                    path,
                    kind,
                    mode: u32::from(found.mode) & 0o7777,
                    uid: found.uid,
                    size: found.size,
                    link,
                });
                if entries.len() > MAX_ENTRIES {
                    return Err(self.bad("more entries than a root file system holds".into()));
                }
            }
        }
        self.entries = entries;
        self.inodes = inodes;
        Ok(())
    }
}

impl Tree for Ext4Tree {
    fn entries(&self) -> Result<Vec<Entry>, AuditError> {
        Ok(self.entries.clone())
    }

    fn read(&self, entry: &Entry, limit: u64) -> Result<Vec<u8>, AuditError> {
        let number = *self
            .inodes
            .get(&entry.path)
            .ok_or_else(|| self.bad(format!("{} is not in the image", entry.path)))?;
        let inode = self.inode(number)?;
        if inode.size > limit {
            return Err(AuditError::TooBig {
                path: entry.path.clone(),
                limit,
            });
        }
        self.data(&inode, inode.size)
    }
}
