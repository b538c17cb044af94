//! Downloads over `http://`, `https://` and `file://`, with a cache keyed by
//! SHA-256.
//!
//! Anything whose hash is known in advance (indexes listed in a verified
//! Release, `.deb` files listed in a verified index) goes through
//! [`Fetcher::fetch_verified`] or, many at once, [`Fetcher::fetch_all`]: the
//! body is appended to `<cache>/partial/<sha256>`, and only once the whole
//! file has the right size and hash is it renamed to `<cache>/sha256/<sha256>`.
//! An interrupted download keeps its partial file, and the next attempt (or
//! the next run) asks the server for the rest with an HTTP `Range` request.
//! A file in `sha256/` is hashed again before each reuse, so a corrupted
//! entry is noticed and fetched anew.

pub mod maintenance;
mod partial;
mod pool;
mod transport;

pub use pool::Download;
pub use transport::{CertificateCheck, Transport, TransportError, TrustedRoots, check_proxy};

use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};

use partial::Partial;

use crate::checksum::{Checksum, ChecksumError, ChecksumKind};

/// Documents fetched without a known hash (Release files) are small; this
/// bounds what a hostile or broken server can make us hold in memory.
const UNVERIFIED_LIMIT: u64 = 64 * 1024 * 1024;

const CHUNK: usize = 64 * 1024;

/// Advice shared by the errors that mean "the mirror serves other bytes than
/// the signed metadata promises".
const MIRROR_ADVICE: &str = "the mirror is out of sync with its own index (an update in \
                             progress, a stale or broken mirror, or a tampering proxy); retry \
                             later or use another mirror";

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("unsupported URL {url:?}: only http://, https:// and file:// are supported")]
    UnsupportedUrl { url: String },
    #[error("{url}: server answered HTTP {status}; check the URL and the mirror's configuration")]
    HttpStatus { url: String, status: u16 },
    #[error(
        "{url}: the server redirects to plain HTTP ({to}), which is refused for an https:// URL; use a mirror that stays on HTTPS"
    )]
    InsecureRedirect { url: String, to: String },
    #[error(
        "{url}: TLS failed: {message}; if the server's certificate comes from a private CA, give that CA with --ca FILE (--noverifyssl on the repository's line turns the check off, which is unsafe)"
    )]
    Tls { url: String, message: String },
    #[error(
        "{url}: not found on the mirror; if the index that lists it was just fetched, {MIRROR_ADVICE}"
    )]
    NotFound { url: String },
    #[error(
        "{url}: network error after {attempts} attempt(s): {message}; check the network and the \
         mirror URL; a rerun resumes what was already downloaded"
    )]
    Network {
        url: String,
        attempts: u32,
        message: String,
    },
    #[error(
        "{url}: size mismatch: expected {expected} bytes, the mirror has {actual}; {MIRROR_ADVICE}"
    )]
    SizeMismatch {
        url: String,
        expected: u64,
        actual: u64,
    },
    #[error("{url}: {} mismatch: expected {expected}, got {actual}; {MIRROR_ADVICE}", kind.name().to_uppercase())]
    HashMismatch {
        url: String,
        kind: ChecksumKind,
        expected: String,
        actual: String,
    },
    #[error("{url}: larger than the {limit}-byte limit for unverified downloads")]
    TooLarge { url: String, limit: u64 },
    #[error("{url}: download stopped because another download failed")]
    Cancelled { url: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("invalid digest: {0}")]
    InvalidDigest(#[from] ChecksumError),
}

impl FetchError {
    fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        FetchError::Io {
            context: context.into(),
            source,
        }
    }
}

/// What a download must turn out to be.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Expected {
    pub size: u64,
    pub checksum: Checksum,
}

impl Expected {
    /// `sha256` is hex, either case.
    pub fn new(size: u64, sha256: &str) -> Result<Self, FetchError> {
        Ok(Expected {
            size,
            checksum: Checksum::new(ChecksumKind::Sha256.name(), sha256)?,
        })
    }
}

