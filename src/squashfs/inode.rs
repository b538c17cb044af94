//! Inode records: the compact "basic" layouts when they can hold the inode, the
//! "extended" ones (64-bit sizes, link counts, xattrs, directory indexes) otherwise.

/// "No fragment" and "no xattrs" in the 32-bit index fields.
pub(crate) const NONE: u32 = 0xFFFF_FFFF;

/// The basic inode types; a directory entry always names one of these.
pub(crate) const DIR: u16 = 1;
pub(crate) const FILE: u16 = 2;
pub(crate) const SYMLINK: u16 = 3;
pub(crate) const BLOCK_DEV: u16 = 4;
pub(crate) const CHAR_DEV: u16 = 5;
pub(crate) const FIFO: u16 = 6;
pub(crate) const SOCKET: u16 = 7;
/// Extended type = basic type + 7.
const EXTENDED: u16 = 7;

/// Fields every inode starts with.
pub(crate) struct Header {
    pub permissions: u16,
    pub uid_index: u16,
    pub gid_index: u16,
    pub mtime: u32,
    pub number: u32,
}

/// One entry of a large directory's index: where a run of entries starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DirIndex {
    /// Byte offset of the run's header inside this directory's listing.
    pub listing_offset: u32,
    /// Directory-table offset of the metadata block holding that header.
    pub block: u32,
    /// Name of the run's first entry.
    pub name: Vec<u8>,
}

pub(crate) enum Body<'a> {
    Dir {
        block: u32,
        offset: u16,
        /// Listing bytes; the stored size adds 3 for the implied "." and "..".
        listing_size: u32,
        nlink: u32,
        parent: u32,
        index: &'a [DirIndex],
    },
    File {
        blocks_start: u64,
        size: u64,
        sparse: u64,
        nlink: u32,
        fragment: Option<(u32, u32)>,
        blocks: &'a [u32],
    },
    Symlink {
        target: &'a [u8],
        nlink: u32,
    },
    Device {
        kind: u16,
        rdev: u32,
        nlink: u32,
    },
    Ipc {
        kind: u16,
        nlink: u32,
    },
}

impl Body<'_> {
    /// The basic type, as directory entries record it.
    pub(crate) fn basic_type(&self) -> u16 {
        match self {
            Body::Dir { .. } => DIR,
            Body::File { .. } => FILE,
            Body::Symlink { .. } => SYMLINK,
            Body::Device { kind, .. } | Body::Ipc { kind, .. } => *kind,
        }
    }
}

/// Appends the inode to `out`, choosing the smallest layout that holds it.
pub(crate) fn encode(header: &Header, body: &Body, xattr: Option<u32>, out: &mut Vec<u8>) {
    let xattr_index = xattr.unwrap_or(NONE);
    let u32_fits = |value: u64| u32::try_from(value).is_ok();
    let extended = xattr.is_some()
        || match body {
            Body::Dir {
                listing_size,
                index,
                ..
            } => *listing_size + 3 > u32::from(u16::MAX) || !index.is_empty(),
            Body::File {
                blocks_start,
                size,
                nlink,
                ..
            } => !u32_fits(*blocks_start) || !u32_fits(*size) || *nlink > 1,
            _ => false,
        };
    let kind = body.basic_type() + if extended { EXTENDED } else { 0 };
    put16(out, kind);
    put16(out, header.permissions);
    put16(out, header.uid_index);
    put16(out, header.gid_index);
    put32(out, header.mtime);
    put32(out, header.number);
    match *body {
        Body::Dir {
            block,
            offset,
            listing_size,
            nlink,
            parent,
            index,
        } if extended => {
            put32(out, nlink);
            put32(out, listing_size + 3);
            put32(out, block);
            put32(out, parent);
            // The index has one entry per 8 KiB of listing, far below 65536.
            put16(out, index.len() as u16);
            put16(out, offset);
            put32(out, xattr_index);
            for entry in index {
                put32(out, entry.listing_offset);
                put32(out, entry.block);
                put32(out, entry.name.len() as u32 - 1);
                out.extend_from_slice(&entry.name);
            }
        }
        Body::Dir {
            block,
            offset,
            listing_size,
            nlink,
            parent,
            ..
        } => {
            put32(out, block);
            put32(out, nlink);
            put16(out, (listing_size + 3) as u16);
            put16(out, offset);
            put32(out, parent);
        }
        Body::File {
            blocks_start,
            size,
            sparse,
            nlink,
            fragment,
            blocks,
        } => {
            let (fragment_index, fragment_offset) = fragment.unwrap_or((NONE, 0));
            if extended {
                put64(out, blocks_start);
                put64(out, size);
                put64(out, sparse);
                put32(out, nlink);
                put32(out, fragment_index);
                put32(out, fragment_offset);
                put32(out, xattr_index);
            } else {
                put32(out, blocks_start as u32);
                put32(out, fragment_index);
                put32(out, fragment_offset);
                put32(out, size as u32);
            }
            for block in blocks {
                put32(out, *block);
            }
        }
        Body::Symlink { target, nlink } => {
            put32(out, nlink);
            put32(out, target.len() as u32);
            out.extend_from_slice(target);
            if extended {
                put32(out, xattr_index);
            }
        }
        Body::Device { rdev, nlink, .. } => {
            put32(out, nlink);
            put32(out, rdev);
            if extended {
                put32(out, xattr_index);
            }
        }
        Body::Ipc { nlink, .. } => {
            put32(out, nlink);
            if extended {
                put32(out, xattr_index);
            }
        }
    }
}

