//! The image's rpm database: `<dbpath>/rpmdb.sqlite` as rpm 4.16+ keeps
//! it, so that `rpm -qa`, `rpm -qf` and `rpm -V` in the finished image (and
//! `dnf` after it) see what livecompose installed.
//!
//! The schema is the one `rpm --initdb` creates: a `Packages` table of
//! header blobs and one index table per indexed tag, each row `(key, hnum,
//! idx)`: the key, the package's `hnum` and the position of the key in the
//! tag's array. rpm looks packages up through these indexes (`-q NAME`
//! reads `Name`, `-qf` reads `Basenames`) and never rebuilds them itself, so
//! they are written here exactly as rpm's own `rpmdbAdd` would.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, params};
use thiserror::Error;

use super::header::{Header, HeaderError, tag};
use super::package::sense;
use crate::repo::rpm::richdep::{self, RichDep};

const DB_NAME: &str = "rpmdb.sqlite";

#[derive(Debug, Error)]
pub enum DbError {
    #[error("rpm database {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("rpm database {}: no Packages table of stored columns", path.display())]
    NoPackagesTable { path: PathBuf },
    #[error("rpm database: header of {package}: {source}")]
    Header {
        package: String,
        source: HeaderError,
    },
}

/// Index tables whose keys are the strings of a dependency-like tag; rich
/// dependencies are indexed whole and by each name they mention.
const DEPENDENCY_INDEXES: &[(&str, u32)] = &[
    ("Providename", tag::PROVIDENAME),
    ("Requirename", tag::REQUIRENAME),
    ("Conflictname", tag::CONFLICTNAME),
    ("Obsoletename", tag::OBSOLETENAME),
    ("Recommendname", tag::RECOMMENDNAME),
    ("Suggestname", tag::SUGGESTNAME),
    ("Supplementname", tag::SUPPLEMENTNAME),
    ("Enhancename", tag::ENHANCENAME),
];

/// Index tables keyed by plain strings.
const STRING_INDEXES: &[(&str, u32)] = &[
    ("Name", tag::NAME),
    ("Basenames", tag::BASENAMES),
    ("Group", tag::GROUP),
    ("Triggername", tag::TRIGGERNAME),
    ("Dirnames", tag::DIRNAMES),
    ("Sha1header", tag::SHA1HEADER),
];

/// File trigger prefixes, with their index tags: rpm files each prefix
/// under the number of the script it belongs to, which is what it looks
/// the script up by, rather than under its position in the list.
const FILE_TRIGGER_INDEXES: &[(&str, u32, u32)] = &[
    (
        "Filetriggername",
        tag::FILETRIGGERNAME,
        tag::FILETRIGGERINDEX,
    ),
    (
        "Transfiletriggername",
        tag::TRANSFILETRIGGERNAME,
        tag::TRANSFILETRIGGERINDEX,
    ),
];

/// Index tables keyed by binary values (integers in host byte order, as
/// rpm stores them).
const BINARY_INDEXES: &[&str] = &["Installtid", "Sigmd5"];

/// Tables whose rows rpm also looks up by `hnum` (when removing).
const HNUM_INDEXED: &[&str] = &[
    "Basenames",
    "Requirename",
    "Providename",
    "Conflictname",
    "Obsoletename",
    "Triggername",
    "Dirnames",
    "Filetriggername",
    "Transfiletriggername",
    "Recommendname",
    "Suggestname",
    "Supplementname",
    "Enhancename",
];

/// Tables without a key index in rpm's schema.
const UNKEYED: &[&str] = &["Installtid", "Sigmd5"];

/// One header to record: an installed package's, or an imported key's.
pub struct Record {
    /// What the header is of (`name-version-release.arch`), for messages.
    pub label: String,
    /// The header with its install-time tags, as rpm stores it.
    pub blob: Vec<u8>,
    pub install_tid: u32,
}

fn schema() -> String {
    let mut sql = String::from(
        "CREATE TABLE IF NOT EXISTS 'Packages' (hnum INTEGER PRIMARY KEY AUTOINCREMENT,blob BLOB NOT NULL);\n",
    );
    let tables = STRING_INDEXES
        .iter()
        .chain(DEPENDENCY_INDEXES)
        .map(|(t, _)| (*t, "TEXT"))
        .chain(FILE_TRIGGER_INDEXES.iter().map(|(t, _, _)| (*t, "TEXT")))
        .chain(BINARY_INDEXES.iter().map(|t| (*t, "BLOB")));
    for (table, key_type) in tables {
        sql.push_str(&format!(
            "CREATE TABLE IF NOT EXISTS '{table}' (key '{key_type}' NOT NULL, hnum INTEGER NOT NULL, idx INTEGER NOT NULL, FOREIGN KEY (hnum) REFERENCES 'Packages'(hnum));\n"
        ));
        if !UNKEYED.contains(&table) {
            sql.push_str(&format!(
                "CREATE INDEX IF NOT EXISTS '{table}_key_idx' ON '{table}'(key ASC);\n"
            ));
        }
        if HNUM_INDEXED.contains(&table) {
            sql.push_str(&format!(
                "CREATE INDEX IF NOT EXISTS '{table}_hnum_idx' ON '{table}'(hnum ASC);\n"
            ));
        }
    }
    sql
}