/// Progress of verified downloads, as changes to a running byte count: the
/// sum of `Added` minus `Discarded` over all URLs is what is on disk, so one
/// overall bar (total: the sum of the expected sizes) follows every worker
/// of [`Fetcher::fetch_all`] at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress<'a> {
    /// `bytes` more of `url` are on disk: received, or found already in
    /// the cache or in a partial download.
    Added { url: &'a str, bytes: u64 },
    /// `bytes` counted for `url` were thrown away: the server would not
    /// resume, or what was kept turned out to be wrong.
    Discarded { url: &'a str, bytes: u64 },
    /// `url` is complete and verified in the cache.
    Finished { url: &'a str },
}

pub type ProgressFn = Arc<dyn Fn(Progress<'_>) + Send + Sync>;

/// A blocking downloader with a verified content cache.
#[derive(Clone)]
pub struct Fetcher {
    cache_dir: PathBuf,
    agents: transport::Agents,
    /// How this fetcher's requests go out; see [`Fetcher::through`].
    transport: Transport,
    attempts: u32,
    backoff: Duration,
    progress: Option<ProgressFn>,
    /// Keeps `livecompose cache --prune` away while this fetcher, or a
    /// clone, lives.
    _hold: Arc<maintenance::CacheHold>,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("cache_dir", &self.cache_dir)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

impl Fetcher {
    /// A fetcher that caches under `cache_dir` (created if missing).
    pub fn new(cache_dir: impl Into<PathBuf>) -> Result<Self, FetchError> {
        let cache_dir = cache_dir.into();
        let hold = maintenance::CacheHold::shared(&cache_dir)?;
        for dir in [ChecksumKind::Sha256.name(), "partial"] {
            let dir = cache_dir.join(dir);
            std::fs::create_dir_all(&dir)
                .map_err(|e| FetchError::io(format!("creating cache {}", dir.display()), e))?;
        }
        Ok(Fetcher {
            cache_dir,
            agents: transport::Agents::new(TrustedRoots::bundled_and_host()),
            transport: Transport::default(),
            attempts: 3,
            backoff: Duration::from_millis(500),
            progress: None,
            _hold: Arc::new(hold),
        })
    }

    /// How many times to try a download that fails on the network (min 1).
    pub fn with_attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// The pause before the second attempt; it doubles for each later one.
    pub fn with_backoff(mut self, backoff: Duration) -> Self {
        self.backoff = backoff;
        self
    }

    /// Trusts exactly these certificate authorities (the bundled roots,
    /// the host's and `--ca`'s: see [`TrustedRoots`]).
    pub fn with_roots(mut self, roots: TrustedRoots) -> Self {
        self.agents = transport::Agents::new(roots);
        self
    }

    pub fn roots(&self) -> &TrustedRoots {
        self.agents.roots()
    }

    /// This fetcher (same cache, same connections), sending its requests
    /// the way `transport` says: a repository's proxy and certificate check.
    pub fn through(&self, transport: &Transport) -> Fetcher {
        Fetcher {
            transport: transport.clone(),
            ..self.clone()
        }
    }

    pub fn with_progress(mut self, progress: ProgressFn) -> Self {
        self.progress = Some(progress);
        self
    }

    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// Where a file with this content lives in the cache: named by its
    /// digest, in a directory per algorithm.
    pub fn cache_path(&self, expected: &Expected) -> PathBuf {
        let checksum = &expected.checksum;
        self.cache_dir
            .join(checksum.kind.name())
            .join(checksum.value())
    }

    /// Where an unfinished download of this content is kept for resuming
    /// (the algorithms' digests differ in length, so names cannot clash).
    pub fn partial_path(&self, expected: &Expected) -> PathBuf {
        self.cache_dir
            .join("partial")
            .join(expected.checksum.value())
    }

    /// Fetches a small document whose hash is not known in advance.
    pub fn fetch_bytes(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        self.with_retries(url, || {
            let body = self.open(url, 0)?;
            let mut buf = Vec::new();
            let read = body
                .reader
                .take(UNVERIFIED_LIMIT + 1)
                .read_to_end(&mut buf)
                .map_err(|e| Attempt::Transient(e.to_string()))?;
            if read as u64 > UNVERIFIED_LIMIT {
                return Err(Attempt::Fatal(FetchError::TooLarge {
                    url: url.to_owned(),
                    limit: UNVERIFIED_LIMIT,
                }));
            }
            Ok(buf)
        })
    }

    /// Like [`Fetcher::fetch_bytes`], but a missing file is `Ok(None)`, for
    /// files a repository may legitimately lack (`InRelease`).
    pub fn fetch_optional(&self, url: &str) -> Result<Option<Vec<u8>>, FetchError> {
        match self.fetch_bytes(url) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(FetchError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Fetches `url` into the cache unless the content is already there, and
    /// returns the cached file's path. The file is verified before it appears.
    pub fn fetch_verified(&self, url: &str, expected: &Expected) -> Result<PathBuf, FetchError> {
        self.fetch_until(url, expected, &AtomicBool::new(false))
    }

    /// [`Fetcher::fetch_verified`] that gives up with
    /// [`FetchError::Cancelled`] between two chunks once `cancel` is set,
    /// keeping what it received for a later resume.
    fn fetch_until(
        &self,
        url: &str,
        expected: &Expected,
        cancel: &AtomicBool,
    ) -> Result<PathBuf, FetchError> {
        let dest = self.cache_path(expected);
        let mut tally = Tally::new(self, url);
        let mut partial = None;
        if !self.cache_holds(&dest, expected)? {
            let locked = Partial::lock(&self.partial_path(expected))?;
            // Whoever held the lock before us may have just finished this file.
            if self.cache_holds(&dest, expected)? {
                locked.remove()?;
            } else {
                partial = Some(locked);
            }
        }
        let Some(mut partial) = partial else {
            tally.set(expected.size);
            self.report(Progress::Finished { url });
            return Ok(dest);
        };
        let result = self.with_retries(url, || {
            let resumed = partial
                .len()
                .map_err(|e| Attempt::Fatal(FetchError::io("reading a partial download", e)))?
                > 0;
            match self.transfer(&mut partial, url, expected, &mut tally, cancel) {
                // Bytes kept from an earlier attempt may be what is wrong:
                // the mirror may have replaced the file since (the transfer
                // cleared them). Only a whole fresh copy is judged.
                Err(Attempt::Fatal(FetchError::HashMismatch { .. })) if resumed => {
                    self.transfer(&mut partial, url, expected, &mut tally, cancel)
                }
                other => other,
            }
        });
        match result {
            Ok(()) => {
                // Only the SHA-256 directory is made up front; others when
                // a repository first uses them.
                if let Some(dir) = dest.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        FetchError::io(format!("creating cache {}", dir.display()), e)
                    })?;
                }
                partial.persist(&dest)?;
                self.report(Progress::Finished { url });
                Ok(dest)
            }
            Err(e @ (FetchError::Network { .. } | FetchError::Cancelled { .. })) => {
                partial.keep_for_resume()?;
                Err(e)
            }
            Err(e) => {
                tally.set(0);
                partial.remove()?;
                Err(e)
            }
        }
    }

    /// Whether `dest` holds exactly `expected`. A file there that does not
    /// (a disk error, someone editing the cache) is deleted so that it is
    /// fetched again.
    fn cache_holds(&self, dest: &Path, expected: &Expected) -> Result<bool, FetchError> {
        let context = || format!("checking cached {}", dest.display());
        let mut file = match std::fs::File::open(dest) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(FetchError::io(context(), e)),
        };
        let len = file
            .metadata()
            .map_err(|e| FetchError::io(context(), e))?
            .len();
        if len == expected.size {
            let actual = expected
                .checksum
                .kind
                .digest(&mut file)
                .map_err(|e| FetchError::io(context(), e))?;
            if actual == expected.checksum {
                return Ok(true);
            }
        }
        match std::fs::remove_file(dest) {
            // Another download of the same content got there first.
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(FetchError::io(context(), e)),
            _ => Ok(false),
        }
    }

    /// One attempt: continues `partial` from where it stops (or restarts it
    /// when the server cannot resume) and checks the whole file.
    fn transfer(
        &self,
        partial: &mut Partial,
        url: &str,
        expected: &Expected,
        tally: &mut Tally<'_>,
        cancel: &AtomicBool,
    ) -> Result<(), Attempt> {
        let local = |e| Attempt::Fatal(FetchError::io("writing a partial download", e));
        let mut have = partial.len().map_err(local)?;
        if have > expected.size {
            partial.clear().map_err(local)?;
            have = 0;
        }
        tally.set(have);
        // A complete partial file (a crash between download and rename)
        // needs no network at all.
        let mut body = if have == expected.size {
            None
        } else {
            check_cancel(cancel, url)?;
            Some(self.open(url, have)?)
        };
        if let Some(b) = &body
            && b.start < have
        {
            partial.clear().map_err(local)?;
            tally.set(0);
            have = 0;
        }
        if let Some(announced) = body.as_ref().and_then(|b| b.len).map(|len| have + len)
            && announced != expected.size
        {
            return Err(Attempt::Fatal(FetchError::SizeMismatch {
                url: url.to_owned(),
                expected: expected.size,
                actual: announced,
            }));
        }
        let mut hasher = partial
            .hash_prefix(expected.checksum.kind, have)
            .map_err(local)?;
        if let Some(body) = &mut body {
            let mut chunk = vec![0u8; CHUNK];
            loop {
                check_cancel(cancel, url)?;
                let n = body
                    .reader
                    .read(&mut chunk)
                    .map_err(|e| Attempt::Transient(e.to_string()))?;
                if n == 0 {
                    break;
                }
                have += n as u64;
                if have > expected.size {
                    return Err(Attempt::Fatal(FetchError::SizeMismatch {
                        url: url.to_owned(),
                        expected: expected.size,
                        actual: have,
                    }));
                }
                hasher.update(&chunk[..n]);
                partial.append(&chunk[..n]).map_err(local)?;
                tally.set(have);
            }
            if have < expected.size {
                // A length announced up front that did not arrive is a cut
                // connection, worth resuming; without one, the file is short.
                return Err(if body.len.is_some() {
                    Attempt::Transient(format!(
                        "connection closed after {have} of {} bytes",
                        expected.size
                    ))
                } else {
                    Attempt::Fatal(FetchError::SizeMismatch {
                        url: url.to_owned(),
                        expected: expected.size,
                        actual: have,
                    })
                });
            }
        }
        let actual = hasher.finish();
        if actual != expected.checksum {
            partial.clear().map_err(local)?;
            tally.set(0);
            return Err(Attempt::Fatal(FetchError::HashMismatch {
                url: url.to_owned(),
                kind: actual.kind,
                expected: expected.checksum.value().to_owned(),
                actual: actual.value().to_owned(),
            }));
        }
        Ok(())
    }

    fn report(&self, event: Progress<'_>) {
        if let Some(progress) = &self.progress {
            progress(event);
        }
    }

    /// Runs `attempt` until it succeeds, fails for good, or has failed
    /// transiently (connection errors, timeouts, 5xx, 429) `self.attempts`
    /// times, with exponential backoff in between.
    fn with_retries<T>(
        &self,
        url: &str,
        mut attempt: impl FnMut() -> Result<T, Attempt>,
    ) -> Result<T, FetchError> {
        let mut last = String::new();
        for n in 1..=self.attempts {
            if n > 1 {
                std::thread::sleep(self.backoff * 2u32.pow(n - 2));
            }
            match attempt() {
                Ok(value) => return Ok(value),
                Err(Attempt::Fatal(e)) => return Err(e),
                Err(Attempt::Transient(message)) => last = message,
            }
        }
        Err(FetchError::Network {
            url: url.to_owned(),
            attempts: self.attempts,
            message: last,
        })
    }

    /// Opens `url`, asking for the bytes from `offset` on when it is not 0.
    /// The body says where it really starts: a server may send the whole
    /// file instead.
    fn open(&self, url: &str, offset: u64) -> Result<Body, Attempt> {
        if let Some(rest) = url.strip_prefix("file://") {
            return open_file(url, rest, offset);
        }
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(Attempt::Fatal(FetchError::UnsupportedUrl {
                url: url.to_owned(),
            }));
        }
        let mut request = self.agents.get(&self.transport).get(url);
        if url.starts_with("https://") {
            // A redirect to plain HTTP would hand the download to anyone on
            // the path; whatever vouches for the file later, it is refused.
            request = request.config().https_only(true).build();
        }
        if offset > 0 {
            request = request.header("Range", format!("bytes={offset}-"));
        }
        let response = request.call().map_err(|e| classify(url, e))?;
        let status = response.status().as_u16();
        match status {
            206 if offset > 0 => {
                let start = response
                    .headers()
                    .get("content-range")
                    .and_then(|v| v.to_str().ok())
                    .and_then(content_range_start);
                if start != Some(offset) {
                    // Not the part we asked for; the whole file is the safe bet.
                    return self.open(url, 0);
                }
                Ok(Body::http(response, offset))
            }
            // 416: nothing at or after `offset`, so the file there is not the
            // one we have the start of; take it whole and let the checks judge.
            416 if offset > 0 => self.open(url, 0),
            200..=299 => Ok(Body::http(response, 0)),
            404 | 410 => Err(Attempt::Fatal(FetchError::NotFound {
                url: url.to_owned(),
            })),
            408 | 429 | 500..=599 => Err(Attempt::Transient(format!("HTTP {status}"))),
            _ => Err(Attempt::Fatal(FetchError::HttpStatus {
                url: url.to_owned(),
                status,
            })),
        }
    }
}

/// An open download.
struct Body {
    reader: Box<dyn Read>,
    /// Offset in the file of the first byte `reader` yields.
    start: u64,
    /// How many bytes `reader` announced it would yield, if it did.
    len: Option<u64>,
}

impl Body {
    fn http(response: ureq::http::Response<ureq::Body>, start: u64) -> Body {
        let len = response.body().content_length();
        Body {
            reader: Box::new(response.into_body().into_reader()),
            start,
            len,
        }
    }
}

fn open_file(url: &str, rest: &str, offset: u64) -> Result<Body, Attempt> {
    let path = file_url_path(rest).ok_or_else(|| {
        Attempt::Fatal(FetchError::UnsupportedUrl {
            url: url.to_owned(),
        })
    })?;
    let io = |e: std::io::Error| Attempt::Fatal(FetchError::io(path.display().to_string(), e));
    let mut file = std::fs::File::open(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Attempt::Fatal(FetchError::NotFound {
                url: url.to_owned(),
            })
        } else {
            io(e)
        }
    })?;
    let total = file.metadata().map_err(io)?.len();
    let start = if offset <= total { offset } else { 0 };
    file.seek(std::io::SeekFrom::Start(start)).map_err(io)?;
    Ok(Body {
        reader: Box::new(file),
        start,
        len: Some(total - start),
    })
}

