//! What the group coordinator's thread owns: every group with its offsets, parked
//! JoinGroup/SyncGroup requests, the timer index, and the pending batch of store writes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use kafka_protocol::ResponseError as E;
use tokio::sync::oneshot;

use super::super::classic::{Group, JoinResponse, Outbox, Reply, SyncResponse, Waiter};
use super::super::configs::GroupConfigs;
use super::super::consumer::ConsumerGroup;
use super::super::offsets::{CommittedOffset, GroupOffsets};
use super::super::record::{self, GroupRecord};
use super::super::share::ShareGroup;
use super::super::streams::group::StreamsGroup;
use super::super::GroupConfig;
use super::ShareEvents;
use crate::coord::runtime::{Batch, Machine};
use crate::coord::Deadlines;
use crate::store::{KvStore, ShareStates, WriteOp};

pub(super) struct Entry {
    pub(super) group: Group,
    /// Some for a consumer group (KIP-848); `group` is then an unused empty classic group.
    pub(super) consumer: Option<ConsumerGroup>,
    /// Some for a share group (KIP-932); `group` is then an unused empty classic group.
    pub(super) share: Option<ShareGroup>,
    /// Some for a streams group (KIP-1071); `group` is then an unused empty classic group.
    pub(super) streams: Option<StreamsGroup>,
    pub(super) offsets: GroupOffsets,
}

impl Entry {
    pub(super) fn classic(group: Group) -> Self {
        Self {
            group,
            consumer: None,
            share: None,
            streams: None,
            offsets: GroupOffsets::new(),
        }
    }
}

pub(super) enum Parked {
    Join(oneshot::Sender<JoinResponse>),
    Sync(oneshot::Sender<SyncResponse>),
}

/// Everything the coordinator thread owns.
pub struct Coordinator {
    pub(super) cfg: GroupConfig,
    store: Arc<dyn KvStore>,
    pub(super) groups: HashMap<String, Entry>,
    waiters: HashMap<Waiter, Parked>,
    next_waiter: Waiter,
    /// Every group's next timer.
    deadlines: Deadlines<String>,
    /// This batch's store writes, and what to do once they are durable (true) or failed.
    pub(super) batch: Batch,
    /// Groups whose offsets this batch changed: reloaded from the store if the write fails.
    pub(super) offsets_touched: HashSet<String>,
    next_cleanup: i64,
    pub(super) unloaded: bool,
    /// Group configs: a share group's settings where no request brings them.
    pub(super) configs: Arc<GroupConfigs>,
    /// Share groups' share-partition states (read, reset and deleted by the admin requests).
    pub(super) share_states: Arc<dyn ShareStates>,
    /// Where a member that left is announced (its records released by the leaders).
    pub(super) share_events: Option<Arc<dyn ShareEvents>>,
}

impl Coordinator {
    pub(super) fn new(
        store: Arc<dyn KvStore>,
        cfg: GroupConfig,
        configs: Arc<GroupConfigs>,
        share_states: Arc<dyn ShareStates>,
        now: i64,
    ) -> Self {
        let next_cleanup = now + cfg.retention_check_interval_ms;
        Self {
            cfg,
            store,
            groups: HashMap::new(),
            waiters: HashMap::new(),
            next_waiter: 0,
            deadlines: Deadlines::default(),
            batch: Batch::default(),
            offsets_touched: HashSet::new(),
            next_cleanup,
            unloaded: false,
            configs,
            share_states,
            share_events: None,
        }
    }

