//! Incremental builds: the cache of installed roots.
//!
//! What the install stage leaves in the root depends only on the packages
//! (their files, by digest, in the order installed), how they are
//! installed (the back end's settings, the build's time its scripts see)
//! and the livecompose that installs them. Users rebuild one image many
//! times while they tune `%post`, overlays and settings, so the installed
//! root is kept, under a key made of all of that, in the cache's `roots/`;
//! a build with the same key copies it instead of installing again, and
//! runs the configure stage and everything after as a clean build does.
//!
//! Each entry is `roots/KEY/` with the root (`root/`), what the install
//! said (`record.json`: its warnings) and its part of the build log
//! (`install.log`), moved into place complete, so a half-stored entry is
//! never seen. A build that misses holds the key's lock (`roots/KEY.lock`)
//! until it has stored the root: a second build of the same packages
//! started meanwhile waits and then copies it, rather than installing the
//! same packages beside it. The entries are kept most recently used first,
//! while they fit in [`MAX_BYTES`]; `livecompose cache --prune` empties
//! them with the rest of the cache. The directory is private to root: the
//! roots hold the image's setuid programs.

use std::fs::File;
use std::io::{self, Read as _};
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rustix::fs::FlockOperation;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::tree_copy::{self, Copied, CopyError};
use crate::interrupt::{self, Interrupted};

/// The cache's part that holds installed roots.
pub const DIR: &str = "roots";

/// The installed roots kept, together: the most recently used first. A
/// minimal Debian root takes about 0.7 GB, a cloud image's about 1 GB.
pub const MAX_BYTES: u64 = 8 << 30;

const RECORD: &str = "record.json";
const LOG: &str = "install.log";
const ROOT: &str = "root";

#[derive(Debug, thiserror::Error)]
pub enum RootCacheError {
    #[error("the cache of installed roots: cannot {action} {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Copy(#[from] CopyError),
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

fn failed<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> RootCacheError + 'a {
    move |source| RootCacheError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// What decides an installed root, digested: the running livecompose
/// (installing is its code: a new version installs anew) and the facts the
/// caller gives, one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootKey(String);

impl RootKey {
    pub fn new(facts: impl IntoIterator<Item = String>) -> Result<Self, RootCacheError> {
        let program =
            crate::executable::digest().map_err(failed("read", Path::new("/proc/self/exe")))?;
        let mut hasher = Sha256::new();
        hasher.update(b"livecompose installed root 1\n");
        hasher.update(program);
        for fact in facts {
            hasher.update(fact.as_bytes());
            hasher.update(b"\n");
        }
        Ok(RootKey(hex::encode(hasher.finalize())))
    }

    /// The first 12 digits: enough to tell entries apart in a message.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}

/// What the install said that the user should hear again when its root is
/// reused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The packages installed.
    pub packages: usize,
    /// The warnings the install gave.
    pub warnings: Vec<String>,
    /// The files' bytes, for the cache's bound.
    pub bytes: u64,
}

/// The cache's `roots/`.
#[derive(Debug)]
pub struct RootCache {
    dir: PathBuf,
}

/// A lookup's answer, holding the key's lock.
#[derive(Debug)]
pub enum Lookup {
    Found(CachedRoot),
    Missing(Reservation),
}

/// An entry found: restore it.
#[derive(Debug)]
pub struct CachedRoot {
    entry: PathBuf,
    pub key: RootKey,
    pub record: Record,
    _lock: File,
}

/// No entry: the build installs, then stores. Until then, other builds of
/// the same key wait.
#[derive(Debug)]
pub struct Reservation {
    dir: PathBuf,
    pub key: RootKey,
    lock: File,
}

/// A restored root's install log and what it cost.
#[derive(Debug)]
pub struct Restored {
    pub log: Vec<u8>,
    pub copied: Copied,
}

impl RootCache {
    /// The `roots/` of `cache_dir`, made private to root when new.
    pub fn open(cache_dir: &Path) -> Result<Self, RootCacheError> {
        let dir = cache_dir.join(DIR);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(failed("create", &dir))?;
        Ok(RootCache { dir })
    }

