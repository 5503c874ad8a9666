//! The background scrub's driver: one blocking-pool thread that, every
//! `log_scrub_interval_ms`, walks every partition's segments (see [`crate::log::scrub`]) at
//! no more than `log_scrub_bytes_per_second`, stopping promptly at shutdown. It holds the
//! services weakly between passes and gives up once it is their last holder, so a broker
//! dropped without `shutdown` (tests) does not keep its runtime waiting on this thread.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::Services;
use crate::config::StorageKind;
use crate::log::scrub::Pace;
use crate::metrics::Metrics;

/// Longest sleep between two looks at the shutdown token.
const TICK: Duration = Duration::from_millis(100);

/// Start the scrub unless it is off (rate 0) or there is nothing on disk to check (memory; in
/// cluster mode the disk holds a cache rebuilt from the database, whose rows carry CRCs the
/// database itself keeps safe).
pub(super) fn spawn(services: &Arc<Services>, shutdown: &CancellationToken, tasks: &TaskTracker) {
    let rate = services.config.log_scrub_bytes_per_second;
    if rate == 0 || services.config.storage != StorageKind::Disk {
        return;
    }
    let every = Duration::from_millis(services.config.log_scrub_interval_ms.max(1));
    let (weak, shutdown) = (Arc::downgrade(services), shutdown.clone());
    tasks.spawn_blocking(move || run(&weak, rate, every, &shutdown));
}

fn run(weak: &Weak<Services>, rate: u64, every: Duration, shutdown: &CancellationToken) {
    let stop = || shutdown.is_cancelled() || weak.strong_count() <= 1;
    // The first pass comes one interval after start-up, like retention's first run.
    while sleep(every, &stop) {
        let Some(services) = weak.upgrade() else {
            return;
        };
        let mut pacer = Pacer::new(rate, &services.metrics, &stop);
        for topic in services.topics.all() {
            for partition in topic.partitions() {
                if !partition.scrub(&mut pacer) {
                    return;
                }
            }
        }
        services
            .metrics
            .scrub_passes
            .fetch_add(1, Ordering::Relaxed);
    }
}

/// Sleep `d`, in ticks; false if `stop` said so first.
fn sleep(d: Duration, stop: &dyn Fn() -> bool) -> bool {
    let until = Instant::now() + d;
    loop {
        if stop() {
            return false;
        }
        let now = Instant::now();
        if now >= until {
            return true;
        }
        std::thread::sleep((until - now).min(TICK));
    }
}

/// Keeps a pass's average read rate at or below `rate` bytes a second.
struct Pacer<'a> {
    rate: u64,
    started: Instant,
    bytes: u64,
    metrics: &'a Metrics,
    stop: &'a dyn Fn() -> bool,
}

impl<'a> Pacer<'a> {
    fn new(rate: u64, metrics: &'a Metrics, stop: &'a dyn Fn() -> bool) -> Self {
        Self {
            rate,
            started: Instant::now(),
            bytes: 0,
            metrics,
            stop,
        }
    }
}

impl Pace for Pacer<'_> {
    fn read(&mut self, bytes: u64) -> bool {
        self.metrics
            .scrubbed_bytes
            .fetch_add(bytes, Ordering::Relaxed);
        self.bytes += bytes;
        let due = Duration::from_secs_f64(self.bytes as f64 / self.rate as f64);
        sleep(due.saturating_sub(self.started.elapsed()), self.stop)
    }
}
