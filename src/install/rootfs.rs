//! A handle on the root directory of the image being built.
//!
//! Every path handed to [`RootFs`] is a path *inside* the root, and it is
//! resolved the way the kernel would resolve it after `chroot(root)`:
//! an absolute symlink target starts again at the root, and `..` at the root
//! stays at the root. The resolution is done component by component with
//! `*at` system calls on directory descriptors opened with `O_NOFOLLOW`, so a
//! hostile package can never make us write through a symlink that points at
//! the host's filesystem: we never hand the kernel a path with more than one
//! component, and we never let it follow a link itself.
//!
//! Paths coming from packages must not contain `..` components (dpkg refuses
//! them too); symlink *targets* may, because they are resolved here under
//! chroot semantics.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Gid, Mode, OFlags, Timespec, Timestamps, Uid};
use rustix::io::Errno;
use thiserror::Error;

/// Linux's own limit for symlinks followed in one lookup; beyond it the
/// kernel says `ELOOP`, and so do we.
pub const MAX_SYMLINKS: usize = 40;

/// Suffix of the temporary name a new object is created under before being
/// renamed over the final name; the same one dpkg uses, so a leftover from an
/// interrupted run is recognisable.
const TEMP_SUFFIX: &str = ".dpkg-new";

#[derive(Debug, Error)]
pub enum RootError {
    #[error("cannot open root directory {root}: {source}")]
    OpenRoot { root: PathBuf, source: io::Error },
    #[error("{path}: '..' components are not allowed in package paths")]
    ParentComponent { path: String },
    #[error("{path}: path names nothing inside the root")]
    Empty { path: String },
    #[error("{path}: too many levels of symbolic links (more than {MAX_SYMLINKS})")]
    SymlinkLoop { path: String },
    #[error("{path}: a leading component is not a directory")]
    NotADirectory { path: String },
    #[error("{path}: a leading component does not exist")]
    NotFound { path: String },
    #[error("{path}: is a directory, refusing to replace it with a {kind}")]
    IsADirectory { path: String, kind: &'static str },
    #[error("{path}: exists and is not a directory")]
    ExistsNotDirectory { path: String },
    #[error("{path}: {op}: {source}")]
    Io {
        path: String,
        op: &'static str,
        source: io::Error,
    },
}

fn io_err<'a>(path: &'a str, op: &'static str) -> impl FnOnce(Errno) -> RootError + 'a {
    move |errno| RootError::Io {
        path: path.to_string(),
        op,
        source: errno.into(),
    }
}

/// Ownership, permissions and time for a new filesystem object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// Permission bits including setuid, setgid and sticky (`0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Seconds since the epoch; `None` leaves the time the kernel set.
    pub mtime: Option<i64>,
}

impl Meta {
    /// root:root with the given mode and no particular time.
    pub fn root_owned(mode: u32) -> Self {
        Meta {
            mode,
            uid: 0,
            gid: 0,
            mtime: None,
        }
    }
}

/// Special files that `mknod` creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Fifo,
    CharDevice { major: u32, minor: u32 },
    BlockDevice { major: u32, minor: u32 },
}

/// What a path resolves to when its last component is looked at too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    Missing,
    Directory,
    Symlink,
    Other,
}

/// A file of the image as [`RootFs::real_path`] found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealPath {
    pub host: PathBuf,
    pub is_file: bool,
    pub is_dir: bool,
}

/// An open root directory; see the module documentation for the rules.
#[derive(Debug)]
pub struct RootFs {
    fd: OwnedFd,
    path: PathBuf,
    /// Whether to apply the numeric owners from packages. Only root can, and
    /// an unprivileged test run still wants to exercise everything else.
    chown: bool,
}

/// A path split into components, with `.` and empty components removed and
/// `..` refused: the only form package paths reach the resolver in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InRootPath {
    components: Vec<OsString>,
}