fn check_cancel(cancel: &AtomicBool, url: &str) -> Result<(), Attempt> {
    if cancel.load(Ordering::Acquire) || crate::interrupt::requested() {
        return Err(Attempt::Fatal(FetchError::Cancelled {
            url: url.to_owned(),
        }));
    }
    Ok(())
}

/// `bytes START-END/TOTAL` to `START`.
fn content_range_start(value: &str) -> Option<u64> {
    let range = value.trim().strip_prefix("bytes ")?;
    range.split_once('-')?.0.trim().parse().ok()
}

/// How much of one URL has been reported to the progress callback, so that
/// each report is the change since the last.
struct Tally<'a> {
    fetcher: &'a Fetcher,
    url: &'a str,
    counted: u64,
}

impl<'a> Tally<'a> {
    fn new(fetcher: &'a Fetcher, url: &'a str) -> Self {
        Tally {
            fetcher,
            url,
            counted: 0,
        }
    }

    fn set(&mut self, now: u64) {
        let url = self.url;
        if now > self.counted {
            self.fetcher.report(Progress::Added {
                url,
                bytes: now - self.counted,
            });
        } else if now < self.counted {
            self.fetcher.report(Progress::Discarded {
                url,
                bytes: self.counted - now,
            });
        }
        self.counted = now;
    }
}

