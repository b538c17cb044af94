//! A root directory (what `--format dir` writes), read with std::fs: no
//! symlink is followed, neither while walking nor when a file is read (the
//! files read are regular files found by the walk, opened with O_NOFOLLOW),
//! so a link to /etc/shadow in the image never reads the host's.

use std::fs::{self, File, OpenOptions};
use std::io::Read as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use super::{AuditError, Entry, EntryKind, Tree};

pub struct DirTree {
    root: PathBuf,
}

impl DirTree {
    pub fn new(root: &Path) -> Self {
        DirTree {
            root: root.to_owned(),
        }
    }

    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AuditError + '_ {
        move |source| AuditError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// Not descended into: on a root that is a running system they are the
/// kernel's (huge, and nothing of the image); in a built root they are empty.
const VIRTUAL: &[&str] = &["proc", "sys"];

impl Tree for DirTree {
    fn entries(&self) -> Result<Vec<Entry>, AuditError> {
        let mut entries = Vec::new();
        let mut pending = vec![String::new()];
        while let Some(dir) = pending.pop() {
            let host_dir = self.root.join(&dir);
            for item in fs::read_dir(&host_dir).map_err(Self::io(&host_dir))? {
                let item = item.map_err(Self::io(&host_dir))?;
                let name = item.file_name().to_string_lossy().into_owned();
                let path = if dir.is_empty() {
                    name
                } else {
                    format!("{dir}/{name}")
                };
                let host = item.path();
                // symlink_metadata: the link itself, never its target.
                let metadata = fs::symlink_metadata(&host).map_err(Self::io(&host))?;
                let file_type = metadata.file_type();
                let (kind, link) = if file_type.is_symlink() {
                    let target = fs::read_link(&host).map_err(Self::io(&host))?;
                    (EntryKind::Symlink, Some(target))
                } else if file_type.is_dir() {
                    if !VIRTUAL.contains(&path.as_str()) {
                        pending.push(path.clone());
                    }
                    (EntryKind::Dir, None)
                } else if file_type.is_file() {
                    (EntryKind::File, None)
                } else {
                    (EntryKind::Other, None)
                };
                entries.push(Entry {
                    path,
                    kind,
                    mode: metadata.mode() & 0o7777,
                    uid: metadata.uid(),
                    size: metadata.len(),
                    link,
                });
            }
        }
        Ok(entries)
    }

    fn read(&self, entry: &Entry, limit: u64) -> Result<Vec<u8>, AuditError> {
        let host = self.root.join(&entry.path);
        let file: File = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&host)
            .map_err(Self::io(&host))?;
        let mut bytes = Vec::new();
        file.take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(Self::io(&host))?;
        if bytes.len() as u64 > limit {
            return Err(AuditError::TooBig {
                path: entry.path.clone(),
                limit,
            });
        }
        Ok(bytes)
    }
}
