//! The transaction coordinator: every transactional id's metadata (state machine in
//! `state.rs`), persisted under `txn/<transactional id>` in the store, the markers a
//! transaction's end writes to its partitions, and the timer that aborts transactions that
//! outlive their timeout.
//!
//! One mutex guards all metadata. Transactional produce checks and appends under it, and a
//! transaction leaves Ongoing under it, so no batch of a transaction can land after its
//! marker. Markers are written outside it (their fsync waits), while the transaction sits in
//! a Prepare state that refuses everything else with CONCURRENT_TRANSACTIONS.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::BytesMut;
use kafka_protocol::ResponseError as E;
use tokio_util::sync::CancellationToken;

use super::state::{InitOutcome, PendingOffset, TxnMetadata, TxnState};
use crate::broker::Broker;
use crate::error::{BrokerError, Result};
use crate::group::coordinator::OffsetToCommit;
use crate::group::now_ms;
use crate::log::batch::BatchHeader;
use crate::meta::partition::Appended;
use crate::meta::Partition;
use crate::store::KvStore;

const KEY_PREFIX: &str = "txn/";
/// gregor is the only coordinator there is: its epoch never changes.
const COORDINATOR_EPOCH: i32 = 0;
/// How often transactions are checked for their timeout (Kafka's
/// transaction.abort.timed.out.transaction.cleanup.interval.ms is 10 s).
const TIMEOUT_CHECK: Duration = Duration::from_secs(1);
/// How often idle transactional ids and producers are looked for (Kafka: every 10 minutes,
/// producer.id.expiration.check.interval.ms).
const EXPIRY_CHECK: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Txns {
    by_id: HashMap<String, TxnMetadata>,
    /// Producer id → transactional id, for produce-time checks.
    by_producer: HashMap<i64, String>,
    /// Transactions whose markers are being written right now.
    completing: HashSet<String>,
}

impl Txns {
    fn index(&mut self, id: &str) {
        if let Some(m) = self.by_id.get(id) {
            self.by_producer.insert(m.producer_id, id.to_string());
        }
    }
}

/// A transaction as DescribeTransactions/ListTransactions show it.
#[derive(Debug, Clone)]
pub struct TxnSummary {
    pub transactional_id: String,
    pub metadata: TxnMetadata,
}

pub struct TxnCoordinator {
    store: Arc<dyn KvStore>,
    txns: Mutex<Txns>,
    max_timeout_ms: i32,
}

fn key(id: &str) -> Vec<u8> {
    format!("{KEY_PREFIX}{id}").into_bytes()
}

