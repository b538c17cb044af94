//! The block memo: compressed blocks remembered by their content between
//! images, so that packing a root that mostly holds the files packed last
//! time compresses only what changed.
//!
//! Compressing is the writer's cost (xz takes minutes of CPU for a live
//! root); hashing a block costs a thousandth of it. Each block's key is the
//! SHA-256 of the settings it is compressed with (codec, level, block
//! size, filter, the program's own digest, so a new livecompose never
//! reuses an old one's blocks) and its bytes; a remembered block is the
//! bytes the compressor gave for that key, so an image packed with the
//! memo is byte for byte the image packed without it.
//!
//! The memo is one file per settings, `memo-SETTINGS` in the directory the
//! caller gives: the blocks of the last image, then their index, then a
//! trailer. A new image's blocks are written to a new file, moved over the
//! old one when the image is complete, so the memo holds exactly the last
//! image's blocks and never grows past one image. Each remembered block
//! carries the SHA-256 of its stored bytes, checked when it is recalled: a
//! damaged memo costs a compression, never a wrong block. The memo is an
//! accelerator: when it cannot be read or written, the image is packed
//! without it.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Write as _};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::content::Content;
use super::options::SquashfsOptions;

const MAGIC: &[u8; 8] = b"LCSQMEM1";
/// key, digest of the stored bytes, offset, length, uncompressed flag, padding.
const RECORD: usize = 32 + 32 + 8 + 4 + 1 + 3;
const TRAILER: usize = 8 + 8 + MAGIC.len();

pub(crate) type Key = [u8; 32];

/// A block as stored: its bytes and whether they are the data itself
/// (compression did not make it smaller).
pub(crate) struct Remembered {
    pub bytes: Vec<u8>,
    pub raw: bool,
}

struct Stored {
    digest: [u8; 32],
    offset: u64,
    length: u32,
    raw: bool,
}

/// The last image's blocks, read-only, shared by the compressing threads.
pub(crate) struct Recall {
    salt: [u8; 32],
    file: Option<File>,
    blocks: HashMap<Key, Stored>,
}

impl Recall {
    /// The memo for `options` in `dir`; empty when there is none or it
    /// cannot be read.
    pub(crate) fn open(dir: &Path, options: &SquashfsOptions) -> io::Result<(Recall, PathBuf)> {
        let salt = salt(options)?;
        let path = file_for(dir, &salt);
        let loaded = File::open(&path).and_then(|file| {
            let blocks = read_index(&file)?;
            Ok((file, blocks))
        });
        let (file, blocks) = match loaded {
            Ok((file, blocks)) => (Some(file), blocks),
            Err(_) => (None, HashMap::new()),
        };
        Ok((Recall { salt, file, blocks }, path))
    }

    /// The key of `data`, compressed as `content`.
    pub(crate) fn key(&self, content: Content, data: &[u8]) -> Key {
        let mut hasher = Sha256::new();
        hasher.update(self.salt);
        hasher.update([content as u8]);
        hasher.update(data);
        hasher.finalize().into()
    }

    /// The block remembered for `key`, when it reads back intact.
    pub(crate) fn recall(&self, key: &Key) -> Option<Remembered> {
        let stored = self.blocks.get(key)?;
        let mut bytes = vec![0; stored.length as usize];
        self.file
            .as_ref()?
            .read_exact_at(&mut bytes, stored.offset)
            .ok()?;
        (<[u8; 32]>::from(Sha256::digest(&bytes)) == stored.digest).then_some(Remembered {
            bytes,
            raw: stored.raw,
        })
    }
}

/// The memo file in `dir` for images packed with `options`.
pub fn path(dir: &Path, options: &SquashfsOptions) -> io::Result<PathBuf> {
    Ok(file_for(dir, &salt(options)?))
}

fn file_for(dir: &Path, salt: &[u8; 32]) -> PathBuf {
    dir.join(format!("memo-{}", hex::encode(&salt[..8])))
}

/// The settings' part of every key.
fn salt(options: &SquashfsOptions) -> io::Result<[u8; 32]> {
    let mut hasher = Sha256::new();
    hasher.update(MAGIC);
    hasher.update(crate::executable::digest()?);
    hasher.update(format!("{:?} {}", options.compression, options.block_size));
    Ok(hasher.finalize().into())
}

