//! An exact copy of an image root: every directory, file, symbolic link
//! and device node with its owner, mode (setuid and sticky bits included),
//! extended attributes (file capabilities), access and modification times,
//! hard links and holes. The cache of installed roots ([`super::root_cache`])
//! stores and restores roots with it, so a restored root must be the same
//! tree the install left, down to what the writers read.
//!
//! Symbolic links are copied as links and never followed, whatever they
//! point to: the tree is a package-made root, not the host's. File data is
//! cloned (reflinked) where the file system can, else copied in the kernel
//! with `copy_file_range`, data range by data range, so a sparse file stays
//! sparse.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, CWD, FileType, Mode, SeekFrom, Timespec, Timestamps};

use crate::parallel;

/// A copy that could not be made: what was being done to which path.
#[derive(Debug, thiserror::Error)]
#[error("copying the root: cannot {action} {}: {source}", .path.display())]
pub struct CopyError {
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

fn failed<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> CopyError + 'a {
    move |source| CopyError {
        action,
        path: path.to_owned(),
        source,
    }
}

fn errno<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(rustix::io::Errno) -> CopyError + 'a {
    move |source| CopyError {
        action,
        path: path.to_owned(),
        source: source.into(),
    }
}

/// What a copy held.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    /// Every entry but the top directory.
    pub entries: u64,
    /// The sizes of the regular files, each hard-linked file once.
    pub bytes: u64,
}

/// Copies the tree at `from` to `to`, which must not exist; `to` gets the
/// owner, mode and times of `from` too.
///
/// The tree is walked once, making its directories, links and nodes and
/// listing its files; the files' data, most of the work, is then copied on
/// every core. Hard links and the directories' modes and times come last:
/// a link needs its first copy, and making entries changes a directory's
/// times.
pub fn copy_tree(from: &Path, to: &Path) -> Result<Copied, CopyError> {
    let top = from
        .symlink_metadata()
        .map_err(failed("read the metadata of", from))?;
    if !top.is_dir() {
        return Err(CopyError {
            action: "copy (not a directory)",
            path: from.to_owned(),
            source: io::Error::from(io::ErrorKind::NotADirectory),
        });
    }
    let mut walk = Walk::default();
    walk.directory(from, to, top)?;
    parallel::try_map(&walk.files, |file| {
        copy_file(&file.from, &file.to, &file.meta)?;
        set_times(&file.to, &file.meta)
    })?;
    for (first, link) in &walk.hard_links {
        std::fs::hard_link(first, link).map_err(failed("hard-link", link))?;
    }
    for directory in &walk.directories {
        set_owner_mode_xattrs(&directory.from, &directory.to, &directory.meta, false)?;
        set_times(&directory.to, &directory.meta)?;
    }
    Ok(walk.copied)
}

/// An entry of the tree and where its copy goes.
struct Entry {
    from: PathBuf,
    to: PathBuf,
    meta: std::fs::Metadata,
}

/// What the walk of a tree made and what it left for later.
#[derive(Default)]
struct Walk {
    /// The copy of each multiply linked file met so far, by the source's
    /// device and inode.
    first_copies: HashMap<(u64, u64), PathBuf>,
    /// Regular files to copy, each multiply linked one once.
    files: Vec<Entry>,
    /// (first copy, further name) of each multiply linked file.
    hard_links: Vec<(PathBuf, PathBuf)>,
    /// Every directory, each after those inside it.
    directories: Vec<Entry>,
    copied: Copied,
}

