//! The driver around the group state machines: every group and its offsets are owned by one
//! [`crate::coord::Runtime`] (a thread that takes commands over a channel, fires timers, and
//! makes each batch of changes durable with one store write before it answers any request of
//! the batch). This module is the handle API handlers use; [`state`] is what the thread owns
//! (loading, timers, persistence), [`apis`] what each request does to it.

mod apis;
mod consumer;
mod share;
mod share_offsets;
mod state;
mod streams;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_limits;

use std::sync::Arc;

use kafka_protocol::ResponseError as E;
use tokio::sync::oneshot;

use super::classic::{Description, JoinRequest, JoinResponse, State, SyncRequest, SyncResponse};
use super::configs::GroupConfigs;
pub use super::configs::ShareSettings;
use super::consumer::{
    self as consumer_group, GroupState, Heartbeat, HeartbeatAnswer, TopicLookup,
};
use super::offsets::CommittedOffset;
pub use super::share::ShareKey;
use super::{now_ms, GroupConfig};
use crate::coord::Runtime;
use crate::store::{KvStore, ShareStates};
pub use share::ShareEvents;
pub use state::Coordinator;

/// One partition's commit as the handler passes it on.
#[derive(Debug, Clone)]
pub struct OffsetToCommit {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

#[derive(Debug, Clone)]
pub struct CommitRequest {
    pub group_id: String,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub generation: i32,
    /// OffsetCommit v2–v4; -1 means the broker's retention.
    pub retention_ms: i64,
    /// Which OffsetCommit version asked (v9+ answers GROUP_ID_NOT_FOUND for unknown groups).
    pub version: i16,
    pub offsets: Vec<OffsetToCommit>,
}

/// Each partition's OffsetDelete outcome, by topic.
pub type DeletedOffsets = Vec<(String, Vec<(i32, Result<(), E>)>)>;

/// Offsets by topic, in request order (or topic order when all were asked for).
pub type FetchedOffsets = Vec<(String, Vec<(i32, Option<CommittedOffset>)>)>;

/// What /metrics shows of a group: its state, members and committed offsets.
#[derive(Debug, Clone)]
pub struct GroupSummary {
    pub group_id: String,
    pub state: State,
    pub members: usize,
    /// (topic, partition, committed offset)
    pub offsets: Vec<(String, i32, i64)>,
}

#[derive(Debug, Clone)]
pub struct ListedGroup {
    pub group_id: String,
    pub protocol_type: String,
    /// Kafka's name of the state (classic or consumer group states).
    pub state: &'static str,
    /// `classic` or `consumer`.
    pub group_type: &'static str,
}

/// The handle API handlers use (shared through the services).
pub struct GroupCoordinator {
    config: GroupConfig,
    runtime: Runtime<Coordinator>,
    /// Group configs (IncrementalAlterConfigs on GROUP resources), shared with the thread.
    configs: Arc<GroupConfigs>,
}

impl GroupCoordinator {
    /// Load every group and offset from the store and start the coordinator thread.
    /// `share_states`: where share groups' share-partition states are kept.
    pub fn open(
        store: Arc<dyn KvStore>,
        config: GroupConfig,
        share_states: Arc<dyn ShareStates>,
    ) -> anyhow::Result<Self> {
        let now = now_ms();
        let configs = Arc::new(GroupConfigs::open(store.clone())?);
        let mut coordinator = Coordinator::new(
            store.clone(),
            config.clone(),
            configs.clone(),
            share_states,
            now,
        );
        coordinator.load(now)?;
        Ok(Self {
            config,
            configs,
            runtime: Runtime::start("groups", coordinator, store)?,
        })
    }

    /// Cluster mode, another broker coordinating: hold no group, answer NOT_COORDINATOR
    /// until [`Self::take_over`].
    pub fn standby(
        store: Arc<dyn KvStore>,
        config: GroupConfig,
        share_states: Arc<dyn ShareStates>,
    ) -> anyhow::Result<Self> {
        let configs = Arc::new(GroupConfigs::open(store.clone())?);
        let coordinator = Coordinator::new(
            store.clone(),
            config.clone(),
            configs.clone(),
            share_states,
            now_ms(),
        );
        let runtime = Runtime::start("groups", coordinator, store)?;
        runtime.set_serving(false);
        Ok(Self {
            config,
            runtime,
            configs,
        })
    }

