//! Opening many partitions at once. Each opening waits mostly on fsyncs (the new directory's
//! parent, its first segment, a checkpoint) that overlap when several threads issue them.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Threads for openings that wait on I/O: the disk's queue, not the cores, is what they share.
pub(super) const WORKERS: usize = 8;

/// `f` of every index of `range`, in index order, on up to `workers` threads. On an error
/// no further index is started, what succeeded is dropped, and the error of the lowest
/// failing index is returned, as a sequential loop would: indices are taken in order, so
/// every one below a failure was started before it and finishes.
pub(super) fn map<T: Send, E: Send>(
    range: Range<i32>,
    workers: usize,
    f: impl Fn(i32) -> Result<T, E> + Sync,
) -> Result<Vec<T>, E> {
    let workers = workers.min(range.len());
    if workers <= 1 {
        return range.map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let work = || {
        let mut done = Vec::new();
        while !failed.load(Ordering::Relaxed) {
            let k = next.fetch_add(1, Ordering::Relaxed);
            if k >= range.len() {
                break;
            }
            let i = range.start + k as i32;
            let result = f(i);
            failed.fetch_or(result.is_err(), Ordering::Relaxed);
            done.push((i, result));
        }
        done
    };
    let mut results: Vec<(i32, Result<T, E>)> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..workers).map(|_| s.spawn(work)).collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    results.sort_unstable_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn results_come_in_index_order() {
        // Every call waits, so each thread gets several indices, not a contiguous run.
        let slow = |i: i32| {
            std::thread::sleep(std::time::Duration::from_millis(2));
            Ok::<_, ()>(i * 10)
        };
        let expected: Vec<i32> = (5..45).map(|i| i * 10).collect();
        assert_eq!(map(5..45, WORKERS, slow), Ok(expected));
        assert_eq!(map(0..1, WORKERS, slow), Ok(vec![0]));
        assert_eq!(map(0..0, WORKERS, slow), Ok(vec![]));
    }

    #[test]
    fn the_lowest_failing_index_wins_and_no_more_start() {
        let started = Mutex::new(Vec::new());
        let result = map(0..10_000, WORKERS, |i| {
            started.lock().unwrap().push(i);
            // 70 fails first in time, while 30 is still under way.
            if i == 30 {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            if i == 30 || i == 70 {
                Err(i)
            } else {
                Ok(i)
            }
        });
        assert_eq!(result, Err(30));
        let mut started = started.into_inner().unwrap();
        started.sort_unstable();
        let prefix: Vec<i32> = (0..started.len() as i32).collect();
        assert_eq!(
            started, prefix,
            "indices are started in order, none skipped"
        );
        assert!(
            started.len() < 1_000,
            "stopped after the failure: {}",
            started.len()
        );
    }
}
