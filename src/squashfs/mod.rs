//! A squashfs 4.0 writer: packs a directory tree into an image the Linux kernel mounts.
//!
//! The work runs in four steps, one module each: `tree` reads the source (sorted, so
//! the bytes never depend on readdir order), `data` compresses file contents on every
//! core in a bounded window, `layout` lays out inodes and directories, and this module
//! appends the tables and the superblock. The image is written to a temporary file
//! beside `output` and renamed into place only when complete.
//!
//! ```no_run
//! use livecompose::squashfs::{SquashfsOptions, write_image};
//! let stats = write_image("/tmp/root".as_ref(), "/tmp/root.squashfs".as_ref(), &SquashfsOptions::default())?;
//! println!("{} inodes in {} bytes", stats.inodes, stats.bytes_used);
//! # Ok::<(), livecompose::squashfs::SquashfsError>(())
//! ```

mod compress;
mod content;
mod data;
mod directory;
mod inode;
mod layout;
pub mod memo;
mod metadata;
mod options;
mod superblock;
mod tree;
mod xattr;

use std::fs;
use std::io::{self, BufWriter, Seek as _, SeekFrom, Write as _};
use std::ops::ControlFlow;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

pub use options::{Compression, SquashfsOptions, XzBcj, XzOptions, parse_block_size, parse_size};
pub use tree::compile_excludes;

use compress::Compressor;
use data::write_error;
use metadata::append_lookup_table;
use superblock::{ABSENT, SUPERBLOCK_SIZE, Superblock};
use tree::io_error;

/// Images are padded to this, so loop devices see whole sectors.
const PADDING: u64 = 4096;

#[derive(Debug, thiserror::Error)]
pub enum SquashfsError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{0} changed while it was being packed")]
    SourceChanged(PathBuf),
    #[error("{0} vanished while it was being packed")]
    SourceVanished(PathBuf),
    #[error("{0} is not a directory")]
    NotADirectory(PathBuf),
    #[error("invalid option: {0}")]
    InvalidOption(String),
    #[error("invalid exclude pattern {pattern:?}: {source}")]
    Exclude {
        pattern: String,
        #[source]
        source: globset::Error,
    },
    #[error("compression failed: {0}")]
    Compress(#[source] io::Error),
    #[error("cannot write the image: {0}")]
    Write(#[source] io::Error),
    #[error("the tree is beyond what squashfs can hold: {0}")]
    Limit(&'static str),
    #[error("a compression thread stopped unexpectedly")]
    WorkerLost,
    #[error("stopped on request")]
    Stopped,
}

/// Told, after each file, how many bytes of file content have been read of
/// [`ImageStats`]'s total; returning [`ControlFlow::Break`] stops the
/// writer with [`SquashfsError::Stopped`] and no output.
pub type Progress<'a> = &'a (dyn Fn(Packing) -> ControlFlow<()> + Sync);

/// How far a [`write_image_with_progress`] has come.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packing {
    pub bytes_read: u64,
    pub bytes_total: u64,
}

/// What went into an image.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageStats {
    pub inodes: u32,
    /// Image size before padding (the superblock's `bytes_used`).
    pub bytes_used: u64,
    pub data_blocks: u64,
    pub fragments: u32,
    /// Files stored as references to an identical earlier file.
    pub duplicate_files: u64,
    /// Bytes stored as holes.
    pub sparse_bytes: u64,
    pub xattr_sets: u32,
    /// Attributes outside the user, trusted and security namespaces (e.g. POSIX ACLs),
    /// which the format cannot store and were left out.
    pub skipped_xattrs: u64,
    /// Data and fragment blocks taken from the memo ([`SquashfsOptions::memo`])
    /// rather than compressed.
    pub recalled_blocks: u64,
    /// Data and fragment blocks written.
    pub blocks_written: u64,
}

/// Packs `source` into a squashfs image at `output`.
pub fn write_image(
    source: &Path,
    output: &Path,
    options: &SquashfsOptions,
) -> Result<ImageStats, SquashfsError> {
    write_image_with_progress(source, output, options, &|_| ControlFlow::Continue(()))
}

