//! The 96-byte superblock that opens the image and points at every table.

use super::inode::{put16, put32, put64};

pub(crate) const SUPERBLOCK_SIZE: u64 = 96;
const MAGIC: u32 = 0x7371_7368; // "hsqs"
/// Readers may assume the image was deduplicated.
const FLAG_DUPLICATES: u16 = 0x0040;
const FLAG_NO_XATTRS: u16 = 0x0200;
const FLAG_COMPRESSOR_OPTIONS: u16 = 0x0400;
/// "No such table" in a table pointer.
pub(crate) const ABSENT: u64 = u64::MAX;

pub(crate) struct Superblock {
    pub inode_count: u32,
    pub modification_time: u32,
    pub block_size: u32,
    pub fragment_count: u32,
    pub compressor: u16,
    pub id_count: u16,
    pub has_xattrs: bool,
    pub has_compressor_options: bool,
    pub root_inode: u64,
    pub bytes_used: u64,
    pub id_table: u64,
    pub xattr_id_table: u64,
    pub inode_table: u64,
    pub directory_table: u64,
    pub fragment_table: u64,
}

impl Superblock {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut flags = FLAG_DUPLICATES;
        if !self.has_xattrs {
            flags |= FLAG_NO_XATTRS;
        }
        if self.has_compressor_options {
            flags |= FLAG_COMPRESSOR_OPTIONS;
        }
        let mut out = Vec::with_capacity(SUPERBLOCK_SIZE as usize);
        put32(&mut out, MAGIC);
        put32(&mut out, self.inode_count);
        put32(&mut out, self.modification_time);
        put32(&mut out, self.block_size);
        put32(&mut out, self.fragment_count);
        put16(&mut out, self.compressor);
        put16(&mut out, self.block_size.trailing_zeros() as u16);
        put16(&mut out, flags);
        put16(&mut out, self.id_count);
        put16(&mut out, 4); // format 4.0
        put16(&mut out, 0);
        put64(&mut out, self.root_inode);
        put64(&mut out, self.bytes_used);
        put64(&mut out, self.id_table);
        put64(&mut out, self.xattr_id_table);
        put64(&mut out, self.inode_table);
        put64(&mut out, self.directory_table);
        put64(&mut out, self.fragment_table);
        put64(&mut out, ABSENT); // no NFS export table
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_superblock_is_96_bytes_with_the_magic_and_log() {
        let superblock = Superblock {
            inode_count: 3,
            modification_time: 0,
            block_size: 131072,
            fragment_count: 0,
            compressor: 4,
            id_count: 1,
            has_xattrs: false,
            has_compressor_options: true,
            root_inode: 0,
            bytes_used: 4096,
            id_table: 1,
            xattr_id_table: ABSENT,
            inode_table: 2,
            directory_table: 3,
            fragment_table: 4,
        };
        let bytes = superblock.encode();
        assert_eq!(bytes.len(), 96);
        assert_eq!(&bytes[0..4], b"hsqs");
        assert_eq!(u16::from_le_bytes([bytes[22], bytes[23]]), 17);
        assert_eq!(u16::from_le_bytes([bytes[24], bytes[25]]), 0x0640);
        assert_eq!(&bytes[88..96], &[0xff; 8]);
    }
}
