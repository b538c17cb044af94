//! Reading `.deb` files: the `ar` container, the control archive, and a
//! streamed extraction of the data archive into a [`RootFs`].
//!
//! Layout (deb(5)): `debian-binary` (`2.0\n`), then `control.tar[.gz|.xz|.zst]`,
//! then `data.tar[.gz|.xz|.zst|.bz2]`. Members whose names start with `_` may
//! sit between them and are ignored, as dpkg does.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};
use thiserror::Error;

use super::deb822::{self, Paragraph};
use super::rootfs::{InRootPath, Meta, NodeKind, RootError, RootFs};
use crate::compression::Compression;

/// The control archive is read into memory; its members are small text
/// files. This bounds what a hostile package can make us allocate.
const MAX_CONTROL_BYTES: u64 = 64 << 20;

/// Maintainer scripts and other control members dpkg keeps in its `info`
/// directory. `control` itself goes to the status file instead.
pub const MAINTAINER_SCRIPTS: &[&str] = &["preinst", "postinst", "prerm", "postrm", "config"];

#[derive(Debug, Error)]
pub enum DebError {
    #[error("{package}: cannot open: {source}")]
    Open { package: PathBuf, source: io::Error },
    #[error("{package}: member {member}: read error: {source}")]
    Read {
        package: PathBuf,
        member: String,
        source: io::Error,
    },
    #[error("{package}: not a valid .deb: {reason}")]
    Format { package: PathBuf, reason: String },
    #[error("{package}: member {member}: {reason}")]
    Member {
        package: PathBuf,
        member: String,
        reason: String,
    },
    #[error("{package}: member {member}: entry {entry}: {source}")]
    Extract {
        package: PathBuf,
        member: String,
        entry: String,
        source: RootError,
    },
}

/// One file of the control archive other than `control`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlFile {
    pub name: String,
    pub data: Vec<u8>,
    pub mode: u32,
}

/// An opened `.deb` whose control part has been read; the data part is
/// still unread in the file, to be streamed by [`DebPackage::unpack`].
pub struct DebPackage {
    path: PathBuf,
    control: Paragraph,
    control_files: BTreeMap<String, ControlFile>,
    conffiles: Vec<String>,
    archive: ar::Archive<BufReader<File>>,
}

impl std::fmt::Debug for DebPackage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DebPackage")
            .field("path", &self.path)
            .field("control", &self.control)
            .field("control_files", &self.control_files.keys())
            .finish_non_exhaustive()
    }
}

/// What unpacking the data archive did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unpacked {
    /// Every path in archive order, as dpkg writes them in `<pkg>.list`.
    pub paths: Vec<String>,
    /// MD5 (lower-case hex) of every regular file and hard link as
    /// written, in archive order, by absolute path: what dpkg generates as
    /// `<pkg>.md5sums` for packages that ship none, and the conffile hashes
    /// for the status file.
    pub md5: Vec<(String, String)>,
}

fn member_name(raw: &[u8]) -> String {
    // GNU ar terminates names with '/'; dpkg-deb pads with spaces.
    let s = String::from_utf8_lossy(raw);
    s.trim_end_matches(' ').trim_end_matches('/').to_string()
}

impl DebPackage {
    /// Opens a `.deb` and reads `debian-binary` and the control archive.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, DebError> {
        let path = path.as_ref().to_path_buf();
        let file = File::open(&path).map_err(|source| DebError::Open {
            package: path.clone(),
            source,
        })?;
        let mut archive = ar::Archive::new(BufReader::new(file));
        let format = |reason: &str| DebError::Format {
            package: path.clone(),
            reason: reason.to_string(),
        };

        // debian-binary must be first.
        let mut version = Vec::new();
        {
            let mut entry = archive
                .next_entry()
                .ok_or_else(|| format("empty ar archive"))?
                .map_err(|e| format(&format!("not an ar archive: {e}")))?;
            let name = member_name(entry.header().identifier());
            if name != "debian-binary" {
                return Err(format(&format!(
                    "first member is {name:?}, expected debian-binary"
                )));
            }
            (&mut entry)
                .take(64)
                .read_to_end(&mut version)
                .map_err(|source| DebError::Read {
                    package: path.clone(),
                    member: name,
                    source,
                })?;
        }
        let first_line = version.split(|b| *b == b'\n').next().unwrap_or_default();
        if first_line != b"2.0" {
            return Err(format(&format!(
                "unsupported format version {:?}, expected 2.0",
                String::from_utf8_lossy(first_line)
            )));
        }