/// Outcome of one try: retry it, or give up with this error.
enum Attempt {
    Transient(String),
    Fatal(FetchError),
}

fn classify(url: &str, error: ureq::Error) -> Attempt {
    use ureq::Error as E;
    let tls_failure = match &error {
        E::Rustls(_) | E::Tls(_) => true,
        E::Io(io) => io
            .get_ref()
            .is_some_and(|inner| inner.is::<rustls::Error>()),
        _ => false,
    };
    if tls_failure {
        // A certificate that fails today fails on every retry.
        return Attempt::Fatal(FetchError::Tls {
            url: url.to_owned(),
            message: error.to_string(),
        });
    }
    match error {
        E::Io(_) | E::Timeout(_) | E::ConnectionFailed | E::HostNotFound | E::Protocol(_) => {
            Attempt::Transient(error.to_string())
        }
        E::BadUri(_) => Attempt::Fatal(FetchError::UnsupportedUrl {
            url: url.to_owned(),
        }),
        E::RequireHttpsOnly(to) => Attempt::Fatal(FetchError::InsecureRedirect {
            url: url.to_owned(),
            to,
        }),
        other => Attempt::Fatal(FetchError::Network {
            url: url.to_owned(),
            attempts: 1,
            message: other.to_string(),
        }),
    }
}
/// `file:///abs/path` or `file://localhost/abs/path`, percent-decoded.
fn file_url_path(rest: &str) -> Option<PathBuf> {
    let path = rest.strip_prefix("localhost").unwrap_or(rest);
    if !path.starts_with('/') {
        return None;
    }
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    use std::os::unix::ffi::OsStringExt;
    Some(PathBuf::from(std::ffi::OsString::from_vec(out)))
}

