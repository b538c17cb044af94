//! Downloads over `http://`, `https://` and `file://`, with a cache keyed by
//! SHA-256.
//!
//! Anything whose hash is known in advance (indexes listed in a verified
//! Release, `.deb` files listed in a verified index) goes through
//! [`Fetcher::fetch_verified`]: it streams into a temporary file inside the
//! cache directory, checks size and hash, and only then renames the file
//! into place. A file in the cache is therefore always complete and correct,
//! and a later run can reuse it without touching the network.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

/// Documents fetched without a known hash (Release files) are small; this
/// bounds what a hostile or broken server can make us hold in memory.
const UNVERIFIED_LIMIT: u64 = 64 * 1024 * 1024;

const CHUNK: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("unsupported URL {url:?}: only http://, https:// and file:// are supported")]
    UnsupportedUrl { url: String },
    #[error("{url}: server answered HTTP {status}")]
    HttpStatus { url: String, status: u16 },
    #[error("{url}: not found")]
    NotFound { url: String },
    #[error("{url}: network error after {attempts} attempt(s): {message}")]
    Network {
        url: String,
        attempts: u32,
        message: String,
    },
    #[error("{url}: size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        url: String,
        expected: u64,
        actual: u64,
    },
    #[error("{url}: SHA256 mismatch: expected {expected}, got {actual}")]
    HashMismatch {
        url: String,
        expected: String,
        actual: String,
    },
    #[error("{url}: larger than the {limit}-byte limit for unverified downloads")]
    TooLarge { url: String, limit: u64 },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("invalid SHA256 {0:?}: expected 64 hex digits")]
    InvalidDigest(String),
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
    sha256: String,
}

impl Expected {
    /// `sha256` is hex, either case.
    pub fn new(size: u64, sha256: &str) -> Result<Self, FetchError> {
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(FetchError::InvalidDigest(sha256.to_owned()));
        }
        Ok(Expected {
            size,
            sha256: sha256.to_ascii_lowercase(),
        })
    }

    /// The digest as lower-case hex.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }
}

/// Progress of one download, reported after each chunk.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    pub url: &'a str,
    pub done: u64,
    pub total: Option<u64>,
}

