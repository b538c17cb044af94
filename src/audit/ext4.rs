//! The ext4 file systems of a raw or qcow2 disk (what `--format raw|qcow2`
//! writes), read by us and shown as one tree: a disk is found by its
//! partition table (GPT, else MBR) or is a bare file system; the file
//! system whose root holds `etc` is the root, and the ext2/3/4 file systems
//! its `/etc/fstab` mounts (by UUID, label, PARTUUID or PARTLABEL) appear
//! at their mount points, reads dispatched to the file system that holds
//! the file. Only what mke2fs makes for our images is read: extent-mapped
//! files and linear directory blocks (an htree directory reads linearly
//! too); block-mapped files, inline data, encryption and the rest of the
//! rarer features are refused by name rather than misread. Every size and
//! block number comes from the image and is bounded before use.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::disk::gpt::Guid;
use crate::disk::qcow2::GuestDisk as _;
use crate::disk::qcow2_read::Chain;

use super::fstab::{self, Source};
use super::{AuditError, Entry, EntryKind, READ_LIMIT, Tree};

/// Where the guest's bytes come from.
enum Bytes {
    Raw(File),
    /// The qcow2 reader needs `&mut` (it keeps its last L2 table).
    Qcow2(Mutex<Chain>),
}

/// The disk, shared by its file systems.
struct Disk {
    image: PathBuf,
    bytes: Bytes,
    size: u64,
}

/// Where a file system may start, and the names fstab may give it there.
struct Partition {
    start: u64,
    /// GPT's partition GUID, or MBR's `SIGNATURE-NN`, lower case.
    partuuid: Option<String>,
    /// GPT's partition name.
    partlabel: Option<String>,
}

/// File system types an fstab entry mounts from elsewhere than a partition
/// of this disk (memory, the network, the kernel), or that hold no system
/// files a check looks at (the ESP's FAT): not looked for on the disk.
const NOT_ON_DISK: &[&str] = &[
    "swap",
    "none",
    "tmpfs",
    "ramfs",
    "proc",
    "sysfs",
    "devtmpfs",
    "devpts",
    "securityfs",
    "cgroup",
    "cgroup2",
    "debugfs",
    "tracefs",
    "efivarfs",
    "hugetlbfs",
    "mqueue",
    "configfs",
    "pstore",
    "bpf",
    "binfmt_misc",
    "autofs",
    "overlay",
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "9p",
    "virtiofs",
    "vfat",
    "msdos",
    "exfat",
    "iso9660",
    "udf",
];

/// incompat features we read correctly: filetype, recover (a journal to
/// replay only matters for the latest writes, and a finished image has
/// none), extents, 64bit, mmp, flex_bg, ea_inode, csum_seed, largedir.
const KNOWN_INCOMPAT: u32 = 0x2 | 0x4 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x2000 | 0x4000;
const EXTENTS_FL: u32 = 0x8_0000;
const INLINE_DATA_FL: u32 = 0x1000_0000;
const ROOT_INODE: u32 = 2;
/// More entries than any root file system holds: a loop in a hostile image.
const MAX_ENTRIES: usize = 10_000_000;
/// More file systems mounted than any fstab lists: each costs a pass over
/// the entries when they are composed.
const MAX_MOUNTS: usize = 256;

/// One ext2/3/4 file system of the disk, its tree listed once walked.
struct Ext4Fs {
    disk: Arc<Disk>,
    /// The file system's first byte on the disk.
    base: u64,
    block: u64,
    inodes_per_group: u64,
    inode_size: u64,
    desc_size: u64,
    groups: u64,
    /// The group descriptors' first byte, relative to `base`.
    descriptors: u64,
    /// The superblock's UUID and label, as blkid and fstab write them.
    uuid: String,
    label: String,
    partuuid: Option<String>,
    partlabel: Option<String>,
    /// Why this reader does not read it (unknown features, a broken
    /// superblock); walking it is then this error.
    refused: Option<String>,
    /// None until [`Ext4Fs::walk`].
    tree: Option<Listing>,
}

/// A walked file system: its entries, and each one's inode.
struct Listing {
    entries: Vec<Entry>,
    inodes: HashMap<String, u32>,
}