impl Walk {
    fn directory(
        &mut self,
        from: &Path,
        to: &Path,
        meta: std::fs::Metadata,
    ) -> Result<(), CopyError> {
        // Private until its own mode is set, after its contents.
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(to)
            .map_err(failed("create the directory", to))?;
        let mut names = std::fs::read_dir(from)
            .map_err(failed("list", from))?
            .map(|entry| entry.map(|entry| entry.file_name()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(failed("list", from))?;
        // One order whatever the source directory's: a restored root is
        // the same wherever it is restored.
        names.sort();
        for name in names {
            let (source, target) = (from.join(&name), to.join(&name));
            let entry = source
                .symlink_metadata()
                .map_err(failed("read the metadata of", &source))?;
            self.entry(source, target, entry)?;
            self.copied.entries += 1;
        }
        self.directories.push(Entry {
            from: from.to_owned(),
            to: to.to_owned(),
            meta,
        });
        Ok(())
    }

    fn entry(
        &mut self,
        from: PathBuf,
        to: PathBuf,
        meta: std::fs::Metadata,
    ) -> Result<(), CopyError> {
        let kind = FileType::from_raw_mode(meta.mode());
        match kind {
            FileType::Directory => return self.directory(&from, &to, meta),
            FileType::RegularFile => {
                let identity = (meta.dev(), meta.ino());
                if meta.nlink() > 1 {
                    if let Some(first) = self.first_copies.get(&identity) {
                        self.hard_links.push((first.clone(), to));
                        return Ok(());
                    }
                    self.first_copies.insert(identity, to.clone());
                }
                self.copied.bytes += meta.len();
                self.files.push(Entry { from, to, meta });
                return Ok(());
            }
            FileType::Symlink => {
                let target = std::fs::read_link(&from).map_err(failed("read the link", &from))?;
                std::os::unix::fs::symlink(&target, &to).map_err(failed("create the link", &to))?;
                set_owner_mode_xattrs(&from, &to, &meta, true)?;
            }
            FileType::CharacterDevice
            | FileType::BlockDevice
            | FileType::Fifo
            | FileType::Socket => {
                rustix::fs::mknodat(
                    CWD,
                    &to,
                    kind,
                    Mode::from_raw_mode(meta.mode() & 0o7777),
                    meta.rdev(),
                )
                .map_err(errno("create the node", &to))?;
                set_owner_mode_xattrs(&from, &to, &meta, false)?;
            }
            FileType::Unknown => {
                return Err(CopyError {
                    action: "copy (an unknown kind of file)",
                    path: from,
                    source: io::Error::from(io::ErrorKind::Unsupported),
                });
            }
        }
        set_times(&to, &meta)
    }
}

/// A regular file's data (cloned, else copied range by range so holes stay
/// holes), then its owner, mode and attributes.
fn copy_file(from: &Path, to: &Path, meta: &std::fs::Metadata) -> Result<(), CopyError> {
    let source = File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(from)
        .map_err(failed("open", from))?;
    let target = File::options()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(to)
        .map_err(failed("create", to))?;
    if rustix::fs::ioctl_ficlone(&target, &source).is_err() {
        copy_data(&source, &target, meta.len()).map_err(failed("copy the data of", from))?;
    }
    set_owner_mode_xattrs(from, to, meta, false)
}

/// Copies the data ranges of `source` (`size` bytes long) into the empty
/// `target`, leaving the holes between them unwritten.
fn copy_data(source: &File, target: &File, size: u64) -> io::Result<()> {
    let mut offset = 0;
    while offset < size {
        let start = match rustix::fs::seek(source, SeekFrom::Data(offset)) {
            Ok(start) => start,
            // No data after `offset`: the rest is a hole.
            Err(rustix::io::Errno::NXIO) => break,
            Err(error) => return Err(error.into()),
        };
        let end = rustix::fs::seek(source, SeekFrom::Hole(start))?.min(size);
        copy_range(source, target, start, end)?;
        offset = end;
    }
    rustix::fs::ftruncate(target, size)?;
    Ok(())
}

/// Bytes `start..end` of `source` to the same place in `target`: in the
/// kernel where it can, through a buffer where it cannot (another file
/// system on an older kernel).
fn copy_range(source: &File, target: &File, start: u64, end: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt as _;
    let (mut from, mut to) = (start, start);
    while from < end {
        let chunk = usize::try_from(end - from)
            .unwrap_or(usize::MAX)
            .min(1 << 30);
        match rustix::fs::copy_file_range(source, Some(&mut from), target, Some(&mut to), chunk) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
            Ok(_) => {}
            Err(
                rustix::io::Errno::XDEV
                | rustix::io::Errno::INVAL
                | rustix::io::Errno::NOSYS
                | rustix::io::Errno::OPNOTSUPP,
            ) => break,
            Err(error) => return Err(error.into()),
        }
    }
    let mut buffer = vec![0; 1 << 20];
    while from < end {
        let want = usize::try_from(end - from)
            .unwrap_or(usize::MAX)
            .min(buffer.len());
        let read = source.read_at(&mut buffer[..want], from)?;
        if read == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
        }
        target.write_all_at(&buffer[..read], to)?;
        from += read as u64;
        to += read as u64;
    }
    Ok(())
}