impl InRootPath {
    /// Normalises a package path: `./usr/bin/x`, `/usr/bin/x` and
    /// `usr//bin/./x` all name `<root>/usr/bin/x`; `a/../b` is an error.
    pub fn parse(raw: impl AsRef<OsStr>) -> Result<Self, RootError> {
        let raw = raw.as_ref().as_bytes();
        let mut components = Vec::new();
        for part in raw.split(|b| *b == b'/') {
            match part {
                b"" | b"." => {}
                b".." => {
                    return Err(RootError::ParentComponent {
                        path: String::from_utf8_lossy(raw).into_owned(),
                    });
                }
                name => components.push(OsString::from_vec(name.to_vec())),
            }
        }
        Ok(InRootPath { components })
    }

    /// True for the root itself (`./` in a data tarball).
    pub fn is_root(&self) -> bool {
        self.components.is_empty()
    }

    /// The absolute form dpkg writes in `<pkg>.list`: `/usr/bin/x`, and `/.`
    /// for the root itself.
    pub fn to_list_entry(&self) -> String {
        if self.components.is_empty() {
            return "/.".to_string();
        }
        let mut out = String::new();
        for c in &self.components {
            out.push('/');
            out.push_str(&c.to_string_lossy());
        }
        out
    }

    fn display(&self) -> String {
        self.to_list_entry()
    }
}

/// Result of a walk: either a parent directory plus a final name (which may
/// or may not exist), or a directory reached with no name left over (the root
/// itself, a directory when the last component is followed, or a link whose
/// target ended in `.` or `..`), as an `O_PATH` descriptor.
enum Walked {
    Entry { dir: OwnedFd, name: OsString },
    Dir(OwnedFd),
}