/// An open database being filled, one committed package at a time, so a
/// scriptlet that runs `rpm -q` sees every package installed before it.
pub struct RpmDb {
    /// Declared before `_dir`, so it is closed first.
    db: Connection,
    /// The database directory, held open: SQLite reaches it through
    /// `/proc/self/fd`, so a symlink in the root (`/var/lib/rpm` is one on
    /// Fedora) is resolved inside the root, never on the host.
    _dir: OwnedFd,
    /// The database as the image names it, for messages.
    path: PathBuf,
}

impl RpmDb {
    /// Opens the database in `dir` (the dbpath, opened through the root),
    /// creating it and its tables if they are missing; packages of an
    /// earlier installation into the same root stay recorded.
    pub fn open(dir: OwnedFd, dbpath: &str) -> Result<RpmDb, DbError> {
        let path = Path::new(dbpath).join(DB_NAME);
        let sql_err = |source| DbError::Sqlite {
            path: path.clone(),
            source,
        };
        let via_fd = format!("/proc/self/fd/{}/{DB_NAME}", dir.as_raw_fd());
        let db = Connection::open(via_fd).map_err(sql_err)?;
        db.execute_batch(&schema()).map_err(sql_err)?;
        Ok(RpmDb {
            db,
            _dir: dir,
            path,
        })
    }

    /// Whether a recorded header provides `name` (rpm's `-q --whatprovides`).
    pub fn provides(&self, name: &str) -> Result<bool, DbError> {
        self.db
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM 'Providename' WHERE key = ?1)",
                params![name],
                |row| row.get(0),
            )
            .map_err(|source| DbError::Sqlite {
                path: self.path.clone(),
                source,
            })
    }

    /// Records one installed package.
    pub fn add(&mut self, record: &Record) -> Result<(), DbError> {
        let path = &self.path;
        let sql_err = |source| DbError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.db.transaction().map_err(sql_err)?;
        insert(&tx, record).map_err(|e| match e {
            InsertError::Sqlite(source) => sql_err(source),
            InsertError::Header(source) => DbError::Header {
                package: record.label.clone(),
                source,
            },
        })?;
        tx.commit().map_err(sql_err)
    }
}

/// The headers of the packages a database in `dir` (the dbpath, opened
/// through the root) already holds, read without changing anything; none
/// when there is no database yet.
pub fn installed_headers(dir: &OwnedFd, dbpath: &str) -> Result<Vec<Header>, DbError> {
    let path = Path::new(dbpath).join(DB_NAME);
    let via_fd = format!("/proc/self/fd/{}/{DB_NAME}", dir.as_raw_fd());
    if !Path::new(&via_fd).exists() {
        return Ok(Vec::new());
    }
    headers_in(Path::new(&via_fd), &path)
}

/// The headers the database file `file` holds (`label` names it in
/// messages), read without changing anything. The file may be anyone's
/// (`livecompose audit` reads an image's copy): a damaged one is an error.
pub fn headers_in(file: &Path, label: &Path) -> Result<Vec<Header>, DbError> {
    let sql_err = |source| DbError::Sqlite {
        path: label.to_owned(),
        source,
    };
    let db =
        Connection::open_with_flags(file, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(sql_err)?;
    // Reading a table's stored columns costs what the file holds; a view
    // or a generated column in someone's database could compute without
    // bound.
    let plain: bool = db
        .query_row(
            "SELECT coalesce((SELECT type FROM sqlite_master WHERE name = 'Packages') = 'table', 0) \
             AND NOT EXISTS (SELECT 1 FROM pragma_table_xinfo('Packages') WHERE hidden != 0)",
            [],
            |row| row.get(0),
        )
        .map_err(sql_err)?;
    if !plain {
        return Err(DbError::NoPackagesTable {
            path: label.to_owned(),
        });
    }
    let mut query = db
        .prepare("SELECT hnum, blob FROM 'Packages' ORDER BY hnum")
        .map_err(sql_err)?;
    let rows = query
        .query_map([], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?))
        })
        .map_err(sql_err)?;
    let mut headers = Vec::new();
    for row in rows {
        let (hnum, blob) = row.map_err(sql_err)?;
        let header =
            Header::from_blob(&blob, "installed header").map_err(|source| DbError::Header {
                package: format!("record {hnum} in {}", label.display()),
                source,
            })?;
        headers.push(header);
    }
    Ok(headers)
}

