//! The resumable half of a download: `<cache>/partial/<sha256>`, grown by
//! appending, renamed into the cache once verified.
//!
//! The file is held under an exclusive `flock` for as long as a download
//! writes to it, so two workers (or two livecompose runs sharing a cache)
//! that want the same content never interleave their bytes: the second
//! waits, then finds the finished file in the cache.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::FetchError;
use crate::checksum::{ChecksumKind, Hasher};

pub(super) struct Partial {
    path: PathBuf,
    file: File,
}

impl Partial {
    /// Opens (creating) and locks the partial file at `path`, waiting while
    /// another download of the same content holds it.
    pub(super) fn lock(path: &Path) -> Result<Partial, FetchError> {
        let context = || format!("locking {}", path.display());
        loop {
            let file = OpenOptions::new()
                .read(true)
                .append(true)
                .create(true)
                .open(path)
                .map_err(|e| FetchError::io(context(), e))?;
            rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
                .map_err(|e| FetchError::io(context(), e.into()))?;
            // While we waited, the holder may have renamed this very file into
            // the cache or removed it; then the lock guards nothing and the
            // name must be opened afresh.
            let held = file.metadata().map_err(|e| FetchError::io(context(), e))?;
            let named = match std::fs::metadata(path) {
                Ok(m) => Some(m),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(FetchError::io(context(), e)),
            };
            if named.is_some_and(|m| m.dev() == held.dev() && m.ino() == held.ino()) {
                return Ok(Partial {
                    path: path.to_owned(),
                    file,
                });
            }
        }
    }

    pub(super) fn len(&self) -> std::io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    /// Throws the content away, to start over from the first byte.
    pub(super) fn clear(&mut self) -> std::io::Result<()> {
        self.file.set_len(0)
    }

    pub(super) fn append(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.file.write_all(data)
    }

    /// A hasher that has already seen the first `len` bytes, so a resumed
    /// download is still checked as one whole file.
    pub(super) fn hash_prefix(&self, kind: ChecksumKind, len: u64) -> std::io::Result<Hasher> {
        let mut hasher = kind.hasher();
        let copied = std::io::copy(&mut File::open(&self.path)?.take(len), &mut hasher)?;
        if copied != len {
            return Err(std::io::Error::other(format!(
                "{} shrank while being read",
                self.path.display()
            )));
        }
        Ok(hasher)
    }

    /// Moves the complete, verified file to `dest`.
    pub(super) fn persist(self, dest: &Path) -> Result<(), FetchError> {
        self.file
            .sync_all()
            .map_err(|e| FetchError::io(format!("syncing {}", self.path.display()), e))?;
        std::fs::rename(&self.path, dest).map_err(|e| {
            FetchError::io(
                format!("moving {} to {}", self.path.display(), dest.display()),
                e,
            )
        })
    }

    /// Deletes the file: its bytes are useless (wrong content, or the
    /// complete file is already in the cache).
    pub(super) fn remove(self) -> Result<(), FetchError> {
        std::fs::remove_file(&self.path)
            .map_err(|e| FetchError::io(format!("removing {}", self.path.display()), e))
    }

    /// Keeps a non-empty file for the next attempt or run to resume from;
    /// an empty one is only clutter.
    pub(super) fn keep_for_resume(self) -> Result<(), FetchError> {
        match self.len() {
            Ok(0) => self.remove(),
            Ok(_) => Ok(()),
            Err(e) => Err(FetchError::io(
                format!("reading {}", self.path.display()),
                e,
            )),
        }
    }
}