fn open_dir_path(dirfd: &OwnedFd, name: &OsStr) -> Result<OwnedFd, Errno> {
    rfs::openat(
        dirfd,
        name,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

fn temp_name(name: &OsStr) -> OsString {
    let mut tmp = name.to_os_string();
    tmp.push(TEMP_SUFFIX);
    tmp
}

fn timestamps(mtime: i64) -> Timestamps {
    let t = Timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

impl RootFs {
    /// Opens an existing directory as the root. Owners from packages are
    /// applied when running as root.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, RootError> {
        let path = path.as_ref().to_path_buf();
        let fd = rfs::open(
            &path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| RootError::OpenRoot {
            root: path.clone(),
            source: e.into(),
        })?;
        Ok(RootFs {
            fd,
            path,
            chown: rustix::process::geteuid().is_root(),
        })
    }

    /// Chooses whether numeric owners are applied (default: when root).
    pub fn with_chown(mut self, chown: bool) -> Self {
        self.chown = chown;
        self
    }

    /// The host path of the root, for messages and for tools run on it.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn root_dup(&self) -> Result<OwnedFd, Errno> {
        rfs::openat(
            &self.fd,
            ".",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
    }

    /// Resolves `path` inside the root with chroot semantics.
    ///
    /// Leading components that are missing are created as root-owned 0755
    /// directories when `create_parents` is set (dpkg-built tarballs always
    /// list parents first, but hand-made ones need not). The last component
    /// is followed only when `follow_last` is set.
    fn walk(
        &self,
        path: &InRootPath,
        create_parents: bool,
        follow_last: bool,
    ) -> Result<Walked, RootError> {
        let shown = path.display();
        let shown = shown.as_str();
        // The stack holds the directories entered below the root, so `..`
        // is a pop (and a no-op at the root) instead of a lookup of the
        // on-disk `..`, which could lead out of the root.
        let mut stack: Vec<OwnedFd> = Vec::new();
        let mut pending: VecDeque<OsString> = path.components.iter().cloned().collect();
        let mut links_followed = 0usize;

        while let Some(comp) = pending.pop_front() {
            match comp.as_bytes() {
                b"" | b"." => continue,
                b".." => {
                    stack.pop();
                    continue;
                }
                _ => {}
            }
            let top = stack.last().unwrap_or(&self.fd);
            let last = pending.is_empty();
            if last && !follow_last {
                let dir = match stack.pop() {
                    Some(fd) => fd,
                    None => self.root_dup().map_err(io_err(shown, "open root"))?,
                };
                return Ok(Walked::Entry { dir, name: comp });
            }
            match rfs::statat(top, &comp, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => match FileType::from_raw_mode(st.st_mode) {
                    FileType::Symlink => {
                        links_followed += 1;
                        if links_followed > MAX_SYMLINKS {
                            return Err(RootError::SymlinkLoop {
                                path: shown.to_string(),
                            });
                        }
                        let target = rfs::readlinkat(top, &comp, Vec::new())
                            .map_err(io_err(shown, "read symlink"))?;
                        let target = target.as_bytes();
                        if target.starts_with(b"/") {
                            // Chroot semantics: absolute targets are relative
                            // to the image root, never to the host's `/`.
                            stack.clear();
                        }
                        for part in target.split(|b| *b == b'/').rev() {
                            pending.push_front(OsString::from_vec(part.to_vec()));
                        }
                    }
                    FileType::Directory => {
                        let fd =
                            open_dir_path(top, &comp).map_err(io_err(shown, "open directory"))?;
                        stack.push(fd);
                    }
                    _ if last => {
                        let dir = match stack.pop() {
                            Some(fd) => fd,
                            None => self.root_dup().map_err(io_err(shown, "open root"))?,
                        };
                        return Ok(Walked::Entry { dir, name: comp });
                    }
                    _ => {
                        return Err(RootError::NotADirectory {
                            path: shown.to_string(),
                        });
                    }
                },
                Err(Errno::NOENT) if last => {
                    let dir = match stack.pop() {
                        Some(fd) => fd,
                        None => self.root_dup().map_err(io_err(shown, "open root"))?,
                    };
                    return Ok(Walked::Entry { dir, name: comp });
                }
                Err(Errno::NOENT) if create_parents => {
                    match rfs::mkdirat(top, &comp, Mode::from_raw_mode(0o755)) {
                        // Lost a race with nobody in particular: fine.
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(io_err(shown, "create parent directory")(e)),
                    }
                    let fd = open_dir_path(top, &comp).map_err(io_err(shown, "open directory"))?;
                    stack.push(fd);
                }
                Err(Errno::NOENT) => {
                    return Err(RootError::NotFound {
                        path: shown.to_string(),
                    });
                }
                Err(e) => return Err(io_err(shown, "look up")(e)),
            }
        }
        match stack.pop() {
            Some(fd) => Ok(Walked::Dir(fd)),
            None => Ok(Walked::Dir(
                self.root_dup().map_err(io_err(shown, "open root"))?,
            )),
        }
    }

    /// Parent directory and final name for creating `path`.
    fn parent_of(&self, path: &InRootPath) -> Result<(OwnedFd, OsString), RootError> {
        match self.walk(path, true, false)? {
            Walked::Entry { dir, name } => Ok((dir, name)),
            Walked::Dir(_) => Err(RootError::Empty {
                path: path.display(),
            }),
        }
    }

    /// What is at `path`, following every symlink (also the last one).
    pub fn existing(&self, path: &InRootPath) -> Result<Existing, RootError> {
        self.probe(path, true)
    }

    /// What is at `path` itself, without following a final symlink.
    pub fn existing_nofollow(&self, path: &InRootPath) -> Result<Existing, RootError> {
        self.probe(path, false)
    }

    fn probe(&self, path: &InRootPath, follow: bool) -> Result<Existing, RootError> {
        let shown = path.display();
        let walked = match self.walk(path, false, follow) {
            Ok(w) => w,
            Err(RootError::NotFound { .. }) => return Ok(Existing::Missing),
            Err(e) => return Err(e),
        };
        match walked {
            Walked::Dir(_) => Ok(Existing::Directory),
            Walked::Entry { dir, name } => kind_at(&dir, &name, &shown),
        }
    }

    /// Where `path` really is on the host, resolved inside the root with
    /// chroot semantics (every symlink followed, none out of the root):
    /// for readers that need a host path to a file of the image (the
    /// kernel, boot loader files). `None` if it does not exist; the path
    /// holds no symlink, so reading it cannot leave the root.
    pub fn real_path(&self, path: &InRootPath) -> Result<Option<RealPath>, RootError> {
        let shown = path.display();
        let fd = match self.walk(path, false, true) {
            Ok(Walked::Dir(fd)) => fd,
            Ok(Walked::Entry { dir, name }) => {
                match open_entry(&dir, &name, OFlags::PATH, &shown, "open")? {
                    Some(fd) => fd,
                    None => return Ok(None),
                }
            }
            Err(RootError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let kind =
            FileType::from_raw_mode(rfs::fstat(&fd).map_err(io_err(&shown, "stat"))?.st_mode);
        // The kernel's own names for what the descriptors hold; the root's
        // may differ from the path it was opened by (a symlinked parent).
        let real = |fd: &OwnedFd| {
            std::fs::read_link(format!(
                "/proc/self/fd/{}",
                std::os::fd::AsRawFd::as_raw_fd(fd)
            ))
            .map_err(|source| RootError::Io {
                path: shown.clone(),
                op: "find the host path of",
                source,
            })
        };
        let found = real(&fd)?;
        let root = real(&self.fd)?;
        let Ok(relative) = found.strip_prefix(&root) else {
            return Err(RootError::Io {
                path: shown,
                op: "resolve",
                source: io::Error::other(format!(
                    "it resolved outside the root, to {}",
                    found.display()
                )),
            });
        };
        let host = self.path.join(relative);
        Ok(Some(RealPath {
            host,
            is_file: kind == FileType::RegularFile,
            is_dir: kind == FileType::Directory,
        }))
    }

    /// Creates a directory. An existing directory, or a symlink that resolves
    /// (inside the root) to one, is kept as it is, as dpkg does, so the
    /// merged-/usr links survive packages that ship `./lib/`. Returns whether
    /// a directory was created.
    pub fn create_dir(&self, path: &InRootPath, meta: &Meta) -> Result<bool, RootError> {
        if path.is_root() {
            return Ok(false);
        }
        let shown = path.display();
        let (dir, name) = self.parent_of(path)?;
        match kind_at(&dir, &name, &shown)? {
            Existing::Directory => Ok(false),
            Existing::Symlink => match self.existing(path)? {
                Existing::Directory => Ok(false),
                _ => Err(RootError::ExistsNotDirectory { path: shown }),
            },
            Existing::Other => Err(RootError::ExistsNotDirectory { path: shown }),
            Existing::Missing => {
                // Created private, then opened without following links and
                // fixed up through the descriptor: the umask must not decide
                // the final mode, and chown must precede chmod or it would
                // clear setgid.
                rfs::mkdirat(&dir, &name, Mode::from_raw_mode(0o700))
                    .map_err(io_err(&shown, "create directory"))?;
                let fd = rfs::openat(
                    &dir,
                    &name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(io_err(&shown, "open new directory"))?;
                self.apply_meta_fd(&fd, meta, &shown)?;
                Ok(true)
            }
        }
    }

    /// Creates every missing directory of `path` (root-owned, `mode`).
    pub fn create_dir_all(&self, path: &InRootPath, mode: u32) -> Result<(), RootError> {
        self.create_dir(path, &Meta::root_owned(mode)).map(|_| ())
    }

    /// Writes a regular file from a stream: into a temporary name in the same
    /// directory, then renamed over the final name, so a reader never sees a
    /// half-written file and an existing symlink at that name is replaced,
    /// not followed. Returns the number of bytes written.
    pub fn write_file(
        &self,
        path: &InRootPath,
        content: &mut dyn Read,
        meta: &Meta,
    ) -> Result<u64, RootError> {
        let shown = path.display();
        let (dir, name) = self.parent_of(path)?;
        self.refuse_directory(&dir, &name, &shown, "file")?;
        let tmp = temp_name(&name);
        remove_stale(&dir, &tmp, &shown)?;
        let fd = rfs::openat(
            &dir,
            &tmp,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(io_err(&shown, "create file"))?;
        let mut file = File::from(fd);
        let written = match io::copy(content, &mut file) {
            Ok(n) => n,
            Err(source) => {
                let _ = rfs::unlinkat(&dir, &tmp, AtFlags::empty());
                return Err(RootError::Io {
                    path: shown,
                    op: "write file contents",
                    source,
                });
            }
        };
        let fd = OwnedFd::from(file);
        if let Err(e) = self.apply_meta_fd(&fd, meta, &shown) {
            let _ = rfs::unlinkat(&dir, &tmp, AtFlags::empty());
            return Err(e);
        }
        drop(fd);
        self.commit(&dir, &tmp, &name, &shown)?;
        Ok(written)
    }

    /// Convenience for small files the installer itself writes.
    pub fn write_bytes(&self, path: &InRootPath, bytes: &[u8], mode: u32) -> Result<(), RootError> {
        let mut reader = bytes;
        self.write_file(path, &mut reader, &Meta::root_owned(mode))
            .map(|_| ())
    }

    /// Reads a whole file (following symlinks inside the root); `None` if it
    /// does not exist.
    pub fn read(&self, path: &InRootPath) -> Result<Option<Vec<u8>>, RootError> {
        let shown = path.display();
        let (dir, name) = match self.walk(path, false, true) {
            Ok(Walked::Entry { dir, name }) => (dir, name),
            Ok(Walked::Dir(_)) => {
                return Err(RootError::IsADirectory {
                    path: shown,
                    kind: "file to read",
                });
            }
            Err(RootError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(fd) = open_entry(&dir, &name, OFlags::RDONLY, &shown, "open for reading")? else {
            return Ok(None);
        };
        let mut buf = Vec::new();
        File::from(fd)
            .read_to_end(&mut buf)
            .map_err(|source| RootError::Io {
                path: shown,
                op: "read",
                source,
            })?;
        Ok(Some(buf))
    }

    /// Gives a just-created entry (not followed if a link) its owner, when
    /// ownership is applied at all.
    fn chown_entry(
        &self,
        dir: &OwnedFd,
        name: &OsStr,
        meta: &Meta,
        shown: &str,
        what: &'static str,
    ) -> Result<(), RootError> {
        if self.chown {
            rfs::chownat(
                dir,
                name,
                Some(Uid::from_raw(meta.uid)),
                Some(Gid::from_raw(meta.gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(io_err(shown, what))?;
        }
        Ok(())
    }

    /// Creates (or replaces a non-directory with) a symlink. The target is
    /// stored verbatim; it is only ever resolved later, by [`RootFs`] itself
    /// under chroot semantics, or by the kernel inside the chroot.
    pub fn symlink(&self, path: &InRootPath, target: &OsStr, meta: &Meta) -> Result<(), RootError> {
        let shown = path.display();
        let (dir, name) = self.parent_of(path)?;
        self.refuse_directory(&dir, &name, &shown, "symlink")?;
        let tmp = temp_name(&name);
        remove_stale(&dir, &tmp, &shown)?;
        rfs::symlinkat(target, &dir, &tmp).map_err(io_err(&shown, "create symlink"))?;
        self.chown_entry(&dir, &tmp, meta, &shown, "chown symlink")?;
        if let Some(mtime) = meta.mtime {
            rfs::utimensat(&dir, &tmp, &timestamps(mtime), AtFlags::SYMLINK_NOFOLLOW)
                .map_err(io_err(&shown, "set symlink time"))?;
        }
        self.commit(&dir, &tmp, &name, &shown)
    }

    /// Creates `path` as a hard link to `existing`, both inside the root.
    /// The last component of `existing` is not followed: a hard link to a
    /// symlink links the symlink, as tar and dpkg do.
    pub fn hard_link(&self, path: &InRootPath, existing: &InRootPath) -> Result<(), RootError> {
        let shown = path.display();
        let (src_dir, src_name) = match self.walk(existing, false, false)? {
            Walked::Entry { dir, name } => (dir, name),
            Walked::Dir(_) => {
                return Err(RootError::IsADirectory {
                    path: existing.display(),
                    kind: "hard link source",
                });
            }
        };
        let (dir, name) = self.parent_of(path)?;
        self.refuse_directory(&dir, &name, &shown, "hard link")?;
        let tmp = temp_name(&name);
        remove_stale(&dir, &tmp, &shown)?;
        rfs::linkat(&src_dir, &src_name, &dir, &tmp, AtFlags::empty())
            .map_err(io_err(&shown, "create hard link"))?;
        self.commit(&dir, &tmp, &name, &shown)
    }

    /// Creates a fifo or device node (needs root for devices).
    pub fn make_node(
        &self,
        path: &InRootPath,
        kind: NodeKind,
        meta: &Meta,
    ) -> Result<(), RootError> {
        let shown = path.display();
        let (dir, name) = self.parent_of(path)?;
        self.refuse_directory(&dir, &name, &shown, "special file")?;
        let tmp = temp_name(&name);
        remove_stale(&dir, &tmp, &shown)?;
        let (file_type, dev) = match kind {
            NodeKind::Fifo => (FileType::Fifo, 0),
            NodeKind::CharDevice { major, minor } => {
                (FileType::CharacterDevice, rfs::makedev(major, minor))
            }
            NodeKind::BlockDevice { major, minor } => {
                (FileType::BlockDevice, rfs::makedev(major, minor))
            }
        };
        rfs::mknodat(&dir, &tmp, file_type, Mode::from_raw_mode(0o600), dev)
            .map_err(io_err(&shown, "mknod"))?;
        self.chown_entry(&dir, &tmp, meta, &shown, "chown special file")?;
        // Opening a fifo or device to fchmod it could block or have side
        // effects; the name is one we just created in a directory we hold,
        // and no symlink can be there, so chmodat on it is safe.
        rfs::chmodat(
            &dir,
            &tmp,
            Mode::from_raw_mode(meta.mode & 0o7777),
            AtFlags::empty(),
        )
        .map_err(io_err(&shown, "chmod special file"))?;
        if let Some(mtime) = meta.mtime {
            rfs::utimensat(&dir, &tmp, &timestamps(mtime), AtFlags::SYMLINK_NOFOLLOW)
                .map_err(io_err(&shown, "set time"))?;
        }
        self.commit(&dir, &tmp, &name, &shown)
    }

    /// Sets the modification time of `path` itself (not following a final
    /// symlink). Used for directories once all their entries are written.
    pub fn set_mtime(&self, path: &InRootPath, mtime: i64) -> Result<(), RootError> {
        let shown = path.display();
        match self.walk(path, false, false)? {
            Walked::Entry { dir, name } => {
                rfs::utimensat(&dir, &name, &timestamps(mtime), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(io_err(&shown, "set time"))
            }
            Walked::Dir(_) => Ok(()),
        }
    }

    /// Renames `from` to `to` inside the root (neither last component is
    /// followed). Returns whether `from` existed.
    pub fn rename(&self, from: &InRootPath, to: &InRootPath) -> Result<bool, RootError> {
        let shown = from.display();
        let (src_dir, src_name) = match self.walk(from, false, false) {
            Ok(Walked::Entry { dir, name }) => (dir, name),
            Ok(Walked::Dir(_)) | Err(RootError::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        let (dir, name) = self.parent_of(to)?;
        match rfs::renameat(&src_dir, &src_name, &dir, &name) {
            Ok(()) => Ok(true),
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(io_err(&shown, "rename")(e)),
        }
    }

    /// Removes a non-directory at `path` if present (the last component is
    /// not followed). Returns whether something was removed.
    pub fn remove_file(&self, path: &InRootPath) -> Result<bool, RootError> {
        let shown = path.display();
        let (dir, name) = match self.walk(path, false, false) {
            Ok(Walked::Entry { dir, name }) => (dir, name),
            Ok(Walked::Dir(_)) | Err(RootError::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        match rfs::unlinkat(&dir, &name, AtFlags::empty()) {
            Ok(()) => Ok(true),
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(io_err(&shown, "remove")(e)),
        }
    }

    /// Opens what `path` names for reading, following every symlink inside
    /// the root; `None` if it does not exist.
    fn open_followed(
        &self,
        path: &InRootPath,
        flags: OFlags,
    ) -> Result<Option<OwnedFd>, RootError> {
        let shown = path.display();
        let (dir, name) = match self.walk(path, false, true) {
            Ok(Walked::Entry { dir, name }) => (dir, name),
            Ok(Walked::Dir(dir)) => (dir, OsString::from(".")),
            Err(RootError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        // Non-blocking, so that a fifo at that name cannot hang the build.
        let flags = flags | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        match rfs::openat(&dir, &name, flags, Mode::empty()) {
            Ok(fd) => Ok(Some(fd)),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(io_err(&shown, "open")(e)),
        }
    }

    /// Opens the directory `path` (symlinks followed inside the root) for a
    /// library that wants a path, not a descriptor: `/proc/self/fd/N` then
    /// names the directory without a lookup outside the root.
    pub fn open_dir(&self, path: &InRootPath) -> Result<OwnedFd, RootError> {
        let shown = path.display();
        self.open_followed(path, OFlags::DIRECTORY)?
            .ok_or(RootError::NotFound { path: shown })
    }

    /// The names in the directory `path` (symlinks followed inside the root,
    /// as a glob in the chroot would), sorted; empty if it does not exist.
    pub fn list_dir(&self, path: &InRootPath) -> Result<Vec<OsString>, RootError> {
        let shown = path.display();
        let Some(fd) = self.open_followed(path, OFlags::DIRECTORY)? else {
            return Ok(Vec::new());
        };
        let mut dir = rfs::Dir::read_from(&fd).map_err(io_err(&shown, "read directory"))?;
        let mut names = Vec::new();
        while let Some(entry) = dir.read() {
            let entry = entry.map_err(io_err(&shown, "read directory"))?;
            let name = entry.file_name().to_bytes();
            if name != b"." && name != b".." {
                names.push(OsString::from_vec(name.to_vec()));
            }
        }
        names.sort();
        Ok(names)
    }

    /// The target of the symlink at `path` itself; `None` when `path` is
    /// missing or not a symlink.
    pub fn read_link(&self, path: &InRootPath) -> Result<Option<OsString>, RootError> {
        let shown = path.display();
        let (dir, name) = match self.walk(path, false, false) {
            Ok(Walked::Entry { dir, name }) => (dir, name),
            Ok(Walked::Dir(_)) | Err(RootError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        if kind_at(&dir, &name, &shown)? != Existing::Symlink {
            return Ok(None);
        }
        let target =
            rfs::readlinkat(&dir, &name, Vec::new()).map_err(io_err(&shown, "read symlink"))?;
        Ok(Some(OsString::from_vec(target.into_bytes())))
    }

    /// Sets an extended attribute (`security.capability`, say) on the
    /// regular file at `path` itself; a symlink there is not followed.
    /// Applied after the owner, since `chown` clears file capabilities.
    pub fn set_xattr(&self, path: &InRootPath, name: &str, value: &[u8]) -> Result<(), RootError> {
        let shown = path.display();
        let (dir, file) = match self.walk(path, false, false)? {
            Walked::Entry { dir, name } => (dir, name),
            Walked::Dir(_) => {
                return Err(RootError::IsADirectory {
                    path: shown,
                    kind: "extended attribute target",
                });
            }
        };
        let fd = rfs::openat(
            &dir,
            &file,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(io_err(&shown, "open for extended attribute"))?;
        rfs::fsetxattr(&fd, name, value, rfs::XattrFlags::empty())
            .map_err(io_err(&shown, "set extended attribute"))
    }

    /// Gives an existing file or directory (symlinks followed inside the
    /// root) the owner and mode of `meta`.
    pub fn set_meta(&self, path: &InRootPath, meta: &Meta) -> Result<(), RootError> {
        let shown = path.display();
        match self.open_followed(path, OFlags::empty())? {
            Some(fd) => self.apply_meta_fd(&fd, meta, &shown),
            None => Err(RootError::NotFound { path: shown }),
        }
    }

    fn apply_meta_fd(&self, fd: &OwnedFd, meta: &Meta, shown: &str) -> Result<(), RootError> {
        if self.chown {
            rfs::fchown(
                fd,
                Some(Uid::from_raw(meta.uid)),
                Some(Gid::from_raw(meta.gid)),
            )
            .map_err(io_err(shown, "chown"))?;
        }
        rfs::fchmod(fd, Mode::from_raw_mode(meta.mode & 0o7777)).map_err(io_err(shown, "chmod"))?;
        if let Some(mtime) = meta.mtime {
            rfs::futimens(fd, &timestamps(mtime)).map_err(io_err(shown, "set time"))?;
        }
        Ok(())
    }

    fn refuse_directory(
        &self,
        dir: &OwnedFd,
        name: &OsStr,
        shown: &str,
        kind: &'static str,
    ) -> Result<(), RootError> {
        if kind_at(dir, name, shown)? == Existing::Directory {
            return Err(RootError::IsADirectory {
                path: shown.to_string(),
                kind,
            });
        }
        Ok(())
    }

    fn commit(
        &self,
        dir: &OwnedFd,
        tmp: &OsStr,
        name: &OsStr,
        shown: &str,
    ) -> Result<(), RootError> {
        if let Err(e) = rfs::renameat(dir, tmp, dir, name) {
            let _ = rfs::unlinkat(dir, tmp, AtFlags::empty());
            return Err(io_err(shown, "rename into place")(e));
        }
        // rename(2) does nothing when both names are already links to the
        // same inode (re-linking an existing hard link), leaving the
        // temporary name behind.
        let _ = rfs::unlinkat(dir, tmp, AtFlags::empty());
        Ok(())
    }
}

/// Opens the entry `name` of `dir` itself (never a symlink it names) with
/// `flags`; `None` when it does not exist.
fn open_entry(
    dir: &OwnedFd,
    name: &OsStr,
    flags: OFlags,
    shown: &str,
    op: &'static str,
) -> Result<Option<OwnedFd>, RootError> {
    match rfs::openat(
        dir,
        name,
        flags | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(io_err(shown, op)(e)),
    }
}

fn kind_at(dir: &OwnedFd, name: &OsStr, shown: &str) -> Result<Existing, RootError> {
    match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => Existing::Directory,
            FileType::Symlink => Existing::Symlink,
            _ => Existing::Other,
        }),
        Err(Errno::NOENT) => Ok(Existing::Missing),
        Err(e) => Err(io_err(shown, "look up")(e)),
    }
}

fn remove_stale(dir: &OwnedFd, tmp: &OsStr, shown: &str) -> Result<(), RootError> {
    match rfs::unlinkat(dir, tmp, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(io_err(shown, "remove stale temporary")(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> InRootPath {
        InRootPath::parse(s).expect("valid path")
    }

    #[test]
    fn normalises_package_paths() {
        assert_eq!(p("./usr//bin/./x"), p("/usr/bin/x"));
        assert_eq!(p("./").to_list_entry(), "/.");
        assert_eq!(p("./usr/bin/").to_list_entry(), "/usr/bin");
        assert!(matches!(
            InRootPath::parse("usr/../../etc"),
            Err(RootError::ParentComponent { .. })
        ));
    }

    #[test]
    fn absolute_and_dotdot_links_stay_inside() {
        let host = tempfile::tempdir().expect("tempdir");
        let root_dir = host.path().join("root");
        std::fs::create_dir(&root_dir).expect("mkdir");
        let root = RootFs::open(&root_dir).expect("open");
        std::os::unix::fs::symlink("/", root_dir.join("abs")).expect("symlink");
        std::os::unix::fs::symlink("../../..", root_dir.join("up")).expect("symlink");
        root.write_bytes(&p("abs/a"), b"1", 0o644).expect("write");
        root.write_bytes(&p("up/b"), b"2", 0o644).expect("write");
        assert_eq!(std::fs::read(root_dir.join("a")).expect("a"), b"1");
        assert_eq!(std::fs::read(root_dir.join("b")).expect("b"), b"2");
        assert!(!host.path().join("a").exists() && !host.path().join("b").exists());
    }

    #[test]
    fn symlink_loops_are_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::symlink("b", dir.path().join("a")).expect("symlink");
        std::os::unix::fs::symlink("a", dir.path().join("b")).expect("symlink");
        let root = RootFs::open(dir.path()).expect("open");
        assert!(matches!(
            root.write_bytes(&p("a/x"), b"", 0o644),
            Err(RootError::SymlinkLoop { .. })
        ));
    }
}