fn read_index(file: &File) -> io::Result<HashMap<Key, Stored>> {
    let invalid = || io::Error::new(io::ErrorKind::InvalidData, "not a block memo");
    let length = file.metadata()?.len();
    let mut trailer = [0u8; TRAILER];
    file.read_exact_at(
        &mut trailer,
        length.checked_sub(TRAILER as u64).ok_or_else(invalid)?,
    )?;
    if &trailer[16..] != MAGIC {
        return Err(invalid());
    }
    let index_at = u64::from_le_bytes(trailer[..8].try_into().map_err(|_| invalid())?);
    let count = u64::from_le_bytes(trailer[8..16].try_into().map_err(|_| invalid())?);
    let index_length = count.checked_mul(RECORD as u64).ok_or_else(invalid)?;
    if index_at.checked_add(index_length) != Some(length - TRAILER as u64) {
        return Err(invalid());
    }
    let mut index = vec![0u8; index_length as usize];
    file.read_exact_at(&mut index, index_at)?;
    let mut blocks = HashMap::with_capacity(count as usize);
    for record in index.chunks_exact(RECORD) {
        let field = |range: std::ops::Range<usize>| &record[range];
        let stored = Stored {
            digest: field(32..64).try_into().map_err(|_| invalid())?,
            offset: u64::from_le_bytes(field(64..72).try_into().map_err(|_| invalid())?),
            length: u32::from_le_bytes(field(72..76).try_into().map_err(|_| invalid())?),
            raw: record[76] != 0,
        };
        if stored.offset.saturating_add(u64::from(stored.length)) > index_at {
            return Err(invalid());
        }
        blocks.insert(field(0..32).try_into().map_err(|_| invalid())?, stored);
    }
    Ok(blocks)
}

/// The new image's blocks, written by the thread that writes the image, in
/// its order.
pub(crate) struct Remember {
    path: PathBuf,
    file: Option<(tempfile::NamedTempFile, BufWriter<File>)>,
    index: Vec<u8>,
    offset: u64,
    keys: std::collections::HashSet<Key>,
}

impl Remember {
    /// A new memo that will replace the one at `path`.
    pub(crate) fn new(path: PathBuf) -> Remember {
        let file = path.parent().and_then(|dir| {
            let temp = tempfile::Builder::new()
                .prefix(".memo-")
                .tempfile_in(dir)
                .ok()?;
            let writer = BufWriter::with_capacity(1 << 20, temp.as_file().try_clone().ok()?);
            Some((temp, writer))
        });
        Remember {
            path,
            file,
            index: Vec::new(),
            offset: 0,
            keys: Default::default(),
        }
    }

    /// Adds a block, once per key; after a write error the memo is given up.
    pub(crate) fn remember(&mut self, key: Key, bytes: &[u8], raw: bool) {
        if !self.keys.insert(key) {
            return;
        }
        let Some((_, writer)) = &mut self.file else {
            return;
        };
        if writer.write_all(bytes).is_err() {
            self.file = None;
            return;
        }
        self.index.extend_from_slice(&key);
        self.index.extend_from_slice(&Sha256::digest(bytes));
        self.index.extend_from_slice(&self.offset.to_le_bytes());
        self.index
            .extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        self.index.extend_from_slice(&[u8::from(raw), 0, 0, 0]);
        self.offset += bytes.len() as u64;
    }