        let mut control_text = None;
        let mut control_files = BTreeMap::new();
        loop {
            let mut entry = match archive.next_entry() {
                Some(Ok(entry)) => entry,
                Some(Err(e)) => return Err(format(&format!("corrupt ar archive: {e}"))),
                None => return Err(format("no control.tar member")),
            };
            let name = member_name(entry.header().identifier());
            if name.starts_with('_') {
                continue;
            }
            let Some(compression) = Compression::after(&name, "control.tar") else {
                return Err(format(&format!(
                    "member {name:?} where control.tar was expected"
                )));
            };
            let member_err = |reason: String| DebError::Member {
                package: path.clone(),
                member: name.clone(),
                reason,
            };
            let decoder = compression
                .decoder(&mut entry)
                .map_err(|e| member_err(format!("cannot start decompression: {e}")))?;
            let mut tar = tar::Archive::new(decoder.take(MAX_CONTROL_BYTES));
            let entries = tar
                .entries()
                .map_err(|e| member_err(format!("not a tar archive: {e}")))?;
            for tar_entry in entries {
                let mut tar_entry =
                    tar_entry.map_err(|e| member_err(format!("corrupt tar: {e}")))?;
                if !tar_entry.header().entry_type().is_file() {
                    continue;
                }
                let entry_path = tar_entry.path_bytes().into_owned();
                let file_name = InRootPath::parse(OsStr::from_bytes(&entry_path))
                    .map_err(|e| member_err(e.to_string()))?
                    .to_list_entry();
                let file_name = file_name.trim_start_matches('/').to_string();
                if file_name.contains('/') {
                    // dpkg ignores subdirectories of the control archive.
                    continue;
                }
                let mode = tar_entry.header().mode().unwrap_or(0o644) & 0o7777;
                let mut data = Vec::new();
                tar_entry
                    .read_to_end(&mut data)
                    .map_err(|e| member_err(format!("{file_name}: {e}")))?;
                if !valid_control_member(&file_name) {
                    return Err(member_err(format!(
                        "control member {file_name:?} has a name dpkg would not accept"
                    )));
                }
                if file_name == "control" {
                    control_text = Some(data);
                } else {
                    control_files.insert(
                        file_name.clone(),
                        ControlFile {
                            name: file_name,
                            data,
                            mode,
                        },
                    );
                }
            }
            break;
        }

        let control_text = control_text.ok_or_else(|| format("control.tar has no control file"))?;
        let control_text =
            String::from_utf8(control_text).map_err(|_| format("control file is not UTF-8"))?;
        let mut paragraphs =
            deb822::parse(&control_text).map_err(|e| format(&format!("control file: {e}")))?;
        if paragraphs.len() != 1 {
            return Err(format(&format!(
                "control file has {} paragraphs, expected 1",
                paragraphs.len()
            )));
        }
        let control = paragraphs.remove(0);
        for required in ["Package", "Version", "Architecture"] {
            if control.get(required).is_none_or(|v| v.trim().is_empty()) {
                return Err(format(&format!("control file lacks {required}")));
            }
        }

        let conffiles = control_files
            .get("conffiles")
            .map(|f| parse_conffiles(&f.data))
            .unwrap_or_default();

        Ok(DebPackage {
            path,
            control,
            control_files,
            conffiles,
            archive,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `Package:` from the control file.
    pub fn name(&self) -> &str {
        self.control.get("Package").unwrap_or_default().trim()
    }

    pub fn version(&self) -> &str {
        self.control.get("Version").unwrap_or_default().trim()
    }

    pub fn architecture(&self) -> &str {
        self.control.get("Architecture").unwrap_or_default().trim()
    }

    /// Whether several architectures of this package can be installed at
    /// once; dpkg then names its info files `<pkg>:<arch>.*`.
    pub fn is_multi_arch_same(&self) -> bool {
        self.control
            .get("Multi-Arch")
            .is_some_and(|v| v.trim() == "same")
    }

    /// A control field's raw value (continuation lines included).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.control.get(name)
    }

    /// All control fields in file order.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.control.fields()
    }

    pub(crate) fn control_paragraph(&self) -> &Paragraph {
        &self.control
    }

