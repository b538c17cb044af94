//! Writing one package's payload into the root, with rpm's policies: header
//! metadata wins over the archive's, owners are names looked up in the
//! image's own account files, `%ghost` files are only recorded, `%config`
//! files already on disk are kept, and docs or languages the caller does
//! not want are left out (and recorded as not installed, as rpm does).
//!
//! The archive only names a file (its path is looked up in the header's
//! file list, so an entry the header does not list is refused) and carries
//! its content; every write goes through [`RootFs`], which refuses `..` and
//! resolves symlinks with chroot semantics.

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;

use thiserror::Error;

use super::RpmInstallOptions;
use super::caps::{self, CapsError};
use super::cpio::{CpioError, CpioReader, EntryName};
use super::package::{FileEntry, PackageError, RpmFile, file_flag};
use crate::install::rootfs::{Existing, InRootPath, Meta, NodeKind, RootError, RootFs};

/// `FILESTATES` values rpm records.
pub const STATE_NORMAL: u8 = 0;
pub const STATE_NOT_INSTALLED: u8 = 2;

#[derive(Debug, Error)]
pub enum ExtractError {
    #[error(transparent)]
    Package(#[from] PackageError),
    #[error(transparent)]
    Cpio(#[from] CpioError),
    #[error(transparent)]
    Root(#[from] RootError),
    #[error(transparent)]
    Caps(#[from] CapsError),
    #[error("the payload has {name:?}, which the header does not list")]
    NotInHeader { name: String },
    #[error("the payload names file index {index}; the header lists {files}")]
    BadIndex { index: u32, files: usize },
    #[error("{path}: listed in the header but missing from the payload")]
    MissingFromPayload { path: String },
    #[error("{path} lies beneath {link}, a symlink of the same package; refusing it")]
    BeneathOwnSymlink { path: String, link: String },
    #[error("{path}: reading its content from the payload: {source}")]
    Content {
        path: String,
        source: std::io::Error,
    },
}

/// User and group names of the image, from its `/etc/passwd` and
/// `/etc/group`.
#[derive(Debug, Default)]
pub struct Accounts {
    users: HashMap<String, u32>,
    groups: HashMap<String, u32>,
}

fn id_table(content: Option<Vec<u8>>) -> HashMap<String, u32> {
    let text = content.unwrap_or_default();
    String::from_utf8_lossy(&text)
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let id = fields.nth(1)?.parse().ok()?;
            Some((name.to_string(), id))
        })
        .collect()
}

impl Accounts {
    /// Reads the account files as they are now (after a `%pre` that may
    /// have added a user).
    pub fn read(root: &RootFs) -> Result<Accounts, RootError> {
        Ok(Accounts {
            users: id_table(root.read(&InRootPath::parse("etc/passwd")?)?),
            groups: id_table(root.read(&InRootPath::parse("etc/group")?)?),
        })
    }
}

/// The result for one package: a `FILESTATES` entry per file, and what is
/// worth telling the user.
#[derive(Debug)]
pub struct Extracted {
    pub states: Vec<u8>,
    pub warnings: Vec<String>,
}

struct Extractor<'a> {
    root: &'a RootFs,
    package: &'a RpmFile,
    accounts: &'a Accounts,
    skipped: Vec<bool>,
    warnings: Vec<String>,
    unknown_names: BTreeSet<String>,
    /// For each file in a hard-link set, the other members.
    link_sets: HashMap<usize, Vec<usize>>,
    /// Per hard-link set (keyed by its first member), the member whose
    /// content is on disk.
    link_written: HashMap<usize, usize>,
    seen: Vec<bool>,
}

fn shown(file: &FileEntry) -> String {
    String::from_utf8_lossy(&file.path).into_owned()
}

fn in_root(file: &FileEntry) -> Result<InRootPath, RootError> {
    InRootPath::parse(OsStr::from_bytes(&file.path))
}

pub(super) const S_IFMT: u32 = 0o170000;
const S_IFDIR: u32 = 0o040000;
pub(super) const S_IFREG: u32 = 0o100000;
pub(super) const S_IFLNK: u32 = 0o120000;
pub(super) const S_IFCHR: u32 = 0o020000;
pub(super) const S_IFBLK: u32 = 0o060000;
const S_IFIFO: u32 = 0o010000;

/// Whether `policy` leaves `file` out of the image (`%_excludedocs`,
/// `%_install_langs`): rpm neither writes it nor checks it for conflicts.
pub(super) fn left_out(policy: &RpmInstallOptions, file: &FileEntry) -> bool {
    (policy.exclude_docs && file.flags & file_flag::DOC != 0)
        || match &policy.install_langs {
            Some(langs) => !file.lang.is_empty() && !langs.contains(&file.lang),
            None => false,
        }
}

/// Installs `package`'s payload into `root`.
pub fn extract(
    root: &RootFs,
    package: &RpmFile,
    accounts: &Accounts,
    policy: &RpmInstallOptions,
) -> Result<Extracted, ExtractError> {
    let files = &package.files;
    let skipped: Vec<bool> = files.iter().map(|f| left_out(policy, f)).collect();
    // Hard links: regular files sharing (device, inode).
    let mut by_inode: HashMap<(u64, u64), Vec<usize>> = HashMap::new();
    for (i, f) in files.iter().enumerate() {
        if f.mode & S_IFMT == S_IFREG && f.flags & file_flag::GHOST == 0 {
            by_inode.entry((f.device, f.inode)).or_default().push(i);
        }
    }
    let mut link_sets = HashMap::new();
    for members in by_inode.into_values().filter(|m| m.len() > 1) {
        for &m in &members {
            link_sets.insert(m, members.clone());
        }
    }
    let mut extractor = Extractor {
        root,
        package,
        accounts,
        skipped,
        warnings: Vec::new(),
        unknown_names: BTreeSet::new(),
        link_sets,
        link_written: HashMap::new(),
        seen: vec![false; files.len()],
    };
    extractor.run()?;
    let states = extractor
        .skipped
        .iter()
        .map(|s| {
            if *s {
                STATE_NOT_INSTALLED
            } else {
                STATE_NORMAL
            }
        })
        .collect();
    Ok(Extracted {
        states,
        warnings: extractor.warnings,
    })
}

/// A package that lists a file beneath one of its own symlinks means to
/// write through the link; rpmbuild never makes one from a sane build
/// root. [`RootFs`] would keep the write inside the root anyway (the link
/// is resolved as in a chroot), but such a package is hostile or broken,
/// so it is refused before anything of it is written.
fn refuse_files_beneath_own_symlinks(files: &[FileEntry]) -> Result<(), ExtractError> {
    let links: BTreeSet<&[u8]> = files
        .iter()
        .filter(|f| f.mode & S_IFMT == S_IFLNK)
        .map(|f| f.path.strip_suffix(b"/").unwrap_or(&f.path))
        .collect();
    if links.is_empty() {
        return Ok(());
    }
    for file in files {
        let path = &file.path;
        for (at, _) in path.iter().enumerate().filter(|(_, b)| **b == b'/') {
            if at > 0 && links.contains(&path[..at]) {
                return Err(ExtractError::BeneathOwnSymlink {
                    path: shown(file),
                    link: String::from_utf8_lossy(&path[..at]).into_owned(),
                });
            }
        }
    }
    Ok(())
}

impl Extractor<'_> {
    fn run(&mut self) -> Result<(), ExtractError> {
        let files = &self.package.files;
        if files.is_empty() {
            return Ok(());
        }
        // Every path is checked before anything is written: a package
        // with one bad path leaves no trace.
        for file in files {
            in_root(file)?;
        }
        refuse_files_beneath_own_symlinks(files)?;
        let by_path: HashMap<&[u8], usize> = files
            .iter()
            .enumerate()
            .map(|(i, f)| (f.path.as_slice(), i))
            .collect();
        let mut cpio = CpioReader::new(self.package.payload()?);
        let mut dirs = Vec::new();
        while let Some(entry) = cpio.next_entry()? {
            let index = match entry {
                EntryName::Path { name, .. } => {
                    // rpm archives `./usr/bin/x` for `/usr/bin/x`.
                    let key = name.strip_prefix(b".").unwrap_or(&name);
                    *by_path.get(key).ok_or_else(|| ExtractError::NotInHeader {
                        name: String::from_utf8_lossy(&name).into_owned(),
                    })?
                }
                EntryName::Index(index) => {
                    let i = index as usize;
                    let file = files.get(i).ok_or(ExtractError::BadIndex {
                        index,
                        files: files.len(),
                    })?;
                    cpio.set_size(if self.carries_content(i) {
                        file.size
                    } else {
                        0
                    });
                    i
                }
            };
            self.seen[index] = true;
            let file = &files[index];
            if file.mode & S_IFMT == S_IFDIR && !self.skipped[index] {
                dirs.push(index);
            }
            self.place(index, &mut cpio.content())?;
        }
        for (i, file) in files.iter().enumerate() {
            if !self.seen[i] && file.flags & file_flag::GHOST == 0 {
                return Err(ExtractError::MissingFromPayload { path: shown(file) });
            }
        }
        // Directory times last, once nothing more is written into them.
        for i in dirs {
            self.root.set_mtime(&in_root(&files[i])?, files[i].mtime)?;
        }
        Ok(())
    }

