//! The files an RPM image's packages own, from its rpm database as rpm
//! 4.16+ keeps it (`rpmdb.sqlite`, what `install::rpm` writes too). The
//! database is read from the image through the [`Tree`] (bounded, no
//! symlink followed out of it) into a private copy that SQLite opens
//! read-only; the headers are decoded by the installer's own reader.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use super::checks::resolve;
use super::{AuditError, Entry, EntryKind, READ_LIMIT, Tree};
use crate::install::rpm::{RpmFile, headers_in};

/// Where rpm keeps its database: `/var/lib/rpm` (rpm's old `%_dbpath`, a
/// link to the new one on Fedora 36 and later) and `/usr/lib/sysimage/rpm`.
const DBPATHS: &[&str] = &["var/lib/rpm", "usr/lib/sysimage/rpm"];
const DB_FILE: &str = "rpmdb.sqlite";

/// What the image's rpm database says.
pub(super) enum RpmFiles {
    /// No rpm database place at all: not an RPM image.
    Absent,
    /// A database place without `rpmdb.sqlite` (rpm's older Berkeley DB
    /// or ndb formats): why it was not read.
    Unread(String),
    /// Every file the packages list, as rpm names them (`/usr/bin/su`).
    Listed(Vec<String>),
}

/// The files the image's rpm database lists (each database once, however
/// many of [`DBPATHS`] lead to it). A database that SQLite or the header
/// reader refuses is an error: its setuid files cannot be judged, and a
/// silent pass would hide them.
pub(super) fn packaged_files(
    tree: &dyn Tree,
    by_path: &HashMap<&str, &Entry>,
) -> Result<RpmFiles, AuditError> {
    let databases: BTreeSet<String> = DBPATHS
        .iter()
        .filter_map(|dir| resolve(&format!("/{dir}/{DB_FILE}"), by_path))
        .filter(|path| {
            by_path
                .get(path.as_str())
                .is_some_and(|e| e.kind == EntryKind::File)
        })
        .collect();
    if databases.is_empty() {
        return Ok(
            match DBPATHS.iter().find(|dir| by_path.contains_key(*dir)) {
                Some(dir) => RpmFiles::Unread(format!(
                    "/{dir} holds no {DB_FILE} (rpm's older Berkeley DB and ndb databases are not read)"
                )),
                None => RpmFiles::Absent,
            },
        );
    }
    let mut files = Vec::new();
    for database in databases {
        files.extend(listed_in(tree, by_path, &database)?);
    }
    Ok(RpmFiles::Listed(files))
}

/// The files the database at `database` (a path in the image) lists.
fn listed_in(
    tree: &dyn Tree,
    by_path: &HashMap<&str, &Entry>,
    database: &str,
) -> Result<Vec<String>, AuditError> {
    let label = format!("/{database}");
    let copy = tempfile::tempdir().map_err(|source| AuditError::Io {
        path: std::env::temp_dir(),
        source,
    })?;
    // rpm keeps SQLite in WAL mode: what was not checkpointed yet is in
    // the `-wal` file, which must sit beside the copy to be seen.
    for suffix in ["", "-wal"] {
        let name = format!("{database}{suffix}");
        let Some(entry) = by_path
            .get(name.as_str())
            .filter(|e| e.kind == EntryKind::File)
        else {
            continue;
        };
        let bytes = tree.read(entry, READ_LIMIT)?;
        let to = copy.path().join(format!("{DB_FILE}{suffix}"));
        std::fs::write(&to, bytes).map_err(|source| AuditError::Io { path: to, source })?;
    }
    let headers =
        headers_in(&copy.path().join(DB_FILE), Path::new(&label)).map_err(AuditError::RpmDb)?;
    let mut files = Vec::new();
    for header in headers {
        let package = RpmFile::installed(Path::new(&label), header).map_err(|source| {
            AuditError::RpmPackage {
                path: label.clone(),
                source,
            }
        })?;
        files.extend(
            package
                .files
                .into_iter()
                .map(|file| String::from_utf8_lossy(&file.path).into_owned()),
        );
    }
    Ok(files)
}