/// Where a file system appears in the composed tree.
struct Mount {
    /// Relative to the image's root, empty for the root itself.
    at: String,
    /// An index into [`DiskTree::filesystems`].
    fs: usize,
}

/// The disk's root file system with the others fstab mounts in it.
pub struct DiskTree {
    filesystems: Vec<Ext4Fs>,
    /// The root first; a deeper mount point after the one it is under.
    mounts: Vec<Mount>,
    entries: Vec<Entry>,
    notes: Vec<String>,
}

/// An inode's fields the audit needs.
struct Inode {
    mode: u16,
    uid: u32,
    size: u64,
    flags: u32,
    block: [u8; 60],
}

/// Opens the disk at `path` (`qcow2` tells which reader), its ext4 root
/// and the ext2/3/4 file systems the root's fstab mounts.
pub fn open(path: &Path, qcow2: bool) -> Result<Box<dyn Tree>, AuditError> {
    let disk = Arc::new(Disk::open(path, qcow2)?);
    let mut filesystems = Vec::new();
    for partition in disk.partitions()? {
        filesystems.extend(Ext4Fs::probe(&disk, partition));
    }
    // A broken file system is worth naming, more than the partitions
    // without one.
    let mut broken = None;
    let mut root = None;
    for (index, fs) in filesystems.iter_mut().enumerate() {
        match fs.walk() {
            Ok(listing) if listing.inodes.contains_key("etc") => {
                root = Some(index);
                break;
            }
            Ok(_) => {}
            Err(error) => broken = Some(error),
        }
    }
    let Some(root) = root else {
        return Err(
            broken.unwrap_or_else(|| disk.bad("no ext4 file system with /etc on the disk".into()))
        );
    };
    let mut tree = DiskTree {
        filesystems,
        mounts: vec![Mount {
            at: String::new(),
            fs: root,
        }],
        entries: Vec::new(),
        notes: Vec::new(),
    };
    tree.mount_fstab(root)?;
    tree.compose()?;
    Ok(Box::new(tree))
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

impl Disk {
    fn open(path: &Path, qcow2: bool) -> Result<Disk, AuditError> {
        let (bytes, size) = if qcow2 {
            let chain = Chain::open(path).map_err(|error| AuditError::BadDisk {
                path: path.to_owned(),
                detail: error.to_string(),
            })?;
            let size = chain.virtual_size();
            (Bytes::Qcow2(Mutex::new(chain)), size)
        } else {
            let io = |source| AuditError::Io {
                path: path.to_owned(),
                source,
            };
            let file = File::open(path).map_err(io)?;
            let size = file.metadata().map_err(io)?.len();
            (Bytes::Raw(file), size)
        };
        Ok(Disk {
            image: path.to_owned(),
            bytes,
            size,
        })
    }

    fn bad(&self, detail: String) -> AuditError {
        AuditError::BadDisk {
            path: self.image.clone(),
            detail,
        }
    }

    /// `len` bytes of the disk from `offset`, checked against its size.
    fn read(&self, offset: u64, len: u64) -> Result<Vec<u8>, AuditError> {
        let end = offset.checked_add(len).filter(|&end| end <= self.size);
        if end.is_none() || len > READ_LIMIT {
            return Err(self.bad(format!("a read of {len} bytes at {offset} leaves the disk")));
        }
        let mut buf = vec![0; len as usize];
        match &self.bytes {
            Bytes::Raw(file) => {
                file.read_exact_at(&mut buf, offset)
                    .map_err(|source| AuditError::Io {
                        path: self.image.clone(),
                        source,
                    })?
            }
            Bytes::Qcow2(chain) => chain
                .lock()
                .map_err(|_| self.bad("the qcow2 reader failed earlier".into()))?
                .read_at(offset, &mut buf)
                .map_err(|error| self.bad(error.to_string()))?,
        }
        Ok(buf)
    }

    /// Where file systems may start: the disk itself, then each GPT or
    /// MBR partition.
    fn partitions(&self) -> Result<Vec<Partition>, AuditError> {
        let mut found = vec![Partition {
            start: 0,
            partuuid: None,
            partlabel: None,
        }];
        let head = self.read(0, 1024.min(self.size))?;
        if head.get(512..520) == Some(b"EFI PART") {
            let entries_lba = u64_at(&head, 512 + 72);
            let count = u32_at(&head, 512 + 80).min(256);
            let entry_size = u32_at(&head, 512 + 84).clamp(128, 4096);
            let table = self.read(entries_lba.saturating_mul(512), count * entry_size)?;
            for i in 0..count as usize {
                let entry = &table[i * entry_size as usize..][..entry_size as usize];
                if entry[..16].iter().any(|&b| b != 0) {
                    let mut guid = [0; 16];
                    guid.copy_from_slice(&entry[16..32]);
                    // The name: UTF-16LE, up to 36 units, NUL-padded.
                    let units: Vec<u16> = entry[56..128]
                        .chunks_exact(2)
                        .map(|unit| u16::from_le_bytes([unit[0], unit[1]]))
                        .take_while(|&unit| unit != 0)
                        .collect();
                    found.push(Partition {
                        start: u64_at(entry, 32).saturating_mul(512),
                        partuuid: Some(Guid::from_gpt_bytes(guid).to_string()),
                        partlabel: Some(String::from_utf16_lossy(&units)),
                    });
                }
            }
        } else if head.get(510..512) == Some(&[0x55, 0xaa]) {
            let signature = u32_at(&head, 440);
            for i in 0..4 {
                let entry = &head[446 + i * 16..][..16];
                if entry[4] != 0 {
                    found.push(Partition {
                        start: u32_at(entry, 8) * 512,
                        // As the kernel and blkid name an MBR partition.
                        partuuid: Some(format!("{signature:08x}-{:02x}", i + 1)),
                        partlabel: None,
                    });
                }
            }
        }
        Ok(found)
    }
}

impl Ext4Fs {
    fn bad(&self, detail: String) -> AuditError {
        self.disk.bad(detail)
    }

    /// `len` bytes at `offset` in the file system.
    fn read_fs(&self, offset: u64, len: u64) -> Result<Vec<u8>, AuditError> {
        self.disk.read(self.base.saturating_add(offset), len)
    }

    /// The file system whose superblock is at `partition`, not walked
    /// yet; None when there is no ext2/3/4 file system there. One this
    /// reader refuses is kept with why, so that fstab still finds it by
    /// its name and walking it is the error.
    fn probe(disk: &Arc<Disk>, partition: Partition) -> Option<Ext4Fs> {
        let sb = disk.read(partition.start.saturating_add(1024), 1024).ok()?;
        if u16_at(&sb, 56) != 0xEF53 {
            return None;
        }
        let mut uuid = [0; 16];
        uuid.copy_from_slice(&sb[0x68..0x78]);
        let label = &sb[0x78..0x88];
        let label = &label[..label.iter().position(|&b| b == 0).unwrap_or(label.len())];
        let mut fs = Ext4Fs {
            disk: Arc::clone(disk),
            base: partition.start,
            block: 0,
            inodes_per_group: 0,
            inode_size: 0,
            desc_size: 0,
            groups: 0,
            descriptors: 0,
            uuid: Guid::from_bytes(uuid).to_string(),
            label: String::from_utf8_lossy(label).into_owned(),
            partuuid: partition.partuuid,
            partlabel: partition.partlabel,
            refused: None,
            tree: None,
        };
        fs.refused = fs.geometry(&sb).err();
        Some(fs)
    }

    /// Takes the superblock's sizes, or says why this reader refuses them.
    fn geometry(&mut self, sb: &[u8]) -> Result<(), String> {
        let incompat = u32_at(sb, 96) as u32;
        if incompat & !KNOWN_INCOMPAT != 0 {
            return Err(format!(
                "ext4 features this reader does not know (incompat {:#x})",
                incompat & !KNOWN_INCOMPAT
            ));
        }
        let log_block = u32_at(sb, 24);
        if log_block > 6 {
            return Err(format!("a block size of 2^{} KiB", log_block));
        }
        let block = 1024 << log_block;
        let inodes_per_group = u32_at(sb, 40);
        let blocks_per_group = u32_at(sb, 32);
        let blocks = u32_at(sb, 4)
            | if incompat & 0x80 != 0 {
                u32_at(sb, 0x150) << 32
            } else {
                0
            };
        let inode_size = if u32_at(sb, 76) == 0 {
            128
        } else {
            u16_at(sb, 88)
        };
        let desc_size = if incompat & 0x80 != 0 {
            u16_at(sb, 0xFE)
        } else {
            32
        };
        if inodes_per_group == 0 || blocks_per_group == 0 || inode_size < 128 || desc_size < 32 {
            return Err("a broken ext4 superblock".into());
        }
        let first_data_block = u32_at(sb, 20);
        self.block = block;
        self.inodes_per_group = inodes_per_group;
        self.inode_size = inode_size;
        self.desc_size = desc_size;
        self.groups = blocks
            .saturating_sub(first_data_block)
            .div_ceil(blocks_per_group);
        self.descriptors = (first_data_block + 1) * block;
        Ok(())
    }

    /// Whether fstab's `source` names this file system.
    fn is(&self, source: &Source) -> bool {
        match source {
            Source::Uuid(uuid) => *uuid == self.uuid,
            Source::Label(label) => *label == self.label,
            Source::PartUuid(partuuid) => self.partuuid.as_ref() == Some(partuuid),
            Source::PartLabel(partlabel) => self.partlabel.as_ref() == Some(partlabel),
            Source::Other(_) => false,
        }
    }

    fn inode(&self, number: u32) -> Result<Inode, AuditError> {
        let index = u64::from(number)
            .checked_sub(1)
            .ok_or_else(|| self.bad("inode 0".into()))?;
        let group = index / self.inodes_per_group;
        if group >= self.groups {
            return Err(self.bad(format!("inode {number} beyond the last group")));
        }
        let desc = self.read_fs(self.descriptors + group * self.desc_size, self.desc_size)?;
        let table = u32_at(&desc, 8)
            | if self.desc_size >= 64 {
                u32_at(&desc, 0x28) << 32
            } else {
                0
            };
        let at = table
            .saturating_mul(self.block)
            .saturating_add((index % self.inodes_per_group) * self.inode_size);
        let raw = self.read_fs(at, 128)?;
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
                let bytes = self.read_fs(physical.saturating_mul(self.block), len)?;
                out[logical as usize..][..len as usize].copy_from_slice(&bytes);
            } else {
                let child = (u16_at(entry, 8) << 32) | u32_at(entry, 4);
                let block = self.read_fs(child.saturating_mul(self.block), self.block)?;
                self.extents(&block, depth + 1, out)?;
            }
        }
        Ok(())
    }

    /// Lists the tree from the root inode, never entering a directory
    /// twice; once, however often it is asked for.
    fn walk(&mut self) -> Result<&Listing, AuditError> {
        if self.tree.is_none() {
            self.tree = Some(self.list()?);
        }
        self.tree
            .as_ref()
            .ok_or_else(|| self.bad("a file system not listed".into()))
    }

    fn list(&self) -> Result<Listing, AuditError> {
        if let Some(why) = &self.refused {
            return Err(self.bad(why.clone()));
        }
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
        Ok(Listing { entries, inodes })
    }

    /// The bytes of the file at `path` (relative to this file system's
    /// root), at most `limit` of them.
    fn read_file(&self, path: &str, limit: u64) -> Result<Vec<u8>, AuditError> {
        let number = *self
            .tree
            .as_ref()
            .and_then(|listing| listing.inodes.get(path))
            .ok_or_else(|| self.bad(format!("{path} is not in the image")))?;
        let inode = self.inode(number)?;
        if inode.size > limit {
            return Err(AuditError::TooBig {
                path: path.to_owned(),
                limit,
            });
        }
        self.data(&inode, inode.size)
    }
}