    /// Whether a stripped entry carries content: rpm stores a hard-link
    /// set's content with the last member it archives.
    fn carries_content(&self, index: usize) -> bool {
        match self.link_sets.get(&index) {
            Some(members) => members.iter().all(|&m| m == index || self.seen[m]),
            None => true,
        }
    }

    fn meta(&mut self, file: &FileEntry) -> Meta {
        let uid = self.id(&file.user, true);
        let gid = self.id(&file.group, false);
        Meta {
            mode: file.mode & 0o7777,
            uid,
            gid,
            mtime: Some(file.mtime),
        }
    }

    /// A user or group id by name; unknown names fall back to root with a
    /// warning, as rpm does.
    fn id(&mut self, name: &str, user: bool) -> u32 {
        let table = if user {
            &self.accounts.users
        } else {
            &self.accounts.groups
        };
        if let Some(id) = table.get(name) {
            return *id;
        }
        if name != "root" && self.unknown_names.insert(format!("{user}{name}")) {
            self.warnings.push(format!(
                "{}: {} {name} does not exist, using root",
                self.package.name,
                if user { "user" } else { "group" }
            ));
        }
        0
    }

    fn place(&mut self, index: usize, content: &mut dyn Read) -> Result<(), ExtractError> {
        let file = &self.package.files[index];
        if file.flags & file_flag::GHOST != 0 {
            return Ok(());
        }
        let path = in_root(file)?;
        let root = self.root;
        match file.mode & S_IFMT {
            S_IFREG => return self.place_regular(index, &path, content),
            _ if self.skipped[index] => {}
            S_IFDIR => {
                let meta = self.meta(file);
                if !root.create_dir(&path, &meta)? {
                    // The package owns the directory: it gets the
                    // package's owner and mode even if it was there.
                    root.set_meta(
                        &path,
                        &Meta {
                            mtime: None,
                            ..meta
                        },
                    )?;
                }
            }
            S_IFLNK => {
                let meta = self.meta(file);
                root.symlink(&path, OsStr::from_bytes(&file.link_to), &meta)?;
            }
            kind @ (S_IFCHR | S_IFBLK | S_IFIFO) => {
                let (major, minor) = ((file.rdev >> 8) & 0xff, file.rdev & 0xff);
                let node = match kind {
                    S_IFCHR => NodeKind::CharDevice { major, minor },
                    S_IFBLK => NodeKind::BlockDevice { major, minor },
                    _ => NodeKind::Fifo,
                };
                let meta = self.meta(file);
                root.make_node(&path, node, &meta)?;
            }
            _ => self.warnings.push(format!(
                "{}: {} is a socket or of unknown type; not created",
                self.package.name,
                shown(file)
            )),
        }
        Ok(())
    }