    pub(super) fn load(&mut self, now: i64) -> anyhow::Result<()> {
        for (key, value) in self.store.scan_prefix(record::GROUP_PREFIX)? {
            let id = String::from_utf8_lossy(&key[record::GROUP_PREFIX.len()..]).into_owned();
            match serde_json::from_slice::<GroupRecord>(&value) {
                Ok(mut r) => {
                    let consumer = r.consumer.take().map(|c| c.restored(now));
                    let share = r.share.take().map(|s| s.restored(now));
                    let settings = self.streams_settings(&id);
                    let streams = r.streams.take().map(|s| s.restored(now, &settings));
                    let group = match consumer.is_some() || share.is_some() || streams.is_some() {
                        true => Group::new(&id, now),
                        false => r.restore(&id, now),
                    };
                    let mut entry = Entry::classic(group);
                    entry.consumer = consumer;
                    entry.share = share;
                    entry.streams = streams;
                    self.groups.insert(id, entry);
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
            let entry = self
                .groups
                .entry(group.clone())
                .or_insert_with(|| Entry::classic(Group::new(&group, now)));
            entry.offsets.insert((topic, partition), offset);
            count += 1;
        }
        let ids: Vec<String> = self.groups.keys().cloned().collect();
        for id in &ids {
            self.rebalance_if_over_capacity(id, now);
        }
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

    /// Kafka's onLoaded: a classic group loaded with more members than group.max.size
    /// (the limit was lowered) rebalances; only as many as the limit get back in.
    fn rebalance_if_over_capacity(&mut self, id: &str, now: i64) {
        let Some(entry) = self.groups.get(id) else {
            return;
        };
        let size = entry.group.members().count();
        let classic = entry.consumer.is_none() && entry.share.is_none() && entry.streams.is_none();
        if !classic || size <= self.cfg.classic_max_size {
            return;
        }
        tracing::info!(
            group = id,
            size,
            max = self.cfg.classic_max_size,
            "loaded a classic group over capacity: rebalancing so that its consumers can commit"
        );
        self.with_group(id, |g, cfg, out| g.rebalance(now, cfg, out));
    }

    // ---- plumbing ---------------------------------------------------------------------

    /// Answer once this batch is durable.
    pub(super) fn reply<R: Send + 'static>(&mut self, tx: oneshot::Sender<R>, value: R) {
        self.batch.reply(tx, value);
    }

    pub(super) fn park(&mut self, parked: Parked) -> Waiter {
        self.next_waiter += 1;
        self.waiters.insert(self.next_waiter, parked);
        self.next_waiter
    }

    pub(super) fn route(&mut self, reply: Reply) {
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
    pub(super) fn with_group<R>(
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

    /// Run a call on a consumer group; it says whether the group changed (then it is stored).
    /// Logs state changes and re-indexes the group's next timer.
    pub(super) fn with_consumer<R>(
        &mut self,
        id: &str,
        f: impl FnOnce(&mut ConsumerGroup) -> (R, bool),
    ) -> Option<R> {
        let group = self.groups.get_mut(id)?.consumer.as_mut()?;
        let before = group.state();
        let (result, changed) = f(group);
        let after = group.state();
        if before != after {
            tracing::info!(
                group = id,
                from = before.name(),
                to = after.name(),
                epoch = group.epoch,
                members = group.members.len(),
                "consumer group state"
            );
        }
        if changed {
            self.persist_group(id);
        }
        self.reschedule(id);
        Some(result)
    }

    pub(super) fn apply(&mut self, id: &str, out: Outbox) {
        for reply in out.replies {
            self.route(reply);
        }
        if out.persist {
            self.persist_group(id);
        }
        self.reschedule(id);
    }

    pub(super) fn persist_group(&mut self, id: &str) {
        let Some(entry) = self.groups.get(id) else {
            return;
        };
        if let Some(s) = &entry.streams {
            match serde_json::to_vec(&GroupRecord::of_streams(s)) {
                Ok(value) => self.batch.write(WriteOp::Put(record::group_key(id), value)),
                Err(e) => {
                    tracing::error!(group = id, error = %e, "could not encode a group record")
                }
            }
            return;
        }
        let record = match (&entry.consumer, &entry.share) {
            (Some(c), _) => GroupRecord::of_consumer(c),
            (None, Some(s)) => GroupRecord::of_share(s),
            (None, None) => GroupRecord::of(&entry.group),
        };
        match serde_json::to_vec(&record) {
            Ok(value) => self.batch.write(WriteOp::Put(record::group_key(id), value)),
            Err(e) => tracing::error!(group = id, error = %e, "could not encode a group record"),
        }
    }

    pub(super) fn reschedule(&mut self, id: &str) {
        let deadline = self
            .groups
            .get(id)
            .and_then(|e| match (&e.consumer, &e.share) {
                _ if e.streams.is_some() => e.streams.as_ref().and_then(|s| s.next_deadline()),
                (Some(c), _) => c.next_deadline(),
                // A share group's member sessions.
                (None, Some(s)) => s.next_deadline(),
                (None, None) => e.group.next_deadline(),
            });
        self.deadlines.set(id.to_string(), deadline);
    }

    pub(super) fn fire_group_timers(&mut self, now: i64) {
        for id in self.deadlines.due(now) {
            let share = self.groups.get(&id).is_some_and(|e| e.share.is_some());
            let consumer = self.groups.get(&id).is_some_and(|e| e.consumer.is_some());
            let streams = self.groups.get(&id).is_some_and(|e| e.streams.is_some());
            if streams {
                self.streams_tick(&id, now);
            } else if share {
                self.share_tick(&id, now);
            } else if consumer {
                self.with_consumer(&id, |c| ((), c.tick(now)));
                self.maybe_downgrade(&id, now);
            } else {
                self.with_group(&id, |g, cfg, out| g.tick(now, cfg, out));
            }
        }
    }

    /// One store write for the batch, then the answers (the runtime does this itself).
    #[cfg(test)]
    pub(super) fn flush(&mut self) {
        let store = self.store.clone();
        crate::coord::runtime::flush(self, store.as_ref(), "groups");
    }

    pub(super) fn reload_offsets(&mut self, id: &str) {
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
    pub(super) fn unload(&mut self) {
        self.unloaded = true;
        for (_, parked) in std::mem::take(&mut self.waiters) {
            match parked {
                Parked::Join(tx) => self.reply(tx, JoinResponse::error(E::NotCoordinator, "")),
                Parked::Sync(tx) => self.reply(tx, SyncResponse::error(E::NotCoordinator)),
            }
        }
    }
}

impl Machine for Coordinator {
    fn batch(&mut self) -> &mut Batch {
        &mut self.batch
    }

    /// The groups' timers, and Kafka's periodic offset clean-up.
    fn fire_timers(&mut self, now: i64) {
        self.fire_group_timers(now);
        if now >= self.next_cleanup {
            self.next_cleanup = now + self.cfg.retention_check_interval_ms;
            self.cleanup(now);
        }
    }

    fn next_deadline(&self) -> Option<i64> {
        let group = self.deadlines.next();
        Some(group.map_or(self.next_cleanup, |d| d.min(self.next_cleanup)))
    }

    fn written(&mut self, ok: bool) {
        let touched = std::mem::take(&mut self.offsets_touched);
        if !ok {
            // Memory must not claim offsets the store does not have.
            for id in touched {
                self.reload_offsets(&id);
            }
        }
    }

    fn stopping(&mut self) {
        self.unload();
    }
}
