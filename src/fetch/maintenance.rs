//! `livecompose cache`: what the cache holds, and emptying it, as `apt
//! clean` and `dnf clean all` do.
//!
//! Builds hold a shared lock on the cache for as long as their [`Fetcher`]
//! lives (from the first index to the last package read), so that pruning,
//! which takes it exclusively, never pulls a package from under a build
//! that has checked it.
//!
//! [`Fetcher`]: super::Fetcher

use std::fs::File;
use std::path::{Path, PathBuf};

use rustix::fs::FlockOperation;

use super::FetchError;

/// The lock file in the cache directory; the only entry pruning keeps.
const LOCK: &str = ".lock";

/// A hold on the cache: shared for a build, exclusive for pruning. Released
/// when dropped (when its file closes).
#[derive(Debug)]
pub struct CacheHold(#[allow(dead_code, reason = "held for its lock")] File);

impl CacheHold {
    /// Shared: builds use the cache side by side; waits while it is being
    /// pruned.
    pub fn shared(cache_dir: &Path) -> Result<Self, FetchError> {
        Self::take(cache_dir, FlockOperation::LockShared)
    }

    /// Exclusive, without waiting: `None` while a build holds the cache.
    fn exclusive(cache_dir: &Path) -> Result<Option<Self>, FetchError> {
        match Self::take(cache_dir, FlockOperation::NonBlockingLockExclusive) {
            Ok(hold) => Ok(Some(hold)),
            Err(FetchError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::WouldBlock =>
            {
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    fn take(cache_dir: &Path, operation: FlockOperation) -> Result<Self, FetchError> {
        let path = cache_dir.join(LOCK);
        let context = || format!("locking the cache {}", cache_dir.display());
        std::fs::create_dir_all(cache_dir).map_err(|e| FetchError::io(context(), e))?;
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| FetchError::io(context(), e))?;
        rustix::fs::flock(&file, operation).map_err(|e| FetchError::io(context(), e.into()))?;
        Ok(CacheHold(file))
    }
}

/// One part of the cache: a directory in it and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachePart {
    pub name: String,
    pub files: u64,
    pub bytes: u64,
}

impl CachePart {
    /// What the part holds, for a person.
    pub fn describe(&self) -> &'static str {
        match self.name.as_str() {
            "sha256" => "verified downloads (packages and indexes), named by SHA-256",
            "partial" => "unfinished downloads, resumed by the next build",
            "parsed" => "parsed indexes, named by the SHA-256 their signed Release gives",
            crate::install::root_cache::DIR => {
                "installed roots, reused by builds of the same packages (--no-incremental)"
            }
            _ => "kept by another version of livecompose",
        }
    }
}

/// What the cache at `cache_dir` holds, part by part (none when it does not
/// exist).
pub fn usage(cache_dir: &Path) -> Result<Vec<CachePart>, FetchError> {
    let mut parts = Vec::new();
    for entry in entries(cache_dir)? {
        let (files, bytes) = tally(&entry)?;
        parts.push(CachePart {
            name: entry
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default(),
            files,
            bytes,
        });
    }
    parts.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(parts)
}

/// Empties the cache at `cache_dir`, returning what it held; refused while
/// a build uses it.
pub fn prune(cache_dir: &Path) -> Result<Vec<CachePart>, PruneError> {
    let Some(_hold) = CacheHold::exclusive(cache_dir)? else {
        return Err(PruneError::InUse(cache_dir.to_owned()));
    };
    let held = usage(cache_dir)?;
    for entry in entries(cache_dir)? {
        let removed = if entry.is_dir() && !entry.is_symlink() {
            std::fs::remove_dir_all(&entry)
        } else {
            std::fs::remove_file(&entry)
        };
        removed.map_err(|e| FetchError::io(format!("removing {}", entry.display()), e))?;
    }
    Ok(held)
}

#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    #[error("{}: a build is using the cache; prune it when the build has ended", .0.display())]
    InUse(PathBuf),
    #[error(transparent)]
    Fetch(#[from] FetchError),
}

/// The cache's entries but its lock.
fn entries(cache_dir: &Path) -> Result<Vec<PathBuf>, FetchError> {
    let context = || format!("reading the cache {}", cache_dir.display());
    let read = match std::fs::read_dir(cache_dir) {
        Ok(read) => read,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(FetchError::io(context(), e)),
    };
    let mut paths = Vec::new();
    for entry in read {
        let entry = entry.map_err(|e| FetchError::io(context(), e))?;
        if entry.file_name() != LOCK {
            paths.push(entry.path());
        }
    }
    Ok(paths)
}

/// Files and bytes under `path` (symlinks are counted, never followed).
fn tally(path: &Path) -> Result<(u64, u64), FetchError> {
    let context = || format!("reading the cache {}", path.display());
    let metadata = path
        .symlink_metadata()
        .map_err(|e| FetchError::io(context(), e))?;
    if !metadata.is_dir() {
        return Ok((1, metadata.len()));
    }
    let mut total = (0, 0);
    for entry in std::fs::read_dir(path).map_err(|e| FetchError::io(context(), e))? {
        let entry = entry.map_err(|e| FetchError::io(context(), e))?;
        let (files, bytes) = tally(&entry.path())?;
        total.0 += files;
        total.1 += bytes;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_counts_each_part_and_prune_empties_all_but_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path();
        std::fs::create_dir_all(cache.join("sha256")).unwrap();
        std::fs::create_dir_all(cache.join("parsed")).unwrap();
        std::fs::write(cache.join("sha256/a"), b"abc").unwrap();
        std::fs::write(cache.join("sha256/b"), b"de").unwrap();
        std::fs::write(cache.join("parsed/c"), b"f").unwrap();
        std::os::unix::fs::symlink("/etc", cache.join("stray-link")).unwrap();
        let parts = usage(cache).unwrap();
        let summary: Vec<_> = parts
            .iter()
            .map(|p| (p.name.as_str(), p.files, p.bytes))
            .collect();
        assert_eq!(
            summary,
            [("parsed", 1, 1), ("sha256", 2, 5), ("stray-link", 1, 4)]
        );
        assert_eq!(prune(cache).unwrap(), parts);
        assert!(usage(cache).unwrap().is_empty());
        // The link was removed, not what it pointed to.
        assert!(Path::new("/etc").is_dir());
        assert!(cache.join(LOCK).exists());
    }

    #[test]
    fn prune_is_refused_while_a_build_holds_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sha256")).unwrap();
        let build = CacheHold::shared(dir.path()).unwrap();
        let second_build = CacheHold::shared(dir.path()).unwrap();
        assert!(matches!(prune(dir.path()), Err(PruneError::InUse(_))));
        drop((build, second_build));
        prune(dir.path()).unwrap();
        assert!(!dir.path().join("sha256").exists());
    }

    #[test]
    fn a_missing_cache_holds_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(usage(&dir.path().join("none")).unwrap().is_empty());
    }
}