    /// Become the coordinator (cluster mode): load every group and offset the store holds,
    /// then serve. Blocks until loaded.
    pub fn take_over(&self) -> anyhow::Result<()> {
        self.runtime
            .run_blocking(|c, now| c.load(now))
            .unwrap_or_else(|| Err(anyhow::anyhow!("the group coordinator has stopped")))?;
        self.runtime.set_serving(true);
        Ok(())
    }

    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    /// Group configs (GROUP config resources).
    pub fn group_configs(&self) -> &Arc<GroupConfigs> {
        &self.configs
    }

    /// A share group's settings: its configs over the defaults.
    pub fn share_settings(&self, group_id: &str) -> ShareSettings {
        self.configs.share_settings(group_id)
    }

    fn send(&self, f: impl FnOnce(&mut Coordinator, i64) + Send + 'static) -> bool {
        self.runtime.send(f)
    }

    /// Run `f` on the coordinator thread; it answers through the sender it is given. Once
    /// the coordinator is gone the answer is COORDINATOR_NOT_AVAILABLE.
    async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Coordinator, i64, oneshot::Sender<R>) + Send + 'static,
    ) -> Result<R, E> {
        self.runtime.call(f).await
    }

    /// Run `f` on the coordinator thread and answer with its result once the batch is durable.
    async fn query<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Coordinator, i64) -> R + Send + 'static,
    ) -> Result<R, E> {
        self.runtime.query(f).await
    }

    /// [`Self::query`], also on a standby.
    async fn query_any<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Coordinator, i64) -> R + Send + 'static,
    ) -> Result<R, E> {
        self.runtime
            .call_any(move |c, now, tx| {
                let result = f(c, now);
                crate::coord::runtime::Machine::batch(c).reply(tx, result);
            })
            .await
    }

    /// JoinGroup; the answer may wait for the rebalance to complete.
    /// `lookup`: the topics as the member sees them, for a classic member joining a
    /// consumer group.
    pub async fn join(
        &self,
        group_id: String,
        req: JoinRequest,
        lookup: TopicLookup,
    ) -> JoinResponse {
        let member_id = req.member_id.clone();
        self.call(move |c, now, tx| c.join(group_id, req, &lookup, tx, now))
            .await
            .unwrap_or_else(|e| JoinResponse::error(e, &member_id))
    }

    /// SyncGroup; followers wait for the leader's assignment.
    pub async fn sync(&self, group_id: String, req: SyncRequest) -> SyncResponse {
        self.call(move |c, now, tx| c.sync(group_id, req, tx, now))
            .await
            .unwrap_or_else(SyncResponse::error)
    }

    pub async fn heartbeat(
        &self,
        group_id: String,
        member_id: String,
        instance_id: Option<String>,
        generation: i32,
    ) -> Result<(), E> {
        self.query(move |c, now| {
            c.heartbeat(
                &group_id,
                &member_id,
                instance_id.as_deref(),
                generation,
                now,
            )
        })
        .await?
    }

    /// LeaveGroup: each member's outcome in request order, or an error for the whole group.
    pub async fn leave(
        &self,
        group_id: String,
        members: Vec<(String, Option<String>)>,
    ) -> Result<Vec<Result<(), E>>, E> {
        self.query(move |c, now| c.leave(&group_id, &members, now))
            .await?
    }

    /// OffsetCommit of partitions the handler found to exist: each one's outcome in order.
    pub async fn commit_offsets(&self, req: CommitRequest) -> Result<Vec<Result<(), E>>, E> {
        self.call(move |c, now, tx| c.commit(req, now, tx)).await?
    }

    /// The offsets of a committed transaction (TxnOffsetCommit): written without the member
    /// checks, which were made when the transaction took them.
    pub async fn commit_transactional(
        &self,
        group_id: String,
        offsets: Vec<OffsetToCommit>,
    ) -> Result<(), E> {
        let req = CommitRequest {
            group_id,
            member_id: String::new(),
            instance_id: None,
            generation: -1,
            retention_ms: -1,
            version: 0,
            offsets,
        };
        self.call(move |c, now, tx| c.commit_checked(req, now, false, tx))
            .await??;
        Ok(())
    }

    /// OffsetFetch: the given partitions, or (None) every committed offset of the group.
    pub async fn fetch_offsets(
        &self,
        group_id: String,
        topics: Option<Vec<(String, Vec<i32>)>>,
    ) -> Result<FetchedOffsets, E> {
        self.query(move |c, _| c.fetch(&group_id, topics)).await
    }

    /// The groups this broker coordinates (none on a standby, as Kafka's brokers answer).
    pub async fn list_groups(&self) -> Result<Vec<ListedGroup>, E> {
        self.query_any(|c, _| c.list()).await
    }

    /// Every group's state, member count and committed offsets, sorted by group id (of the
    /// groups this broker coordinates).
    pub async fn summaries(&self) -> Result<Vec<GroupSummary>, E> {
        self.query_any(|c, _| {
            let mut groups: Vec<GroupSummary> = c
                .groups
                .iter()
                .map(|(id, e)| GroupSummary {
                    group_id: id.clone(),
                    state: match (&e.consumer, &e.share) {
                        _ if e.streams.is_some() => streams::summary_state(e),
                        (Some(c), _) => classic_state(c.state()),
                        (None, Some(s)) if s.is_empty() => State::Empty,
                        (None, Some(_)) => State::Stable,
                        (None, None) => e.group.state(),
                    },
                    members: match (&e.consumer, &e.share) {
                        _ if e.streams.is_some() => {
                            e.streams.as_ref().map_or(0, |s| s.members.len())
                        }
                        (Some(c), _) => c.members.len(),
                        (None, Some(s)) => s.members.len(),
                        (None, None) => e.group.members().count(),
                    },
                    offsets: e
                        .offsets
                        .iter()
                        .map(|((topic, partition), o)| (topic.clone(), *partition, o.offset))
                        .collect(),
                })
                .collect();
            groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
            groups
        })
        .await
    }

    /// ConsumerGroupHeartbeat (KIP-848): `lookup` resolves subscribed topic names.
    pub async fn consumer_heartbeat(
        &self,
        group_id: String,
        req: Heartbeat,
        lookup: TopicLookup,
    ) -> Result<HeartbeatAnswer, E> {
        self.query(move |c, now| c.consumer_heartbeat(&group_id, req, &lookup, now))
            .await?
    }

    /// ConsumerGroupDescribe: each group's description or error (with its message), in order.
    pub async fn consumer_describe(
        &self,
        ids: Vec<String>,
    ) -> Result<Vec<Result<consumer_group::Description, (E, String)>>, E> {
        self.query(move |c, _| ids.iter().map(|id| c.consumer_describe(id)).collect())
            .await
    }

    /// OffsetFetch v9+ of a consumer group: checks the member id and epoch first.
    pub async fn fetch_offsets_as(
        &self,
        group_id: String,
        topics: Option<Vec<(String, Vec<i32>)>>,
        member_id: Option<String>,
        member_epoch: i32,
    ) -> Result<FetchedOffsets, E> {
        self.query(move |c, _| {
            c.validate_offset_fetch(&group_id, member_id.as_deref(), member_epoch)?;
            Ok(c.fetch(&group_id, topics))
        })
        .await?
    }

    /// None for a group that does not exist (Kafka describes it as Dead), and for a
    /// consumer or share group (not a classic group).
    pub async fn describe_groups(&self, ids: Vec<String>) -> Result<Vec<Option<Description>>, E> {
        self.query(move |c, _| {
            ids.iter()
                .map(|id| {
                    c.groups
                        .get(id)
                        .filter(|e| {
                            e.consumer.is_none() && e.share.is_none() && e.streams.is_none()
                        })
                        .map(|e| e.group.describe())
                })
                .collect()
        })
        .await
    }

    pub async fn delete_groups(&self, ids: Vec<String>) -> Result<Vec<Result<(), E>>, E> {
        self.query(move |c, now| ids.iter().map(|id| c.delete_group(id, now)).collect())
            .await
    }

    /// OffsetDelete of partitions the handler found to exist.
    pub async fn delete_offsets(
        &self,
        group_id: String,
        topics: Vec<(String, Vec<i32>)>,
    ) -> Result<DeletedOffsets, E> {
        self.query(move |c, _| c.delete_offsets(&group_id, topics))
            .await?
    }

    /// A topic was deleted: its committed offsets go too.
    pub fn topic_deleted(&self, topic: String) {
        self.send(move |c, _| c.topic_deleted(&topic));
    }

    /// The broker is shutting down: answer parked JoinGroup/SyncGroup requests (and later
    /// ones) with NOT_COORDINATOR so connections can drain; clients find the coordinator again.
    pub fn begin_shutdown(&self) {
        self.send(|c, _| c.unload());
    }

    /// Stop the thread after it has written what it has; the store is released when this
    /// returns.
    pub fn shutdown(&self) {
        self.runtime.shutdown();
    }
}

/// The /metrics view of a consumer group's state, in the classic states' terms: assigning is
/// preparing, reconciling is completing a rebalance.
fn classic_state(state: GroupState) -> State {
    match state {
        GroupState::Empty => State::Empty,
        GroupState::Assigning => State::PreparingRebalance,
        GroupState::Reconciling => State::CompletingRebalance,
        GroupState::Stable => State::Stable,
        GroupState::Dead => State::Dead,
    }
}