    /// Takes `key`'s lock and looks for its entry; with `reuse` false, a
    /// build that installs anew (`--no-incremental`), it finds none, and
    /// the root it stores replaces the one kept. While another build holds
    /// the lock (it is installing the same root), `waiting` is called once
    /// and the lookup waits, stopping when the build is interrupted.
    pub fn lookup(
        &self,
        key: RootKey,
        reuse: bool,
        waiting: &mut dyn FnMut(),
    ) -> Result<Lookup, RootCacheError> {
        let lock = self.lock(&key, waiting)?;
        let entry = self.dir.join(&key.0);
        // An entry is moved into place complete, so one without a readable
        // record was damaged since: it is installed (and stored) anew.
        match read_record(&entry).filter(|_| reuse) {
            Some(record) => Ok(Lookup::Found(CachedRoot {
                entry,
                key,
                record,
                _lock: lock,
            })),
            None => {
                if entry.exists() {
                    remove_entry(&self.dir, &entry)?;
                }
                Ok(Lookup::Missing(Reservation {
                    dir: self.dir.clone(),
                    key,
                    lock,
                }))
            }
        }
    }

    fn lock(&self, key: &RootKey, waiting: &mut dyn FnMut()) -> Result<File, RootCacheError> {
        let path = self.dir.join(format!("{}.lock", key.0));
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(failed("open", &path))?;
        let mut told = false;
        loop {
            match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return Ok(file),
                Err(rustix::io::Errno::WOULDBLOCK) => {
                    if !told {
                        waiting();
                        told = true;
                    }
                    interrupt::check()?;
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(error) => return Err(failed("lock", &path)(error.into())),
            }
        }
    }
}

impl CachedRoot {
    /// The entry's directory: later stages keep what they derive from this
    /// root beside it (it goes when the entry goes).
    pub fn entry(&self) -> &Path {
        &self.entry
    }

