//! One package file: its identity, dependencies, scriptlets and file list
//! as the installer needs them, read from the headers, and its payload.

use std::cmp::Ordering;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::extract::STATE_NORMAL;
use super::header::{Header, HeaderError, PackageHeaders, tag};
use crate::compression::Compression;
use crate::repo::rpm::version::Evr;

#[derive(Debug, Error)]
pub enum PackageError {
    #[error(transparent)]
    Header(#[from] HeaderError),
    #[error("tag {tag} has {found} entries for {files} files")]
    FileArrayLength {
        tag: u32,
        found: usize,
        files: usize,
    },
    #[error("file {index} names directory {dir_index}, of which there are {dirs}")]
    DirIndex {
        index: usize,
        dir_index: u64,
        dirs: usize,
    },
    #[error("payload format {0:?} is not cpio")]
    PayloadFormat(String),
    #[error("payload compressor {0:?} is not supported")]
    PayloadCompressor(String),
    #[error("cannot decompress the payload: {0}")]
    Decompress(std::io::Error),
}

/// `RPMFILE_*` flags of a file.
pub mod file_flag {
    pub const CONFIG: u64 = 1 << 0;
    pub const DOC: u64 = 1 << 1;
    pub const NOREPLACE: u64 = 1 << 4;
    pub const GHOST: u64 = 1 << 6;
}

/// `RPMSENSE_*` flags of a requirement or trigger.
pub mod sense {
    pub const LESS: u64 = 1 << 1;
    pub const GREATER: u64 = 1 << 2;
    pub const EQUAL: u64 = 1 << 3;
    pub const POSTTRANS: u64 = 1 << 5;
    pub const PRETRANS: u64 = 1 << 7;
    pub const SCRIPT_PRE: u64 = 1 << 9;
    pub const SCRIPT_POST: u64 = 1 << 10;
    pub const SCRIPT_PREUN: u64 = 1 << 11;
    pub const SCRIPT_POSTUN: u64 = 1 << 12;
    pub const TRIGGERIN: u64 = 1 << 16;
    pub const RPMLIB: u64 = 1 << 24;
    /// Requirements that only have to hold while installing: rpm leaves
    /// them out of the `Requirename` index.
    pub const INSTALL_ONLY: u64 = POSTTRANS | PRETRANS | SCRIPT_PRE | SCRIPT_POST | RPMLIB;
    pub const ERASE_ONLY: u64 = SCRIPT_PREUN | SCRIPT_POSTUN;
}

/// One file of the package's file list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Absolute path as the header lists it (`/usr/bin/x`).
    pub path: Vec<u8>,
    /// File type and permission bits, as `st_mode`.
    pub mode: u32,
    pub size: u64,
    pub mtime: i64,
    pub flags: u64,
    pub user: String,
    pub group: String,
    pub link_to: Vec<u8>,
    /// The 16-bit device number rpm records for device nodes.
    pub rdev: u32,
    /// Hard links share `(device, inode)`.
    pub device: u64,
    pub inode: u64,
    pub lang: String,
    /// A `cap_to_text` string, empty for none.
    pub caps: String,
    /// The content's digest (hex) for a regular file, in the package's
    /// [`RpmFile::digest_algo`]; empty for other kinds.
    pub digest: String,
    /// rpm's file color: 1 for a 32-bit ELF file, 2 for a 64-bit one, 0
    /// for anything else.
    pub color: u64,
}

/// One requirement, with its `RPMSENSE_*` flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub name: String,
    pub flags: u64,
}

/// A scriptlet: its interpreter with arguments, and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub interpreter: Vec<String>,
    pub body: Option<Vec<u8>>,
}

/// A `%triggerin` of a package: the script to run when a package named
/// `on` (in the version range, if any) is installed while the owner is.
#[derive(Debug, Clone)]
pub struct Trigger {
    pub on: String,
    /// The comparison flags (`sense::LESS` ...) and the version.
    pub range: Option<(u64, Evr)>,
    /// Which of the package's trigger scripts it runs; triggers on several
    /// names share one script.
    pub index: u64,
    pub script: Script,
}

