//! Log maintenance timers: the interval flusher (`fsync = interval:MS`), retention every
//! `log_retention_check_interval_ms` and the log cleaner every `log_cleaner_backoff_ms`.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::Services;
use crate::config::FsyncPolicy;
use crate::topics::Topics;

pub(super) fn spawn(services: &Services, shutdown: &CancellationToken, tasks: &TaskTracker) {
    let config = &services.config;
    if let FsyncPolicy::Interval(ms) = config.fsync {
        tasks.spawn(flush_periodically(
            services.topics.clone(),
            Duration::from_millis(ms.max(1)),
            shutdown.clone(),
        ));
    }
    tasks.spawn(maintain_logs(
        services.topics.clone(),
        config.log_retention_check_interval_ms,
        config.log_cleaner_backoff_ms,
        shutdown.clone(),
    ));
}

/// Retention and the cleaner do file I/O, so they run on the blocking pool.
async fn maintain_logs(
    topics: Arc<Topics>,
    retention_ms: u64,
    cleaner_ms: u64,
    shutdown: CancellationToken,
) {
    // The first runs come one period after start-up (Kafka also delays its first retention
    // check), not at once.
    let every = |ms: u64| {
        let period = Duration::from_millis(ms.max(1));
        tokio::time::interval_at(tokio::time::Instant::now() + period, period)
    };
    let mut retention = every(retention_ms);
    let mut cleaner = every(cleaner_ms);
    retention.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    cleaner.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let t = topics.clone();
        let job: Box<dyn FnOnce() + Send> = tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = retention.tick() => Box::new(move || t.enforce_retention(crate::clock::now_ms())),
            _ = cleaner.tick() => Box::new(move || t.clean_logs(crate::clock::now_ms())),
        };
        let _ = tokio::task::spawn_blocking(job).await;
    }
}

async fn flush_periodically(topics: Arc<Topics>, every: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => topics.flush_all().await,
        }
    }
}
