//! A squashfs image, alone or at an offset inside another file (a live
//! ISO's root), read with the backhand crate: an independent reader that
//! the squashfs tests already trust (tests/squashfs_write.rs), so the audit
//! does not read our own writer's output only with our own assumptions.
//! backhand keeps the directory tree in memory (small next to the data) and
//! decompresses a file only when it is read, through a reader we bound.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read as _};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use backhand::{FilesystemReader, InnerNode, Node, SquashfsFileReader};

use super::{AuditError, Entry, EntryKind, Tree};

pub struct SquashfsTree {
    image: PathBuf,
    reader: FilesystemReader<'static>,
    /// Each entry's index in `reader.files()`, for reads.
    index: HashMap<String, usize>,
}

impl SquashfsTree {
    /// Opens the squashfs that starts `offset` bytes into `image`.
    pub fn open(image: &Path, offset: u64) -> Result<Self, AuditError> {
        let file = File::open(image).map_err(|source| AuditError::Io {
            path: image.to_owned(),
            source,
        })?;
        let reader = FilesystemReader::from_reader_with_offset(BufReader::new(file), offset)
            .map_err(|error| AuditError::BadSquashfs {
                path: image.to_owned(),
                detail: error.to_string(),
            })?;
        let index = reader
            .files()
            .enumerate()
            .filter_map(|(i, node)| relative(node).map(|path| (path, i)))
            .collect();
        Ok(SquashfsTree {
            image: image.to_owned(),
            reader,
            index,
        })
    }
}

/// A node's path without the leading `/`; None for the root.
fn relative(node: &Node<SquashfsFileReader>) -> Option<String> {
    let path = node.fullpath.strip_prefix("/").unwrap_or(&node.fullpath);
    let path = String::from_utf8_lossy(path.as_os_str().as_bytes()).into_owned();
    (!path.is_empty()).then_some(path)
}

impl Tree for SquashfsTree {
    fn entries(&self) -> Result<Vec<Entry>, AuditError> {
        Ok(self
            .reader
            .files()
            .filter_map(|node| {
                let path = relative(node)?;
                let (kind, size, link) = match &node.inner {
                    InnerNode::File(file) => (EntryKind::File, file.file_len() as u64, None),
                    InnerNode::Dir(_) => (EntryKind::Dir, 0, None),
                    InnerNode::Symlink(symlink) => {
                        (EntryKind::Symlink, 0, Some(symlink.link.clone()))
                    }
                    _ => (EntryKind::Other, 0, None),
                };
                Some(Entry {
                    path,
                    kind,
                    mode: u32::from(node.header.permissions) & 0o7777,
                    uid: node.header.uid,
                    size,
                    link,
                })
            })
            .collect())
    }

    fn read(&self, entry: &Entry, limit: u64) -> Result<Vec<u8>, AuditError> {
        let bad = |detail: String| AuditError::BadSquashfs {
            path: self.image.clone(),
            detail,
        };
        let node = self
            .index
            .get(&entry.path)
            .and_then(|&i| self.reader.files().nth(i))
            .ok_or_else(|| bad(format!("{} is not in the image", entry.path)))?;
        let InnerNode::File(file) = &node.inner else {
            return Err(bad(format!("{} is not a regular file", entry.path)));
        };
        if file.file_len() as u64 > limit {
            return Err(AuditError::TooBig {
                path: entry.path.clone(),
                limit,
            });
        }
        let mut bytes = Vec::new();
        self.reader
            .file(file)
            .reader_checked()
            .map_err(|error| bad(format!("{}: {error}", entry.path)))?
            .take(limit)
            .read_to_end(&mut bytes)
            .map_err(|error| bad(format!("{}: {error}", entry.path)))?;
        Ok(bytes)
    }
}
