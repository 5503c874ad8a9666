//! Maintenance timers: the interval flusher (`fsync = interval:MS`), retention every
//! `log_retention_check_interval_ms`, the log cleaner every `log_cleaner_backoff_ms` and the
//! removal of expired delegation tokens every `delegation_token_expiry_check_interval_ms`.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::Services;
use crate::config::FsyncPolicy;
use crate::security::tokens::DelegationTokens;
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
        shutdown.clone(),
    ));
    if services.tokens.enabled() {
        tasks.spawn(purge_tokens(
            services.tokens.clone(),
            Duration::from_millis(config.delegation_token_expiry_check_interval_ms.max(1)),
            shutdown.clone(),
        ));
    }
}

/// Removes expired delegation tokens every `delegation_token_expiry_check_interval_ms` (the
/// controller's sweep), on the blocking pool (it writes to the store).
async fn purge_tokens(tokens: Arc<DelegationTokens>, every: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let t = tokens.clone();
        let purged = tokio::task::spawn_blocking(move || t.purge(crate::clock::now_ms())).await;
        match purged {
            Ok(Ok(ids)) => {
                for id in ids {
                    tracing::info!(token = %id, "delegation token expired: removed");
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "removing expired delegation tokens failed"),
            Err(e) => tracing::warn!(error = %e, "removing expired delegation tokens failed"),
        }
    }
}

/// Retention and the cleaner do file I/O, so they run on the blocking pool. The cleaner's
/// pause is read again after every pass: `log.cleaner.backoff.ms` is a dynamic broker config.
async fn maintain_logs(topics: Arc<Topics>, retention_ms: u64, shutdown: CancellationToken) {
    // The first runs come one period after start-up (Kafka also delays its first retention
    // check), not at once.
    let after = |ms: u64| tokio::time::Instant::now() + Duration::from_millis(ms.max(1));
    let period = Duration::from_millis(retention_ms.max(1));
    let mut retention = tokio::time::interval_at(after(retention_ms), period);
    retention.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_clean = after(topics.cleaner_backoff_ms());
    loop {
        let t = topics.clone();
        let (job, cleaning): (Box<dyn FnOnce() + Send>, bool) = tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = retention.tick() => (Box::new(move || t.enforce_retention(crate::clock::now_ms())), false),
            _ = tokio::time::sleep_until(next_clean) => (Box::new(move || t.clean_logs(crate::clock::now_ms())), true),
        };
        let _ = tokio::task::spawn_blocking(job).await;
        if cleaning {
            next_clean = after(topics.cleaner_backoff_ms());
        }
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