    /// Absolute paths of the package's conffiles.
    pub fn conffiles(&self) -> &[String] {
        &self.conffiles
    }

    /// Contents of the `md5sums` control file, if shipped.
    pub fn md5sums(&self) -> Option<&[u8]> {
        self.control_file("md5sums")
    }

    /// A maintainer script (`preinst`, `postinst`, `prerm`, `postrm`,
    /// `config`) or any other control member (`triggers`, `shlibs`, ...).
    pub fn control_file(&self, name: &str) -> Option<&[u8]> {
        self.control_files.get(name).map(|f| f.data.as_slice())
    }

    /// Every control member except `control`, by name.
    pub fn control_files(&self) -> impl Iterator<Item = &ControlFile> {
        self.control_files.values()
    }

    /// Streams the data archive into `root`. The file is read forward only,
    /// so this can be done once per opened package.
    pub fn unpack(&mut self, root: &RootFs) -> Result<Unpacked, DebError> {
        self.unpack_except(root, &BTreeSet::new())
    }

    /// [`DebPackage::unpack`], leaving out the entries at `skip` (list
    /// entries, `/usr/bin/x`): files another package keeps, which dpkg
    /// neither writes nor lists for this one.
    pub fn unpack_except(
        &mut self,
        root: &RootFs,
        skip: &BTreeSet<Vec<u8>>,
    ) -> Result<Unpacked, DebError> {
        self.with_data(|data| extract_tar(root, data, skip))
    }

    /// What the data archive holds, by list entry in archive order, without
    /// writing anything: for the file-conflict check before unpacking.
    /// `hash` asks for the MD5 of regular files (needed to compare the
    /// instances of a `Multi-Arch: same` package). Like
    /// [`DebPackage::unpack`], this reads the data archive once.
    pub fn data_entries(&mut self, hash: bool) -> Result<Vec<(String, DataEntry)>, DebError> {
        self.with_data(|data| list_tar(data, hash))
    }

    /// Finds the data member and runs `read` on its decompressed stream.
    fn with_data<T>(
        &mut self,
        read: impl FnOnce(&mut dyn Read) -> Result<T, ExtractError>,
    ) -> Result<T, DebError> {
        let path = self.path.clone();
        loop {
            let mut entry = match self.archive.next_entry() {
                Some(Ok(entry)) => entry,
                Some(Err(e)) => {
                    return Err(DebError::Format {
                        package: path,
                        reason: format!("corrupt ar archive: {e}"),
                    });
                }
                None => {
                    return Err(DebError::Format {
                        package: path,
                        reason: "no data.tar member".to_string(),
                    });
                }
            };
            let name = member_name(entry.header().identifier());
            if name.starts_with('_') {
                continue;
            }
            let Some(compression) = Compression::after(&name, "data.tar") else {
                return Err(DebError::Format {
                    package: path,
                    reason: format!("member {name:?} where data.tar was expected"),
                });
            };
            return compression
                .decode_ahead(&mut entry, read)
                .map_err(|e| match e {
                    ExtractError::Tar(source) => DebError::Read {
                        package: path.clone(),
                        member: name.clone(),
                        source,
                    },
                    ExtractError::Entry { entry, source } => DebError::Extract {
                        package: path.clone(),
                        member: name.clone(),
                        entry,
                        source,
                    },
                });
        }
    }
}

/// Control members become `info/<pkg>.<member>`: a name outside dpkg's
/// character set, or `list` (our own file list), could overwrite another
/// database file.
fn valid_control_member(name: &str) -> bool {
    !name.is_empty()
        && name != "list"
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !name.starts_with('.')
}

/// `conffiles` lists one absolute path a line; dpkg ≥ 1.20 allows a
/// `remove-on-upgrade` flag before the path, which we drop.
fn parse_conffiles(data: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(data)
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            if line.is_empty() {
                return None;
            }
            let path = line.rsplit(' ').next().unwrap_or(line);
            Some(path.to_string())
        })
        .collect()
}

/// Why extracting a tar stream stopped.
#[derive(Debug, Error)]
pub enum ExtractError {
    #[error("tar stream: {0}")]
    Tar(io::Error),
    #[error("entry {entry}: {source}")]
    Entry { entry: String, source: RootError },
}

