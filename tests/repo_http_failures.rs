//! Offline tier: a signed repository served over loopback HTTP by a server
//! that can misbehave. Each failure must give its clear error and leave
//! nothing unverified in the cache: nothing in `sha256/` that does not hash
//! to its name, in `partial/` only true prefixes kept for resuming, and in
//! `parsed/` only indexes named by a hash the signed Release gives.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use common::debrepo::{Fixture, Layout, SUITE, fake_deb, spec_at, write_repo};
use common::http::{Fault, Request, Server};
use livecompose::fetch::{Download, FetchError, Fetcher, Progress, Transport, sha256_hex};
use livecompose::repo::signature::SignatureError;
use livecompose::repo::{RepoError, Repository, load_repository};

const DEB_SIZE: usize = 300_000;

/// A fixture with `n` packages `pkg0`.. of `DEB_SIZE` bytes, served over http.
struct Served {
    fx: Fixture,
    server: Server,
    debs: Vec<Vec<u8>>,
}

impl Served {
    fn new(n: u32) -> Served {
        let fx = Fixture::new();
        let debs: Vec<Vec<u8>> = (0..n).map(|i| fake_deb(i, DEB_SIZE)).collect();
        let names: Vec<String> = (0..n).map(|i| format!("pkg{i}")).collect();
        let listed: Vec<(&str, &[u8])> = names
            .iter()
            .zip(&debs)
            .map(|(name, deb)| (name.as_str(), deb.as_slice()))
            .collect();
        fx.publish_debs(&listed);
        let server = Server::serve(fx.root.path());
        Served { fx, server, debs }
    }

    fn load(&self, fetcher: &Fetcher) -> Result<Repository, RepoError> {
        load_repository(&spec_at(self.server.url()), fetcher, &self.fx.verify())
    }

    /// Loads the repository with `fetcher` and lists every package.
    fn items(&self, fetcher: &Fetcher) -> Vec<Download> {
        self.downloads(&self.load(fetcher).unwrap())
    }

    fn downloads(&self, repo: &Repository) -> Vec<Download> {
        (0..self.debs.len())
            .map(|i| {
                let name = format!("pkg{i}");
                let p = repo.find(&name).next().unwrap();
                Download {
                    url: repo.package_url(p),
                    expected: repo.package_expected(p).unwrap(),
                    transport: Transport::default(),
                }
            })
            .collect()
    }

    /// The served file of `pkg<i>`, to break it.
    fn pool_file(&self, i: usize) -> PathBuf {
        self.fx.root.path().join(&Self::pool_path(i)[1..])
    }

    fn pool_path(i: usize) -> String {
        format!("/pool/main/pkg{i}_1.0_amd64.deb")
    }

    /// Requests for `pkg<i>` in the log taken from the server.
    fn requests_for(log: &[Request], i: usize) -> Vec<Request> {
        let path = Self::pool_path(i);
        log.iter().filter(|r| r.path == path).cloned().collect()
    }

    /// The cache invariant (see the module comment).
    fn assert_cache_clean(&self) {
        let by_hash: HashMap<String, &[u8]> = self
            .debs
            .iter()
            .map(|d| (sha256_hex(d), d.as_slice()))
            .collect();
        let cache = self.fx.cache.path();
        for entry in std::fs::read_dir(cache).unwrap() {
            let name = entry.unwrap().file_name();
            assert!(
                name == "sha256" || name == "partial" || name == "parsed" || name == ".lock",
                "stray {name:?} in the cache"
            );
        }
        let release = std::fs::read_to_string(self.fx.dists().join("InRelease")).unwrap();
        for entry in std::fs::read_dir(cache.join("parsed"))
            .into_iter()
            .flatten()
        {
            let name = entry.unwrap().file_name().into_string().unwrap();
            assert!(
                name.len() == 64 && release.contains(&name),
                "parsed/{name} is no index of the Release"
            );
        }
        for entry in std::fs::read_dir(cache.join("sha256")).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            assert_eq!(sha256_hex(&std::fs::read(&path).unwrap()), name);
        }
        for entry in std::fs::read_dir(cache.join("partial")).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap();
            let whole = by_hash
                .get(name)
                .unwrap_or_else(|| panic!("partial file of unknown content {name}"));
            let kept = std::fs::read(&path).unwrap();
            assert!(
                !kept.is_empty() && kept.len() < whole.len() && whole.starts_with(&kept),
                "{name}: {} bytes kept are not a true prefix",
                kept.len()
            );
        }
    }

    /// A new run (a fresh fetcher on the same cache) over `items`, one at a
    /// time: the paths, and the net bytes and finished files it reported.
    fn rerun(&self, items: &[Download]) -> (Vec<PathBuf>, (i64, usize)) {
        let (totals, callback) = progress_sink();
        let paths = self
            .fx
            .fetcher()
            .with_progress(callback)
            .fetch_all(items, 1)
            .unwrap();
        let totals = *totals.lock().unwrap();
        (paths, totals)
    }

    /// `(Range start, status)` of each request since the log was last taken.
    fn wire(&self) -> Vec<(Option<u64>, u16)> {
        self.server
            .take_requests()
            .iter()
            .map(|r| (r.range_from, r.status))
            .collect()
    }

    /// Leaves the first `len` bytes of `pkg<i>` as an earlier run would have.
    fn keep_partial(&self, i: usize, len: usize) {
        let path = self.fx.cache.path().join("partial");
        std::fs::write(path.join(sha256_hex(&self.debs[i])), &self.debs[i][..len]).unwrap();
    }

    fn cached(&self, content: &[u8]) -> bool {
        self.fx
            .cache
            .path()
            .join("sha256")
            .join(sha256_hex(content))
            .exists()
    }

    fn partial(&self, content: &[u8]) -> Option<Vec<u8>> {
        std::fs::read(
            self.fx
                .cache
                .path()
                .join("partial")
                .join(sha256_hex(content)),
        )
        .ok()
    }
}

