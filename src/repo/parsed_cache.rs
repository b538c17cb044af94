//! Parsed indexes kept between builds, as apt keeps `pkgcache.bin`: a
//! rebuild, a `resolve` or a `--dry-run` skips decompressing, hashing and
//! parsing an index it has read before.
//!
//! An entry is named by the SHA-256 that the signed `Release` (or
//! `repomd.xml`) gives for the index it was parsed from, so it can be neither
//! stale nor forged by a mirror: a changed index has another name. What the
//! entry holds is checked before use: a magic, a fingerprint of the parser
//! that wrote it (the source of the parsed types, so a livecompose with
//! other types never misreads it) and the SHA-256 of its payload (a torn or
//! damaged file is parsed again, never trusted). The cache directory is the
//! package cache's, root's alone.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest as _, Sha256};

use crate::parallel;

const MAGIC: &[u8; 8] = b"LCPARSE1";

/// Changes whenever a parsed type or its parser changes: a hash of their
/// source, taken at compile time.
const FINGERPRINT: u64 = fingerprint(&[
    include_bytes!("packages.rs"),
    include_bytes!("relation.rs"),
    include_bytes!("parsed_cache.rs"),
]);

/// FNV-1a over `parts`: a const fn, so the fingerprint is a constant.
const fn fingerprint(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut part = 0;
    while part < parts.len() {
        let bytes = parts[part];
        let mut i = 0;
        while i < bytes.len() {
            hash ^= bytes[i] as u64;
            hash = hash.wrapping_mul(0x0100_0000_01b3);
            i += 1;
        }
        part += 1;
    }
    hash
}

/// The parsed-index cache under a package cache directory.
#[derive(Debug, Clone)]
pub struct ParsedCache {
    dir: PathBuf,
}

impl ParsedCache {
    pub fn new(cache_dir: &Path) -> Self {
        ParsedCache {
            dir: cache_dir.join("parsed"),
        }
    }

    fn path(&self, index_sha256: &str) -> PathBuf {
        self.dir.join(index_sha256)
    }

    /// The list parsed before from the index whose SHA-256 is
    /// `index_sha256`, if a sound entry holds it.
    pub fn load<T: DeserializeOwned + Send>(&self, index_sha256: &str) -> Option<Vec<T>> {
        if !is_sha256(index_sha256) {
            return None;
        }
        decode(&std::fs::read(self.path(index_sha256)).ok()?)
    }

    /// Keeps `items`, parsed from the index whose SHA-256 is
    /// `index_sha256`. Written to a temporary file and renamed, so a reader
    /// sees a whole entry or none; a cache that cannot be written only
    /// makes the next build parse again, so the error is the caller's to
    /// ignore.
    pub fn store<T: Serialize>(&self, index_sha256: &str, items: &[T]) -> std::io::Result<()> {
        if !is_sha256(index_sha256) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a SHA-256",
            ));
        }
        let entry = encode(items).map_err(std::io::Error::other)?;
        std::fs::create_dir_all(&self.dir)?;
        let mut temp = tempfile::NamedTempFile::new_in(&self.dir)?;
        temp.write_all(&entry)?;
        temp.persist(self.path(index_sha256))
            .map_err(|error| error.error)?;
        Ok(())
    }
}

/// A list is kept as this many postcard chunks, decoded side by side (the
/// archive's main index takes a quarter of a second on one core). Fixed, so
/// an entry's bytes never depend on the machine that wrote it.
const CHUNKS: usize = 8;

/// An entry's bytes: the magic, the fingerprint, the payload's SHA-256,
/// the payload: the number of chunks, each chunk's length (u64, little
/// endian), the chunks, each a postcard list of a share of `items`.
pub fn encode<T: Serialize>(items: &[T]) -> Result<Vec<u8>, postcard::Error> {
    let share = items.len().div_ceil(CHUNKS).max(1);
    let chunks = items
        .chunks(share)
        .map(postcard::to_stdvec)
        .collect::<Result<Vec<_>, _>>()?;
    let mut payload = Vec::new();
    payload.extend_from_slice(&(chunks.len() as u32).to_le_bytes());
    for chunk in &chunks {
        payload.extend_from_slice(&(chunk.len() as u64).to_le_bytes());
    }
    for chunk in &chunks {
        payload.extend_from_slice(chunk);
    }
    let mut entry = Vec::with_capacity(HEADER + payload.len());
    entry.extend_from_slice(MAGIC);
    entry.extend_from_slice(&FINGERPRINT.to_le_bytes());
    entry.extend_from_slice(&Sha256::digest(&payload));
    entry.extend_from_slice(&payload);
    Ok(entry)
}