    /// Copies the root to `to` (which must not exist) and marks the entry
    /// as just used.
    pub fn restore(&self, to: &Path) -> Result<Restored, RootCacheError> {
        let copied = tree_copy::copy_tree(&self.entry.join(ROOT), to)?;
        let log_path = self.entry.join(LOG);
        let log = std::fs::read(&log_path).map_err(failed("read", &log_path))?;
        // Its record's time says when it was last used, for the bound.
        let record = self.entry.join(RECORD);
        File::options()
            .append(true)
            .open(&record)
            .and_then(|file| file.set_modified(SystemTime::now()))
            .map_err(failed("mark as used", &record))?;
        Ok(Restored { log, copied })
    }
}

impl Reservation {
    /// Stores a copy of the installed `root`, with the install's `log` and
    /// `record`, then drops the least recently used entries beyond the
    /// bound; returns the entry's directory.
    pub fn store(
        self,
        root: &Path,
        log: &[u8],
        mut record: Record,
    ) -> Result<PathBuf, RootCacheError> {
        let staging = tempfile::Builder::new()
            .prefix(".new-")
            .tempdir_in(&self.dir)
            .map_err(failed("create a directory in", &self.dir))?;
        record.bytes = tree_copy::copy_tree(root, &staging.path().join(ROOT))?.bytes;
        let log_path = staging.path().join(LOG);
        std::fs::write(&log_path, log).map_err(failed("write", &log_path))?;
        let record_path = staging.path().join(RECORD);
        let json = serde_json::to_vec_pretty(&record).map_err(io::Error::from);
        json.and_then(|json| std::fs::write(&record_path, json))
            .map_err(failed("write", &record_path))?;
        let entry = self.dir.join(&self.key.0);
        std::fs::rename(staging.keep(), &entry).map_err(failed("store", &entry))?;
        evict(&self.dir, &entry, MAX_BYTES)?;
        drop(self.lock);
        Ok(entry)
    }
}

fn read_record(entry: &Path) -> Option<Record> {
    let mut text = Vec::new();
    File::open(entry.join(RECORD))
        .ok()?
        .read_to_end(&mut text)
        .ok()?;
    let record: Record = serde_json::from_slice(&text).ok()?;
    (entry.join(ROOT).is_dir() && entry.join(LOG).is_file()).then_some(record)
}

/// Removes `entry` out of sight first (renamed into a hidden name), so that
/// an interrupted removal leaves no half entry under its key.
fn remove_entry(dir: &Path, entry: &Path) -> Result<(), RootCacheError> {
    let doomed = tempfile::Builder::new()
        .prefix(".old-")
        .tempdir_in(dir)
        .map_err(failed("create a directory in", dir))?;
    let moved = doomed.path().join("entry");
    std::fs::rename(entry, &moved).map_err(failed("remove", entry))?;
    // The temporary directory removes it when dropped.
    drop(doomed);
    Ok(())
}

/// Keeps the most recently used entries while they fit in `limit` bytes
/// (`keep`, just stored, always stays); an entry another build holds the
/// lock of is left alone.
fn evict(dir: &Path, keep: &Path, limit: u64) -> Result<(), RootCacheError> {
    let mut entries = Vec::new();
    for item in std::fs::read_dir(dir).map_err(failed("list", dir))? {
        let path = item.map_err(failed("list", dir))?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with('.') || name.ends_with(".lock") || !path.is_dir() {
            continue;
        }
        let Some(record) = read_record(&path) else {
            continue;
        };
        let used = std::fs::metadata(path.join(RECORD))
            .and_then(|meta| meta.modified())
            .unwrap_or(SystemTime::UNIX_EPOCH);
        // What later stages keep beside the root (the squashfs memo) counts too.
        let beside: u64 = std::fs::read_dir(&path)
            .map(|items| {
                items
                    .filter_map(|item| item.ok()?.metadata().ok())
                    .filter(|meta| meta.is_file())
                    .map(|meta| meta.len())
                    .sum()
            })
            .unwrap_or(0);
        entries.push((
            path != keep,
            std::cmp::Reverse(used),
            record.bytes + beside,
            path,
        ));
    }
    // The one kept first, then the most recently used.
    entries.sort();
    let mut total = 0u64;
    for (_, _, bytes, path) in entries {
        total = total.saturating_add(bytes);
        if total <= limit || path == keep {
            continue;
        }
        let Some(key) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let lock_path = dir.join(format!("{key}.lock"));
        let Ok(lock) = File::options().write(true).open(&lock_path) else {
            continue;
        };
        if rustix::fs::flock(&lock, FlockOperation::NonBlockingLockExclusive).is_ok() {
            remove_entry(dir, &path)?;
            // The lock file goes with its entry; nobody holds it now.
            std::fs::remove_file(&lock_path).map_err(failed("remove", &lock_path))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(fact: &str) -> RootKey {
        RootKey::new([fact.to_owned()]).unwrap()
    }

    fn root_with(dir: &Path, content: &str) -> PathBuf {
        let root = dir.join(format!("root-{}", &content[..content.len().min(24)]));
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/content"), content).unwrap();
        root
    }

    #[test]
    fn a_stored_root_is_found_and_restored_with_its_log_and_warnings() {
        let dir = tempfile::tempdir().unwrap();
        let cache = RootCache::open(&dir.path().join("cache")).unwrap();
        let Lookup::Missing(reservation) = cache.lookup(key("a"), true, &mut || {}).unwrap() else {
            panic!("an empty cache found a root");
        };
        let record = Record {
            packages: 3,
            warnings: vec!["a conflict let through".into()],
            bytes: 0,
        };
        reservation
            .store(&root_with(dir.path(), "first"), b"script output\n", record)
            .unwrap();
        let Lookup::Found(found) = cache.lookup(key("a"), true, &mut || {}).unwrap() else {
            panic!("the stored root was not found");
        };
        assert_eq!(found.record.packages, 3);
        assert_eq!(found.record.warnings, ["a conflict let through"]);
        assert_eq!(found.record.bytes, 5);
        let restored = found.restore(&dir.path().join("restored")).unwrap();
        assert_eq!(restored.log, b"script output\n");
        assert_eq!(
            std::fs::read(dir.path().join("restored/etc/content")).unwrap(),
            b"first"
        );
        drop(found);
        assert!(matches!(
            cache.lookup(key("b"), true, &mut || {}).unwrap(),
            Lookup::Missing(_)
        ));
    }

    #[test]
    fn without_reuse_a_kept_root_is_installed_anew_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let cache = RootCache::open(dir.path()).unwrap();
        for content in ["old", "new"] {
            let Lookup::Missing(reservation) = cache.lookup(key("a"), false, &mut || {}).unwrap()
            else {
                panic!("reused without reuse");
            };
            reservation
                .store(&root_with(dir.path(), content), b"", Record::default())
                .unwrap();
        }
        let Lookup::Found(found) = cache.lookup(key("a"), true, &mut || {}).unwrap() else {
            panic!("not kept");
        };
        found.restore(&dir.path().join("restored")).unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("restored/etc/content")).unwrap(),
            b"new"
        );
    }