/// The kernel's 32-bit device number encoding (12-bit major, 20-bit minor, split).
pub(crate) fn encode_device(major: u32, minor: u32) -> u32 {
    (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)
}

pub(crate) fn put16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_le_bytes());
}

pub(crate) fn put32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

pub(crate) fn put64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            permissions: 0o755,
            uid_index: 1,
            gid_index: 2,
            mtime: 1_700_000_000,
            number: 42,
        }
    }

    fn file(size: u64, nlink: u32, blocks: &[u32]) -> Body<'_> {
        Body::File {
            blocks_start: 96,
            size,
            sparse: 0,
            nlink,
            fragment: Some((3, 100)),
            blocks,
        }
    }

    #[test]
    fn small_files_use_the_basic_layout() {
        let mut out = Vec::new();
        encode(&header(), &file(131172, 1, &[5000]), None, &mut out);
        assert_eq!(out.len(), 16 + 16 + 4);
        assert_eq!(&out[0..2], &FILE.to_le_bytes());
        assert_eq!(&out[14..16], &[0, 0]); // upper half of inode number 42
        assert_eq!(&out[16..20], &96u32.to_le_bytes());
        assert_eq!(&out[20..24], &3u32.to_le_bytes());
        assert_eq!(&out[28..32], &131172u32.to_le_bytes());
    }

    #[test]
    fn big_or_linked_files_use_the_extended_layout() {
        for (body, length) in [(file(5 << 30, 1, &[0]), 60), (file(10, 2, &[]), 56)] {
            let mut out = Vec::new();
            encode(&header(), &body, None, &mut out);
            assert_eq!(&out[0..2], &(FILE + EXTENDED).to_le_bytes());
            assert_eq!(out.len(), length);
        }
        let mut out = Vec::new();
        encode(&header(), &file(5 << 30, 2, &[]), Some(9), &mut out);
        assert_eq!(&out[24..32], &(5u64 << 30).to_le_bytes());
        assert_eq!(&out[40..44], &2u32.to_le_bytes());
        assert_eq!(&out[52..56], &9u32.to_le_bytes());
    }

    #[test]
    fn directories_with_an_index_are_extended() {
        let index = [DirIndex {
            listing_offset: 8200,
            block: 4000,
            name: b"m".to_vec(),
        }];
        let mut out = Vec::new();
        let body = Body::Dir {
            block: 7,
            offset: 9,
            listing_size: 20000,
            nlink: 2,
            parent: 43,
            index: &index,
        };
        encode(&header(), &body, None, &mut out);
        assert_eq!(&out[0..2], &(DIR + EXTENDED).to_le_bytes());
        assert_eq!(&out[20..24], &20003u32.to_le_bytes());
        assert_eq!(&out[32..34], &1u16.to_le_bytes());
        assert_eq!(
            &out[40..52],
            &[
                8200u32.to_le_bytes(),
                4000u32.to_le_bytes(),
                0u32.to_le_bytes()
            ]
            .concat()[..]
        );
        assert_eq!(out.len(), 40 + 12 + 1);
    }

    #[test]
    fn device_numbers_use_the_kernel_split() {
        assert_eq!(encode_device(8, 1), 0x801);
        assert_eq!(encode_device(259, 0x12345), 0x1231_0345);
    }
}
