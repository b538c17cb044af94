//! Benchmark (not a test): 100 real packages of bookworm main downloaded
//! into a cold cache by 8 workers, then one at a time, then again on the
//! warm cache. The parallel run goes first, so a caching proxy in between
//! favours the serial one.
//!
//!     cargo bench --bench downloads
//!
//! The mirror is what livecompose uses: $LIVECOMPOSE_MIRROR, else the
//! host's apt sources.

use std::time::{Duration, Instant};

use livecompose::fetch::{Download, Fetcher, Transport};
use livecompose::repo::signature::{DEFAULT_KEYRING, Keyring};
use livecompose::repo::{RepoSpec, SignaturePolicy, load_repository};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mirror = livecompose::mirror::discover(None).ok_or(
        "no Debian mirror configured: set LIVECOMPOSE_MIRROR or add a deb line to apt's sources",
    )?;
    let spec = RepoSpec {
        mirror,
        suite: "bookworm".into(),
        components: vec!["main".into()],
        architecture: "amd64".into(),
    };
    let keyring = Keyring::from_file(std::path::Path::new(DEFAULT_KEYRING))?;
    let parallel_cache = tempfile::tempdir()?;
    let parallel = Fetcher::new(parallel_cache.path())?;
    let repo = load_repository(&spec, &parallel, &SignaturePolicy::Verify(keyring))?;
    let mut candidates: Vec<_> = repo
        .packages
        .iter()
        .filter(|p| (50_000..1_000_000).contains(&p.size))
        .collect();
    candidates.sort_by(|a, b| a.name.cmp(&b.name));
    let step = (candidates.len() / 100).max(1);
    let items = candidates
        .iter()
        .step_by(step)
        .take(100)
        .map(|p| {
            Ok(Download {
                url: repo.package_url(p),
                expected: repo.package_expected(p)?,
                transport: Transport::default(),
            })
        })
        .collect::<Result<Vec<Download>, Box<dyn std::error::Error>>>()?;
    let bytes: u64 = items.iter().map(|d| d.expected.size).sum();

    let timed = |fetcher: &Fetcher, jobs: usize| -> Result<Duration, Box<dyn std::error::Error>> {
        let started = Instant::now();
        fetcher.fetch_all(&items, jobs)?;
        Ok(started.elapsed())
    };
    let parallel_time = timed(&parallel, 8)?;
    let serial_cache = tempfile::tempdir()?;
    let serial_time = timed(&Fetcher::new(serial_cache.path())?, 1)?;
    let warm_time = timed(&parallel, 8)?;
    println!(
        "{} packages, {:.1} MB: one at a time {serial_time:.2?}, 8 workers {parallel_time:.2?} \
         (ratio {:.2}), warm cache {warm_time:.2?}",
        items.len(),
        bytes as f64 / 1e6,
        parallel_time.as_secs_f64() / serial_time.as_secs_f64()
    );
    Ok(())
}