/// Net bytes reported by progress events, and the finished count.
fn progress_sink() -> (Arc<Mutex<(i64, usize)>>, livecompose::fetch::ProgressFn) {
    let totals = Arc::new(Mutex::new((0i64, 0usize)));
    let sink = Arc::clone(&totals);
    let callback = Arc::new(move |event: Progress<'_>| {
        let mut totals = sink.lock().unwrap();
        match event {
            Progress::Added { bytes, .. } => totals.0 += bytes as i64,
            Progress::Discarded { bytes, .. } => totals.0 -= bytes as i64,
            Progress::Finished { .. } => totals.1 += 1,
        }
    });
    (totals, callback)
}

fn list_dir(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn parallel_download_keeps_order_reports_progress_and_a_rerun_downloads_nothing() {
    let s = Served::new(6);
    let (totals, callback) = progress_sink();
    let fetcher = s.fx.fetcher().with_progress(callback);
    let items = s.items(&fetcher);
    *totals.lock().unwrap() = (0, 0);

    let paths = fetcher.fetch_all(&items, 4).unwrap();
    for (path, deb) in paths.iter().zip(&s.debs) {
        assert_eq!(&std::fs::read(path).unwrap(), deb, "in input order");
    }
    assert_eq!(*totals.lock().unwrap(), (6 * DEB_SIZE as i64, 6));
    assert!(list_dir(&s.fx.cache.path().join("partial")).is_empty());

    // A second run, with a fresh fetcher on the same cache: only InRelease
    // (whose hash nothing vouches for in advance) goes over the wire.
    s.server.take_requests();
    let again = s.fx.fetcher();
    let repo = s.load(&again).unwrap();
    assert_eq!(again.fetch_all(&s.downloads(&repo), 4).unwrap(), paths);
    let log = s.server.take_requests();
    assert_eq!(
        log.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(),
        [format!("/dists/{SUITE}/InRelease")]
    );
}

#[test]
fn tampered_packages_index_is_a_hash_mismatch_against_release() {
    let fx = Fixture::new();
    let packages = fx.add_debs(&[("pkg0", &fake_deb(0, 1000))]);
    let layout = Layout {
        xz: false,
        gz: false,
        ..Layout::default()
    };
    fx.publish_inrelease(&write_repo(fx.root.path(), &packages, &layout));
    let index = fx.dists().join("main/binary-amd64/Packages");
    let tampered = packages.replace("Version: 1.0", "Version: 9.0");
    std::fs::write(&index, &tampered).unwrap();
    let server = Server::serve(fx.root.path());

    let err = load_repository(&spec_at(server.url()), &fx.fetcher(), &fx.verify()).unwrap_err();
    let url = format!("{}/dists/{SUITE}/main/binary-amd64/Packages", server.url());
    match &err {
        RepoError::Fetch(FetchError::HashMismatch {
            url: u,
            expected,
            actual,
            ..
        }) => {
            assert_eq!(u, &url);
            assert_eq!(expected, &sha256_hex(packages.as_bytes()));
            assert_eq!(actual, &sha256_hex(tampered.as_bytes()));
        }
        other => panic!("expected a hash mismatch, got {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains(&url) && msg.contains("SHA256 mismatch") && msg.contains("another mirror"),
        "{msg}"
    );
    assert!(list_dir(&fx.cache.path().join("sha256")).is_empty());
    assert!(list_dir(&fx.cache.path().join("partial")).is_empty());
}

#[test]
fn bad_inrelease_signature_stops_before_any_index_is_fetched() {
    let s = Served::new(1);
    let inrelease = s.fx.dists().join("InRelease");
    let signed = std::fs::read_to_string(&inrelease).unwrap();
    std::fs::write(
        &inrelease,
        signed.replacen("Label: Fixture", "Label: Fixturf", 1),
    )
    .unwrap();

    let err = s.load(&s.fx.fetcher()).unwrap_err();
    assert!(
        matches!(
            err,
            RepoError::Signature(SignatureError::BadSignature { .. })
        ),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("BAD signature") && msg.contains("InRelease") && msg.contains("--gpgkey"),
        "{msg}"
    );
    let log = s.server.take_requests();
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(list_dir(&s.fx.cache.path().join("sha256")).is_empty());
    assert!(list_dir(&s.fx.cache.path().join("partial")).is_empty());
}

#[test]
fn deb_not_matching_packages_is_refused_and_not_cached() {
    let s = Served::new(4);
    let fetcher = s.fx.fetcher();
    let items = s.items(&fetcher);
    // Same size, other bytes: only the hash can tell.
    let impostor = fake_deb(99, DEB_SIZE);
    std::fs::write(s.pool_file(2), &impostor).unwrap();

    let err = fetcher.fetch_all(&items, 2).unwrap_err();
    match &err {
        FetchError::HashMismatch {
            url,
            expected,
            actual,
            ..
        } => {
            assert_eq!(url, &items[2].url);
            assert_eq!(expected, &sha256_hex(&s.debs[2]));
            assert_eq!(actual, &sha256_hex(&impostor));
        }
        other => panic!("expected a hash mismatch, got {other}"),
    }
    assert!(err.to_string().contains(&items[2].url), "{err}");
    assert!(!s.cached(&s.debs[2]) && !s.cached(&impostor));
    assert_eq!(s.partial(&s.debs[2]), None);
    s.assert_cache_clean();
}

#[test]
fn missing_deb_is_not_found_at_once_and_stops_the_others() {
    let s = Served::new(20);
    let fetcher = s.fx.fetcher();
    let items = s.items(&fetcher);
    std::fs::remove_file(s.pool_file(0)).unwrap();
    s.server.take_requests();

    let err = fetcher.fetch_all(&items, 2).unwrap_err();
    assert!(
        matches!(&err, FetchError::NotFound { url } if url == &items[0].url),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&items[0].url) && msg.contains("not found"),
        "{msg}"
    );
    let log = s.server.take_requests();
    assert_eq!(
        Served::requests_for(&log, 0).len(),
        1,
        "a 404 is not retried"
    );
    assert!(log.len() < items.len(), "the pool kept going: {log:?}");
    assert!(!s.cached(&s.debs[0]));
    s.assert_cache_clean();
}

#[test]
fn dropped_connection_is_retried_and_resumed_with_range() {
    let s = Served::new(3);
    let fetcher = s.fx.fetcher();
    let items = s.items(&fetcher);
    s.server
        .misbehave(&Served::pool_path(1), Fault::DropAfter(100_000), Some(1));
    s.server.take_requests();

    let paths = fetcher.fetch_all(&items, 3).unwrap();
    assert_eq!(std::fs::read(&paths[1]).unwrap(), s.debs[1]);
    let log = Served::requests_for(&s.server.take_requests(), 1);
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!((log[0].range_from, log[0].status), (None, 200));
    let resumed_from = log[1].range_from.expect("second request resumes");
    assert!(resumed_from > 0 && resumed_from <= 100_000, "{log:?}");
    assert_eq!(log[1].status, 206);
    assert!(list_dir(&s.fx.cache.path().join("partial")).is_empty());
}

#[test]
fn permanent_drop_is_a_network_error_and_the_next_run_resumes() {
    let s = Served::new(1);
    let items = s.items(&s.fx.fetcher());
    s.server
        .misbehave(&Served::pool_path(0), Fault::DropAfter(100_000), None);

    let err =
        s.fx.fetcher()
            .with_attempts(2)
            .fetch_all(&items, 1)
            .unwrap_err();
    assert!(
        matches!(&err, FetchError::Network { url, attempts: 2, .. } if url == &items[0].url),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&items[0].url) && msg.contains("rerun resumes"),
        "{msg}"
    );
    assert!(!s.cached(&s.debs[0]));
    let kept = s.partial(&s.debs[0]).expect("received bytes are kept");
    s.assert_cache_clean();

    // The server recovers; a new run asks only for the rest.
    s.server.behave(&Served::pool_path(0));
    s.server.take_requests();
    let (paths, totals) = s.rerun(&items);
    assert_eq!(std::fs::read(&paths[0]).unwrap(), s.debs[0]);
    let log = s.server.take_requests();
    assert_eq!(
        log,
        [Request {
            path: Served::pool_path(0),
            range_from: Some(kept.len() as u64),
            status: 206,
        }]
    );
    assert_eq!(totals, (DEB_SIZE as i64, 1));
    assert!(list_dir(&s.fx.cache.path().join("partial")).is_empty());
}

