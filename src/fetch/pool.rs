//! Many verified downloads at once, on a bounded set of worker threads.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::{Expected, FetchError, Fetcher, Transport};

/// One file for [`Fetcher::fetch_all`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    pub url: String,
    pub expected: Expected,
    /// The proxy and certificate check of the repository it comes from.
    pub transport: Transport,
}

/// What one worker did: the items it finished, and the error that stopped
/// the pool if this worker was the first to fail.
struct Share {
    done: Vec<(usize, PathBuf)>,
    error: Option<FetchError>,
}

impl Fetcher {
    /// Fetches every item into the cache with up to `jobs` downloads at a
    /// time (at least one), and returns the cached paths in the order of
    /// `items`. Cached content costs no network. The first failure stops
    /// the other downloads at their next chunk (their partial files stay
    /// for a rerun to resume) and is the error returned.
    pub fn fetch_all(&self, items: &[Download], jobs: usize) -> Result<Vec<PathBuf>, FetchError> {
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let workers = jobs.clamp(1, items.len().max(1));
        let shares: Vec<Share> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|_| scope.spawn(|| self.work(items, &next, &stop)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        });
        let mut done = Vec::with_capacity(items.len());
        for share in shares {
            if let Some(error) = share.error {
                return Err(error);
            }
            done.extend(share.done);
        }
        done.sort_unstable_by_key(|(index, _)| *index);
        Ok(done.into_iter().map(|(_, path)| path).collect())
    }

    fn work(&self, items: &[Download], next: &AtomicUsize, stop: &AtomicBool) -> Share {
        let mut share = Share {
            done: Vec::new(),
            error: None,
        };
        while !stop.load(Ordering::Acquire) && !crate::interrupt::requested() {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(index) else {
                break;
            };
            let fetcher = self.through(&item.transport);
            match fetcher.fetch_until(&item.url, &item.expected, stop) {
                Ok(path) => share.done.push((index, path)),
                Err(error) => {
                    // Only the worker that raises the flag reports: the
                    // others' errors are the cancellations it caused.
                    if !stop.swap(true, Ordering::AcqRel) {
                        share.error = Some(error);
                    }
                    break;
                }
            }
        }
        share
    }
}