/// The SHA-256 of a byte slice as lower-case hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_url(path: &Path) -> String {
        format!("file://{}", path.display())
    }

    #[test]
    fn file_url_paths() {
        assert_eq!(file_url_path("/a/b%20c"), Some(PathBuf::from("/a/b c")));
        assert_eq!(file_url_path("localhost/x"), Some(PathBuf::from("/x")));
        assert_eq!(file_url_path("relative"), None);
        assert_eq!(file_url_path("/bad%2"), None);
    }

    #[test]
    fn verified_fetch_caches_reuses_and_replaces_a_corrupted_entry() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src.bin");
        std::fs::write(&src, b"hello world").unwrap();
        let fetcher = Fetcher::new(dir.path().join("cache")).unwrap();
        let expected = Expected::new(11, &sha256_hex(b"hello world")).unwrap();

        let path = fetcher.fetch_verified(&file_url(&src), &expected).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"hello world");
        assert_eq!(path, fetcher.cache_path(&expected));

        // Same size, one byte off: only the hash can tell.
        std::fs::write(&path, b"hello worle").unwrap();
        fetcher.fetch_verified(&file_url(&src), &expected).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"hello world");

        // Served from the cache once the source is gone.
        std::fs::remove_file(&src).unwrap();
        assert_eq!(
            fetcher.fetch_verified(&file_url(&src), &expected).unwrap(),
            path
        );

        // Then a bad entry is removed, not served.
        std::fs::write(&path, b"hello worle").unwrap();
        let err = fetcher
            .fetch_verified(&file_url(&src), &expected)
            .unwrap_err();
        assert!(matches!(err, FetchError::NotFound { .. }), "{err}");
        assert!(!path.exists());
        assert!(!fetcher.partial_path(&expected).exists());
    }

    #[test]
    fn hash_and_size_mismatches_leave_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src.bin");
        std::fs::write(&src, b"hello world").unwrap();
        let fetcher = Fetcher::new(dir.path().join("cache")).unwrap();
        let url = file_url(&src);

        let wrong_hash = Expected::new(11, &sha256_hex(b"hello worle")).unwrap();
        let err = fetcher.fetch_verified(&url, &wrong_hash).unwrap_err();
        match &err {
            FetchError::HashMismatch {
                url: u,
                kind,
                expected,
                actual,
            } => {
                assert_eq!(u, &url);
                assert_eq!(*kind, ChecksumKind::Sha256);
                assert_eq!(expected, wrong_hash.checksum.value());
                assert_eq!(actual, &sha256_hex(b"hello world"));
                assert!(err.to_string().contains("SHA256 mismatch"), "{err}");
            }
            other => panic!("expected HashMismatch, got {other}"),
        }

        for size in [10, 12] {
            let wrong_size = Expected::new(size, &sha256_hex(b"hello world")).unwrap();
            let err = fetcher.fetch_verified(&url, &wrong_size).unwrap_err();
            assert!(matches!(err, FetchError::SizeMismatch { .. }), "{err}");
        }

        for sub in ["sha256", "partial"] {
            let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("cache").join(sub))
                .unwrap()
                .collect();
            assert!(leftovers.is_empty(), "{sub}: {leftovers:?}");
        }
    }

    #[test]
    fn missing_files_and_bad_urls() {
        let dir = tempfile::tempdir().unwrap();
        let fetcher = Fetcher::new(dir.path().join("cache")).unwrap();
        let url = file_url(&dir.path().join("nope"));
        assert!(matches!(
            fetcher.fetch_bytes(&url),
            Err(FetchError::NotFound { .. })
        ));
        assert_eq!(fetcher.fetch_optional(&url).unwrap(), None);
        assert!(matches!(
            fetcher.fetch_bytes("ftp://example.org/x"),
            Err(FetchError::UnsupportedUrl { .. })
        ));
        assert!(Expected::new(1, "xyz").is_err());
    }

    #[test]
    fn other_algorithms_are_verified_and_cached_under_their_name() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("f");
        std::fs::write(&src, b"hello world").unwrap();
        let fetcher = Fetcher::new(dir.path().join("cache")).unwrap();
        let url = file_url(&src);
        let digest = |data: &[u8]| ChecksumKind::Sha512.digest(data).unwrap();
        let good = Expected {
            size: 11,
            checksum: digest(b"hello world"),
        };
        let path = fetcher.fetch_verified(&url, &good).unwrap();
        assert_eq!(
            path,
            dir.path().join("cache/sha512").join(good.checksum.value())
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"hello world");
        let bad = Expected {
            size: 11,
            checksum: digest(b"hello worle"),
        };
        let err = fetcher.fetch_verified(&url, &bad).unwrap_err();
        assert!(err.to_string().contains("SHA512 mismatch"), "{err}");
    }

    #[test]
    fn progress_adds_up_to_the_file_size_and_counts_cache_hits() {
        use std::sync::Mutex;
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("big.bin");
        let data = vec![7u8; 200_000];
        std::fs::write(&src, &data).unwrap();
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&events);
        let fetcher = Fetcher::new(dir.path().join("cache"))
            .unwrap()
            .with_progress(Arc::new(move |p: Progress<'_>| {
                sink.lock().unwrap().push(match p {
                    Progress::Added { bytes, .. } => bytes as i64,
                    Progress::Discarded { bytes, .. } => -(bytes as i64),
                    Progress::Finished { .. } => 0,
                })
            }));
        let expected = Expected::new(200_000, &sha256_hex(&data)).unwrap();
        fetcher.fetch_verified(&file_url(&src), &expected).unwrap();
        let first: Vec<i64> = std::mem::take(&mut *events.lock().unwrap());
        assert!(first.len() > 2, "reported chunk by chunk: {first:?}");
        assert_eq!(first.iter().sum::<i64>(), 200_000);
        assert_eq!(first.last(), Some(&0), "ends with Finished");

        fetcher.fetch_verified(&file_url(&src), &expected).unwrap();
        assert_eq!(*events.lock().unwrap(), [200_000, 0]);
    }

    #[test]
    fn a_partial_file_is_resumed_and_a_wrong_one_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src.bin");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&src, &data).unwrap();
        let fetcher = Fetcher::new(dir.path().join("cache")).unwrap();
        let expected = Expected::new(data.len() as u64, &sha256_hex(&data)).unwrap();
        let url = file_url(&src);

        std::fs::write(fetcher.partial_path(&expected), &data[..123_456]).unwrap();
        let path = fetcher.fetch_verified(&url, &expected).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), data);
        assert!(!fetcher.partial_path(&expected).exists());

        // A kept prefix that is not the file's start: the whole file is
        // fetched again rather than reported as a mismatch.
        std::fs::remove_file(&path).unwrap();
        std::fs::write(fetcher.partial_path(&expected), vec![0u8; 1000]).unwrap();
        fetcher.fetch_verified(&url, &expected).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), data);
    }

    #[test]
    fn content_range_parsing() {
        assert_eq!(content_range_start("bytes 100-999/1000"), Some(100));
        assert_eq!(content_range_start("bytes 0-0/*"), Some(0));
        assert_eq!(content_range_start("items 1-2/3"), None);
        assert_eq!(content_range_start("bytes */1000"), None);
    }

    /// A loopback HTTP server that fails once with 503 and then serves the
    /// body: exercises the HTTP path and the bounded retry without leaving
    /// the machine.
    #[test]
    fn http_retries_transient_errors_then_reports_status() {
        use std::net::TcpListener;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let replies = [
                "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
                "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            ];
            for reply in replies {
                let (mut stream, _) = listener.accept().unwrap();
                let mut buf = [0u8; 4096];
                let mut req = Vec::new();
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = stream.read(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    req.extend_from_slice(&buf[..n]);
                }
                stream.write_all(reply.as_bytes()).unwrap();
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let mut fetcher = Fetcher::new(dir.path()).unwrap();
        fetcher.backoff = Duration::from_millis(10);
        let url = format!("http://{addr}/x");
        assert_eq!(fetcher.fetch_bytes(&url).unwrap(), b"hello");
        assert!(matches!(
            fetcher.fetch_bytes(&url),
            Err(FetchError::HttpStatus { status: 403, .. })
        ));
        assert_eq!(fetcher.fetch_optional(&url).unwrap(), None);
        server.join().unwrap();
    }

    #[test]
    fn a_redirect_from_https_to_http_is_a_fatal_error_naming_both() {
        let attempt = classify(
            "https://mirror.invalid/dists/bookworm/InRelease",
            ureq::Error::RequireHttpsOnly("http://mirror.invalid/dists/bookworm/InRelease".into()),
        );
        let Attempt::Fatal(error) = attempt else {
            panic!("a downgrade must not be retried");
        };
        let text = error.to_string();
        assert!(text.contains("https://mirror.invalid"), "{text}");
        assert!(text.contains("plain HTTP (http://mirror.invalid"), "{text}");
    }
}
