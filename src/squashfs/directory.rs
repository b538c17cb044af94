//! Directory listings: runs of entries under headers, plus the index that lets the
//! kernel skip to the right 8 KiB block of a large directory.

use super::SquashfsError;
use super::compress::Compressor;
use super::inode::{DirIndex, put16, put32};
use super::metadata::{METADATA_SIZE, MetaRef, MetadataWriter};

/// A run header holds at most this many entries (the count is stored minus one in a byte's worth).
const MAX_RUN: usize = 256;
const HEADER_SIZE: u64 = 12;
const ENTRY_FIXED_SIZE: u64 = 8;

pub(crate) struct Entry<'a> {
    pub name: &'a [u8],
    pub inode: MetaRef,
    pub number: u32,
    pub kind: u16,
}

/// Where a listing landed in the directory table.
pub(crate) struct Listing {
    pub start: MetaRef,
    pub size: u32,
    pub index: Vec<DirIndex>,
}

/// Writes the listing of one directory. `entries` must be sorted by name: the kernel
/// looks names up by comparing bytes in order.
///
/// A run shares its inodes' metadata block and a base inode number (entries store a
/// 16-bit signed difference). A new run also starts whenever the listing crosses into
/// another metadata block, so every block begins a run the index can point at.
pub(crate) fn write_listing(
    entries: &[Entry],
    table: &mut MetadataWriter,
    compressor: &mut Compressor,
) -> Result<Listing, SquashfsError> {
    let start = table.position();
    let first_byte = table.uncompressed_len();
    let mut index = Vec::new();
    let mut run_start = 0;
    while run_start < entries.len() {
        let head = &entries[run_start];
        let header_at = table.uncompressed_len();
        let block = header_at / METADATA_SIZE as u64;
        let mut next_at = header_at + HEADER_SIZE;
        let mut run_end = run_start;
        while run_end < entries.len() && run_end - run_start < MAX_RUN {
            let entry = &entries[run_end];
            let same_block = entry.inode.block == head.inode.block;
            let delta_fits =
                i16::try_from(i64::from(entry.number) - i64::from(head.number)).is_ok();
            if !same_block || !delta_fits || next_at / METADATA_SIZE as u64 != block {
                break;
            }
            next_at += ENTRY_FIXED_SIZE + entry.name.len() as u64;
            run_end += 1;
        }
        // A header straddling a block boundary still starts a run of at least one entry.
        run_end = run_end.max(run_start + 1);
        let position = table.position();
        if position.block != start.block
            && index
                .last()
                .is_none_or(|last: &DirIndex| u64::from(last.block) != position.block)
        {
            index.push(DirIndex {
                listing_offset: to_u32(header_at - first_byte)?,
                block: to_u32(position.block)?,
                name: head.name.to_vec(),
            });
        }
        let mut bytes = Vec::new();
        put32(&mut bytes, (run_end - run_start - 1) as u32);
        put32(&mut bytes, to_u32(head.inode.block)?);
        put32(&mut bytes, head.number);
        for entry in &entries[run_start..run_end] {
            put16(&mut bytes, entry.inode.offset);
            // Checked above for every entry after the head; the head's delta is 0.
            let delta = (i64::from(entry.number) - i64::from(head.number)) as i16;
            bytes.extend_from_slice(&delta.to_le_bytes());
            put16(&mut bytes, entry.kind);
            put16(&mut bytes, (entry.name.len() - 1) as u16);
            bytes.extend_from_slice(entry.name);
        }
        table.write(&bytes, compressor)?;
        run_start = run_end;
    }
    Ok(Listing {
        start,
        size: to_u32(table.uncompressed_len() - first_byte)?,
        index,
    })
}

fn to_u32(value: u64) -> Result<u32, SquashfsError> {
    u32::try_from(value).map_err(|_| SquashfsError::Limit("a directory table larger than 4 GiB"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::squashfs::options::{Compression, SquashfsOptions};

    fn lz4() -> Compressor {
        Compressor::new(&SquashfsOptions {
            compression: Compression::Lz4,
            ..SquashfsOptions::default()
        })
        .expect("lz4")
    }

    #[test]
    fn a_small_listing_is_one_run() {
        let names: Vec<Vec<u8>> = (0..3).map(|i| format!("f{i}").into_bytes()).collect();
        let entries: Vec<Entry> = names
            .iter()
            .enumerate()
            .map(|(i, name)| Entry {
                name,
                inode: MetaRef {
                    block: 0,
                    offset: 32 * i as u16,
                },
                number: 10 + i as u32,
                kind: 2,
            })
            .collect();
        let mut table = MetadataWriter::default();
        let listing = write_listing(&entries, &mut table, &mut lz4()).expect("listing");
        assert_eq!(listing.size, 12 + 3 * (8 + 2));
        assert!(listing.index.is_empty());
    }

    #[test]
    fn runs_split_on_inode_blocks_and_number_gaps() {
        let entries = [
            Entry {
                name: b"a",
                inode: MetaRef {
                    block: 0,
                    offset: 0,
                },
                number: 1,
                kind: 2,
            },
            Entry {
                name: b"b",
                inode: MetaRef {
                    block: 900,
                    offset: 0,
                },
                number: 2,
                kind: 2,
            },
            Entry {
                name: b"c",
                inode: MetaRef {
                    block: 900,
                    offset: 40,
                },
                number: 40_000,
                kind: 2,
            },
        ];
        let mut table = MetadataWriter::default();
        let listing = write_listing(&entries, &mut table, &mut lz4()).expect("listing");
        assert_eq!(listing.size, 3 * (12 + 9));
    }

    #[test]
    fn large_listings_get_an_index_entry_per_block() {
        let names: Vec<Vec<u8>> = (0..3000)
            .map(|i| format!("file-{i:05}").into_bytes())
            .collect();
        let entries: Vec<Entry> = names
            .iter()
            .enumerate()
            .map(|(i, name)| Entry {
                name,
                inode: MetaRef {
                    block: 0,
                    offset: 0,
                },
                number: i as u32 + 1,
                kind: 2,
            })
            .collect();
        let mut table = MetadataWriter::default();
        let listing = write_listing(&entries, &mut table, &mut lz4()).expect("listing");
        let blocks = (u64::from(listing.size) / METADATA_SIZE as u64) as usize;
        assert_eq!(listing.index.len(), blocks);
        for entry in &listing.index {
            // Each indexed run starts exactly at a block boundary or just after one.
            assert!(entry.listing_offset as usize % METADATA_SIZE < 12 + 8 + 10);
            assert!(entry.name.starts_with(b"file-"));
        }
    }
}