/// Owner, then mode (a change of owner clears setuid bits), then the
/// extended attributes (it clears file capabilities too). Links have no
/// mode of their own.
fn set_owner_mode_xattrs(
    from: &Path,
    to: &Path,
    meta: &std::fs::Metadata,
    is_link: bool,
) -> Result<(), CopyError> {
    std::os::unix::fs::lchown(to, Some(meta.uid()), Some(meta.gid()))
        .map_err(failed("set the owner of", to))?;
    if !is_link {
        rustix::fs::chmodat(
            CWD,
            to,
            Mode::from_raw_mode(meta.mode() & 0o7777),
            AtFlags::empty(),
        )
        .map_err(errno("set the mode of", to))?;
    }
    copy_xattrs(from, to)
}

fn copy_xattrs(from: &Path, to: &Path) -> Result<(), CopyError> {
    let mut names = vec![0u8; 4096];
    let length = loop {
        match rustix::fs::llistxattr(from, &mut names[..]) {
            Ok(length) => break length,
            Err(rustix::io::Errno::RANGE) => names.resize(names.len() * 4, 0),
            // A file system without extended attributes has none to copy.
            Err(rustix::io::Errno::NOTSUP) => return Ok(()),
            Err(error) => return Err(errno("list the attributes of", from)(error)),
        }
    };
    for name in names[..length]
        .split(|&byte| byte == 0)
        .filter(|name| !name.is_empty())
    {
        let name = std::ffi::OsStr::from_bytes(name);
        let mut value = vec![0u8; 256];
        let size = loop {
            match rustix::fs::lgetxattr(from, name, &mut value[..]) {
                Ok(size) => break size,
                Err(rustix::io::Errno::RANGE) => value.resize(value.len() * 4, 0),
                Err(error) => return Err(errno("read an attribute of", from)(error)),
            }
        };
        rustix::fs::lsetxattr(to, name, &value[..size], rustix::fs::XattrFlags::empty())
            .map_err(errno("set an attribute of", to))?;
    }
    Ok(())
}