/// The list in an entry's bytes, if they are a sound entry of this
/// livecompose.
pub fn decode<T: DeserializeOwned + Send>(entry: &[u8]) -> Option<Vec<T>> {
    if entry.len() < HEADER || &entry[..MAGIC.len()] != MAGIC {
        return None;
    }
    let (fingerprint, rest) = entry[MAGIC.len()..].split_at(8);
    let (digest, payload) = rest.split_at(32);
    if fingerprint != FINGERPRINT.to_le_bytes() || digest != Sha256::digest(payload).as_slice() {
        return None;
    }
    let chunks = split_chunks(payload)?;
    let lists = parallel::try_map(&chunks, |chunk| postcard::from_bytes::<Vec<T>>(chunk)).ok()?;
    Some(lists.into_iter().flatten().collect())
}

/// The chunks of a payload, each checked to lie inside it.
fn split_chunks(payload: &[u8]) -> Option<Vec<&[u8]>> {
    let count = u32::from_le_bytes(payload.get(..4)?.try_into().ok()?) as usize;
    let lengths_end = 4usize.checked_add(count.checked_mul(8)?)?;
    let lengths = payload.get(4..lengths_end)?;
    let mut at = lengths_end;
    let mut chunks = Vec::with_capacity(count);
    for length in lengths.chunks_exact(8) {
        let length = usize::try_from(u64::from_le_bytes(length.try_into().ok()?)).ok()?;
        let end = at.checked_add(length)?;
        chunks.push(payload.get(at..end)?);
        at = end;
    }
    (at == payload.len()).then_some(chunks)
}

const HEADER: usize = MAGIC.len() + 8 + 32;

/// Only a hex SHA-256 names an entry: never a path.
fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|byte| byte.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4";

    #[test]
    fn a_stored_value_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ParsedCache::new(dir.path());
        let value = vec![("bash".to_owned(), 5u64), ("dash".to_owned(), 0)];
        cache.store(KEY, &value).unwrap();
        assert_eq!(cache.load::<(String, u64)>(KEY), Some(value));
        assert_eq!(cache.load::<(String, u64)>(&KEY.replace('8', "9")), None);
    }

    /// Chunked for decoding side by side, a list comes back whole and in
    /// order, whatever its length against the number of chunks.
    #[test]
    fn lists_of_every_length_come_back_in_order() {
        for length in [0usize, 1, 7, 8, 9, 1000] {
            let list: Vec<u32> = (0..length as u32).collect();
            let entry = encode(&list).unwrap();
            assert_eq!(decode::<u32>(&entry), Some(list));
        }
    }

    #[test]
    fn a_damaged_or_foreign_entry_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ParsedCache::new(dir.path());
        cache.store(KEY, &[1u32, 2, 3]).unwrap();
        let path = cache.path(KEY);
        let good = std::fs::read(&path).unwrap();
        // A flipped payload byte, a torn file, another parser's entry.
        let mut flipped = good.clone();
        *flipped.last_mut().unwrap() ^= 1;
        let mut foreign = good.clone();
        foreign[MAGIC.len()] ^= 1;
        for bad in [
            flipped,
            good[..good.len() - 1].to_vec(),
            foreign,
            Vec::new(),
        ] {
            std::fs::write(&path, &bad).unwrap();
            assert_eq!(cache.load::<u32>(KEY), None);
        }
    }

    #[test]
    fn only_a_sha256_names_an_entry() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ParsedCache::new(dir.path());
        assert!(cache.store("../escape", &[1u8]).is_err());
        assert_eq!(cache.load::<u8>("../escape"), None);
        assert!(!dir.path().join("escape").exists());
    }
}