    #[test]
    fn a_damaged_entry_is_installed_anew() {
        let dir = tempfile::tempdir().unwrap();
        let cache = RootCache::open(dir.path()).unwrap();
        let Lookup::Missing(reservation) = cache.lookup(key("a"), true, &mut || {}).unwrap() else {
            panic!("found");
        };
        reservation
            .store(&root_with(dir.path(), "x"), b"", Record::default())
            .unwrap();
        let entry = dir.path().join(DIR).join(&key("a").0);
        std::fs::write(entry.join(RECORD), b"{ torn").unwrap();
        assert!(matches!(
            cache.lookup(key("a"), true, &mut || {}).unwrap(),
            Lookup::Missing(_)
        ));
        assert!(!entry.exists());
    }

    #[test]
    fn the_key_covers_every_fact_and_their_order() {
        let two = |a: &str, b: &str| RootKey::new([a.to_owned(), b.to_owned()]).unwrap();
        assert_eq!(two("p 1", "q 2"), two("p 1", "q 2"));
        assert_ne!(two("p 1", "q 2"), two("q 2", "p 1"));
        assert_ne!(two("p 1", "q 2"), two("p 1", "q 3"));
    }

    #[test]
    fn a_second_build_of_the_same_key_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let cache = RootCache::open(dir.path()).unwrap();
        let Lookup::Missing(first) = cache.lookup(key("a"), true, &mut || {}).unwrap() else {
            panic!("found");
        };
        let root = root_with(dir.path(), "shared");
        let storer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            first.store(&root, b"", Record::default()).unwrap();
        });
        let mut waited = false;
        let second = cache.lookup(key("a"), true, &mut || waited = true).unwrap();
        storer.join().unwrap();
        assert!(waited);
        assert!(matches!(second, Lookup::Found(_)));
    }

    #[test]
    fn the_least_recently_used_entries_go_beyond_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let cache = RootCache::open(dir.path()).unwrap();
        for (name, age) in [("old", 300), ("recent", 100), ("new", 0)] {
            let Lookup::Missing(reservation) = cache.lookup(key(name), true, &mut || {}).unwrap()
            else {
                panic!("found");
            };
            let record = Record {
                bytes: 0,
                ..Record::default()
            };
            reservation
                .store(&root_with(dir.path(), &name.repeat(1000)), b"", record)
                .unwrap();
            let used = SystemTime::now() - Duration::from_secs(age);
            let record = cache.dir.join(&key(name).0).join(RECORD);
            File::options()
                .append(true)
                .open(record)
                .unwrap()
                .set_modified(used)
                .unwrap();
        }
        // Each root holds 3 to 6 kB, and its record a few bytes: 10 kB fit
        // two of them.
        evict(&cache.dir, &cache.dir.join(&key("new").0), 10_000).unwrap();
        let left = |name: &str| cache.dir.join(&key(name).0).exists();
        assert!(left("new") && left("recent") && !left("old"));
    }
}
