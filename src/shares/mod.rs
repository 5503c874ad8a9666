//! Share groups' partitions (KIP-932) on their leader, as Kafka's `SharePartitionManager`:
//! the members' share sessions on this broker and, per share-partition led here, its records'
//! acquisition locks, acknowledgements and delivery counts. Membership and assignment stay
//! with the group coordinator (`group::coordinator`), which tells this runtime when a member
//! left ([`ShareEvents`]) and resets or deletes stored state through the same
//! [`ShareStates`].
//!
//! One thread (`gregor-shares`, a [`Runtime`]) owns every slot; each batch's changed states
//! are written with one [`ShareStates::write`] before any answer of the batch, so an
//! acquisition, acknowledgement or release is durable when the client hears of it, and a
//! state whose write failed is dropped from memory and answered as an error.

pub mod notices;
mod ops;
pub mod sessions;
mod state;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_cluster;

use std::collections::HashMap;
use std::sync::Arc;

use kafka_protocol::ResponseError as E;
use uuid::Uuid;

use crate::coord::Runtime;
use crate::group::configs::{GroupConfigs, ShareSettings};
use crate::group::coordinator::ShareEvents;
use crate::group::share::partition::{Acquired, Span};
use crate::meta::Partition;
use crate::store::{KvStore, ShareStates};
pub use sessions::{
    DeadLetterJob, DeadLetterSink, FetchLimit, LogBounds, SessionOutcome, SessionRequest, ShareKey,
    SharePartitionSummary, FINAL_EPOCH, OPEN_EPOCH,
};
use state::Leader;

/// The handle handlers use (shared through the services).
pub struct Shares {
    runtime: Runtime<Leader>,
}

impl Shares {
    /// Start the share leader's thread over `states`; `kv` holds the group records (a new
    /// share-partition's group must be a share group), `configs` the groups' settings;
    /// `max_sessions` share sessions at most (group.share.max.share.sessions).
    pub fn open(
        states: Arc<dyn ShareStates>,
        kv: Arc<dyn KvStore>,
        configs: Arc<GroupConfigs>,
        max_sessions: usize,
    ) -> anyhow::Result<Self> {
        let leader = Leader::new(states, kv.clone(), configs, max_sessions);
        Ok(Self {
            runtime: Runtime::start("shares", leader, kv)?,
        })
    }

    /// The session step of ShareFetch / ShareAcknowledge, with its acknowledgements (`led`:
    /// the acknowledged partitions, led here; each acknowledgement answers its own error,
    /// COORDINATOR_NOT_AVAILABLE if it could not be stored).
    pub async fn session(
        &self,
        req: SessionRequest,
        led: Vec<(ShareKey, Arc<Partition>)>,
        settings: ShareSettings,
    ) -> Result<SessionOutcome, E> {
        let group = req.group_id.clone();
        self.runtime
            .call(move |l: &mut Leader, now, tx| {
                let led: HashMap<_, _> = led.into_iter().collect();
                let result = l.session(req, &led, &settings, now);
                l.reply_for(tx, result, move |r, failed| {
                    r.map(|mut outcome| {
                        for (tp, ack) in &mut outcome.acks {
                            if let Some(e) = failed.get(&(group.clone(), *tp)) {
                                *ack = ack.and(Err(*e));
                            }
                        }
                        outcome
                    })
                });
            })
            .await?
    }

    /// Where each partition's fetch reads from (each its own error); GROUP_ID_NOT_FOUND
    /// for a group that is not a share group.
    pub async fn prepare(
        &self,
        group_id: String,
        parts: Vec<(ShareKey, Arc<Partition>, LogBounds)>,
        settings: ShareSettings,
    ) -> Result<Vec<Result<i64, E>>, E> {
        let keys: Vec<ShareKey> = parts.iter().map(|(k, _, _)| *k).collect();
        self.runtime
            .call(move |l: &mut Leader, now, tx| {
                let result = l.prepare(&group_id, &parts, &settings, now);
                l.reply_for(tx, result, move |r, failed| {
                    r.map(|offsets| {
                        offsets
                            .into_iter()
                            .zip(&keys)
                            .map(|(o, tp)| match failed.get(&(group_id.clone(), *tp)) {
                                Some(e) => o.and(Err(*e)),
                                None => o,
                            })
                            .collect()
                    })
                });
            })
            .await?
    }