/// A reader that hashes what passes through it.
struct HashingReader<'a, R> {
    inner: R,
    hasher: &'a mut Md5,
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a data archive entry is, for the file-conflict check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataEntry {
    Directory,
    /// A regular file, with its MD5 (lower-case hex) when it was asked for.
    File {
        md5: Option<String>,
    },
    Symlink {
        target: Vec<u8>,
    },
    /// A hard link to an earlier entry, by its list entry.
    HardLink {
        target: String,
    },
    /// A device node or a fifo.
    Node,
}

/// The entry's path inside the root and as shown in messages, or `None`
/// for the tar format's own metadata entries (pax headers, GNU long
/// names), which name no file.
fn entry_path<R: Read>(
    entry: &tar::Entry<'_, R>,
) -> Result<Option<(InRootPath, String)>, ExtractError> {
    let entry_type = entry.header().entry_type();
    if entry_type.is_pax_global_extensions()
        || entry_type.is_pax_local_extensions()
        || entry_type.is_gnu_longname()
        || entry_type.is_gnu_longlink()
    {
        return Ok(None);
    }
    let raw_path = entry.path_bytes();
    let shown = String::from_utf8_lossy(&raw_path).into_owned();
    let path =
        InRootPath::parse(OsStr::from_bytes(&raw_path)).map_err(|source| ExtractError::Entry {
            entry: shown.clone(),
            source,
        })?;
    Ok(Some((path, shown)))
}

/// Lists a (decompressed) tar stream as [`DebPackage::data_entries`] does.
fn list_tar(reader: &mut dyn Read, hash: bool) -> Result<Vec<(String, DataEntry)>, ExtractError> {
    let mut archive = tar::Archive::new(reader);
    let mut listed = Vec::new();
    for entry in archive.entries().map_err(ExtractError::Tar)? {
        let mut entry = entry.map_err(ExtractError::Tar)?;
        let Some((path, shown)) = entry_path(&entry)? else {
            continue;
        };
        let entry_type = entry.header().entry_type();
        let kind = if entry_type.is_dir() {
            DataEntry::Directory
        } else if entry_type.is_file() || entry_type.is_contiguous() {
            let md5 = if hash {
                let mut hasher = Md5::new();
                let mut hashing = HashingReader {
                    inner: &mut entry,
                    hasher: &mut hasher,
                };
                io::copy(&mut hashing, &mut io::sink()).map_err(ExtractError::Tar)?;
                Some(hex(&hasher.finalize()))
            } else {
                None
            };
            DataEntry::File { md5 }
        } else if entry_type.is_symlink() || entry_type.is_hard_link() {
            let target = entry
                .link_name_bytes()
                .ok_or_else(|| missing_link(&shown))?
                .into_owned();
            if entry_type.is_symlink() {
                DataEntry::Symlink { target }
            } else {
                let target = InRootPath::parse(OsStr::from_bytes(&target))
                    .map_err(|source| ExtractError::Entry {
                        entry: shown.clone(),
                        source,
                    })?
                    .to_list_entry();
                DataEntry::HardLink { target }
            }
        } else {
            DataEntry::Node
        };
        listed.push((path.to_list_entry(), kind));
    }
    Ok(listed)
}

