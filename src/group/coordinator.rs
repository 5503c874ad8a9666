//! The driver around the group state machines: one thread owns every group and its offsets,
//! takes commands over a channel, fires timers, and makes each batch of changes durable with
//! one store write before it answers any request of the batch.
//!
//! A thread rather than a task: store writes are synchronous (RocksDB with fsync) and must
//! not stall the async workers; and one owner means no locks around group state.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use kafka_protocol::ResponseError as E;
use tokio::sync::oneshot;

use super::classic::{
    Description, Group, JoinRequest, JoinResponse, Outbox, Reply, State, SyncRequest, SyncResponse,
    Waiter,
};
use super::offsets::{self, CommittedOffset, GroupOffsets};
use super::record::{self, GroupRecord};
use super::{now_ms, GroupConfig};
use crate::store::{KvStore, WriteOp};

/// Commands taken per batch (one store write) before timers get their turn.
const MAX_BATCH: usize = 256;
/// The longest the thread sleeps without looking at the clock.
const MAX_SLEEP: Duration = Duration::from_secs(60);

type Command = Box<dyn FnOnce(&mut Coordinator, i64) + Send>;

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
    pub state: State,
}

/// The handle API handlers use; cheap to share (it lives in the Broker).
pub struct GroupCoordinator {
    config: GroupConfig,
    tx: Mutex<Option<mpsc::Sender<Command>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl GroupCoordinator {
    /// Load every group and offset from the store and start the coordinator thread.
    pub fn open(store: Arc<dyn KvStore>, config: GroupConfig) -> anyhow::Result<Self> {
        let now = now_ms();
        let mut coordinator = Coordinator::new(store, config.clone(), now);
        coordinator.load(now)?;
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("gregor-groups".into())
            .spawn(move || coordinator.run(rx))?;
        Ok(Self {
            config,
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    fn send(&self, command: Command) -> bool {
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        tx.as_ref().is_some_and(|tx| tx.send(command).is_ok())
    }

    /// Run `f` on the coordinator thread; it answers through the sender it is given. Once
    /// the coordinator is gone the answer is COORDINATOR_NOT_AVAILABLE.
    async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Coordinator, i64, oneshot::Sender<R>) + Send + 'static,
    ) -> Result<R, E> {
        let (tx, rx) = oneshot::channel();
        if !self.send(Box::new(move |c, now| f(c, now, tx))) {
            return Err(E::CoordinatorNotAvailable);
        }
        rx.await.map_err(|_| E::CoordinatorNotAvailable)
    }

    /// Run `f` on the coordinator thread and answer with its result once the batch is durable.
    async fn query<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Coordinator, i64) -> R + Send + 'static,
    ) -> Result<R, E> {
        self.call(move |c, now, tx| {
            let result = f(c, now);
            c.reply(tx, result);
        })
        .await
    }