/// [`write_image`], reporting its progress to `progress` (from the thread
/// that reads the files).
pub fn write_image_with_progress(
    source: &Path,
    output: &Path,
    options: &SquashfsOptions,
    progress: Progress<'_>,
) -> Result<ImageStats, SquashfsError> {
    options.validate()?;
    let tree = tree::read_tree(source, options)?;
    let order = layout::post_order(&tree);

    let directory = output
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let temp = tempfile::NamedTempFile::new_in(directory).map_err(|e| io_error(directory, e))?;
    let mut out = BufWriter::with_capacity(1 << 20, temp.as_file());
    let compressor_options = compress::options_payload(options);
    let data_start = SUPERBLOCK_SIZE
        + compressor_options
            .as_ref()
            .map_or(0, |payload| 2 + payload.len() as u64);
    out.seek(SeekFrom::Start(data_start)).map_err(write_error)?;
    let data = data::write_data(&tree, &order, &mut out, data_start, options, progress)?;
    out.seek(SeekFrom::Start(data.end)).map_err(write_error)?;

    let mut compressor = Compressor::new(options)?;
    let metadata = layout::write_metadata(&tree, &order, &data, &mut compressor)?;
    let base = data.end;
    let mut tail = metadata.inode_table;
    let directory_table = base + tail.len() as u64;
    tail.extend(metadata.directory_table);
    let fragment_table =
        append_lookup_table(&mut tail, base, &data.fragment_table, &mut compressor)?;
    let id_entries: Vec<u8> = metadata
        .ids
        .iter()
        .flat_map(|id| id.to_le_bytes())
        .collect();
    let id_table = append_lookup_table(&mut tail, base, &id_entries, &mut compressor)?;
    let xattr_sets = metadata.xattrs.sets() as u32;
    let xattr_id_table = metadata.xattrs.append(&mut tail, base, &mut compressor)?;
    let bytes_used = base + tail.len() as u64;
    out.write_all(&tail).map_err(write_error)?;
    let padded = bytes_used.div_ceil(PADDING) * PADDING;
    out.write_all(&vec![0; (padded - bytes_used) as usize])
        .map_err(write_error)?;

    let superblock = Superblock {
        inode_count: metadata.inode_count,
        modification_time: modification_time(&tree, options),
        block_size: options.block_size,
        fragment_count: data.fragment_count,
        compressor: compress::compressor_id(&options.compression),
        // At most 65536 ids were admitted; the field stores the count in 16 bits.
        id_count: metadata.ids.len() as u16,
        has_xattrs: xattr_id_table.is_some(),
        has_compressor_options: compressor_options.is_some(),
        root_inode: metadata.root.packed(),
        bytes_used,
        id_table,
        xattr_id_table: xattr_id_table.unwrap_or(ABSENT),
        inode_table: base,
        directory_table,
        fragment_table,
    };
    let mut head = superblock.encode();
    if let Some(payload) = compressor_options {
        // A metadata block stored uncompressed: flag bit and length.
        head.extend_from_slice(&(0x8000 | payload.len() as u16).to_le_bytes());
        head.extend(payload);
    }
    out.seek(SeekFrom::Start(0)).map_err(write_error)?;
    out.write_all(&head).map_err(write_error)?;
    out.flush().map_err(write_error)?;
    drop(out);
    // Deduplicated data rewound near the end may have left bytes past the tables.
    temp.as_file().set_len(padded).map_err(write_error)?;
    fs::set_permissions(temp.path(), fs::Permissions::from_mode(0o644)).map_err(write_error)?;
    temp.persist(output)
        .map_err(|e| io_error(output, e.error))?;

    Ok(ImageStats {
        inodes: metadata.inode_count,
        bytes_used,
        data_blocks: data.data_blocks,
        fragments: data.fragment_count,
        duplicate_files: data.duplicate_files,
        sparse_bytes: data.files.iter().map(|file| file.sparse).sum(),
        xattr_sets,
        skipped_xattrs: tree.skipped_xattrs,
        recalled_blocks: data.recalled_blocks,
        blocks_written: data.blocks_written,
    })
}

/// The image's own time: the forced time, else the clamp, else the newest entry, so
/// that it never depends on when the image was made.
fn modification_time(tree: &tree::Tree, options: &SquashfsOptions) -> u32 {
    options.mtime.or(options.clamp_mtime).unwrap_or_else(|| {
        tree.inodes
            .iter()
            .map(|inode| inode.mtime)
            .max()
            .unwrap_or(0)
    })
}
