//! A swap area in the format `mkswap` writes (version 1), so the kernel's
//! `swapon` takes the partition as it is.

use std::fs::File;
use std::os::unix::fs::FileExt as _;

/// The page size of x86-64, which the header's page counts use.
const PAGE: u64 = 4096;
/// The header sits after the first 1024 bytes, kept for boot loaders.
const HEADER_OFFSET: usize = 1024;
const MAGIC: &[u8; 10] = b"SWAPSPACE2";

/// Writes a swap header into `disk` for the area at `offset` of `bytes`,
/// with `uuid` (16 bytes, textual order) and `label`.
pub fn write_swap(
    disk: &File,
    offset: u64,
    bytes: u64,
    uuid: [u8; 16],
    label: Option<&str>,
) -> std::io::Result<()> {
    let mut page = vec![0u8; PAGE as usize];
    let last_page = u32::try_from(bytes / PAGE - 1).unwrap_or(u32::MAX);
    page[HEADER_OFFSET..HEADER_OFFSET + 4].copy_from_slice(&1u32.to_le_bytes());
    page[HEADER_OFFSET + 4..HEADER_OFFSET + 8].copy_from_slice(&last_page.to_le_bytes());
    // nr_badpages stays 0.
    page[HEADER_OFFSET + 12..HEADER_OFFSET + 28].copy_from_slice(&uuid);
    if let Some(label) = label {
        let label = label.as_bytes();
        let len = label.len().min(15);
        page[HEADER_OFFSET + 28..HEADER_OFFSET + 28 + len].copy_from_slice(&label[..len]);
    }
    page[PAGE as usize - MAGIC.len()..].copy_from_slice(MAGIC);
    disk.write_all_at(&page, offset)
}