    fn place_regular(
        &mut self,
        index: usize,
        path: &InRootPath,
        content: &mut dyn Read,
    ) -> Result<(), ExtractError> {
        let file = &self.package.files[index];
        let Some(members) = self.link_sets.get(&index).cloned() else {
            if !self.skipped[index] {
                self.write_regular(index, path, content)?;
            }
            return Ok(());
        };
        // A hard-link set: the content comes with the last member archived;
        // every wanted member is linked to the first one written.
        let key = members[0];
        let has_content = self.carries_content(index) || file.size == 0;
        if let Some(&written) = self.link_written.get(&key) {
            if !self.skipped[index] {
                self.root
                    .hard_link(path, &in_root(&self.package.files[written])?)?;
            }
            return Ok(());
        }
        if !has_content {
            return Ok(());
        }
        let Some(&target) = members
            .iter()
            .find(|&&m| !self.skipped[m] && (self.seen[m] || m == index))
        else {
            return Ok(());
        };
        let target_path = in_root(&self.package.files[target])?;
        self.write_regular(target, &target_path, content)?;
        self.link_written.insert(key, target);
        for &m in &members {
            if m != target && self.seen[m] && !self.skipped[m] {
                self.root
                    .hard_link(&in_root(&self.package.files[m])?, &target_path)?;
            }
        }
        Ok(())
    }

    fn write_regular(
        &mut self,
        index: usize,
        path: &InRootPath,
        content: &mut dyn Read,
    ) -> Result<(), ExtractError> {
        let file = &self.package.files[index];
        let meta = self.meta(file);
        let content_err = |source| ExtractError::Content {
            path: shown(file),
            source,
        };
        let mut target = path.clone();
        if file.flags & file_flag::CONFIG != 0
            && self.root.existing_nofollow(path)? == Existing::Other
        {
            // A configuration file already there (from the kickstart's
            // overlay, say) is the admin's: keep it unless identical.
            let mut new = Vec::new();
            content.read_to_end(&mut new).map_err(content_err)?;
            if self.root.read(path)?.as_deref() != Some(&new[..]) {
                let shown = shown(file);
                if file.flags & file_flag::NOREPLACE != 0 {
                    target = InRootPath::parse(format!("{shown}.rpmnew"))?;
                    self.warnings
                        .push(format!("{shown} created as {shown}.rpmnew"));
                } else {
                    self.root
                        .rename(path, &InRootPath::parse(format!("{shown}.rpmorig"))?)?;
                    self.warnings
                        .push(format!("{shown} saved as {shown}.rpmorig"));
                }
            }
            self.root.write_file(&target, &mut &new[..], &meta)?;
        } else {
            self.root.write_file(&target, content, &meta)?;
        }
        if !file.caps.is_empty() {
            let value = caps::xattr_value(&file.caps)?;
            self.root.set_xattr(&target, caps::XATTR_NAME, &value)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::id_table;

    #[test]
    fn account_files_map_names_to_ids() {
        let table = id_table(Some(
            b"root:x:0:0::/root:/bin/sh\nsvc:x:901:901::/:/bin/false\nbroken\n".to_vec(),
        ));
        assert_eq!(table.get("svc"), Some(&901));
        assert_eq!(table.get("root"), Some(&0));
        assert_eq!(table.len(), 2);
    }
}