impl Trigger {
    /// Whether installing `package` fires this trigger.
    pub fn fires_on(&self, package: &RpmFile) -> bool {
        if self.on != package.name {
            return false;
        }
        let Some((flags, wanted)) = &self.range else {
            return true;
        };
        let have = Evr::new(
            package.epoch.map_or(0, |e| e as u32),
            package.version.clone(),
            Some(package.release.clone()),
        );
        match have.compare_for_dependency(wanted) {
            Ordering::Less => flags & sense::LESS != 0,
            Ordering::Equal => flags & sense::EQUAL != 0,
            Ordering::Greater => flags & sense::GREATER != 0,
        }
    }
}

/// The two kinds of file trigger a fresh installation fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileTriggerKind {
    /// `%filetriggerin`: after each package whose files match.
    File,
    /// `%transfiletriggerin`: once, at the end of the transaction.
    TransFile,
}

impl FileTriggerKind {
    pub fn name(self) -> &'static str {
        match self {
            FileTriggerKind::File => "%filetriggerin",
            FileTriggerKind::TransFile => "%transfiletriggerin",
        }
    }

    /// Names, indexes, flags, priorities, scripts, programs.
    fn tags(self) -> [u32; 6] {
        match self {
            FileTriggerKind::File => [
                tag::FILETRIGGERNAME,
                tag::FILETRIGGERINDEX,
                tag::FILETRIGGERFLAGS,
                tag::FILETRIGGERPRIORITIES,
                tag::FILETRIGGERSCRIPTS,
                tag::FILETRIGGERSCRIPTPROG,
            ],
            FileTriggerKind::TransFile => [
                tag::TRANSFILETRIGGERNAME,
                tag::TRANSFILETRIGGERINDEX,
                tag::TRANSFILETRIGGERFLAGS,
                tag::TRANSFILETRIGGERPRIORITIES,
                tag::TRANSFILETRIGGERSCRIPTS,
                tag::TRANSFILETRIGGERSCRIPTPROG,
            ],
        }
    }
}

/// One `%filetriggerin` or `%transfiletriggerin` script of a package and
/// the path prefixes that fire it, in header order (sorted), which is the
/// order rpm lists the matching files in.
#[derive(Debug, Clone)]
pub struct FileTrigger {
    pub prefixes: Vec<Vec<u8>>,
    /// The script's number in the package; ties of priority run in this
    /// order.
    pub index: u64,
    /// Higher runs first; from 10000 up a `%filetriggerin` runs before the
    /// `%post` of the package that fires it, below after.
    pub priority: u64,
    pub script: Script,
}

impl FileTrigger {
    /// Whether `path` lies under one of the prefixes: rpm compares plain
    /// bytes, so `/usr/lib/x` also matches `/usr/lib/xy/z`.
    pub fn matches(&self, path: &[u8]) -> bool {
        self.prefixes.iter().any(|p| path.starts_with(p))
    }
}

/// The scriptlets a fresh installation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptKind {
    PreTrans,
    Pre,
    Post,
    PostTrans,
}

impl ScriptKind {
    pub fn name(self) -> &'static str {
        match self {
            ScriptKind::PreTrans => "%pretrans",
            ScriptKind::Pre => "%pre",
            ScriptKind::Post => "%post",
            ScriptKind::PostTrans => "%posttrans",
        }
    }

    fn tags(self) -> (u32, u32) {
        match self {
            ScriptKind::PreTrans => (tag::PRETRANS, tag::PRETRANSPROG),
            ScriptKind::Pre => (tag::PREIN, tag::PREINPROG),
            ScriptKind::Post => (tag::POSTIN, tag::POSTINPROG),
            ScriptKind::PostTrans => (tag::POSTTRANS, tag::POSTTRANSPROG),
        }
    }
}

/// A package file, headers read and file list decoded.
#[derive(Debug, Clone)]
pub struct RpmFile {
    pub path: PathBuf,
    pub headers: PackageHeaders,
    pub name: String,
    pub epoch: Option<u64>,
    pub version: String,
    pub release: String,
    pub arch: String,
    pub provides: Vec<String>,
    pub requires: Vec<Requirement>,
    pub files: Vec<FileEntry>,
    /// rpm's number for the algorithm of the file digests (`PGPHASHALGO_*`:
    /// 1 MD5, the default when the tag is absent, 8 SHA-256).
    pub digest_algo: u64,
}