    /// JoinGroup; the answer may wait for the rebalance to complete.
    pub async fn join(&self, group_id: String, req: JoinRequest) -> JoinResponse {
        let member_id = req.member_id.clone();
        self.call(move |c, now, tx| c.join(group_id, req, tx, now))
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

    pub async fn list_groups(&self) -> Result<Vec<ListedGroup>, E> {
        self.query(|c, _| c.list()).await
    }

    /// Every group's state, member count and committed offsets, sorted by group id.
    pub async fn summaries(&self) -> Result<Vec<GroupSummary>, E> {
        self.query(|c, _| {
            let mut groups: Vec<GroupSummary> = c
                .groups
                .iter()
                .map(|(id, e)| GroupSummary {
                    group_id: id.clone(),
                    state: e.group.state(),
                    members: e.group.members().count(),
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

    /// None for a group that does not exist (Kafka describes it as Dead).
    pub async fn describe_groups(&self, ids: Vec<String>) -> Result<Vec<Option<Description>>, E> {
        self.query(move |c, _| {
            ids.iter()
                .map(|id| c.groups.get(id).map(|e| e.group.describe()))
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
        self.send(Box::new(move |c, _| c.topic_deleted(&topic)));
    }

    /// The broker is shutting down: answer parked JoinGroup/SyncGroup requests (and later
    /// ones) with NOT_COORDINATOR so connections can drain; clients find the coordinator again.
    pub fn begin_shutdown(&self) {
        self.send(Box::new(|c, _| c.unload()));
    }

    /// Stop the thread after it has written what it has; the store is released when this
    /// returns.
    pub fn shutdown(&self) {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            if thread.join().is_err() {
                tracing::error!("the group coordinator thread panicked");
            }
        }
    }
}

impl Drop for GroupCoordinator {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct Entry {
    group: Group,
    offsets: GroupOffsets,
}

enum Parked {
    Join(oneshot::Sender<JoinResponse>),
    Sync(oneshot::Sender<SyncResponse>),
}

/// Everything the coordinator thread owns.
pub struct Coordinator {
    cfg: GroupConfig,
    store: Arc<dyn KvStore>,
    groups: HashMap<String, Entry>,
    waiters: HashMap<Waiter, Parked>,
    next_waiter: Waiter,
    /// (deadline, group) for every group with a timer; `deadline_of` finds its entry.
    deadlines: BTreeSet<(i64, String)>,
    deadline_of: HashMap<String, i64>,
    /// This batch's store writes, and what to do once they are durable (true) or failed.
    writes: Vec<WriteOp>,
    after_write: Vec<Box<dyn FnOnce(bool) + Send>>,
    /// Groups whose offsets this batch changed: reloaded from the store if the write fails.
    offsets_touched: HashSet<String>,
    next_cleanup: i64,
    unloaded: bool,
}

impl Coordinator {
    fn new(store: Arc<dyn KvStore>, cfg: GroupConfig, now: i64) -> Self {
        let next_cleanup = now + cfg.retention_check_interval_ms;
        Self {
            cfg,
            store,
            groups: HashMap::new(),
            waiters: HashMap::new(),
            next_waiter: 0,
            deadlines: BTreeSet::new(),
            deadline_of: HashMap::new(),
            writes: Vec::new(),
            after_write: Vec::new(),
            offsets_touched: HashSet::new(),
            next_cleanup,
            unloaded: false,
        }
    }

    fn load(&mut self, now: i64) -> anyhow::Result<()> {
        for (key, value) in self.store.scan_prefix(record::GROUP_PREFIX)? {
            let id = String::from_utf8_lossy(&key[record::GROUP_PREFIX.len()..]).into_owned();
            match serde_json::from_slice::<GroupRecord>(&value) {
                Ok(r) => {
                    let group = r.restore(&id, now);
                    self.groups.insert(
                        id,
                        Entry {
                            group,
                            offsets: GroupOffsets::new(),
                        },
                    );
                }
                Err(e) => {
                    tracing::warn!(group = %id, error = %e, "skipping an unreadable group record")
                }
            }
        }
        let mut count = 0;
        for (key, value) in self.store.scan_prefix(record::OFFSET_PREFIX)? {
            let (Some((group, topic, partition)), Ok(offset)) = (
                record::parse_offset_key(&key),
                serde_json::from_slice::<CommittedOffset>(&value),
            ) else {
                tracing::warn!("skipping an unreadable committed offset");
                continue;
            };
            // Offsets without a group record belong to a "simple" group (no members ever).
            let entry = self.groups.entry(group.clone()).or_insert_with(|| Entry {
                group: Group::new(&group, now),
                offsets: GroupOffsets::new(),
            });
            entry.offsets.insert((topic, partition), offset);
            count += 1;
        }
        let ids: Vec<String> = self.groups.keys().cloned().collect();
        for id in ids {
            self.reschedule(&id);
        }
        tracing::info!(
            groups = self.groups.len(),
            offsets = count,
            "loaded consumer groups"
        );
        Ok(())
    }

    fn run(mut self, rx: mpsc::Receiver<Command>) {
        loop {
            let now = now_ms();
            let wake = self
                .deadlines
                .first()
                .map(|(d, _)| *d)
                .unwrap_or(i64::MAX)
                .min(self.next_cleanup);
            let sleep =
                Duration::from_millis(wake.saturating_sub(now).max(0) as u64).min(MAX_SLEEP);
            let first = match rx.recv_timeout(sleep) {
                Ok(command) => Some(command),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let now = now_ms();
            if let Some(command) = first {
                self.guarded(|c| command(c, now));
                for command in rx.try_iter().take(MAX_BATCH) {
                    self.guarded(|c| command(c, now));
                }
            }
            self.guarded(|c| c.fire_timers(now));
            if now >= self.next_cleanup {
                self.next_cleanup = now + self.cfg.retention_check_interval_ms;
                self.guarded(|c| c.cleanup(now));
            }
            self.flush();
        }
        self.unload();
        self.flush();
    }

    // ---- plumbing ---------------------------------------------------------------------

    /// A bug must cost one request (its caller sees COORDINATOR_NOT_AVAILABLE), not every
    /// group of the broker.
    fn guarded(&mut self, f: impl FnOnce(&mut Self)) {
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(self))).is_err() {
            tracing::error!("a group coordinator operation panicked; carrying on");
        }
    }

    /// Answer once this batch is durable.
    fn reply<R: Send + 'static>(&mut self, tx: oneshot::Sender<R>, value: R) {
        self.after_write.push(Box::new(move |_| {
            let _ = tx.send(value);
        }));
    }

    fn park(&mut self, parked: Parked) -> Waiter {
        self.next_waiter += 1;
        self.waiters.insert(self.next_waiter, parked);
        self.next_waiter
    }

    fn route(&mut self, reply: Reply) {
        match reply {
            Reply::Join(w, r) => {
                if let Some(Parked::Join(tx)) = self.waiters.remove(&w) {
                    self.reply(tx, r);
                }
            }
            Reply::Sync(w, r) => {
                if let Some(Parked::Sync(tx)) = self.waiters.remove(&w) {
                    self.reply(tx, r);
                }
            }
        }
    }

    /// Run a state-machine call on a group, then route its replies, persist it if asked,
    /// and re-index its next timer.
    fn with_group<R>(
        &mut self,
        id: &str,
        f: impl FnOnce(&mut Group, &GroupConfig, &mut Outbox) -> R,
    ) -> Option<R> {
        let entry = self.groups.get_mut(id)?;
        let before = entry.group.state();
        let mut out = Outbox::default();
        let result = f(&mut entry.group, &self.cfg, &mut out);
        let (after, generation) = (entry.group.state(), entry.group.generation());
        let members = entry.group.members().count();
        if before != after {
            // Kafka's "Preparing to rebalance" / "Stabilized group" lines, in one.
            tracing::info!(
                group = id,
                from = before.name(),
                to = after.name(),
                generation,
                members,
                "group state"
            );
        }
        self.apply(id, out);
        Some(result)
    }

    fn apply(&mut self, id: &str, out: Outbox) {
        for reply in out.replies {
            self.route(reply);
        }
        if out.persist {
            self.persist_group(id);
        }
        self.reschedule(id);
    }

    fn persist_group(&mut self, id: &str) {
        let Some(entry) = self.groups.get(id) else {
            return;
        };
        match serde_json::to_vec(&GroupRecord::of(&entry.group)) {
            Ok(value) => self.writes.push(WriteOp::Put(record::group_key(id), value)),
            Err(e) => tracing::error!(group = id, error = %e, "could not encode a group record"),
        }
    }

    fn reschedule(&mut self, id: &str) {
        if let Some(old) = self.deadline_of.remove(id) {
            self.deadlines.remove(&(old, id.to_string()));
        }
        if let Some(deadline) = self.groups.get(id).and_then(|e| e.group.next_deadline()) {
            self.deadlines.insert((deadline, id.to_string()));
            self.deadline_of.insert(id.to_string(), deadline);
        }
    }

    fn fire_timers(&mut self, now: i64) {
        let due: Vec<String> = self
            .deadlines
            .iter()
            .take_while(|(d, _)| *d <= now)
            .map(|(_, id)| id.clone())
            .collect();
        for id in due {
            self.with_group(&id, |g, cfg, out| g.tick(now, cfg, out));
        }
    }

    /// One store write for the batch, then the answers.
    fn flush(&mut self) {
        let ok = if self.writes.is_empty() {
            true
        } else {
            match self.store.write(std::mem::take(&mut self.writes)) {
                Ok(()) => true,
                Err(e) => {
                    tracing::error!(error = %e, "could not persist group state or offsets");
                    false
                }
            }
        };
        let touched = std::mem::take(&mut self.offsets_touched);
        if !ok {
            // Memory must not claim offsets the store does not have.
            for id in touched {
                self.reload_offsets(&id);
            }
        }
        for f in std::mem::take(&mut self.after_write) {
            f(ok);
        }
    }

    fn reload_offsets(&mut self, id: &str) {
        let Some(entry) = self.groups.get_mut(id) else {
            return;
        };
        match self.store.scan_prefix(&record::group_offsets_prefix(id)) {
            Ok(rows) => {
                entry.offsets = rows
                    .into_iter()
                    .filter_map(|(k, v)| {
                        let (_, topic, partition) = record::parse_offset_key(&k)?;
                        Some(((topic, partition), serde_json::from_slice(&v).ok()?))
                    })
                    .collect();
            }
            Err(e) => tracing::error!(group = id, error = %e, "could not reload offsets"),
        }
    }

    /// Answer every parked request NOT_COORDINATOR, and all later ones that would park.
    fn unload(&mut self) {
        self.unloaded = true;
        for (_, parked) in std::mem::take(&mut self.waiters) {
            match parked {
                Parked::Join(tx) => self.reply(tx, JoinResponse::error(E::NotCoordinator, "")),
                Parked::Sync(tx) => self.reply(tx, SyncResponse::error(E::NotCoordinator)),
            }
        }
    }

    // ---- the APIs ---------------------------------------------------------------------

    fn join(
        &mut self,
        group_id: String,
        req: JoinRequest,
        tx: oneshot::Sender<JoinResponse>,
        now: i64,
    ) {
        if self.unloaded {
            return self.reply(tx, JoinResponse::error(E::NotCoordinator, &req.member_id));
        }
        let mut created = false;
        if !self.groups.contains_key(&group_id) {
            // A member id for a group that does not exist: the member must start over.
            if !req.member_id.is_empty() {
                return self.reply(tx, JoinResponse::error(E::UnknownMemberId, &req.member_id));
            }
            self.groups.insert(
                group_id.clone(),
                Entry {
                    group: Group::new(&group_id, now),
                    offsets: GroupOffsets::new(),
                },
            );
            created = true;
        }
        let waiter = self.park(Parked::Join(tx));
        self.with_group(&group_id, |g, cfg, out| {
            g.join(req, waiter, now, cfg, out);
            out.persist |= created;
        });
    }

    fn sync(
        &mut self,
        group_id: String,
        req: SyncRequest,
        tx: oneshot::Sender<SyncResponse>,
        now: i64,
    ) {
        if self.unloaded {
            return self.reply(tx, SyncResponse::error(E::NotCoordinator));
        }
        if !self.groups.contains_key(&group_id) {
            return self.reply(tx, SyncResponse::error(E::UnknownMemberId));
        }
        let waiter = self.park(Parked::Sync(tx));
        self.with_group(&group_id, |g, _, out| g.sync(req, waiter, now, out));
    }

    fn heartbeat(
        &mut self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now: i64,
    ) -> Result<(), E> {
        self.with_group(group_id, |g, _, _| {
            g.heartbeat(member_id, instance_id, generation, now)
        })
        .unwrap_or(Err(E::UnknownMemberId))
    }

    fn leave(
        &mut self,
        group_id: &str,
        members: &[(String, Option<String>)],
        now: i64,
    ) -> Result<Vec<Result<(), E>>, E> {
        match self.with_group(group_id, |g, cfg, out| g.leave(members, now, cfg, out)) {
            Some(result) => result,
            // No such group: every member is unknown.
            None => Ok(members.iter().map(|_| Err(E::UnknownMemberId)).collect()),
        }
    }

    fn commit(
        &mut self,
        req: CommitRequest,
        now: i64,
        tx: oneshot::Sender<Result<Vec<Result<(), E>>, E>>,
    ) {
        self.commit_checked(req, now, true, tx)
    }

    fn commit_checked(
        &mut self,
        req: CommitRequest,
        now: i64,
        check_member: bool,
        tx: oneshot::Sender<Result<Vec<Result<(), E>>, E>>,
    ) {
        let result = self.apply_commit(&req, now, check_member);
        let Ok(results) = result else {
            return self.reply(tx, result);
        };
        self.after_write.push(Box::new(move |ok| {
            let _ = tx.send(if ok {
                Ok(results)
            } else {
                Err(E::CoordinatorNotAvailable)
            });
        }));
    }

    fn apply_commit(
        &mut self,
        req: &CommitRequest,
        now: i64,
        check_member: bool,
    ) -> Result<Vec<Result<(), E>>, E> {
        if !self.groups.contains_key(&req.group_id) {
            if req.generation >= 0 {
                return Err(if req.version >= 9 {
                    E::GroupIdNotFound
                } else {
                    E::IllegalGeneration
                });
            }
            // Generation -1 from an admin tool or a consumer without group management: a
            // "simple" group (no protocol, no members) holds its offsets.
            let group = Group::new(&req.group_id, now);
            self.groups.insert(
                req.group_id.clone(),
                Entry {
                    group,
                    offsets: GroupOffsets::new(),
                },
            );
        }
        let max_metadata = self.cfg.offset_metadata_max_bytes;
        let entry = self
            .groups
            .get_mut(&req.group_id)
            .ok_or(E::UnknownServerError)?;
        if check_member {
            entry.group.validate_offset_commit(
                &req.member_id,
                req.instance_id.as_deref(),
                req.generation,
            )?;
            entry.group.on_offset_commit(&req.member_id, now);
        }
        let expire_timestamp =
            (req.retention_ms != -1).then(|| now.saturating_add(req.retention_ms));
        let mut results = Vec::with_capacity(req.offsets.len());
        for o in &req.offsets {
            let metadata = o.metadata.clone().unwrap_or_default();
            if metadata.len() > max_metadata {
                results.push(Err(E::OffsetMetadataTooLarge));
                continue;
            }
            let committed = CommittedOffset {
                offset: o.offset,
                leader_epoch: o.leader_epoch,
                metadata,
                commit_timestamp: now,
                expire_timestamp,
            };
            self.writes.push(WriteOp::Put(
                record::offset_key(&req.group_id, &o.topic, o.partition),
                record::encode_offset(&committed),
            ));
            entry
                .offsets
                .insert((o.topic.clone(), o.partition), committed);
            results.push(Ok(()));
        }
        self.offsets_touched.insert(req.group_id.clone());
        self.reschedule(&req.group_id);
        Ok(results)
    }

    fn fetch(&self, group_id: &str, topics: Option<Vec<(String, Vec<i32>)>>) -> FetchedOffsets {
        // A Dead or unknown group simply has no offsets.
        let offsets = self
            .groups
            .get(group_id)
            .filter(|e| e.group.state() != State::Dead)
            .map(|e| &e.offsets);
        match topics {
            Some(topics) => topics
                .into_iter()
                .map(|(topic, partitions)| {
                    let found = partitions
                        .into_iter()
                        .map(|p| (p, offsets.and_then(|o| o.get(&(topic.clone(), p))).cloned()))
                        .collect();
                    (topic, found)
                })
                .collect(),
            None => {
                let mut by_topic: FetchedOffsets = Vec::new();
                for ((topic, partition), o) in offsets.into_iter().flatten() {
                    match by_topic.last_mut() {
                        Some((t, list)) if t == topic => list.push((*partition, Some(o.clone()))),
                        _ => by_topic.push((topic.clone(), vec![(*partition, Some(o.clone()))])),
                    }
                }
                by_topic
            }
        }
    }

    fn list(&self) -> Vec<ListedGroup> {
        let mut groups: Vec<ListedGroup> = self
            .groups
            .iter()
            .map(|(id, e)| ListedGroup {
                group_id: id.clone(),
                protocol_type: e.group.protocol_type().unwrap_or_default().to_string(),
                state: e.group.state(),
            })
            .collect();
        groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        groups
    }

    fn delete_group(&mut self, id: &str, now: i64) -> Result<(), E> {
        let entry = self.groups.get(id).ok_or(E::GroupIdNotFound)?;
        match entry.group.state() {
            State::Dead => return Err(E::GroupIdNotFound),
            State::Stable | State::PreparingRebalance | State::CompletingRebalance => {
                return Err(E::NonEmptyGroup)
            }
            State::Empty => {}
        }
        self.remove_group(id, now);
        Ok(())
    }

    /// Forget a group and everything stored for it.
    fn remove_group(&mut self, id: &str, now: i64) {
        let Some(mut entry) = self.groups.remove(id) else {
            return;
        };
        for (topic, partition) in entry.offsets.keys() {
            self.writes
                .push(WriteOp::Delete(record::offset_key(id, topic, *partition)));
        }
        self.writes.push(WriteOp::Delete(record::group_key(id)));
        let mut out = Outbox::default();
        entry.group.mark_dead(now, &mut out);
        for reply in out.replies {
            self.route(reply);
        }
        self.reschedule(id);
    }

    fn delete_offsets(
        &mut self,
        group_id: &str,
        topics: Vec<(String, Vec<i32>)>,
    ) -> Result<DeletedOffsets, E> {
        let entry = self.groups.get_mut(group_id).ok_or(E::GroupIdNotFound)?;
        let group = &entry.group;
        match group.state() {
            State::Dead => return Err(E::GroupIdNotFound),
            State::Empty => {}
            // A consumer group may drop offsets of topics it no longer subscribes to.
            _ if group.protocol_type() == Some(super::classic::CONSUMER_PROTOCOL_TYPE) => {}
            _ => return Err(E::NonEmptyGroup),
        }
        let mut results = Vec::with_capacity(topics.len());
        for (topic, partitions) in topics {
            if entry.group.is_subscribed_to(&topic) {
                results.push((
                    topic,
                    partitions
                        .into_iter()
                        .map(|p| (p, Err(E::GroupSubscribedToTopic)))
                        .collect(),
                ));
                continue;
            }
            for p in &partitions {
                if entry.offsets.remove(&(topic.clone(), *p)).is_some() {
                    self.writes
                        .push(WriteOp::Delete(record::offset_key(group_id, &topic, *p)));
                }
            }
            results.push((topic, partitions.into_iter().map(|p| (p, Ok(()))).collect()));
        }
        self.offsets_touched.insert(group_id.to_string());
        Ok(results)
    }

    fn topic_deleted(&mut self, topic: &str) {
        for (id, entry) in &mut self.groups {
            let gone: Vec<(String, i32)> = entry
                .offsets
                .keys()
                .filter(|(t, _)| t == topic)
                .cloned()
                .collect();
            for key in gone {
                self.writes
                    .push(WriteOp::Delete(record::offset_key(id, &key.0, key.1)));
                entry.offsets.remove(&key);
            }
        }
    }

    /// Kafka's periodic clean-up: expire offsets by the retention rules, then delete empty
    /// groups that have no offsets left.
    fn cleanup(&mut self, now: i64) {
        let retention = self.cfg.offsets_retention_ms;
        let mut doomed = Vec::new();
        for (id, entry) in &mut self.groups {
            let group = &entry.group;
            let subscribed = group.subscribed_topics();
            let consumer = group.protocol_type() == Some(super::classic::CONSUMER_PROTOCOL_TYPE);
            let in_use = |t: &str| subscribed.as_ref().map_or(consumer, |s| s.contains(t));
            let expired = offsets::expired(
                &entry.offsets,
                group.offset_expiry(),
                in_use,
                now,
                retention,
            );
            for key in expired {
                self.writes
                    .push(WriteOp::Delete(record::offset_key(id, &key.0, key.1)));
                entry.offsets.remove(&key);
            }
            if entry.offsets.is_empty() && group.is_empty() && !group.has_pending_members() {
                doomed.push(id.clone());
            }
        }
        for id in doomed {
            tracing::debug!(group = %id, "removing an empty group without offsets");
            self.remove_group(&id, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::classic::Protocol;
    use crate::store::MemoryStore;
    use bytes::Bytes;

    fn join_request(member_id: &str) -> JoinRequest {
        JoinRequest {
            member_id: member_id.into(),
            instance_id: None,
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 10_000,
            protocol_type: "consumer".into(),
            protocols: vec![Protocol {
                name: "range".into(),
                metadata: Bytes::from_static(b"m"),
            }],
            fresh_member_id: format!("fresh-{member_id}"),
            require_known_member_id: false,
            supports_skip_assignment: false,
        }
    }

    fn config() -> GroupConfig {
        GroupConfig {
            initial_rebalance_delay_ms: 0,
            ..GroupConfig::default()
        }
    }

    fn offset(commit_timestamp: i64) -> CommittedOffset {
        CommittedOffset {
            offset: 1,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp,
            expire_timestamp: None,
        }
    }

    #[test]
    fn cleanup_expires_offsets_and_removes_empty_groups_and_deleted_topics() {
        let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
        let cfg = GroupConfig {
            offsets_retention_ms: 1_000,
            ..config()
        };
        let mut c = Coordinator::new(store.clone(), cfg, 0);
        let now = 10_000;
        for (group, topic, committed) in [
            ("old", "t", 0),
            ("fresh", "t", 9_500),
            ("fresh", "u", 0),
            ("gone", "doomed", 9_900),
        ] {
            let commit = CommitRequest {
                group_id: group.into(),
                member_id: String::new(),
                instance_id: None,
                generation: -1,
                retention_ms: -1,
                version: 8,
                offsets: vec![OffsetToCommit {
                    topic: topic.into(),
                    partition: 0,
                    offset: 1,
                    leader_epoch: -1,
                    metadata: None,
                }],
            };
            assert!(c.apply_commit(&commit, committed, true).is_ok());
        }
        c.flush();
        assert_eq!(store.scan_prefix(record::OFFSET_PREFIX).unwrap().len(), 4);
        c.topic_deleted("doomed");
        c.cleanup(now);
        c.flush();
        // Simple groups expire offsets from their commit time; groups left with none go.
        assert!(!c.groups.contains_key("old"));
        assert!(!c.groups.contains_key("gone"));
        let fresh = &c.groups["fresh"].offsets;
        assert_eq!(
            fresh.keys().cloned().collect::<Vec<_>>(),
            vec![("t".to_string(), 0)]
        );
        assert_eq!(
            fresh[&("t".to_string(), 0)],
            CommittedOffset {
                commit_timestamp: 9_500,
                ..offset(0)
            }
        );
        assert_eq!(store.scan_prefix(record::OFFSET_PREFIX).unwrap().len(), 1);
    }

    #[test]
    fn an_empty_consumer_groups_offsets_expire_from_when_it_became_empty() {
        let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
        let cfg = GroupConfig {
            offsets_retention_ms: 1_000,
            ..config()
        };
        let mut c = Coordinator::new(store.clone(), cfg, 0);
        let (tx, mut rx) = oneshot::channel();
        c.join("g".into(), join_request(""), tx, 0);
        c.fire_timers(1);
        c.flush();
        let joined = rx.try_recv().expect("joined");
        assert_eq!(joined.error, None);
        let (tx, mut rx) = oneshot::channel();
        let sync = SyncRequest {
            member_id: joined.member_id.clone(),
            instance_id: None,
            generation: joined.generation,
            protocol_type: None,
            protocol_name: None,
            assignments: vec![(joined.member_id.clone(), Bytes::from_static(b"a"))],
        };
        c.sync("g".into(), sync, tx, 2);
        c.flush();
        assert_eq!(rx.try_recv().expect("synced").error, None);
        let commit = CommitRequest {
            group_id: "g".into(),
            member_id: joined.member_id.clone(),
            instance_id: None,
            generation: joined.generation,
            retention_ms: -1,
            version: 8,
            offsets: vec![OffsetToCommit {
                topic: "t".into(),
                partition: 0,
                offset: 7,
                leader_epoch: -1,
                metadata: None,
            }],
        };
        assert!(c.apply_commit(&commit, 10, true).is_ok());
        // Long after the commit but while the member is there: kept.
        c.cleanup(50_000);
        assert_eq!(c.groups["g"].offsets.len(), 1);
        let members = [(joined.member_id.clone(), None)];
        assert!(c.leave("g", &members, 60_000).is_ok());
        c.flush();
        // Empty since 60 000: the retention counts from then.
        c.cleanup(60_999);
        assert_eq!(c.groups["g"].offsets.len(), 1);
        c.cleanup(61_000);
        c.flush();
        assert!(
            !c.groups.contains_key("g"),
            "an empty group without offsets goes"
        );
        assert!(store.scan_prefix(record::OFFSET_PREFIX).unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_lone_member_becomes_stable_and_survives_a_reload() {
        let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
        let coordinator = GroupCoordinator::open(store.clone(), config()).unwrap();
        let joined = coordinator.join("g".into(), join_request("")).await;
        assert_eq!(joined.error, None);
        assert_eq!(joined.leader, joined.member_id);
        let sync = SyncRequest {
            member_id: joined.member_id.clone(),
            instance_id: None,
            generation: joined.generation,
            protocol_type: None,
            protocol_name: None,
            assignments: vec![(joined.member_id.clone(), Bytes::from_static(b"a"))],
        };
        let synced = coordinator.sync("g".into(), sync).await;
        assert_eq!(
            (synced.error, synced.assignment.as_ref()),
            (None, &b"a"[..])
        );
        let commit = CommitRequest {
            group_id: "g".into(),
            member_id: joined.member_id.clone(),
            instance_id: None,
            generation: joined.generation,
            retention_ms: -1,
            version: 8,
            offsets: vec![OffsetToCommit {
                topic: "t".into(),
                partition: 0,
                offset: 42,
                leader_epoch: 3,
                metadata: Some("m".into()),
            }],
        };
        assert_eq!(coordinator.commit_offsets(commit).await, Ok(vec![Ok(())]));
        coordinator.shutdown();
        assert_eq!(
            coordinator.list_groups().await.unwrap_err(),
            E::CoordinatorNotAvailable
        );

        let reopened = GroupCoordinator::open(store, config()).unwrap();
        let described = reopened.describe_groups(vec!["g".into()]).await.unwrap();
        let d = described[0].as_ref().unwrap();
        assert_eq!(d.state, State::Stable);
        assert_eq!(d.members[0].assignment.as_ref(), b"a");
        let fetched = reopened.fetch_offsets("g".into(), None).await.unwrap();
        assert_eq!(
            fetched[0].1[0]
                .1
                .as_ref()
                .map(|o| (o.offset, o.leader_epoch)),
            Some((42, 3))
        );
        assert_eq!(
            reopened
                .heartbeat("g".into(), joined.member_id, None, joined.generation)
                .await,
            Ok(())
        );
    }
}