enum InsertError {
    Sqlite(rusqlite::Error),
    Header(HeaderError),
}

impl From<rusqlite::Error> for InsertError {
    fn from(e: rusqlite::Error) -> Self {
        InsertError::Sqlite(e)
    }
}

impl From<HeaderError> for InsertError {
    fn from(e: HeaderError) -> Self {
        InsertError::Header(e)
    }
}

fn insert(tx: &rusqlite::Transaction<'_>, record: &Record) -> Result<(), InsertError> {
    // Indexed from the blob itself, so every key is one rpm would find in
    // the header it reads back.
    let header = Header::from_blob(&record.blob, "installed header")?;
    tx.execute(
        "INSERT INTO 'Packages' (blob) VALUES (?1)",
        params![record.blob],
    )?;
    let hnum = tx.last_insert_rowid();
    let add_text = |table: &str, key: &str, idx: usize| -> Result<(), rusqlite::Error> {
        tx.prepare_cached(&format!(
            "INSERT INTO '{table}' (key, hnum, idx) VALUES (?1, ?2, ?3)"
        ))?
        .execute(params![key, hnum, idx as i64])
        .map(|_| ())
    };
    for (table, t) in STRING_INDEXES {
        for (idx, key) in header.strings(*t)?.iter().enumerate() {
            add_text(table, key, idx)?;
        }
    }
    for (table, names, indexes) in FILE_TRIGGER_INDEXES {
        let indexes = header.integers(*indexes)?;
        for (key, index) in header.strings(*names)?.iter().zip(indexes) {
            add_text(table, key, index as usize)?;
        }
    }
    let require_flags = header.integers(tag::REQUIREFLAGS)?;
    for (table, t) in DEPENDENCY_INDEXES {
        for (idx, key) in header.strings(*t)?.iter().enumerate() {
            if *t == tag::REQUIRENAME {
                let flags = require_flags.get(idx).copied().unwrap_or(0);
                // rpm leaves install-time-only requirements out.
                if flags & sense::INSTALL_ONLY != 0 && flags & sense::ERASE_ONLY == 0 {
                    continue;
                }
            }
            add_text(table, key, idx)?;
            if key.starts_with('(')
                && let Ok(dep) = richdep::parse(key)
            {
                let mut names = Vec::new();
                rich_keys(&dep, false, &mut names);
                names.sort_unstable();
                names.dedup();
                for name in names {
                    add_text(table, &name, idx)?;
                }
            }
        }
    }
    tx.execute(
        "INSERT INTO 'Installtid' (key, hnum, idx) VALUES (?1, ?2, 0)",
        params![record.install_tid.to_ne_bytes().to_vec(), hnum],
    )?;
    if let Some(md5) = header.binary(tag::SIGMD5)? {
        tx.execute(
            "INSERT INTO 'Sigmd5' (key, hnum, idx) VALUES (?1, ?2, 0)",
            params![md5.to_vec(), hnum],
        )?;
    }
    Ok(())
}

/// The extra index keys of a rich dependency, as rpm derives them: each
/// name it mentions, prefixed `!` where the name counts when *not*
/// installed (the condition of `unless`, and of `if ... else` for its
/// `else` branch, which therefore gives both forms).
fn rich_keys(dep: &RichDep, negated: bool, out: &mut Vec<String>) {
    match dep {
        RichDep::Atom(atom) => out.push(if negated {
            format!("!{}", atom.name)
        } else {
            atom.name.clone()
        }),
        RichDep::And(deps) | RichDep::Or(deps) | RichDep::With(deps) => {
            deps.iter().for_each(|d| rich_keys(d, negated, out))
        }
        RichDep::Without(a, b) => {
            rich_keys(a, negated, out);
            rich_keys(b, negated, out);
        }
        RichDep::If {
            then,
            condition,
            otherwise,
        } => {
            rich_keys(then, negated, out);
            rich_keys(condition, negated, out);
            if let Some(otherwise) = otherwise {
                rich_keys(condition, !negated, out);
                rich_keys(otherwise, negated, out);
            }
        }
        RichDep::Unless {
            then,
            condition,
            otherwise,
        } => {
            rich_keys(then, negated, out);
            rich_keys(condition, !negated, out);
            if let Some(otherwise) = otherwise {
                rich_keys(condition, negated, out);
                rich_keys(otherwise, negated, out);
            }
        }
    }
}