    /// Acquire what a fetch read: each partition's acquired records, in order (an error,
    /// nothing acquired, where they could not be stored).
    pub async fn acquire(
        &self,
        group_id: String,
        member_id: String,
        read: Vec<(ShareKey, Vec<Span>)>,
        limit: FetchLimit,
        settings: ShareSettings,
    ) -> Result<Vec<Result<Vec<Acquired>, E>>, E> {
        let keys: Vec<ShareKey> = read.iter().map(|(k, _)| *k).collect();
        self.runtime
            .call(move |l: &mut Leader, now, tx| {
                let got = l.acquire(&group_id, &member_id, read, limit, &settings, now);
                let got: Vec<Result<Vec<Acquired>, E>> = got.into_iter().map(Ok).collect();
                l.reply_for(tx, got, move |got, failed| {
                    got.into_iter()
                        .zip(&keys)
                        .map(|(g, tp)| match failed.get(&(group_id.clone(), *tp)) {
                            Some(e) => Err(*e),
                            None => g,
                        })
                        .collect()
                });
            })
            .await
    }

    /// A connection with the member's share session closed. Does not wait.
    pub fn connection_closed(&self, group_id: String, member_id: String, connection: u64) {
        self.runtime
            .send(move |l, _| l.connection_closed(&group_id, &member_id, connection));
    }

    /// Slots for these partitions from what the store holds (start-up: every partition led
    /// here, as (log, topic id, partition, partition)). Blocks until loaded.
    pub fn adopt(&self, led: Vec<(String, Uuid, i32, Arc<Partition>)>) -> anyhow::Result<()> {
        let adopted = self
            .runtime
            .run_blocking(move |l, _| l.adopt(led))
            .ok_or_else(|| anyhow::anyhow!("the share leader has stopped"))??;
        tracing::info!(partitions = adopted, "loaded share-partition states");
        Ok(())
    }

    /// Cluster mode, after each tick: `led` are the partitions led here now, as (log, topic
    /// id, partition, it). The newly led are adopted (their stored states loaded), the
    /// share-partitions of those led elsewhere now are dropped. Blocks until done.
    pub fn follow(&self, led: Vec<(String, Uuid, i32, Arc<Partition>)>) -> anyhow::Result<()> {
        let (adopted, evicted) = self
            .runtime
            .run_blocking(move |l, _| l.follow(led))
            .ok_or_else(|| anyhow::anyhow!("the share leader has stopped"))??;
        if adopted > 0 || evicted > 0 {
            tracing::info!(
                adopted,
                evicted,
                "share-partitions follow their partitions' leaders"
            );
        }
        Ok(())
    }

    /// The dead letter of `job` is written (`written`), or given up on: archive its records.
    pub async fn dead_lettered(&self, job: DeadLetterJob, written: bool) -> Result<(), E> {
        self.runtime
            .call_any(move |l: &mut Leader, _, tx| {
                l.dead_lettered(&job, written);
                l.reply_for(tx, (), |r, _| r);
            })
            .await
    }

    /// Where dead letters go (the composition root's writer). Also sends what waits already.
    pub fn attach_dead_letters(&self, sink: DeadLetterSink) {
        self.runtime.send(move |l, _| l.attach_dead_letters(sink));
    }

    /// Every share-partition held here, by group (/metrics).
    pub async fn summaries(&self) -> Result<Vec<(String, SharePartitionSummary)>, E> {
        self.runtime
            .call_any(|l: &mut Leader, _, tx| {
                let summaries = l.summaries();
                l.reply_for(tx, summaries, |r, _| r);
            })
            .await
    }

    /// Stop the thread after it has written what it has.
    pub fn shutdown(&self) {
        self.runtime.shutdown();
    }
}

/// The group coordinator's hints, applied here (one node: the coordinator is in this
/// process).
impl ShareEvents for Shares {
    fn member_left(&self, group_id: &str, member_id: &str) {
        let (group_id, member_id) = (group_id.to_string(), member_id.to_string());
        self.runtime
            .send(move |l, _| l.member_left(&group_id, &member_id));
    }

    fn forget_group(&self, group_id: &str, topics: Option<&[Uuid]>) {
        let group_id = group_id.to_string();
        let topics = topics.map(<[Uuid]>::to_vec);
        self.runtime
            .send(move |l, _| l.forget_group(&group_id, topics.as_deref()));
    }
}
