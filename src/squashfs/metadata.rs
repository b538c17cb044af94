//! Metadata blocks: the 8 KiB compressed units that hold inodes, directories and tables.

use super::SquashfsError;
use super::compress::Compressor;
use super::content::Content;

/// Uncompressed size of a full metadata block.
pub(crate) const METADATA_SIZE: usize = 8192;
/// Set in a metadata block's length word when the block is stored uncompressed.
const METADATA_UNCOMPRESSED: u16 = 0x8000;

/// Where a byte lives in a metadata table: the table-relative offset of its block on
/// disk, and its offset inside the uncompressed block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct MetaRef {
    pub block: u64,
    pub offset: u16,
}

impl MetaRef {
    /// The packed 48+16-bit form that inodes and the superblock store.
    pub(crate) fn packed(self) -> u64 {
        (self.block << 16) | u64::from(self.offset)
    }
}

/// Accumulates a table's bytes and compresses each block as soon as it is full, so the
/// on-disk position of the block being filled is always known.
#[derive(Default)]
pub(crate) struct MetadataWriter {
    pending: Vec<u8>,
    written: Vec<u8>,
    total: u64,
}

impl MetadataWriter {
    pub(crate) fn position(&self) -> MetaRef {
        MetaRef {
            block: self.written.len() as u64,
            // Always below METADATA_SIZE: full blocks are flushed at once.
            offset: self.pending.len() as u16,
        }
    }

    /// Uncompressed bytes accepted so far; `/ METADATA_SIZE` names the block.
    pub(crate) fn uncompressed_len(&self) -> u64 {
        self.total
    }

    pub(crate) fn write(
        &mut self,
        mut bytes: &[u8],
        compressor: &mut Compressor,
    ) -> Result<(), SquashfsError> {
        self.total += bytes.len() as u64;
        while !bytes.is_empty() {
            let room = METADATA_SIZE - self.pending.len();
            let (now, later) = bytes.split_at(room.min(bytes.len()));
            self.pending.extend_from_slice(now);
            bytes = later;
            if self.pending.len() == METADATA_SIZE {
                self.flush(compressor)?;
            }
        }
        Ok(())
    }

    fn flush(&mut self, compressor: &mut Compressor) -> Result<(), SquashfsError> {
        let packed = compressor.compress(&self.pending, Content::Other)?;
        let (header, body) = match &packed {
            // Both lengths are at most METADATA_SIZE, which fits the 15-bit field.
            Some(packed) => (packed.len() as u16, packed.as_slice()),
            None => (
                self.pending.len() as u16 | METADATA_UNCOMPRESSED,
                self.pending.as_slice(),
            ),
        };
        self.written.extend_from_slice(&header.to_le_bytes());
        self.written.extend_from_slice(body);
        self.pending.clear();
        Ok(())
    }

    /// The table as stored: every block, the last one possibly short.
    pub(crate) fn finish(mut self, compressor: &mut Compressor) -> Result<Vec<u8>, SquashfsError> {
        if !self.pending.is_empty() {
            self.flush(compressor)?;
        }
        Ok(self.written)
    }
}

/// A lookup table: fixed-size entries in metadata blocks, and the list of those
/// blocks' absolute positions that the superblock (or a table header) points at.
pub(crate) struct LookupTable {
    pub blocks: Vec<u8>,
    pub pointers: Vec<u8>,
}

/// Lays out a lookup table whose first block goes at image offset `at`.
pub(crate) fn lookup_table(
    entries: &[u8],
    at: u64,
    compressor: &mut Compressor,
) -> Result<LookupTable, SquashfsError> {
    let mut table = LookupTable {
        blocks: Vec::new(),
        pointers: Vec::new(),
    };
    for chunk in entries.chunks(METADATA_SIZE) {
        table
            .pointers
            .extend_from_slice(&(at + table.blocks.len() as u64).to_le_bytes());
        let mut block = MetadataWriter::default();
        block.write(chunk, compressor)?;
        table.blocks.extend(block.finish(compressor)?);
    }
    Ok(table)
}

/// Appends a lookup table to `tail`, which starts at image offset `base`; returns the
/// position of its pointer list.
pub(crate) fn append_lookup_table(
    tail: &mut Vec<u8>,
    base: u64,
    entries: &[u8],
    compressor: &mut Compressor,
) -> Result<u64, SquashfsError> {
    let table = lookup_table(entries, base + tail.len() as u64, compressor)?;
    tail.extend(table.blocks);
    let pointers_at = base + tail.len() as u64;
    tail.extend(table.pointers);
    Ok(pointers_at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::squashfs::options::{Compression, SquashfsOptions};

    fn gzip() -> Compressor {
        let options = SquashfsOptions {
            compression: Compression::Gzip { level: 9 },
            ..SquashfsOptions::default()
        };
        Compressor::new(&options).expect("gzip")
    }

    #[test]
    fn blocks_are_cut_at_8k_and_positions_follow_the_compressed_stream() {
        let mut compressor = gzip();
        let mut table = MetadataWriter::default();
        table.write(&[7u8; 5000], &mut compressor).expect("write");
        assert_eq!(
            table.position(),
            MetaRef {
                block: 0,
                offset: 5000
            }
        );
        table.write(&[7u8; 5000], &mut compressor).expect("write");
        let position = table.position();
        assert_eq!(position.offset, 10000 - 8192);
        let bytes = table.finish(&mut compressor).expect("finish");
        // The first block is compressed (flag clear) and the second starts where it ends.
        let first = u16::from_le_bytes([bytes[0], bytes[1]]);
        assert_eq!(first & METADATA_UNCOMPRESSED, 0);
        assert_eq!(position.block, 2 + u64::from(first));
        assert_eq!(
            MetaRef {
                block: 3,
                offset: 5
            }
            .packed(),
            (3 << 16) | 5
        );
    }

    #[test]
    fn incompressible_blocks_are_flagged() {
        let mut compressor = gzip();
        let mut table = MetadataWriter::default();
        let noise: Vec<u8> = (0..100u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        table.write(&noise, &mut compressor).expect("write");
        let bytes = table.finish(&mut compressor).expect("finish");
        assert_eq!(
            u16::from_le_bytes([bytes[0], bytes[1]]),
            100 | METADATA_UNCOMPRESSED
        );
        assert_eq!(&bytes[2..], &noise[..]);
    }

    #[test]
    fn lookup_tables_point_at_their_blocks() {
        let mut compressor = gzip();
        let mut tail = vec![1, 2, 3];
        let entries = vec![0u8; METADATA_SIZE + 16];
        let start = append_lookup_table(&mut tail, 1000, &entries, &mut compressor).expect("table");
        assert_eq!(start, 1000 + tail.len() as u64 - 16);
        let first = u64::from_le_bytes(
            tail[tail.len() - 16..tail.len() - 8]
                .try_into()
                .expect("8 bytes"),
        );
        assert_eq!(first, 1003);
    }
}
