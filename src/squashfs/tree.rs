//! Reads the source directory into memory: names sorted by bytes, so the image never
//! depends on the order the filesystem lists entries in.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use super::SquashfsError;
use super::inode::encode_device;
use super::options::SquashfsOptions;
use super::xattr::{Xattr, storable};

/// Index of the root in [`Tree::inodes`].
pub(crate) const ROOT: usize = 0;

pub(crate) struct Tree {
    pub inodes: Vec<Inode>,
    /// Attributes whose namespace the format cannot store (counted, then left out).
    pub skipped_xattrs: u64,
}

pub(crate) struct Inode {
    pub path: PathBuf,
    pub kind: Kind,
    pub permissions: u16,
    pub uid: u32,
    pub gid: u32,
    pub mtime: u32,
    /// Names this inode has inside the packed tree (hard links).
    pub nlink: u32,
    pub xattrs: Vec<Xattr>,
}

pub(crate) enum Kind {
    /// Children sorted by name.
    Dir(Vec<(Vec<u8>, usize)>),
    File(FileSource),
    Symlink(Vec<u8>),
    CharDevice(u32),
    BlockDevice(u32),
    Fifo,
    Socket,
}

/// What a regular file looked like when the tree was read, to catch changes later.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct FileSource {
    pub size: u64,
    pub modified: (i64, i64),
    /// Fewer blocks allocated than the size needs: worth asking where the holes are.
    pub maybe_sparse: bool,
}

impl FileSource {
    pub(crate) fn of(metadata: &Metadata) -> FileSource {
        FileSource {
            size: metadata.len(),
            modified: (metadata.mtime(), metadata.mtime_nsec()),
            maybe_sparse: metadata.blocks().saturating_mul(512) < metadata.len(),
        }
    }
}

/// Compiles `--exclude` patterns; `*` does not cross `/`, a leading `/` is ignored.
pub fn compile_excludes(patterns: &[String]) -> Result<GlobSet, SquashfsError> {
    let mut set = GlobSetBuilder::new();
    for pattern in patterns {
        let glob = GlobBuilder::new(pattern.trim_start_matches('/'))
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .map_err(|source| SquashfsError::Exclude {
                pattern: pattern.clone(),
                source,
            })?;
        set.add(glob);
    }
    set.build().map_err(|source| SquashfsError::Exclude {
        pattern: patterns.join(" "),
        source,
    })
}

struct Walker<'a> {
    options: &'a SquashfsOptions,
    exclude: GlobSet,
    tree: Tree,
    /// (device, inode) of files with several names, to give them one inode.
    links: HashMap<(u64, u64), usize>,
}

pub(crate) fn read_tree(source: &Path, options: &SquashfsOptions) -> Result<Tree, SquashfsError> {
    let metadata = fs::symlink_metadata(source).map_err(|e| io_error(source, e))?;
    if !metadata.is_dir() {
        return Err(SquashfsError::NotADirectory(source.to_owned()));
    }
    let mut walker = Walker {
        options,
        exclude: compile_excludes(&options.exclude)?,
        tree: Tree {
            inodes: Vec::new(),
            skipped_xattrs: 0,
        },
        links: HashMap::new(),
    };
    walker.add(source, &metadata, Kind::Dir(Vec::new()))?;
    walker.read_dir(ROOT, Path::new(""))?;
    Ok(walker.tree)
}

