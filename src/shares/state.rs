//! What the share leader's thread owns: a slot per share-partition it holds (the partition
//! copy it was loaded for, its state epoch and records), the members' share sessions, the
//! lock deadlines, and how a batch's changes become durable ([`ShareStates::write`] in
//! [`Machine::persist`], before any answer of the batch).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use kafka_protocol::ResponseError as E;
use tokio::sync::oneshot;

use super::sessions::{DeadLetterJob, DeadLetterSink, ShareKey, ShareSession};
use crate::coord::runtime::{Batch, Machine};
use crate::coord::Deadlines;
use crate::group::configs::GroupConfigs;
use crate::group::record::{self, GroupRecord};
use crate::group::share::partition::{DeadLetter, SharePartition, StateRecord};
use crate::meta::Partition;
use crate::pg::fence::Fence;
use crate::store::{KvStore, ShareStateKey, ShareStates, ShareWrite, StoreError, Written};

/// A share-partition: (group, (topic id, partition)).
pub(super) type SlotKey = (String, ShareKey);

/// One share-partition held here.
pub(super) struct Slot {
    /// The partition copy it was loaded for: a reopened partition (another `Arc`) reloads.
    pub(super) partition: Arc<Partition>,
    fence: Option<Fence>,
    /// None: never written (its first write inserts).
    state_epoch: Option<i64>,
    pub(super) sp: SharePartition,
    dirty: bool,
}

/// Everything the share leader's thread owns.
pub struct Leader {
    batch: Batch,
    states: Arc<dyn ShareStates>,
    kv: Arc<dyn KvStore>,
    pub(super) configs: Arc<GroupConfigs>,
    pub(super) slots: BTreeMap<SlotKey, Slot>,
    /// Share sessions by (group, member) (not stored: clients open new ones).
    pub(super) sessions: HashMap<(String, String), ShareSession>,
    /// group.share.max.share.sessions: a session beyond is refused.
    pub(super) max_sessions: usize,
    /// Each slot's next lock deadline.
    deadlines: Deadlines<SlotKey>,
    /// The share-partitions whose write of the batch being flushed failed, and the error
    /// their answers carry (cleared at each [`Machine::persist`]).
    outcome: Arc<Mutex<HashMap<SlotKey, E>>>,
    /// Where records given up on go, for the group's dead-letter topic.
    dead_letters: Option<DeadLetterSink>,
    /// Cluster mode: the partitions led here at the last tick ([`Self::follow`]).
    followed: HashMap<ShareKey, Arc<Partition>>,
}

fn stored_state(bytes: &[u8]) -> Result<SharePartition, StoreError> {
    serde_json::from_slice::<StateRecord>(bytes)
        .map(|r| SharePartition::from_record(&r))
        .map_err(|e| StoreError(format!("unreadable share state: {e}")))
}

impl Leader {
    pub(super) fn new(
        states: Arc<dyn ShareStates>,
        kv: Arc<dyn KvStore>,
        configs: Arc<GroupConfigs>,
        max_sessions: usize,
    ) -> Self {
        Self {
            batch: Batch::default(),
            states,
            kv,
            configs,
            slots: BTreeMap::new(),
            sessions: HashMap::new(),
            max_sessions,
            deadlines: Deadlines::default(),
            outcome: Arc::default(),
            dead_letters: None,
            followed: HashMap::new(),
        }
    }

    fn slot_of(partition: &Arc<Partition>, state_epoch: Option<i64>, sp: SharePartition) -> Slot {
        Slot {
            partition: partition.clone(),
            fence: partition.fence(),
            state_epoch,
            sp,
            dirty: false,
        }
    }

    /// The slot of `key` for this copy of its partition: the one held, or loaded from the
    /// store (None: nothing stored).
    pub(super) fn held(
        &mut self,
        key: &SlotKey,
        partition: &Arc<Partition>,
    ) -> Result<Option<&mut Slot>, E> {
        let current = self
            .slots
            .get(key)
            .is_some_and(|s| Arc::ptr_eq(&s.partition, partition));
        if !current {
            self.drop_slot(key);
            let store_key = ShareStateKey::new(&key.0, key.1 .0, key.1 .1);
            let stored = self.states.load(&store_key).and_then(|found| {
                found
                    .map(|s| Ok((s.state_epoch, stored_state(&s.state)?)))
                    .transpose()
            });
            match stored {
                Ok(Some((epoch, sp))) => {
                    let slot = Self::slot_of(partition, Some(epoch), sp);
                    self.insert(key.clone(), slot);
                }
                Ok(None) => return Ok(None),
                Err(e) => {
                    tracing::error!(group = key.0, error = %e, "could not load a share state");
                    return Err(E::CoordinatorNotAvailable);
                }
            }
        }
        Ok(self.slots.get_mut(key))
    }

