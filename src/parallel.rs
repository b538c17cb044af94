//! Independent pieces of work spread over the machine's cores, for the
//! stages that read many files and owe nothing to their order (listing
//! package archives, decoding cache chunks).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

/// How many threads to use for `items` pieces of work: one per core, never
/// more than there are pieces, at least one.
pub fn threads_for(items: usize) -> usize {
    thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items)
        .max(1)
}

/// Runs `work` on every item, each thread taking the next item as it
/// becomes free (so one long piece does not hold back the rest), and
/// returns the results in the items' order. After an error no further item
/// is started, and the error of the earliest failed item is returned.
pub fn try_map<T, R, E>(items: &[T], work: impl Fn(&T) -> Result<R, E> + Sync) -> Result<Vec<R>, E>
where
    T: Sync,
    R: Send,
    E: Send,
{
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<Option<Result<R, E>>>> =
        Mutex::new((0..items.len()).map(|_| None).collect());
    thread::scope(|scope| {
        for _ in 0..threads_for(items.len()) {
            scope.spawn(|| {
                while !failed.load(Ordering::Relaxed) {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(index) else {
                        break;
                    };
                    let result = work(item);
                    if result.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    // A worker that panicked poisons the lock; the scope
                    // re-raises its panic when it ends, so the slots it left
                    // are never read.
                    if let Ok(mut slots) = results.lock() {
                        slots[index] = Some(result);
                    }
                }
            });
        }
    });
    // Every item was started unless one failed; an item is only taken
    // after all earlier ones were, so the first error in the items' order
    // is the earliest failed item's.
    results
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .into_iter()
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_items_order() {
        let items: Vec<u64> = (0..200).collect();
        let squares = try_map(&items, |&n| {
            // Uneven work, so threads finish out of order.
            if n % 7 == 0 {
                thread::sleep(std::time::Duration::from_millis(2));
            }
            Ok::<_, ()>(n * n)
        })
        .expect("no error");
        assert_eq!(squares, items.iter().map(|n| n * n).collect::<Vec<_>>());
    }

    #[test]
    fn the_earliest_error_is_returned() {
        let items: Vec<u32> = (0..100).collect();
        let result = try_map(&items, |&n| if n >= 40 { Err(n) } else { Ok(n) });
        assert_eq!(result, Err(40));
    }

    #[test]
    fn no_items_no_threads_no_results() {
        let items: [u8; 0] = [];
        assert_eq!(try_map(&items, |&n| Ok::<_, ()>(n)), Ok(vec![]));
        assert_eq!(threads_for(0), 1);
    }
}
