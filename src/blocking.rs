//! Which threads may block. Tokio's async workers (two on a two-core machine) serve every
//! connection, so a store write with fsync or a directory operation on one of them stalls
//! unrelated clients; such calls belong on the blocking pool (`spawn_blocking`) or on a
//! coordinator runtime's own thread.
//!
//! The binary marks its async workers ([`mark_async_worker`] from the runtime's unpark hook:
//! only workers park, blocking-pool threads wait elsewhere), and the blocking operations
//! call [`blocking_call`] first. On a worker that is a bug: debug builds (which the
//! compatibility suite runs under every real client) panic so the test that reached it fails;
//! release builds count it (`gregor_blocking_calls_on_async_workers_total`) and log it.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

thread_local! {
    static ASYNC_WORKER: Cell<bool> = const { Cell::new(false) };
}

static VIOLATIONS: AtomicU64 = AtomicU64::new(0);

/// This thread is one of the runtime's async workers.
pub fn mark_async_worker() {
    ASYNC_WORKER.with(|w| w.set(true));
}

/// Whether this thread was marked as an async worker.
pub fn on_async_worker() -> bool {
    ASYNC_WORKER.with(|w| w.get())
}

/// About to do `what`, which may block on a disk or a store.
#[track_caller]
pub fn blocking_call(what: &'static str) {
    if !on_async_worker() {
        return;
    }
    VIOLATIONS.fetch_add(1, Ordering::Relaxed);
    let at = std::panic::Location::caller();
    if cfg!(debug_assertions) {
        panic!("{what} on an async worker (at {at}): run it on the blocking pool");
    }
    tracing::error!(what, %at, "blocking call on an async worker");
}

/// Runs `f`, which may block, on this thread while the runtime hands this worker's other
/// tasks to another thread (tokio's `block_in_place`; inline outside a multi-thread runtime).
/// The thread is unmarked first: blocking is what it is for now, and once its worker duties
/// have moved on it may end up in the blocking pool, where a stale mark would refuse every
/// `spawn_blocking` job it runs. A thread that is a worker again marks itself when it parks.
pub fn block_in_place<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| {
                ASYNC_WORKER.with(|w| w.set(false));
                f()
            })
        }
        _ => f(),
    }
}

/// Blocking calls made on async workers since start-up (0 unless there is a bug).
pub fn violations() -> u64 {
    VIOLATIONS.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_marked_threads_are_refused() {
        // A thread that was never marked (the blocking pool, a coordinator thread) may block.
        blocking_call("a store write");
        let caught = std::thread::spawn(|| {
            mark_async_worker();
            std::panic::catch_unwind(|| blocking_call("a store write")).is_err()
        })
        .join()
        .unwrap();
        assert_eq!(caught, cfg!(debug_assertions));
        assert!(violations() >= 1);
        assert!(!on_async_worker());
    }

    #[test]
    fn a_multi_thread_runtime_marks_its_workers_and_not_its_blocking_pool() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .on_thread_unpark(mark_async_worker)
            .on_thread_park(mark_async_worker)
            .enable_all()
            .build()
            .unwrap();
        let (worker, pool) = runtime.block_on(async {
            // Workers that never parked yet are not marked (a missed report, never a false
            // one); by now both have.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let worker = tokio::spawn(async { on_async_worker() }).await.unwrap();
            let pool = tokio::task::spawn_blocking(on_async_worker).await.unwrap();
            (worker, pool)
        });
        assert!(worker, "a spawned task runs on a marked worker");
        assert!(!pool, "spawn_blocking runs on an unmarked thread");
    }

    #[test]
    fn a_worker_that_blocked_in_place_leaves_no_mark_for_the_blocking_pool() {
        // block_in_place hands the worker's core to another thread; the thread that blocked
        // later idles in the blocking pool and runs spawn_blocking jobs, which may block.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .on_thread_unpark(mark_async_worker)
            .on_thread_park(mark_async_worker)
            .enable_all()
            .build()
            .unwrap();
        let marked = runtime.block_on(async {
            let mut marked = 0;
            for _ in 0..20 {
                tokio::spawn(async {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    block_in_place(|| std::thread::sleep(std::time::Duration::from_millis(1)));
                })
                .await
                .unwrap();
                for _ in 0..4 {
                    if tokio::task::spawn_blocking(on_async_worker).await.unwrap() {
                        marked += 1;
                    }
                }
            }
            marked
        });
        assert_eq!(
            marked, 0,
            "spawn_blocking jobs ran on threads still marked as workers"
        );
    }
}