    /// A new share-partition starting at `offset`, of a group that must be a share group
    /// (GROUP_ID_NOT_FOUND otherwise: the group record says, written before any member could
    /// fetch).
    pub(super) fn create(
        &mut self,
        key: &SlotKey,
        partition: &Arc<Partition>,
        offset: i64,
    ) -> Result<&mut Slot, E> {
        let is_share = match self.kv.get(&record::group_key(&key.0)) {
            Ok(found) => found
                .and_then(|v| serde_json::from_slice::<GroupRecord>(&v).ok())
                .is_some_and(|r| r.share.is_some()),
            Err(e) => {
                tracing::error!(group = key.0, error = %e, "could not read a group record");
                return Err(E::CoordinatorNotAvailable);
            }
        };
        if !is_share {
            return Err(E::GroupIdNotFound);
        }
        let mut slot = Self::slot_of(partition, None, SharePartition::new(offset));
        slot.dirty = true;
        self.insert(key.clone(), slot);
        self.slots.get_mut(key).ok_or(E::UnknownServerError)
    }

    fn insert(&mut self, key: SlotKey, slot: Slot) {
        if let Some(sink) = &self.dead_letters {
            let limits = self.configs.share_settings(&key.0).limits;
            send(sink, &key, slot.sp.pending_dead_letters(&limits));
        }
        self.slots.insert(key.clone(), slot);
        self.reindex(&key);
    }

    /// Store the slot's state with this batch (see [`Machine::persist`]).
    pub(super) fn touch(&mut self, key: &SlotKey) {
        if let Some(slot) = self.slots.get_mut(key) {
            slot.dirty = true;
        }
    }

    pub(super) fn drop_slot(&mut self, key: &SlotKey) {
        self.slots.remove(key);
        self.deadlines.remove(key);
    }

    /// Answer `value` once this batch is durable; each of `keys` whose write failed answers
    /// its error through `failed` instead.
    pub(super) fn reply_for<R: Send + 'static>(
        &mut self,
        tx: oneshot::Sender<R>,
        value: R,
        failed: impl FnOnce(R, &HashMap<SlotKey, E>) -> R + Send + 'static,
    ) {
        let outcome = self.outcome.clone();
        self.batch.after_write(move |_| {
            let outcome = outcome.lock().unwrap_or_else(|e| e.into_inner());
            let value = if outcome.is_empty() {
                value
            } else {
                failed(value, &outcome)
            };
            let _ = tx.send(value);
        });
    }

    /// Re-index the slot's next lock deadline.
    pub(super) fn reindex(&mut self, key: &SlotKey) {
        let next = self.slots.get(key).and_then(|s| s.sp.next_deadline());
        self.deadlines.set(key.clone(), next);
    }

    /// Make the slot's timer fire by `deadline` at the latest, without recomputing it (new
    /// locks: recomputing walks every in-flight record).
    pub(super) fn schedule_by(&mut self, key: &SlotKey, deadline: i64) {
        self.deadlines.by(key.clone(), deadline);
    }

    /// Hand dead letters to `sink` from now on, and every record already waiting for one
    /// (given up on before a restart or a failed write).
    pub(super) fn attach_dead_letters(&mut self, sink: DeadLetterSink) {
        for (key, slot) in &self.slots {
            let limits = self.configs.share_settings(&key.0).limits;
            send(&sink, key, slot.sp.pending_dead_letters(&limits));
        }
        self.dead_letters = Some(sink);
    }

    /// Slots for these partitions (start-up, leadership gained) from what the store holds;
    /// a slot already held for the same copy of its partition (a fetch came first) is kept.
    pub(super) fn adopt(
        &mut self,
        led: Vec<(String, uuid::Uuid, i32, Arc<Partition>)>,
    ) -> Result<usize, StoreError> {
        if led.is_empty() {
            return Ok(0);
        }
        let logs: Vec<_> = led.iter().map(|(l, t, p, _)| (l.clone(), *t, *p)).collect();
        let by_key: HashMap<ShareKey, Arc<Partition>> =
            led.into_iter().map(|(_, t, p, a)| ((t, p), a)).collect();
        let mut adopted = 0;
        for (key, stored) in self.states.of_logs(&logs)? {
            let tp = (key.topic_id, key.partition);
            let Some(partition) = by_key.get(&tp) else {
                continue;
            };
            let slot_key = (key.group, tp);
            if self
                .slots
                .get(&slot_key)
                .is_some_and(|s| Arc::ptr_eq(&s.partition, partition))
            {
                continue;
            }
            match stored_state(&stored.state) {
                Ok(sp) => {
                    let slot = Self::slot_of(partition, Some(stored.state_epoch), sp);
                    self.insert(slot_key, slot);
                    adopted += 1;
                }
                Err(e) => {
                    tracing::warn!(group = slot_key.0, error = %e, "skipping a share state")
                }
            }
        }
        Ok(adopted)
    }

    /// Cluster mode, after each tick: `led` are the partitions this broker leads now. Those
    /// newly led (another copy than the last tick's) are adopted; slots of partitions no
    /// longer led here are dropped without a write (their new leader loads what is stored,
    /// Kafka's `onBecomingFollower`). Answers (adopted, evicted).
    pub(super) fn follow(
        &mut self,
        led: Vec<(String, uuid::Uuid, i32, Arc<Partition>)>,
    ) -> Result<(usize, usize), StoreError> {
        let gone: Vec<SlotKey> = self
            .slots
            .iter()
            .filter(|(_, s)| !s.partition.is_led())
            .map(|(k, _)| k.clone())
            .collect();
        for key in &gone {
            self.drop_slot(key);
        }
        let new: Vec<_> = led
            .iter()
            .filter(|(_, t, p, a)| {
                self.followed
                    .get(&(*t, *p))
                    .is_none_or(|held| !Arc::ptr_eq(held, a))
            })
            .cloned()
            .collect();
        let adopted = self.adopt(new)?;
        self.followed = led.into_iter().map(|(_, t, p, a)| ((t, p), a)).collect();
        Ok((adopted, gone.len()))
    }
}