/// An array tag with one entry per file; absent is allowed for the
/// optional ones and gives defaults.
fn per_file<T: Clone>(
    values: Vec<T>,
    tag: u32,
    files: usize,
    default: T,
) -> Result<Vec<T>, PackageError> {
    match values.len() {
        0 => Ok(vec![default; files]),
        n if n == files => Ok(values),
        found => Err(PackageError::FileArrayLength { tag, found, files }),
    }
}

impl RpmFile {
    /// Parses the headers of `reader` (positioned at the lead).
    pub fn read(path: &Path, reader: &mut dyn Read) -> Result<RpmFile, PackageError> {
        RpmFile::from_headers(path, PackageHeaders::read(reader)?)
    }

    /// A package a root's rpm database holds, from its recorded header;
    /// `label` names it in messages. Files its `FILESTATES` records as not
    /// installed (left out, replaced, of the wrong color) are left out, as
    /// rpm does not count them.
    pub fn installed(label: &Path, main: Header) -> Result<RpmFile, PackageError> {
        let headers = PackageHeaders {
            signature: Header::default(),
            main,
        };
        let mut package = RpmFile::from_headers(label, headers)?;
        let states = package.headers.main.integers(tag::FILESTATES)?;
        if states.len() == package.files.len() {
            let mut state = states.into_iter();
            package
                .files
                .retain(|_| state.next() == Some(u64::from(STATE_NORMAL)));
        }
        Ok(package)
    }

    fn from_headers(path: &Path, headers: PackageHeaders) -> Result<RpmFile, PackageError> {
        let h = &headers.main;
        let name = h.required_string(tag::NAME)?;
        let version = h.required_string(tag::VERSION)?;
        let release = h.required_string(tag::RELEASE)?;
        let arch = h.string(tag::ARCH)?.unwrap_or_default();
        let epoch = h.integer(tag::EPOCH)?;
        let provides = h.strings(tag::PROVIDENAME)?;
        let require_names = h.strings(tag::REQUIRENAME)?;
        let require_flags = h.integers(tag::REQUIREFLAGS)?;
        let requires = require_names
            .into_iter()
            .enumerate()
            .map(|(i, name)| Requirement {
                name,
                flags: require_flags.get(i).copied().unwrap_or(0),
            })
            .collect();
        let files = Self::file_list(&headers)?;
        let digest_algo = h.integer(tag::FILEDIGESTALGO)?.unwrap_or(1);
        Ok(RpmFile {
            path: path.to_path_buf(),
            headers,
            name,
            epoch,
            version,
            release,
            arch,
            provides,
            requires,
            files,
            digest_algo,
        })
    }

    /// Opens and parses `path`.
    pub fn open(path: &Path) -> Result<RpmFile, PackageError> {
        let mut reader = BufReader::new(File::open(path).map_err(HeaderError::Io)?);
        RpmFile::read(path, &mut reader)
    }

