//! Cluster mode: every broker reads the shared topic catalog on its tick (at most a second
//! apart), so a topic created through another broker may not be held here yet. A request
//! naming a topic this broker does not hold (or asking for every topic) catches up first,
//! instead of answering UNKNOWN_TOPIC_OR_PARTITION for a topic that exists (clients give up
//! after a few quick retries: sarama after three 100 ms backoffs; kafka-go's Writer at once
//! when the Transport's all-topics metadata lacks the topic). When the catch-up took in
//! something new, the request also waits for this broker's next tick, which places and opens
//! the new partitions and puts their leaders in the view (without it the answer would say
//! LEADER_NOT_AVAILABLE).

use std::sync::Arc;
use std::time::Duration;

use super::RequestContext;
use crate::cluster::ClusterView;
use crate::topics::Topics;

/// The longest a request waits for the tick after a catch-up (ticks are at most a second
/// apart; a notice starts one at once).
const TICK_WAIT: Duration = Duration::from_secs(3);

/// Whether a request naming `names` must catch up: a topic not held here, or held but not
/// yet placed in the view (see [`crate::topics::Topics::may_lag`]).
pub fn lagging<'a>(ctx: &RequestContext, names: impl Iterator<Item = &'a str> + Clone) -> bool {
    let topics = ctx.topics();
    topics.is_shared()
        && (topics.may_lag(names.clone())
            || names
                .filter_map(|n| topics.get(n))
                .any(|t| !ctx.cluster().places(&t.name, t.partition_count())))
}

/// Catch up with the catalog if `lagging` (see [`lagging`]).
pub async fn catch_up_if(ctx: &RequestContext, lagging: bool) {
    if !lagging {
        return;
    }
    let (topics, view) = (ctx.topics().clone(), ctx.cluster_shared().clone());
    let caught_up = tokio::task::spawn_blocking(move || catch_up(&topics, view.as_ref())).await;
    report(caught_up.ok());
}

/// [`catch_up_if`] for a handler that must not yield before its work (Produce appends in
/// request order): the catch-up runs on a thread of its own (the database client may not run
/// inside the runtime) while this worker's other tasks move elsewhere. Rare: the first request
/// for a topic another broker just created.
pub fn catch_up_now(ctx: &RequestContext, lagging: bool) {
    if !lagging {
        return;
    }
    let (topics, view) = (ctx.topics(), ctx.cluster());
    let caught_up = crate::blocking::block_in_place(|| {
        std::thread::scope(|s| s.spawn(|| catch_up(topics, view)).join())
    });
    report(caught_up.ok());
}

/// Blocks on the database and on the tick.
fn catch_up(topics: &Arc<Topics>, view: &dyn ClusterView) -> anyhow::Result<()> {
    let Some(ticks) = view.ticks() else {
        return Ok(());
    };
    let begun = ticks.begun();
    // Something new: the next tick places and opens it. Else the view may only be behind
    // the topics held (a tick that took them in is still running): that tick, if any.
    let after = if topics.catch_up()? {
        begun
    } else {
        begun.saturating_sub(1)
    };
    if !ticks.wait_after(after, TICK_WAIT) {
        tracing::debug!("no tick within {TICK_WAIT:?} after a catalog catch-up");
    }
    Ok(())
}

/// Cluster mode: run `change`, a catalog change made through this broker (blocking), and if
/// it announced anything wait for this broker's next tick, which opens what was placed here
/// and puts every new partition's leader in the view: the client's next Metadata then finds
/// them led rather than LEADER_NOT_AVAILABLE.
pub fn then_tick<T>(topics: &Topics, view: &dyn ClusterView, change: impl FnOnce() -> T) -> T {
    let Some(ticks) = view.ticks() else {
        return change();
    };
    let (begun, announced) = (ticks.begun(), topics.announced());
    let done = change();
    if topics.announced() != announced && !ticks.wait_after(begun, TICK_WAIT) {
        tracing::debug!("no tick within {TICK_WAIT:?} after a catalog change");
    }
    done
}

fn report(caught_up: Option<anyhow::Result<()>>) {
    if let Some(Err(e)) = caught_up {
        tracing::debug!(error = %format!("{e:#}"), "catalog catch-up failed");
    }
}
