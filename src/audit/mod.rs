//! `livecompose audit`: what a provider checks in a template before
//! publishing it, read from the image by our own readers (no mounts, no
//! loop devices, nothing of the image is ever executed or followed out of it).
//!
//! The checks see an image as a read-only [`Tree`]: a list of entries (path,
//! type, mode, owner, size, symlink target) and bounded reads of regular
//! files. Each source kind is one file here: a directory ([`dir`]), a
//! squashfs ([`squashfs`]), a live ISO holding one ([`iso`]), and the ext4
//! root of a raw or qcow2 disk ([`ext4`]).

pub mod dir;
pub mod ext4;
pub mod fstab;
pub mod iso;
pub mod squashfs;

mod checks;
mod rpm;

use std::fmt;
use std::path::{Path, PathBuf};

pub use checks::audit;

/// The most of one file a check reads: shadow files, machine ids and dpkg
/// file lists are far smaller; a bigger one is an error, not a silent cut.
pub const READ_LIMIT: u64 = 64 << 20;

/// What an entry is. Devices, fifos and sockets are `Other`: no check looks
/// at them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    Other,
}

/// One entry of an image, as the checks see it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Relative to the image's root, without a leading `/`, components
    /// separated by `/`; the root itself is never listed.
    pub path: String,
    pub kind: EntryKind,
    /// The permission bits, with setuid, setgid and sticky (`0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub size: u64,
    /// A symlink's target, as stored (never resolved against the host).
    pub link: Option<PathBuf>,
}

/// An image opened read-only.
pub trait Tree {
    /// Every entry, in any order.
    fn entries(&self) -> Result<Vec<Entry>, AuditError>;
    /// The bytes of a regular file (an entry of [`Tree::entries`]), at most
    /// `limit` of them: a longer file is [`AuditError::TooBig`].
    fn read(&self, entry: &Entry, limit: u64) -> Result<Vec<u8>, AuditError>;
    /// What the reader could not show (a file system fstab mounts that is
    /// not on the disk): notes of the report.
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a directory, squashfs, ISO 9660 or disk image", .0.display())]
    UnknownImage(PathBuf),
    #[error("{}: not a disk we can read: {detail}", path.display())]
    BadDisk { path: PathBuf, detail: String },
    #[error("{}: not a squashfs we can read: {detail}", path.display())]
    BadSquashfs { path: PathBuf, detail: String },
    #[error("{}: {detail}", path.display())]
    BadIso { path: PathBuf, detail: String },
    #[error("the image's {0}")]
    RpmDb(crate::install::rpm::DbError),
    #[error("the image's rpm database {path}: a package's file list: {source}")]
    RpmPackage {
        path: String,
        source: crate::install::rpm::PackageError,
    },
    #[error("{path} in the image is bigger than {limit} bytes, more than a check reads")]
    TooBig { path: String, limit: u64 },
}

impl AuditError {
    /// The image given is wrong or of a kind we cannot read (exit 2), rather
    /// than the machine failing us.
    pub fn is_bad_input(&self) -> bool {
        match self {
            AuditError::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
            ),
            _ => true,
        }
    }
}

/// What the caller knows the kickstart asked for, so it is not a finding.
#[derive(Debug, Clone, Copy, Default)]
pub struct Policy {
    /// The kickstart set a root password (`rootpw` without `--lock`).
    pub allow_root_password: bool,
    /// The kickstart's `sshkey` put keys into `authorized_keys`.
    pub allow_authorized_keys: bool,
}

impl Policy {
    /// What `kickstart` asked for: a root password (`rootpw` with one and
    /// without `--lock`), and keys for `authorized_keys` (`sshkey`).
    pub fn from_kickstart(kickstart: &crate::kickstart::Kickstart) -> Self {
        Policy {
            allow_root_password: kickstart
                .rootpw
                .as_ref()
                .is_some_and(|rootpw| rootpw.password.is_some() && !rootpw.lock),
            allow_authorized_keys: !kickstart.sshkeys.is_empty(),
        }
    }
}

