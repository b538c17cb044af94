//! Reading a repository's repodata: `repomd.xml`, then each index it lists,
//! checked against its checksum before it is decompressed and parsed.
//!
//! Fetching is the caller's business: [`read_repodata`] asks a closure for a
//! local copy of each index (a `file://` repository's own file, or a
//! download in the cache) and checks that copy itself.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek};
use std::path::{Path, PathBuf};

use super::compression::decompress;
use super::comps::{Comps, CompsError, parse_comps};
use super::filelists::{FilelistsError, merge_filelists, parse_filelists};
use super::primary::{PrimaryError, RpmPackage, parse_primary};
use super::repomd::{Repomd, RepomdError, RepomdRecord};
use crate::checksum::ChecksumKind;

/// Whether to read `filelists` as well as `primary`. It is several times
/// larger and only needed to resolve dependencies on paths that primary does
/// not list, so the caller decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileLists {
    PrimaryOnly,
    Full,
}

/// What a repository's repodata says.
#[derive(Debug, Clone)]
pub struct Repodata {
    pub repomd: Repomd,
    pub packages: Vec<RpmPackage>,
    /// Package groups and environments (`comps`), empty when the repository has none.
    pub groups: Comps,
    /// Whether `packages[..].files` are complete ([`FileLists::Full`]) or
    /// only primary's subset.
    pub full_file_lists: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RepodataError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Repomd {
        path: PathBuf,
        source: Box<RepomdError>,
    },
    #[error("{path} lists no {kind} index: is this an RPM repository made by createrepo?")]
    MissingRecord { path: PathBuf, kind: &'static str },
    #[error(
        "{path}: size mismatch: repomd.xml says {expected} bytes, the file has {actual}; the \
         repository is being updated, is damaged, or was tampered with"
    )]
    SizeMismatch {
        path: PathBuf,
        expected: u64,
        actual: u64,
    },
    #[error(
        "{path}: {kind} mismatch: repomd.xml says {expected}, the file has {actual}; the \
         repository is being updated, is damaged, or was tampered with"
    )]
    ChecksumMismatch {
        path: PathBuf,
        kind: ChecksumKind,
        expected: String,
        actual: String,
    },
    #[error("{path}: {source}")]
    Primary {
        path: PathBuf,
        source: Box<PrimaryError>,
    },
    #[error("{path}: {source}")]
    Filelists {
        path: PathBuf,
        source: Box<FilelistsError>,
    },
    #[error("{path}: {source}")]
    Comps {
        path: PathBuf,
        source: Box<CompsError>,
    },
    #[error("cannot download {location}: {source}")]
    Fetch {
        location: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Reads the repository rooted at `root` (the directory holding
/// `repodata/`).
pub fn read_local(root: &Path, file_lists: FileLists) -> Result<Repodata, RepodataError> {
    let repomd_path = root.join("repodata").join("repomd.xml");
    let file = File::open(&repomd_path).map_err(|source| RepodataError::Io {
        path: repomd_path.clone(),
        source,
    })?;
    let repomd = parse_repomd(BufReader::new(file), &repomd_path)?;
    read_repodata(repomd, &repomd_path, file_lists, &mut |record| {
        Ok(root.join(&record.location))
    })
}

/// Parses `repomd.xml`; `path` names it in errors.
pub fn parse_repomd(input: impl BufRead, path: &Path) -> Result<Repomd, RepodataError> {
    Repomd::parse(input).map_err(|source| RepodataError::Repomd {
        path: path.to_owned(),
        source: Box::new(source),
    })
}

/// Reads the indexes `repomd` lists (`repomd_path` names it in errors),
/// each from the local copy `fetch` gives for its record.
pub fn read_repodata(
    repomd: Repomd,
    repomd_path: &Path,
    file_lists: FileLists,
    fetch: &mut dyn FnMut(&RepomdRecord) -> Result<PathBuf, RepodataError>,
) -> Result<Repodata, RepodataError> {
    let record = |kind: &'static str| {
        repomd
            .record(kind)
            .ok_or_else(|| RepodataError::MissingRecord {
                path: repomd_path.to_owned(),
                kind,
            })
    };

    let primary = record("primary")?;
    let mut packages = read_index(fetch(primary)?, primary, |path, input| {
        parse_primary(input).map_err(|source| RepodataError::Primary {
            path,
            source: Box::new(source),
        })
    })?;
    if file_lists == FileLists::Full {
        let filelists = record("filelists")?;
        let path = fetch(filelists)?;
        let lists = read_index(path.clone(), filelists, |path, input| {
            parse_filelists(input).map_err(|source| RepodataError::Filelists {
                path,
                source: Box::new(source),
            })
        })?;
        merge_filelists(&mut packages, lists).map_err(|source| RepodataError::Filelists {
            path,
            source: Box::new(source),
        })?;
    }
    // Package groups are optional: many repositories have none.
    let groups = match repomd.record("group") {
        Some(group) => read_index(fetch(group)?, group, |path, input| {
            parse_comps(input).map_err(|source| RepodataError::Comps {
                path,
                source: Box::new(source),
            })
        })?,
        None => Comps::default(),
    };
    Ok(Repodata {
        packages,
        groups,
        full_file_lists: file_lists == FileLists::Full,
        repomd,
    })
}

/// Opens an index once, checks it against `record`, then hands its
/// decompressed content to `parse`. Reading the same open file twice means
/// what was checked is what gets parsed.
fn read_index<T>(
    path: PathBuf,
    record: &RepomdRecord,
    parse: impl FnOnce(PathBuf, &mut dyn BufRead) -> Result<T, RepodataError>,
) -> Result<T, RepodataError> {
    let io = |source| RepodataError::Io {
        path: path.clone(),
        source,
    };
    let mut file = File::open(&path).map_err(io)?;
    if let Some(expected) = record.size {
        let actual = file.metadata().map_err(io)?.len();
        if actual != expected {
            return Err(RepodataError::SizeMismatch {
                path,
                expected,
                actual,
            });
        }
    }
    let actual = record.checksum.kind.digest(&mut file).map_err(io)?;
    if actual != record.checksum {
        return Err(RepodataError::ChecksumMismatch {
            path,
            kind: record.checksum.kind,
            expected: record.checksum.value().to_owned(),
            actual: actual.value().to_owned(),
        });
    }
    file.rewind().map_err(io)?;
    let (_, mut input) = decompress(BufReader::new(file)).map_err(io)?;
    parse(path, &mut input)
}