impl Walker<'_> {
    fn read_dir(&mut self, dir: usize, relative: &Path) -> Result<(), SquashfsError> {
        let path = self.tree.inodes[dir].path.clone();
        let mut names = Vec::new();
        for entry in fs::read_dir(&path).map_err(|e| io_error(&path, e))? {
            names.push(entry.map_err(|e| io_error(&path, e))?.file_name());
        }
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        let mut children = Vec::with_capacity(names.len());
        for name in names {
            let child_relative = relative.join(&name);
            if self.exclude.is_match(&child_relative) {
                continue;
            }
            let child_path = path.join(&name);
            let metadata =
                fs::symlink_metadata(&child_path).map_err(|e| io_error(&child_path, e))?;
            let child = self.entry(&child_path, &metadata)?;
            children.push((name.as_bytes().to_vec(), child));
            if metadata.is_dir() {
                self.read_dir(child, &child_relative)?;
            }
        }
        self.tree.inodes[dir].kind = Kind::Dir(children);
        Ok(())
    }

    /// The inode for a directory entry: a new one, or the one its hard-link siblings share.
    fn entry(&mut self, path: &Path, metadata: &Metadata) -> Result<usize, SquashfsError> {
        let file_type = metadata.file_type();
        let shared = !file_type.is_dir() && metadata.nlink() > 1;
        if let Some(&inode) = self
            .links
            .get(&(metadata.dev(), metadata.ino()))
            .filter(|_| shared)
        {
            self.tree.inodes[inode].nlink += 1;
            return Ok(inode);
        }
        let rdev = || {
            encode_device(
                rustix::fs::major(metadata.rdev()),
                rustix::fs::minor(metadata.rdev()),
            )
        };
        let kind = if file_type.is_dir() {
            Kind::Dir(Vec::new())
        } else if file_type.is_file() {
            Kind::File(FileSource::of(metadata))
        } else if file_type.is_symlink() {
            let target = fs::read_link(path).map_err(|e| io_error(path, e))?;
            Kind::Symlink(target.into_os_string().into_vec())
        } else if file_type.is_char_device() {
            Kind::CharDevice(rdev())
        } else if file_type.is_block_device() {
            Kind::BlockDevice(rdev())
        } else if file_type.is_fifo() {
            Kind::Fifo
        } else {
            Kind::Socket
        };
        let inode = self.add(path, metadata, kind)?;
        if shared {
            self.links.insert((metadata.dev(), metadata.ino()), inode);
        }
        Ok(inode)
    }

    fn add(
        &mut self,
        path: &Path,
        metadata: &Metadata,
        kind: Kind,
    ) -> Result<usize, SquashfsError> {
        let options = self.options;
        let mut mtime = options
            .mtime
            .unwrap_or_else(|| u32::try_from(metadata.mtime().max(0)).unwrap_or(u32::MAX));
        if let Some(limit) = options.clamp_mtime {
            mtime = mtime.min(limit);
        }
        let (uid, gid) = if options.all_root {
            (0, 0)
        } else {
            (metadata.uid(), metadata.gid())
        };
        let xattrs = self.read_xattrs(path)?;
        self.tree.inodes.push(Inode {
            path: path.to_owned(),
            kind,
            // The type lives in the inode type; squashfs keeps only the permission bits.
            permissions: (metadata.mode() & 0o7777) as u16,
            uid,
            gid,
            mtime,
            nlink: 1,
            xattrs,
        });
        Ok(self.tree.inodes.len() - 1)
    }

    fn read_xattrs(&mut self, path: &Path) -> Result<Vec<Xattr>, SquashfsError> {
        let names = match list_xattrs(path) {
            Ok(names) => names,
            // A source filesystem without xattr support simply has none.
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::OPNOTSUPP.raw_os_error()) => {
                return Ok(Vec::new());
            }
            Err(e) => return Err(io_error(path, e)),
        };
        let mut xattrs = Vec::new();
        for name in names.split(|&b| b == 0).filter(|name| !name.is_empty()) {
            if !storable(name) {
                self.tree.skipped_xattrs += 1;
                continue;
            }
            let value = get_xattr(path, name).map_err(|e| io_error(path, e))?;
            xattrs.push(Xattr {
                name: name.to_vec(),
                value,
            });
        }
        xattrs.sort();
        Ok(xattrs)
    }
}

fn list_xattrs(path: &Path) -> io::Result<Vec<u8>> {
    read_sized(
        || rustix::fs::llistxattr_query(path),
        |buffer| rustix::fs::llistxattr(path, buffer),
    )
}

fn get_xattr(path: &Path, name: &[u8]) -> io::Result<Vec<u8>> {
    let name = OsStr::from_bytes(name);
    read_sized(
        || rustix::fs::lgetxattr_query(path, name),
        |buffer| rustix::fs::lgetxattr(path, name, buffer),
    )
}

/// Asks for the size, then reads; asks again when the value grew in between.
fn read_sized(
    query: impl Fn() -> rustix::io::Result<usize>,
    fill: impl Fn(&mut [u8]) -> rustix::io::Result<usize>,
) -> io::Result<Vec<u8>> {
    loop {
        let mut buffer = vec![0; query()?];
        match fill(&mut buffer) {
            Ok(length) => {
                buffer.truncate(length);
                return Ok(buffer);
            }
            Err(rustix::io::Errno::RANGE) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

pub(crate) fn io_error(path: &Path, source: io::Error) -> SquashfsError {
    SquashfsError::Io {
        path: path.to_owned(),
        source,
    }
}