pub type ProgressFn = Arc<dyn Fn(Progress<'_>) + Send + Sync>;

/// A blocking downloader with a verified content cache.
#[derive(Clone)]
pub struct Fetcher {
    cache_dir: PathBuf,
    agent: ureq::Agent,
    attempts: u32,
    backoff: Duration,
    progress: Option<ProgressFn>,
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
        let objects = cache_dir.join("sha256");
        std::fs::create_dir_all(&objects)
            .map_err(|e| FetchError::io(format!("creating cache {}", objects.display()), e))?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(30)))
            // Per read, not global: a large index on a slow link is fine as
            // long as bytes keep arriving.
            .timeout_per_read(Some(Duration::from_secs(60)))
            .user_agent(concat!("livecompose/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Fetcher {
            cache_dir,
            agent,
            attempts: 3,
            backoff: Duration::from_millis(500),
            progress: None,
        })
    }

    /// How many times to try a download that fails on the network (min 1).
    pub fn with_attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    pub fn with_progress(mut self, progress: ProgressFn) -> Self {
        self.progress = Some(progress);
        self
    }

    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// Where a file with this content lives in the cache.
    pub fn cache_path(&self, expected: &Expected) -> PathBuf {
        self.cache_dir.join("sha256").join(expected.sha256())
    }

    /// Fetches a small document whose hash is not known in advance.
    pub fn fetch_bytes(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let mut buf = Vec::new();
        self.with_retries(url, |reader, _total| {
            buf.clear();
            let read = reader
                .take(UNVERIFIED_LIMIT + 1)
                .read_to_end(&mut buf)
                .map_err(|e| Attempt::Transient(e.to_string()))?;
            if read as u64 > UNVERIFIED_LIMIT {
                return Err(Attempt::Fatal(FetchError::TooLarge {
                    url: url.to_owned(),
                    limit: UNVERIFIED_LIMIT,
                }));
            }
            Ok(())
        })?;
        Ok(buf)
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
        let dest = self.cache_path(expected);
        // Only verified content is ever renamed into the cache, so a file of
        // the right size at the right name is the right file.
        if std::fs::metadata(&dest).is_ok_and(|m| m.is_file() && m.len() == expected.size) {
            return Ok(dest);
        }
        let tmp_dir = self.cache_dir.join("sha256");
        let mut finished = None;
        self.with_retries(url, |reader, _total| {
            let mut tmp = tempfile::Builder::new()
                .prefix(".partial-")
                .tempfile_in(&tmp_dir)
                .map_err(|e| Attempt::Fatal(FetchError::io("creating a temporary file", e)))?;
            let mut hasher = Sha256::new();
            let mut done = 0u64;
            let mut chunk = vec![0u8; CHUNK];
            loop {
                let n = reader
                    .read(&mut chunk)
                    .map_err(|e| Attempt::Transient(e.to_string()))?;
                if n == 0 {
                    break;
                }
                done += n as u64;
                if done > expected.size {
                    return Err(Attempt::Fatal(FetchError::SizeMismatch {
                        url: url.to_owned(),
                        expected: expected.size,
                        actual: done,
                    }));
                }
                hasher.update(&chunk[..n]);
                tmp.write_all(&chunk[..n])
                    .map_err(|e| Attempt::Fatal(FetchError::io("writing to the cache", e)))?;
                if let Some(progress) = &self.progress {
                    progress(Progress {
                        url,
                        done,
                        total: Some(expected.size),
                    });
                }
            }
            if done != expected.size {
                return Err(Attempt::Fatal(FetchError::SizeMismatch {
                    url: url.to_owned(),
                    expected: expected.size,
                    actual: done,
                }));
            }
            let actual = hex::encode(hasher.finalize());
            if actual != expected.sha256() {
                return Err(Attempt::Fatal(FetchError::HashMismatch {
                    url: url.to_owned(),
                    expected: expected.sha256().to_owned(),
                    actual,
                }));
            }
            tmp.as_file()
                .sync_all()
                .map_err(|e| Attempt::Fatal(FetchError::io("syncing the cache", e)))?;
            finished = Some(tmp);
            Ok(())
        })?;
        let Some(tmp) = finished else {
            // with_retries returns Ok only after the closure succeeded.
            return Err(FetchError::io(
                url,
                std::io::Error::other("download finished without a file"),
            ));
        };
        tmp.persist(&dest).map_err(|e| {
            FetchError::io(format!("moving download to {}", dest.display()), e.error)
        })?;
        Ok(dest)
    }

    /// Opens `url` and hands its body to `consume`, retrying transient
    /// failures (connection errors, timeouts, 5xx, 429) with backoff.
    fn with_retries<F>(&self, url: &str, mut consume: F) -> Result<(), FetchError>
    where
        F: FnMut(&mut dyn Read, Option<u64>) -> Result<(), Attempt>,
    {
        let mut last = String::new();
        for attempt in 1..=self.attempts {
            if attempt > 1 {
                std::thread::sleep(self.backoff * 2u32.pow(attempt - 2));
            }
            let result = self
                .open(url)
                .and_then(|(mut reader, total)| consume(&mut *reader, total));
            match result {
                Ok(()) => return Ok(()),
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

    fn open(&self, url: &str) -> Result<(Box<dyn Read>, Option<u64>), Attempt> {
        if let Some(rest) = url.strip_prefix("file://") {
            let path = file_url_path(rest).ok_or_else(|| {
                Attempt::Fatal(FetchError::UnsupportedUrl {
                    url: url.to_owned(),
                })
            })?;
            let file = std::fs::File::open(&path).map_err(|e| {
                Attempt::Fatal(if e.kind() == std::io::ErrorKind::NotFound {
                    FetchError::NotFound {
                        url: url.to_owned(),
                    }
                } else {
                    FetchError::io(path.display().to_string(), e)
                })
            })?;
            let len = file.metadata().ok().map(|m| m.len());
            return Ok((Box::new(file), len));
        }
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(Attempt::Fatal(FetchError::UnsupportedUrl {
                url: url.to_owned(),
            }));
        }
        let response = self.agent.get(url).call().map_err(|e| classify(url, e))?;
        let status = response.status().as_u16();
        match status {
            200..=299 => {
                let total = response.body().content_length();
                Ok((Box::new(response.into_body().into_reader()), total))
            }
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

/// Outcome of one try: retry it, or give up with this error.
enum Attempt {
    Transient(String),
    Fatal(FetchError),
}

fn classify(url: &str, error: ureq::Error) -> Attempt {
    use ureq::Error as E;
    match error {
        E::Io(_) | E::Timeout(_) | E::ConnectionFailed | E::HostNotFound | E::Protocol(_) => {
            Attempt::Transient(error.to_string())
        }
        E::BadUri(_) => Attempt::Fatal(FetchError::UnsupportedUrl {
            url: url.to_owned(),
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
    fn verified_fetch_caches_and_reuses() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src.bin");
        std::fs::write(&src, b"hello world").unwrap();
        let fetcher = Fetcher::new(dir.path().join("cache")).unwrap();
        let expected = Expected::new(11, &sha256_hex(b"hello world")).unwrap();

        let path = fetcher.fetch_verified(&file_url(&src), &expected).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"hello world");
        assert_eq!(path, fetcher.cache_path(&expected));

        // Served from the cache once the source is gone.
        std::fs::remove_file(&src).unwrap();
        assert_eq!(
            fetcher.fetch_verified(&file_url(&src), &expected).unwrap(),
            path
        );
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
                expected,
                actual,
            } => {
                assert_eq!(u, &url);
                assert_eq!(expected, wrong_hash.sha256());
                assert_eq!(actual, &sha256_hex(b"hello world"));
            }
            other => panic!("expected HashMismatch, got {other}"),
        }

        for size in [10, 12] {
            let wrong_size = Expected::new(size, &sha256_hex(b"hello world")).unwrap();
            let err = fetcher.fetch_verified(&url, &wrong_size).unwrap_err();
            assert!(matches!(err, FetchError::SizeMismatch { .. }), "{err}");
        }

        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("cache/sha256"))
            .unwrap()
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
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
    fn progress_is_reported() {
        use std::sync::atomic::{AtomicU64, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("big.bin");
        let data = vec![7u8; 200_000];
        std::fs::write(&src, &data).unwrap();
        let seen = Arc::new(AtomicU64::new(0));
        let seen2 = Arc::clone(&seen);
        let fetcher = Fetcher::new(dir.path().join("cache"))
            .unwrap()
            .with_progress(Arc::new(move |p: Progress<'_>| {
                seen2.store(p.done, Ordering::SeqCst)
            }));
        let expected = Expected::new(200_000, &sha256_hex(&data)).unwrap();
        fetcher.fetch_verified(&file_url(&src), &expected).unwrap();
        assert_eq!(seen.load(Ordering::SeqCst), 200_000);
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
}
