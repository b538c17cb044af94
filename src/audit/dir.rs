//! A root directory (what `--format dir` writes), read with std::fs: no
//! symlink is followed, neither while walking (lstat) nor when a file is
//! read: files are opened with openat2 beneath the root with no symlink
//! resolved in any component, so a link to /etc/shadow in the image, or a
//! directory swapped for a link after the walk, never reads the host's.

use std::fs::{self, File};
use std::io::Read as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags, ResolveFlags};

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
        let root = rustix::fs::open(
            &self.root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|errno| Self::io(&self.root)(errno.into()))?;
        let file = rustix::fs::openat2(
            &root,
            entry.path.as_str(),
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        )
        .map(File::from)
        .map_err(|errno| Self::io(&host)(errno.into()))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Even a path the walk never listed (a directory swapped for a link
    /// after it) is not read through a symlink.
    #[test]
    fn reads_never_pass_through_a_symlink() {
        let work = tempfile::tempdir().expect("tempdir");
        let host = work.path().join("host");
        fs::create_dir(&host).expect("host");
        fs::write(host.join("shadow"), "root:$6$host:::::::\n").expect("shadow");
        let root = work.path().join("root");
        fs::create_dir(&root).expect("root");
        std::os::unix::fs::symlink(&host, root.join("etc")).expect("link");
        fs::write(root.join("plain"), "in the image").expect("plain");
        let tree = DirTree::new(&root);
        let entry = |path: &str| Entry {
            path: path.to_owned(),
            kind: EntryKind::File,
            mode: 0o644,
            uid: 0,
            size: 0,
            link: None,
        };
        assert_eq!(
            tree.read(&entry("plain"), 100).expect("plain"),
            b"in the image"
        );
        assert!(tree.read(&entry("etc/shadow"), 100).is_err());
        assert!(matches!(
            tree.read(&entry("plain"), 5),
            Err(AuditError::TooBig { .. })
        ));
    }
}