/// Extracts a (decompressed) tar stream into `root`, entry by entry, with the
/// rules of [`RootFs`]. Regular files are hashed while written. Entries whose
/// list entry is in `skip` are neither written nor listed.
///
/// Directory times are set at the end: creating entries inside a directory
/// changes its mtime.
pub fn extract_tar<R: Read>(
    root: &RootFs,
    reader: R,
    skip: &BTreeSet<Vec<u8>>,
) -> Result<Unpacked, ExtractError> {
    let mut archive = tar::Archive::new(reader);
    let mut unpacked = Unpacked::default();
    let mut dir_times: Vec<(InRootPath, i64)> = Vec::new();
    let mut md5_by_path: BTreeMap<String, String> = BTreeMap::new();
    let entries = archive.entries().map_err(ExtractError::Tar)?;
    for entry in entries {
        let mut entry = entry.map_err(ExtractError::Tar)?;
        let Some((path, shown)) = entry_path(&entry)? else {
            continue;
        };
        let list_entry = path.to_list_entry();
        if skip.contains(list_entry.as_bytes()) {
            continue;
        }
        let at = |source: RootError| ExtractError::Entry {
            entry: shown.clone(),
            source,
        };
        let header = entry.header();
        let entry_type = header.entry_type();
        let meta = header_meta(header).map_err(|e| ExtractError::Entry {
            entry: shown.clone(),
            source: RootError::Io {
                path: shown.clone(),
                op: "read tar header",
                source: e,
            },
        })?;

        if entry_type.is_dir() {
            if root.create_dir(&path, &meta).map_err(at)?
                && let Some(mtime) = meta.mtime
            {
                dir_times.push((path, mtime));
            }
        } else if entry_type.is_file() || entry_type.is_contiguous() {
            // Hashing while writing costs little next to decompression and
            // spares a second read of every file.
            let mut hasher = Md5::new();
            let mut hashing = HashingReader {
                inner: &mut entry,
                hasher: &mut hasher,
            };
            root.write_file(&path, &mut hashing, &meta).map_err(at)?;
            let digest = hex(&hasher.finalize());
            md5_by_path.insert(list_entry.clone(), digest.clone());
            unpacked.md5.push((list_entry.clone(), digest));
        } else if entry_type.is_symlink() {
            let target = entry
                .link_name_bytes()
                .ok_or_else(|| missing_link(&shown))?
                .into_owned();
            root.symlink(&path, OsStr::from_bytes(&target), &meta)
                .map_err(at)?;
        } else if entry_type.is_hard_link() {
            let target = entry
                .link_name_bytes()
                .ok_or_else(|| missing_link(&shown))?
                .into_owned();
            let target = InRootPath::parse(OsStr::from_bytes(&target)).map_err(at)?;
            root.hard_link(&path, &target).map_err(at)?;
            if let Some(digest) = md5_by_path.get(&target.to_list_entry()).cloned() {
                md5_by_path.insert(list_entry.clone(), digest.clone());
                unpacked.md5.push((list_entry.clone(), digest));
            }
        } else if entry_type.is_character_special()
            || entry_type.is_block_special()
            || entry_type.is_fifo()
        {
            let kind = node_kind(header).map_err(|e| ExtractError::Entry {
                entry: shown.clone(),
                source: RootError::Io {
                    path: shown.clone(),
                    op: "read device numbers",
                    source: e,
                },
            })?;
            root.make_node(&path, kind, &meta).map_err(at)?;
        } else {
            return Err(ExtractError::Entry {
                entry: shown.clone(),
                source: RootError::Io {
                    path: shown.clone(),
                    op: "extract",
                    source: io::Error::new(
                        io::ErrorKind::Unsupported,
                        format!(
                            "unsupported tar entry type {:?}",
                            entry_type.as_byte() as char
                        ),
                    ),
                },
            });
        }
        unpacked.paths.push(list_entry);
    }
    // Deepest first would not matter: setting a directory's time does not
    // change its parent's.
    for (path, mtime) in dir_times {
        root.set_mtime(&path, mtime)
            .map_err(|source| ExtractError::Entry {
                entry: path.to_list_entry(),
                source,
            })?;
    }
    Ok(unpacked)
}

fn missing_link(shown: &str) -> ExtractError {
    ExtractError::Entry {
        entry: shown.to_string(),
        source: RootError::Io {
            path: shown.to_string(),
            op: "read link target",
            source: io::Error::new(io::ErrorKind::InvalidData, "link entry without a target"),
        },
    }
}

fn header_meta(header: &tar::Header) -> io::Result<Meta> {
    let too_big =
        |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("{what} out of range"));
    let uid = u32::try_from(header.uid()?).map_err(|_| too_big("uid"))?;
    let gid = u32::try_from(header.gid()?).map_err(|_| too_big("gid"))?;
    let mtime = i64::try_from(header.mtime()?).map_err(|_| too_big("mtime"))?;
    Ok(Meta {
        mode: header.mode()? & 0o7777,
        uid,
        gid,
        mtime: Some(mtime),
    })
}

fn node_kind(header: &tar::Header) -> io::Result<NodeKind> {
    let entry_type = header.entry_type();
    if entry_type.is_fifo() {
        return Ok(NodeKind::Fifo);
    }
    let major = header.device_major()?.unwrap_or(0);
    let minor = header.device_minor()?.unwrap_or(0);
    Ok(if entry_type.is_block_special() {
        NodeKind::BlockDevice { major, minor }
    } else {
        NodeKind::CharDevice { major, minor }
    })
}