#[test]
fn server_ignoring_range_restarts_from_the_first_byte() {
    let s = Served::new(1);
    let items = s.items(&s.fx.fetcher());
    s.keep_partial(0, 50_000);
    s.server.ignore_range(true);
    s.server.take_requests();

    let (paths, totals) = s.rerun(&items);
    assert_eq!(std::fs::read(&paths[0]).unwrap(), s.debs[0]);
    assert_eq!(s.wire(), [(Some(50_000), 200)]);
    assert_eq!(totals, (DEB_SIZE as i64, 1));
}

#[test]
fn truncated_file_on_the_mirror_with_a_longer_partial_is_a_size_mismatch() {
    let s = Served::new(1);
    let items = s.items(&s.fx.fetcher());
    s.keep_partial(0, 200_000);
    std::fs::write(s.pool_file(0), &s.debs[0][..150_000]).unwrap();
    s.server.take_requests();

    let err = s.fx.fetcher().fetch_all(&items, 1).unwrap_err();
    assert!(
        matches!(
            &err,
            FetchError::SizeMismatch { url, expected, actual: 150_000 }
                if url == &items[0].url && *expected == DEB_SIZE as u64
        ),
        "{err}"
    );
    assert_eq!(s.wire(), [(Some(200_000), 416), (None, 200)]);
    assert_eq!(s.partial(&s.debs[0]), None);
    assert!(!s.cached(&s.debs[0]));
}