/// The audit read the image and found problems. Callers exit with status
/// 3 for it, as for a boot test that ran and failed, so CI tells it from a
/// tool that could not run.
#[derive(Debug, thiserror::Error)]
#[error("{}: {count} finding{}", image.display(), if *count == 1 { "" } else { "s" })]
pub struct Failed {
    pub image: PathBuf,
    pub count: usize,
}

/// What kind of problem a finding is; `as_str` names it in `--json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FindingKind {
    SshHostKey,
    MachineId,
    RootPassword,
    CloudInitState,
    AuthorizedKeys,
    PackageCache,
    BuildLog,
    WorldWritable,
    UnownedSetuid,
}

impl FindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::SshHostKey => "ssh-host-key",
            FindingKind::MachineId => "machine-id",
            FindingKind::RootPassword => "root-password",
            FindingKind::CloudInitState => "cloud-init-state",
            FindingKind::AuthorizedKeys => "authorized-keys",
            FindingKind::PackageCache => "package-cache",
            FindingKind::BuildLog => "build-log",
            FindingKind::WorldWritable => "world-writable",
            FindingKind::UnownedSetuid => "unowned-setuid",
        }
    }
}

/// One problem: what, where (a path in the image, with a leading `/`), and
/// what exactly.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    pub kind: FindingKind,
    pub path: String,
    pub detail: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.kind.as_str(), self.path, self.detail)
    }
}

/// What an audit found, and what it could not check (notes, not findings).
#[derive(Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub notes: Vec<String>,
}

impl Report {
    /// The report for `--json`: `{"image", "findings": [{kind, path,
    /// detail}], "notes": [..]}`.
    pub fn to_json(&self, image: &Path) -> serde_json::Value {
        let findings: Vec<_> = self
            .findings
            .iter()
            .map(|finding| {
                serde_json::json!({
                    "kind": finding.kind.as_str(),
                    "path": finding.path,
                    "detail": finding.detail,
                })
            })
            .collect();
        serde_json::json!({
            "image": image.to_string_lossy(),
            "findings": findings,
            "notes": self.notes,
        })
    }
}

/// Opens an image by what it holds, not by its name: a directory, a squashfs
/// (magic `hsqs`), an ISO 9660 image (`CD001` at 32 KiB + 1; a hybrid ISO's
/// MBR does not make it a disk), a qcow2 disk (`QFI\xfb`), a raw disk.
pub fn open(path: &Path) -> Result<Box<dyn Tree>, AuditError> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let io = |source| AuditError::Io {
        path: path.to_owned(),
        source,
    };
    let metadata = std::fs::metadata(path).map_err(io)?;
    if metadata.is_dir() {
        return Ok(Box::new(dir::DirTree::new(path)));
    }
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut head = [0u8; 4];
    file.read_exact(&mut head)
        .map_err(|_| AuditError::UnknownImage(path.to_owned()))?;
    if head == *b"hsqs" {
        return Ok(Box::new(squashfs::SquashfsTree::open(path, 0)?));
    }
    if head == *b"QFI\xfb" {
        return ext4::open(path, true);
    }
    let mut magic = [0u8; 5];
    let is_iso = file.seek(SeekFrom::Start(0x8001)).is_ok()
        && file.read_exact(&mut magic).is_ok()
        && magic == *b"CD001";
    if is_iso {
        return iso::open(path);
    }
    // A partitioned disk (an MBR signature, protective for GPT) or a bare
    // ext2/3/4 file system (its magic at byte 1080).
    let mut head = [0u8; 1082];
    let is_disk = file.seek(SeekFrom::Start(0)).is_ok()
        && file.read_exact(&mut head).is_ok()
        && (head[510..512] == [0x55, 0xaa] || head[1080..] == [0x53, 0xef]);
    if is_disk {
        return ext4::open(path, false);
    }
    Err(AuditError::UnknownImage(path.to_owned()))
}
