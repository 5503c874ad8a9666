//! Cluster mode: every broker reads the shared topic catalog on its tick (at most a second
//! apart), so a topic created through another broker may not be held here yet. A request
//! naming a topic this broker does not hold catches up first, instead of answering
//! UNKNOWN_TOPIC_OR_PARTITION for a topic that exists (clients give up after a few quick
//! retries: sarama after three 100 ms backoffs).

use super::RequestContext;

/// Catch up with the catalog if `lagging` (see [`crate::topics::Topics::may_lag`]).
pub async fn catch_up_if(ctx: &RequestContext, lagging: bool) {
    if !lagging {
        return;
    }
    let topics = ctx.topics().clone();
    let caught_up = tokio::task::spawn_blocking(move || topics.catch_up()).await;
    report(caught_up.ok());
}

fn report(caught_up: Option<anyhow::Result<()>>) {
    if let Some(Err(e)) = caught_up {
        tracing::debug!(error = %format!("{e:#}"), "catalog catch-up failed");
    }
}

/// [`catch_up_if`] for a handler that must not yield before its work (Produce appends in
/// request order): the catch-up runs on a thread of its own (the database client may not run
/// inside the runtime) while this worker's other tasks move elsewhere. Rare: the first request
/// for a topic another broker just created.
pub fn catch_up_now(ctx: &RequestContext, lagging: bool) {
    if !lagging {
        return;
    }
    let topics = ctx.topics().clone();
    let caught_up = crate::blocking::block_in_place(|| {
        std::thread::scope(|s| s.spawn(|| topics.catch_up()).join())
    });
    report(caught_up.ok());
}