/// Whether `path` is strictly beneath `dir` (everything is beneath the
/// root, `""`).
fn beneath(path: &str, dir: &str) -> bool {
    dir.is_empty()
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

impl DiskTree {
    /// Adds the file systems the root's `/etc/fstab` mounts; an entry that
    /// should be on the disk and is not (or is no ext2/3/4) becomes a note.
    fn mount_fstab(&mut self, root: usize) -> Result<(), AuditError> {
        let root_fs = &self.filesystems[root];
        let is_file = root_fs.tree.as_ref().is_some_and(|listing| {
            listing
                .entries
                .iter()
                .any(|e| e.path == "etc/fstab" && e.kind == EntryKind::File)
        });
        if !is_file {
            return Ok(());
        }
        let text = root_fs.read_file("etc/fstab", READ_LIMIT)?;
        for entry in fstab::parse(&String::from_utf8_lossy(&text)) {
            if entry.mountpoint.is_empty() || NOT_ON_DISK.contains(&entry.fstype.as_str()) {
                continue;
            }
            let Some(fs) = self.filesystems.iter().position(|fs| fs.is(&entry.source)) else {
                self.notes.push(format!(
                    "/etc/fstab mounts {} ({}) on /{}, but no ext2/3/4 file system of the disk is that one: what it holds is not audited",
                    entry.source, entry.fstype, entry.mountpoint
                ));
                continue;
            };
            if self.mounts.len() >= MAX_MOUNTS {
                return Err(self.filesystems[root].bad(format!(
                    "/etc/fstab mounts more than {MAX_MOUNTS} file systems of the disk"
                )));
            }
            self.filesystems[fs].walk()?;
            // A later entry for the same place hides the earlier, as a
            // later mount does.
            self.mounts.retain(|m| m.at != entry.mountpoint);
            self.mounts.push(Mount {
                at: entry.mountpoint,
                fs,
            });
        }
        // Parents before what is mounted on them.
        self.mounts
            .sort_by_key(|m| m.at.split('/').filter(|name| !name.is_empty()).count());
        Ok(())
    }

    /// The index of the mount a path belongs to: the deepest one it is
    /// beneath (a mount point itself belongs to its parent's, where its
    /// directory is); the root's, 0, holds everything else.
    fn owner(&self, path: &str) -> usize {
        self.mounts
            .iter()
            .rposition(|m| beneath(path, &m.at))
            .unwrap_or(0)
    }

    /// One list of every mount's entries: each entry from the mount it
    /// belongs to (what a mount hides is not seen, as on the running
    /// system), a mount point with the mode and owner of the root of what
    /// is mounted on it.
    fn compose(&mut self) -> Result<(), AuditError> {
        let mut entries = Vec::new();
        for (index, mount) in self.mounts.iter().enumerate() {
            let fs = &self.filesystems[mount.fs];
            let Some(listing) = fs.tree.as_ref() else {
                return Err(fs.bad("a mounted file system not listed".into()));
            };
            for entry in &listing.entries {
                let path = if mount.at.is_empty() {
                    entry.path.clone()
                } else {
                    format!("{}/{}", mount.at, entry.path)
                };
                if self.owner(&path) == index {
                    entries.push(Entry {
                        path,
                        ..entry.clone()
                    });
                }
            }
            if entries.len() > MAX_ENTRIES {
                return Err(fs.bad("more entries than a root file system holds".into()));
            }
        }
        for mount in self.mounts.iter().skip(1) {
            let fs = &self.filesystems[mount.fs];
            let top = fs.inode(ROOT_INODE)?;
            let point = Entry {
                path: mount.at.clone(),
                kind: EntryKind::Dir,
                mode: u32::from(top.mode) & 0o7777,
                uid: top.uid,
                size: top.size,
                link: None,
            };
            match entries.iter_mut().find(|e| e.path == mount.at) {
                Some(existing) => *existing = point,
                None => entries.push(point),
            }
        }
        self.entries = entries;
        Ok(())
    }
}

impl Tree for DiskTree {
    fn entries(&self) -> Result<Vec<Entry>, AuditError> {
        Ok(self.entries.clone())
    }

    fn read(&self, entry: &Entry, limit: u64) -> Result<Vec<u8>, AuditError> {
        let mount = &self.mounts[self.owner(&entry.path)];
        let path = if mount.at.is_empty() {
            entry.path.as_str()
        } else {
            &entry.path[mount.at.len() + 1..]
        };
        self.filesystems[mount.fs]
            .read_file(path, limit)
            .map_err(|error| match error {
                AuditError::TooBig { limit, .. } => AuditError::TooBig {
                    path: entry.path.clone(),
                    limit,
                },
                other => other,
            })
    }

    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }
}