#[test]
fn server_errors_are_retried_then_reported_with_the_url() {
    let s = Served::new(1);
    let items = s.items(&s.fx.fetcher());
    let path = Served::pool_path(0);
    s.server.take_requests();

    s.server.misbehave(&path, Fault::Status(500), None);
    let err = s.fx.fetcher().fetch_all(&items, 1).unwrap_err();
    assert!(
        matches!(&err, FetchError::Network { url, attempts: 3, message } if url == &items[0].url && message == "HTTP 500"),
        "{err}"
    );
    assert_eq!(s.server.take_requests().len(), 3);
    assert!(list_dir(&s.fx.cache.path().join("partial")).is_empty());

    s.server.misbehave(&path, Fault::Status(503), Some(2));
    let paths = s.fx.fetcher().fetch_all(&items, 1).unwrap();
    assert_eq!(std::fs::read(&paths[0]).unwrap(), s.debs[0]);
    assert_eq!(s.wire(), [(None, 503), (None, 503), (None, 200)]);
}

#[test]
fn corrupted_cache_entry_is_detected_and_fetched_again() {
    let s = Served::new(3);
    let fetcher = s.fx.fetcher();
    let items = s.items(&fetcher);
    let paths = fetcher.fetch_all(&items, 3).unwrap();
    let mut bytes = std::fs::read(&paths[1]).unwrap();
    bytes[DEB_SIZE / 2] ^= 0x01;
    std::fs::write(&paths[1], &bytes).unwrap();
    s.server.take_requests();

    assert_eq!(fetcher.fetch_all(&items, 3).unwrap(), paths);
    assert_eq!(std::fs::read(&paths[1]).unwrap(), s.debs[1]);
    let log = s.server.take_requests();
    assert_eq!(
        log,
        [Request {
            path: Served::pool_path(1),
            range_from: None,
            status: 200,
        }]
    );
}

#[test]
fn the_same_content_listed_many_times_is_downloaded_once() {
    let s = Served::new(1);
    let items = s.items(&s.fx.fetcher());
    s.server.take_requests();

    let paths =
        s.fx.fetcher()
            .fetch_all(&vec![items[0].clone(); 8], 4)
            .unwrap();
    assert!(paths.iter().all(|p| p == &paths[0]), "{paths:?}");
    assert_eq!(std::fs::read(&paths[0]).unwrap(), s.debs[0]);
    assert_eq!(s.wire(), [(None, 200)], "the others waited for the lock");
    assert!(list_dir(&s.fx.cache.path().join("partial")).is_empty());
}