    /// Writes the index and moves the memo into place; false when it could
    /// not be kept.
    pub(crate) fn commit(self) -> bool {
        let Some((temp, mut writer)) = self.file else {
            return false;
        };
        let count = (self.index.len() / RECORD) as u64;
        let written = writer
            .write_all(&self.index)
            .and_then(|()| writer.write_all(&self.offset.to_le_bytes()))
            .and_then(|()| writer.write_all(&count.to_le_bytes()))
            .and_then(|()| writer.write_all(MAGIC))
            .and_then(|()| writer.flush());
        written.is_ok() && temp.persist(&self.path).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memo_file(dir: &Path) -> PathBuf {
        path(dir, &SquashfsOptions::default()).unwrap()
    }

    #[test]
    fn a_remembered_block_is_recalled_by_the_next_image_and_only_intact() {
        let dir = tempfile::tempdir().unwrap();
        let options = SquashfsOptions::default();
        let (empty, path) = Recall::open(dir.path(), &options).unwrap();
        let key = empty.key(Content::Other, b"data");
        assert!(empty.recall(&key).is_none());
        let mut remember = Remember::new(path.clone());
        remember.remember(key, b"packed", false);
        remember.remember(empty.key(Content::Other, b"raw"), b"raw", true);
        assert!(remember.commit());

        let (recall, _) = Recall::open(dir.path(), &options).unwrap();
        let found = recall.recall(&key).unwrap();
        assert_eq!((found.bytes.as_slice(), found.raw), (&b"packed"[..], false));
        assert!(
            recall
                .recall(&recall.key(Content::Other, b"raw"))
                .unwrap()
                .raw
        );
        // The same bytes as machine code are another block.
        assert!(
            recall
                .recall(&recall.key(Content::MachineCode, b"data"))
                .is_none()
        );

        // A flipped stored byte is noticed: the block is compressed again.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[0] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        let (recall, _) = Recall::open(dir.path(), &options).unwrap();
        assert!(recall.recall(&key).is_none());
    }

    /// What the memo is for: the second image of a tree recalls its blocks
    /// instead of compressing them, a changed file is compressed again, and
    /// every image is byte for byte the one packed without a memo.
    #[test]
    fn images_packed_with_the_memo_are_the_images_packed_without_it() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        std::fs::create_dir_all(tree.join("lib")).unwrap();
        for (name, seed) in [("one", 1u32), ("two", 2), ("three", 3)] {
            // Compressible but not trivial: 300 kB of a small generator's text.
            let text: String = (0..60_000u32)
                .map(|i| {
                    format!(
                        "{} ",
                        (i.wrapping_mul(seed).wrapping_mul(2_654_435_761)) % 977
                    )
                })
                .collect();
            std::fs::write(tree.join("lib").join(name), text).unwrap();
        }
        std::fs::write(tree.join("small"), b"a fragment").unwrap();
        let memo = dir.path().join("memo");
        std::fs::create_dir(&memo).unwrap();
        let plain = SquashfsOptions {
            mtime: Some(1),
            ..SquashfsOptions::default()
        };
        let remembering = SquashfsOptions {
            memo: Some(memo.clone()),
            ..plain.clone()
        };
        let pack = |options: &SquashfsOptions, name: &str| {
            let image = dir.path().join(name);
            let stats = super::super::write_image(&tree, &image, options).unwrap();
            (std::fs::read(image).unwrap(), stats)
        };

        let (without, _) = pack(&plain, "without");
        let (first, stats) = pack(&remembering, "first");
        assert_eq!(first, without);
        assert_eq!(stats.recalled_blocks, 0);
        let (second, stats) = pack(&remembering, "second");
        assert_eq!(second, without);
        assert!(stats.blocks_written > 3);
        assert_eq!(stats.recalled_blocks, stats.blocks_written);

        std::fs::write(tree.join("lib/two"), b"changed").unwrap();
        let (changed_without, _) = pack(&plain, "changed-without");
        let (changed, stats) = pack(&remembering, "changed");
        assert_eq!(changed, changed_without);
        assert!(stats.recalled_blocks > 0);
        assert!(stats.recalled_blocks < stats.blocks_written);
    }

    #[test]
    fn other_settings_use_another_memo_and_garbage_is_no_memo() {
        let dir = tempfile::tempdir().unwrap();
        let zstd = SquashfsOptions {
            compression: super::super::Compression::Zstd { level: 15 },
            ..SquashfsOptions::default()
        };
        let (_, other) = Recall::open(dir.path(), &zstd).unwrap();
        assert_ne!(other, memo_file(dir.path()));
        std::fs::write(memo_file(dir.path()), b"not a memo at all, not even close").unwrap();
        let (recall, _) = Recall::open(dir.path(), &SquashfsOptions::default()).unwrap();
        assert!(recall.blocks.is_empty());
    }
}