fn send(sink: &DeadLetterSink, key: &SlotKey, letters: Vec<DeadLetter>) {
    for letter in letters {
        let job = DeadLetterJob {
            group_id: key.0.clone(),
            partition: key.1,
            letter,
        };
        let _ = sink.send(job);
    }
}

impl Machine for Leader {
    fn batch(&mut self) -> &mut Batch {
        &mut self.batch
    }

    /// Locks that ran out: their records are released, or given up on at the delivery
    /// limit, though no consumer touches the partition.
    fn fire_timers(&mut self, now: i64) {
        for key in self.deadlines.due(now) {
            let limits = self.configs.share_settings(&key.0).limits;
            if let Some(slot) = self.slots.get_mut(&key) {
                if slot.sp.expire(now, &limits) {
                    slot.dirty = true;
                }
            }
            self.reindex(&key);
        }
    }

    fn next_deadline(&self) -> Option<i64> {
        self.deadlines.next()
    }

    /// One [`ShareStates::write`] of every slot the batch changed. A slot whose write failed
    /// is dropped (memory goes back to what the store holds: the next request reloads it) and
    /// its answers carry the error: NOT_LEADER_OR_FOLLOWER when fenced, else
    /// COORDINATOR_NOT_AVAILABLE (Kafka's answers when its persister refuses or fails,
    /// `SharePartition.fetchPersisterError`). Dead letters go once their state is durable.
    fn persist(&mut self) {
        self.outcome
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        let mut keys = Vec::new();
        let mut writes = Vec::new();
        let mut letters = Vec::new();
        for (key, slot) in self.slots.iter_mut().filter(|(_, s)| s.dirty) {
            let record = slot.sp.to_record();
            let state = match serde_json::to_vec(&record) {
                Ok(state) => state,
                Err(e) => {
                    tracing::error!(group = key.0, error = %e, "could not encode share state");
                    continue;
                }
            };
            letters.push(slot.sp.take_dead_letters());
            let (topic_id, partition) = key.1;
            writes.push(ShareWrite {
                key: ShareStateKey::new(&key.0, topic_id, partition),
                log: slot
                    .fence
                    .as_ref()
                    .map_or_else(|| format!("{topic_id}-{partition}"), |f| f.log.clone()),
                fence: slot.fence.clone(),
                expect: slot.state_epoch,
                start_offset: record.start_offset,
                state,
            });
            keys.push(key.clone());
        }
        if writes.is_empty() {
            return;
        }
        let results = match self.states.write(&writes) {
            Ok(results) if results.len() == writes.len() => results,
            Ok(_) => {
                tracing::error!("the share state store answered another number of writes");
                Vec::new()
            }
            Err(e) => {
                tracing::error!(partitions = writes.len(), error = %e, "could not persist share states");
                Vec::new()
            }
        };
        let mut failed = Vec::new();
        if results.is_empty() {
            failed = keys
                .iter()
                .map(|k| (k.clone(), E::CoordinatorNotAvailable))
                .collect();
        }
        for ((key, written), letters) in keys.iter().zip(&results).zip(letters) {
            match written {
                Written::Ok { state_epoch } => {
                    if let Some(slot) = self.slots.get_mut(key) {
                        slot.state_epoch = Some(*state_epoch);
                        slot.dirty = false;
                    }
                    if let Some(sink) = &self.dead_letters {
                        send(sink, key, letters);
                    }
                }
                Written::LeaderFenced => {
                    if let Some(slot) = self.slots.get(key) {
                        slot.partition.set_not_led();
                    }
                    failed.push((key.clone(), E::NotLeaderOrFollower));
                }
                Written::StateFenced => failed.push((key.clone(), E::NotLeaderOrFollower)),
            }
        }
        for (key, _) in &failed {
            self.drop_slot(key);
        }
        self.outcome
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(failed);
    }
}