    fn file_list(headers: &PackageHeaders) -> Result<Vec<FileEntry>, PackageError> {
        let h = &headers.main;
        let basenames = h.byte_strings(tag::BASENAMES)?;
        let n = basenames.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let dirnames = h.byte_strings(tag::DIRNAMES)?;
        let dir_indexes = per_file(h.integers(tag::DIRINDEXES)?, tag::DIRINDEXES, n, u64::MAX)?;
        let modes = per_file(h.integers(tag::FILEMODES)?, tag::FILEMODES, n, 0)?;
        let sizes = if h.has(tag::LONGFILESIZES) {
            per_file(h.integers(tag::LONGFILESIZES)?, tag::LONGFILESIZES, n, 0)?
        } else {
            per_file(h.integers(tag::FILESIZES)?, tag::FILESIZES, n, 0)?
        };
        let mtimes = per_file(h.integers(tag::FILEMTIMES)?, tag::FILEMTIMES, n, 0)?;
        let flags = per_file(h.integers(tag::FILEFLAGS)?, tag::FILEFLAGS, n, 0)?;
        let rdevs = per_file(h.integers(tag::FILERDEVS)?, tag::FILERDEVS, n, 0)?;
        let devices = per_file(h.integers(tag::FILEDEVICES)?, tag::FILEDEVICES, n, 0)?;
        let inodes = per_file(h.integers(tag::FILEINODES)?, tag::FILEINODES, n, 0)?;
        let root = "root".to_string();
        let users = per_file(
            h.strings(tag::FILEUSERNAME)?,
            tag::FILEUSERNAME,
            n,
            root.clone(),
        )?;
        let groups = per_file(h.strings(tag::FILEGROUPNAME)?, tag::FILEGROUPNAME, n, root)?;
        let links = per_file(
            h.byte_strings(tag::FILELINKTOS)?,
            tag::FILELINKTOS,
            n,
            &b""[..],
        )?;
        let langs = per_file(h.strings(tag::FILELANGS)?, tag::FILELANGS, n, String::new())?;
        let caps = per_file(h.strings(tag::FILECAPS)?, tag::FILECAPS, n, String::new())?;
        let digests = per_file(
            h.strings(tag::FILEDIGESTS)?,
            tag::FILEDIGESTS,
            n,
            String::new(),
        )?;
        let colors = per_file(h.integers(tag::FILECOLORS)?, tag::FILECOLORS, n, 0)?;
        let mut files = Vec::with_capacity(n);
        for (i, base) in basenames.into_iter().enumerate() {
            let dir = usize::try_from(dir_indexes[i])
                .ok()
                .and_then(|d| dirnames.get(d))
                .ok_or(PackageError::DirIndex {
                    index: i,
                    dir_index: dir_indexes[i],
                    dirs: dirnames.len(),
                })?;
            let mut path = dir.to_vec();
            path.extend_from_slice(base);
            files.push(FileEntry {
                path,
                mode: modes[i] as u32,
                size: sizes[i],
                // Header times are unsigned 32-bit seconds.
                mtime: mtimes[i] as i64,
                flags: flags[i],
                user: users[i].clone(),
                group: groups[i].clone(),
                link_to: links[i].to_vec(),
                rdev: rdevs[i] as u32,
                device: devices[i],
                inode: inodes[i],
                lang: langs[i].clone(),
                caps: caps[i].clone(),
                digest: digests[i].clone(),
                color: colors[i],
            });
        }
        Ok(files)
    }

    /// `name-[epoch:]version-release.arch`, as `rpm -qa` prints it
    /// (without the epoch, as rpm's default query format does).
    pub fn nevra(&self) -> String {
        format!(
            "{}-{}-{}.{}",
            self.name, self.version, self.release, self.arch
        )
    }

    /// A scriptlet of the package, if it has one (a body, or a `-p`
    /// program alone).
    pub fn script(&self, kind: ScriptKind) -> Result<Option<Script>, PackageError> {
        let (body_tag, prog_tag) = kind.tags();
        let h = &self.headers.main;
        let body = h.byte_strings(body_tag)?.first().map(|b| b.to_vec());
        let interpreter = h.strings(prog_tag)?;
        if body.is_none() && interpreter.is_empty() {
            return Ok(None);
        }
        let interpreter = if interpreter.is_empty() {
            vec!["/bin/sh".to_string()]
        } else {
            interpreter
        };
        Ok(Some(Script { interpreter, body }))
    }