impl TxnCoordinator {
    /// Load every transactional id from the store. Transactions found in a Prepare state get
    /// their markers written by [`run_timer`] as soon as the broker runs.
    pub fn open(store: Arc<dyn KvStore>, max_timeout_ms: i32) -> anyhow::Result<Self> {
        let mut txns = Txns::default();
        for (k, v) in store.scan_prefix(KEY_PREFIX.as_bytes())? {
            let id = String::from_utf8_lossy(&k[KEY_PREFIX.len()..]).into_owned();
            let metadata: TxnMetadata = serde_json::from_slice(&v)
                .map_err(|e| anyhow::anyhow!("reading transaction {id}: {e}"))?;
            txns.by_id.insert(id.clone(), metadata);
            txns.index(&id);
        }
        Ok(Self {
            store,
            txns: Mutex::new(txns),
            max_timeout_ms,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Txns> {
        self.txns.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn persist(&self, id: &str, m: &TxnMetadata) -> std::result::Result<(), E> {
        let value = serde_json::to_vec(m).map_err(|_| E::UnknownServerError)?;
        self.store.put(&key(id), &value).map_err(|e| {
            tracing::error!(transactional_id = id, error = %e, "cannot persist a transaction");
            E::CoordinatorNotAvailable
        })
    }

    /// Apply `f` to the metadata and persist it when `f` reports a change; on failure to
    /// persist the change is undone.
    fn update<R>(
        &self,
        id: &str,
        f: impl FnOnce(&mut TxnMetadata) -> std::result::Result<(R, bool), E>,
    ) -> std::result::Result<R, E> {
        let mut txns = self.lock();
        let m = txns.by_id.get_mut(id).ok_or(E::InvalidProducerIdMapping)?;
        let before = m.clone();
        let (r, changed) = f(m)?;
        if changed {
            if let Err(e) = self.persist(id, m) {
                *m = before;
                return Err(e);
            }
        }
        Ok(r)
    }

    /// InitProducerId with a transactional id: (producer id, epoch).
    pub fn init_producer_id(
        &self,
        broker: &Arc<Broker>,
        id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> std::result::Result<(i64, i16), E> {
        if id.is_empty() {
            return Err(E::InvalidRequest);
        }
        if timeout_ms <= 0 || timeout_ms > self.max_timeout_ms {
            return Err(E::InvalidTransactionTimeout);
        }
        let now = now_ms();
        let new_id = || broker.new_producer_id().ok();
        let mut txns = self.lock();
        if !txns.by_id.contains_key(id) {
            let pid = new_id().ok_or(E::CoordinatorNotAvailable)?;
            txns.by_id
                .insert(id.to_string(), TxnMetadata::new(pid, timeout_ms, now));
        }
        let m = txns.by_id.get_mut(id).ok_or(E::UnknownServerError)?;
        let before = m.clone();
        let outcome = m.init_producer_id(timeout_ms, expected, now, new_id)?;
        if let Err(e) = self.persist(id, m) {
            *m = before;
            return Err(e);
        }
        let answer = (m.producer_id, m.producer_epoch);
        txns.index(id);
        drop(txns);
        match outcome {
            InitOutcome::Ready => Ok(answer),
            InitOutcome::AbortOngoing => {
                let (broker, id) = (broker.clone(), id.to_string());
                tokio::spawn(async move { broker.txns.complete(&broker, &id).await });
                Err(E::ConcurrentTransactions)
            }
        }
    }

    pub fn add_partitions(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
    ) -> std::result::Result<(), E> {
        self.update(id, |m| {
            Ok((
                (),
                m.add_partitions(producer_id, epoch, partitions, now_ms())?,
            ))
        })
    }

    pub fn add_group(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        group: &str,
    ) -> std::result::Result<(), E> {
        self.update(id, |m| {
            Ok(((), m.add_group(producer_id, epoch, group, now_ms())?))
        })
    }

    /// TxnOffsetCommit: the offsets wait in the transaction until it commits.
    pub fn commit_offsets(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        group: &str,
        offsets: Vec<(String, i32, PendingOffset)>,
    ) -> std::result::Result<(), E> {
        self.update(id, |m| {
            m.commit_offsets(producer_id, epoch, group, offsets, now_ms())?;
            Ok(((), true))
        })
    }

    /// Whether a transaction holds an offset for the group's partition not yet committed
    /// (OffsetFetch with require_stable answers UNSTABLE_OFFSET_COMMIT then).
    pub fn has_pending_offset(&self, group: &str, topic: &str, partition: i32) -> bool {
        let key = (group.to_string(), topic.to_string(), partition);
        self.lock()
            .by_id
            .values()
            .any(|m| m.offsets.contains_key(&key))
    }

    /// EndTxn: write the markers, make the group offsets visible (commit), and answer once the
    /// transaction is complete.
    pub async fn end(
        &self,
        broker: &Arc<Broker>,
        id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
    ) -> std::result::Result<(), E> {
        let prepared = self.update(id, |m| {
            let prepared = m.end(producer_id, epoch, commit, now_ms())?;
            Ok((prepared, prepared))
        })?;
        if prepared {
            self.complete(broker, id).await?;
        }
        Ok(())
    }

    /// Append a transactional batch after checking that its producer's ongoing transaction
    /// holds the partition (Kafka's produce-time verification).
    pub fn append_transactional(
        &self,
        partition: &Partition,
        header: &BatchHeader,
        batch: BytesMut,
        now: i64,
    ) -> Result<Appended> {
        let txns = self.lock();
        let target = (partition.topic.clone(), partition.index);
        txns.by_producer
            .get(&header.producer_id)
            .and_then(|id| txns.by_id.get(id))
            .ok_or(E::InvalidProducerIdMapping)
            .and_then(|m| m.verify_partition(header.producer_id, header.producer_epoch, &target))
            .map_err(BrokerError::Transaction)?;
        partition.append(header, batch, now)
    }

    /// Finish a transaction in a Prepare state: markers on every partition (durable), then
    /// the group offsets of a commit, then Complete*. Safe to call again after a failure.
    pub async fn complete(&self, broker: &Arc<Broker>, id: &str) -> std::result::Result<(), E> {
        let snapshot = {
            let mut txns = self.lock();
            let Some(m) = txns.by_id.get_mut(id) else {
                return Ok(());
            };
            if m.pending_markers().is_none() {
                return Ok(());
            }
            if m.state == TxnState::PrepareEpochFence {
                let before = m.clone();
                m.fence_to_abort(now_ms());
                if let Err(e) = self.persist(id, m) {
                    *m = before;
                    return Err(e);
                }
            }
            let snapshot = m.clone();
            if !txns.completing.insert(id.to_string()) {
                return Err(E::ConcurrentTransactions);
            }
            snapshot
        };
        let result = write_markers(broker, &snapshot).await;
        let result = match result {
            Ok(()) if snapshot.state == TxnState::PrepareCommit => {
                commit_group_offsets(broker, &snapshot).await
            }
            other => other,
        };
        let mut txns = self.lock();
        txns.completing.remove(id);
        if let Err(e) = result {
            tracing::warn!(transactional_id = id, error = ?e, "transaction markers not written yet; will retry");
            return Err(E::CoordinatorLoadInProgress);
        }
        let Some(m) = txns.by_id.get_mut(id) else {
            return Ok(());
        };
        m.complete(now_ms());
        let done = m.clone();
        self.persist(id, &done)?;
        tracing::debug!(transactional_id = id, state = ?done.state, "transaction complete");
        Ok(())
    }

    /// Abort transactions past their timeout; finish those left in a Prepare state (after a
    /// restart or a failed marker write).
    async fn tick(&self, broker: &Arc<Broker>) {
        let now = now_ms();
        let due: Vec<String> = {
            let mut txns = self.lock();
            let Txns {
                by_id, completing, ..
            } = &mut *txns;
            let mut due = Vec::new();
            for (id, m) in by_id.iter_mut() {
                let before = m.clone();
                if m.abort_if_timed_out(now) {
                    tracing::info!(transactional_id = %id, "aborting a transaction that timed out");
                    if self.persist(id, m).is_err() {
                        *m = before;
                        continue;
                    }
                }
                if m.pending_markers().is_some() && !completing.contains(id) {
                    due.push(id.clone());
                }
            }
            due
        };
        for id in due {
            let _ = self.complete(broker, &id).await;
        }
    }

    /// Forget transactional ids unused for `expiration_ms` (transactional.id.expiration.ms).
    fn expire_ids(&self, expiration_ms: i64) {
        let before = now_ms().saturating_sub(expiration_ms);
        let mut txns = self.lock();
        let expired: Vec<(String, i64)> = txns
            .by_id
            .iter()
            .filter(|(id, m)| m.expired(before) && !txns.completing.contains(*id))
            .map(|(id, m)| (id.clone(), m.producer_id))
            .collect();
        for (id, pid) in expired {
            if let Err(e) = self.store.delete(&key(&id)) {
                tracing::warn!(transactional_id = %id, error = %e, "cannot expire a transactional id");
                continue;
            }
            txns.by_id.remove(&id);
            if txns.by_producer.get(&pid) == Some(&id) {
                txns.by_producer.remove(&pid);
            }
            tracing::debug!(transactional_id = %id, "transactional id expired");
        }
    }

    pub fn describe(&self, ids: &[String]) -> Vec<Option<TxnMetadata>> {
        let txns = self.lock();
        ids.iter().map(|id| txns.by_id.get(id).cloned()).collect()
    }

    pub fn list(&self) -> Vec<TxnSummary> {
        self.lock()
            .by_id
            .iter()
            .map(|(id, m)| TxnSummary {
                transactional_id: id.clone(),
                metadata: m.clone(),
            })
            .collect()
    }
}

async fn write_markers(broker: &Arc<Broker>, m: &TxnMetadata) -> std::result::Result<(), E> {
    let commit = m.state == TxnState::PrepareCommit;
    let now = now_ms();
    let mut appended = Vec::with_capacity(m.partitions.len());
    for (topic, index) in &m.partitions {
        let Ok(partition) = broker.partition(topic, *index) else {
            continue; // deleted meanwhile: nothing to mark
        };
        match partition.append_marker(
            m.producer_id,
            m.producer_epoch,
            commit,
            COORDINATOR_EPOCH,
            now,
        ) {
            Ok(offset) => appended.push((partition, offset)),
            Err(BrokerError::InvalidProducerEpoch) => {
                // A newer epoch already wrote here: this transaction's data is decided.
                tracing::debug!(
                    topic,
                    partition = index,
                    "marker superseded by a newer epoch"
                );
            }
            Err(e) => {
                tracing::error!(topic, partition = index, error = %e, "cannot write a transaction marker");
                return Err(E::KafkaStorageError);
            }
        }
    }
    for (partition, offset) in appended {
        partition
            .commit(offset)
            .await
            .map_err(|_| E::KafkaStorageError)?;
    }
    Ok(())
}

async fn commit_group_offsets(broker: &Arc<Broker>, m: &TxnMetadata) -> std::result::Result<(), E> {
    let mut by_group: HashMap<&str, Vec<OffsetToCommit>> = HashMap::new();
    for ((group, topic, partition), o) in &m.offsets {
        by_group.entry(group).or_default().push(OffsetToCommit {
            topic: topic.clone(),
            partition: *partition,
            offset: o.offset,
            leader_epoch: o.leader_epoch,
            metadata: o.metadata.clone(),
        });
    }
    for (group, offsets) in by_group {
        broker
            .groups
            .commit_transactional(group.to_string(), offsets)
            .await?;
    }
    Ok(())
}

/// Check transaction timeouts (and finish interrupted transactions), and expire idle
/// transactional ids and producers, until shutdown.
pub async fn run_timer(broker: Arc<Broker>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(TIMEOUT_CHECK);
    let mut expiry = tokio::time::interval(EXPIRY_CHECK);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => broker.txns.tick(&broker).await,
            _ = expiry.tick() => {
                broker.txns.expire_ids(broker.config.transactional_id_expiration_ms);
                let before = now_ms().saturating_sub(broker.config.producer_id_expiration_ms);
                for topic in broker.topics.all() {
                    for p in topic.partitions() {
                        p.expire_producers(before);
                    }
                }
            }
        }
    }
}