/// Access and modification times, to the nanosecond, of the entry itself
/// (never a link's target).
fn set_times(to: &Path, meta: &std::fs::Metadata) -> Result<(), CopyError> {
    let times = Timestamps {
        last_access: Timespec {
            tv_sec: meta.atime(),
            tv_nsec: meta.atime_nsec() as _,
        },
        last_modification: Timespec {
            tv_sec: meta.mtime(),
            tv_nsec: meta.mtime_nsec() as _,
        },
    };
    rustix::fs::utimensat(CWD, to, &times, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(errno("set the times of", to))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};

    use super::*;

    fn meta(path: &Path) -> std::fs::Metadata {
        path.symlink_metadata().unwrap()
    }

    /// Everything a root holds, in one tree; what the copy must keep of it.
    #[test]
    fn the_copy_keeps_owners_modes_links_nodes_holes_attributes_and_times() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: owners and device nodes need root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("from");
        std::fs::create_dir(&from).unwrap();
        std::fs::create_dir_all(from.join("usr/bin")).unwrap();
        std::fs::write(from.join("usr/bin/su"), b"setuid program").unwrap();
        std::fs::set_permissions(
            from.join("usr/bin/su"),
            std::fs::Permissions::from_mode(0o4755),
        )
        .unwrap();
        std::fs::write(from.join("usr/bin/ping"), b"capable program").unwrap();
        // cap_net_raw+ep, as libcap writes it (revision 2).
        let capability = [
            0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        ];
        rustix::fs::setxattr(
            from.join("usr/bin/ping"),
            "security.capability",
            &capability,
            rustix::fs::XattrFlags::empty(),
        )
        .unwrap();
        std::fs::write(from.join("usr/bin/owned"), b"x").unwrap();
        std::os::unix::fs::lchown(from.join("usr/bin/owned"), Some(1234), Some(5678)).unwrap();
        std::fs::hard_link(from.join("usr/bin/owned"), from.join("usr/bin/owned-too")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", from.join("usr/bin/outside")).unwrap();
        std::os::unix::fs::lchown(from.join("usr/bin/outside"), Some(7), Some(8)).unwrap();
        std::fs::create_dir(from.join("tmp")).unwrap();
        std::fs::set_permissions(from.join("tmp"), std::fs::Permissions::from_mode(0o1777))
            .unwrap();
        rustix::fs::mknodat(
            CWD,
            from.join("fifo"),
            FileType::Fifo,
            Mode::from_raw_mode(0o640),
            0,
        )
        .unwrap();
        rustix::fs::mknodat(
            CWD,
            from.join("null"),
            FileType::CharacterDevice,
            Mode::from_raw_mode(0o666),
            rustix::fs::makedev(1, 3),
        )
        .unwrap();
        let sparse = File::create(from.join("sparse")).unwrap();
        sparse.set_len(64 << 20).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&sparse, b"middle", 32 << 20).unwrap();
        drop(sparse);
        let old = Timestamps {
            last_access: Timespec {
                tv_sec: 1_000_000,
                tv_nsec: 5,
            },
            last_modification: Timespec {
                tv_sec: 2_000_000,
                tv_nsec: 7,
            },
        };
        for path in ["usr/bin/su", "usr/bin/outside", "usr/bin", "tmp", ""] {
            rustix::fs::utimensat(CWD, from.join(path), &old, AtFlags::SYMLINK_NOFOLLOW).unwrap();
        }

        let to = dir.path().join("to");
        let copied = copy_tree(&from, &to).unwrap();
        assert_eq!(copied.entries, 11);
        assert_eq!(copied.bytes, 14 + 15 + 1 + (64 << 20));

        let su = meta(&to.join("usr/bin/su"));
        assert_eq!(su.mode() & 0o7777, 0o4755);
        assert_eq!(
            std::fs::read(to.join("usr/bin/su")).unwrap(),
            b"setuid program"
        );
        assert_eq!(
            (su.mtime(), su.mtime_nsec(), su.atime()),
            (2_000_000, 7, 1_000_000)
        );
        let mut read = [0u8; 64];
        let length = rustix::fs::getxattr(
            to.join("usr/bin/ping"),
            "security.capability",
            &mut read[..],
        )
        .unwrap();
        assert_eq!(&read[..length], &capability);
        let owned = meta(&to.join("usr/bin/owned"));
        assert_eq!((owned.uid(), owned.gid(), owned.nlink()), (1234, 5678, 2));
        assert_eq!(owned.ino(), meta(&to.join("usr/bin/owned-too")).ino());
        let link = meta(&to.join("usr/bin/outside"));
        assert!(link.file_type().is_symlink());
        assert_eq!((link.uid(), link.gid(), link.mtime()), (7, 8, 2_000_000));
        assert_eq!(
            std::fs::read_link(to.join("usr/bin/outside")).unwrap(),
            Path::new("/etc/passwd")
        );
        assert_eq!(meta(&to.join("tmp")).mode() & 0o7777, 0o1777);
        assert_eq!(meta(&to.join("usr/bin")).mtime(), 2_000_000);
        assert_eq!(meta(&to).mtime(), 2_000_000);
        let fifo = meta(&to.join("fifo"));
        assert!(std::os::unix::fs::FileTypeExt::is_fifo(&fifo.file_type()));
        assert_eq!(fifo.mode() & 0o7777, 0o640);
        assert_eq!(meta(&to.join("null")).rdev(), rustix::fs::makedev(1, 3));
        let sparse = meta(&to.join("sparse"));
        assert_eq!(sparse.len(), 64 << 20);
        // A few blocks around the data, not 64 MiB of zeros.
        assert!(
            sparse.blocks() * 512 < 1 << 20,
            "{} blocks",
            sparse.blocks()
        );
        let data = std::fs::read(to.join("sparse")).unwrap();
        assert_eq!(&data[32 << 20..(32 << 20) + 6], b"middle");
        assert!(data[..32 << 20].iter().all(|&b| b == 0));
    }

    #[test]
    fn an_existing_target_is_refused_not_merged() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("from")).unwrap();
        std::fs::create_dir(dir.path().join("to")).unwrap();
        let error = copy_tree(&dir.path().join("from"), &dir.path().join("to")).unwrap_err();
        assert_eq!(error.action, "create the directory");
    }
}