    /// The package's `%triggerin` scripts (rpm's `TRIGGER*` tags).
    pub fn install_triggers(&self) -> Result<Vec<Trigger>, PackageError> {
        let h = &self.headers.main;
        let names = h.strings(tag::TRIGGERNAME)?;
        let flags = h.integers(tag::TRIGGERFLAGS)?;
        let versions = h.strings(tag::TRIGGERVERSION)?;
        let indexes = h.integers(tag::TRIGGERINDEX)?;
        let bodies = h.byte_strings(tag::TRIGGERSCRIPTS)?;
        let programs = h.strings(tag::TRIGGERSCRIPTPROG)?;
        let mut triggers = Vec::new();
        for (i, on) in names.into_iter().enumerate() {
            let flags = flags.get(i).copied().unwrap_or(0);
            let Some(&index) = indexes.get(i) else {
                continue;
            };
            if flags & sense::TRIGGERIN == 0 {
                continue;
            }
            let Some(body) = usize::try_from(index).ok().and_then(|x| bodies.get(x)) else {
                continue;
            };
            let interpreter: Vec<String> = programs
                .get(index as usize)
                .map(|p| p.split_whitespace().map(str::to_string).collect())
                .filter(|p: &Vec<String>| !p.is_empty())
                .unwrap_or_else(|| vec!["/bin/sh".to_string()]);
            let range = versions
                .get(i)
                .filter(|v| {
                    !v.is_empty() && flags & (sense::LESS | sense::GREATER | sense::EQUAL) != 0
                })
                .and_then(|v| Evr::parse(v).ok())
                .map(|evr| (flags, evr));
            triggers.push(Trigger {
                on,
                range,
                index,
                script: Script {
                    interpreter,
                    body: (!body.is_empty()).then(|| body.to_vec()),
                },
            });
        }
        Ok(triggers)
    }

    /// The package's install-side file triggers of `kind`; the uninstall
    /// ones never fire on a fresh installation.
    pub fn file_triggers(&self, kind: FileTriggerKind) -> Result<Vec<FileTrigger>, PackageError> {
        let h = &self.headers.main;
        let [names, indexes, flags, priorities, scripts, programs] = kind.tags();
        let names = h.byte_strings(names)?;
        let indexes = h.integers(indexes)?;
        let flags = h.integers(flags)?;
        let priorities = h.integers(priorities)?;
        let scripts = h.byte_strings(scripts)?;
        let programs = h.strings(programs)?;
        let mut triggers: Vec<FileTrigger> = Vec::new();
        for (i, prefix) in names.into_iter().enumerate() {
            let (Some(&index), Some(&flags)) = (indexes.get(i), flags.get(i)) else {
                continue;
            };
            if flags & sense::TRIGGERIN == 0 {
                continue;
            }
            if let Some(known) = triggers.iter_mut().find(|t| t.index == index) {
                known.prefixes.push(prefix.to_vec());
                continue;
            }
            let Some(body) = usize::try_from(index).ok().and_then(|x| scripts.get(x)) else {
                continue;
            };
            // rpm passes the whole program tag as the interpreter's path.
            let interpreter = programs
                .get(index as usize)
                .filter(|p| !p.is_empty())
                .cloned()
                .unwrap_or_else(|| "/bin/sh".to_string());
            triggers.push(FileTrigger {
                prefixes: vec![prefix.to_vec()],
                index,
                priority: priorities.get(index as usize).copied().unwrap_or(0),
                script: Script {
                    interpreter: vec![interpreter],
                    body: (!body.is_empty()).then(|| body.to_vec()),
                },
            });
        }
        Ok(triggers)
    }

    /// The decompressed payload, read from the start of the file again.
    pub fn payload(&self) -> Result<Box<dyn Read>, PackageError> {
        let h = &self.headers.main;
        if let Some(format) = h.string(tag::PAYLOADFORMAT)?
            && format != "cpio"
        {
            return Err(PackageError::PayloadFormat(format));
        }
        let mut reader = BufReader::new(File::open(&self.path).map_err(HeaderError::Io)?);
        PackageHeaders::read(&mut reader)?;
        let compression = match h.string(tag::PAYLOADCOMPRESSOR)?.as_deref() {
            // rpmbuild records no compressor for an uncompressed payload;
            // older packages without the tag are gzip. The bytes tell.
            None => Compression::detect(reader.fill_buf().map_err(HeaderError::Io)?),
            Some("gzip") => Compression::Gzip,
            Some("bzip2") => Compression::Bzip2,
            Some("xz") => Compression::Xz,
            Some("zstd") => Compression::Zstd,
            Some(other) => return Err(PackageError::PayloadCompressor(other.to_string())),
        };
        compression
            .decoder(reader)
            .map_err(PackageError::Decompress)
    }
}
