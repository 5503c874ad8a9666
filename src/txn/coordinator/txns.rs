//! What the transaction coordinator's runtime thread owns: every transactional id's metadata,
//! the producer id allocator, and the pending batch of store writes. Each change is written
//! under `txn/<id>` in the batch's one store write; a failed write puts the batch's ids back
//! to what the store holds. The produce path's [`TxnGate`] is narrowed at each change and
//! widened once it is durable (see `gate.rs`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::ResponseError as E;
use tokio::sync::{mpsc, oneshot};

use super::TxnSummary;
use crate::coord::runtime::{Batch, Machine};
use crate::store::{KvStore, StoreError, WriteOp};
use crate::txn::end_v2::EndV2;
use crate::txn::gate::TxnGate;
use crate::txn::state::{InitOutcome, PendingOffset, TxnMetadata, TxnState};
use crate::txn::ProducerIds;

pub(super) const KEY_PREFIX: &str = "txn/";
/// How often transactions are checked for their timeout (Kafka's
/// transaction.abort.timed.out.transaction.cleanup.interval.ms is 10 s).
pub(super) const TIMEOUT_CHECK: Duration = Duration::from_secs(1);
/// How often idle transactional ids and producers are looked for (Kafka: every 10 minutes,
/// producer.id.expiration.check.interval.ms).
pub(super) const EXPIRY_CHECK: Duration = Duration::from_secs(60);

fn key(id: &str) -> Vec<u8> {
    format!("{KEY_PREFIX}{id}").into_bytes()
}

/// What the store holds of transactional id `id` (what the coordinator wrote last).
pub(super) fn stored(store: &dyn KvStore, id: &str) -> crate::error::Result<Option<TxnMetadata>> {
    let Some(bytes) = store.get(&key(id))? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        crate::error::BrokerError::Store(crate::store::StoreError(format!(
            "reading transaction {id}: {e}"
        )))
    })
}

fn millis(d: Duration) -> i64 {
    d.as_millis() as i64
}

/// Answers that depend on the batch's write: COORDINATOR_NOT_AVAILABLE when it failed.
type Answer<R> = oneshot::Sender<Result<R, E>>;

pub struct Txns {
    store: Arc<dyn KvStore>,
    batch: Batch,
    pub(super) by_id: HashMap<String, TxnMetadata>,
    /// For each id this batch changed, what the store holds (None: nothing).
    undo: HashMap<String, Option<TxnMetadata>>,
    /// Transactions whose markers are being written right now, and those of them that
    /// started in this batch (forgotten if its write fails).
    completing: HashSet<String>,
    completing_added: Vec<String>,
    /// Transactions handed to the driver to complete, not yet started.
    scheduled: HashSet<String>,
    completions: mpsc::UnboundedSender<String>,
    gate: Arc<TxnGate>,
    producer_ids: ProducerIds,
    id_expiration_ms: i64,
    next_timeout_check: i64,
    next_expiry: i64,
}

impl Txns {
    /// Every transactional id in the store; the gate is given what they allow.
    /// No transactions yet: [`Txns::load`] reads them.
    pub(super) fn new(
        store: Arc<dyn KvStore>,
        gate: Arc<TxnGate>,
        completions: mpsc::UnboundedSender<String>,
        id_expiration_ms: i64,
        now: i64,
    ) -> Self {
        Self {
            store,
            batch: Batch::default(),
            by_id: HashMap::new(),
            undo: HashMap::new(),
            completing: HashSet::new(),
            completing_added: Vec::new(),
            scheduled: HashSet::new(),
            completions,
            gate,
            producer_ids: ProducerIds::new(),
            id_expiration_ms,
            // Transactions left in a Prepare state by a crash are finished at the first tick.
            next_timeout_check: now,
            next_expiry: now + millis(EXPIRY_CHECK),
        }
    }

    /// Read every transaction the store holds.
    pub(super) fn load(&mut self) -> anyhow::Result<()> {
        for (k, v) in self.store.scan_prefix(KEY_PREFIX.as_bytes())? {
            let id = String::from_utf8_lossy(&k[KEY_PREFIX.len()..]).into_owned();
            let metadata: TxnMetadata = serde_json::from_slice(&v)
                .map_err(|e| anyhow::anyhow!("reading transaction {id}: {e}"))?;
            self.gate.publish(None, Some(&metadata));
            self.by_id.insert(id, metadata);
        }
        Ok(())
    }

    /// Become the coordinator: what the previous one left in the store is the truth.
    pub(super) fn take_over(&mut self, now: i64) -> anyhow::Result<()> {
        self.load()?;
        self.next_timeout_check = now;
        Ok(())
    }

    /// `id` went from `before` to what memory holds now: write it in this batch and narrow
    /// the gate at once.
    fn changed(&mut self, id: &str, before: Option<TxnMetadata>) {
        let now = self.by_id.get(id);
        self.gate.narrow(before.as_ref(), now);
        let op = match now {
            Some(m) => match serde_json::to_vec(m) {
                Ok(value) => WriteOp::Put(key(id), value),
                Err(e) => {
                    tracing::error!(transactional_id = id, error = %e, "cannot encode a transaction");
                    return;
                }
            },
            None => WriteOp::Delete(key(id)),
        };
        self.batch.write(op);
        self.undo.entry(id.to_string()).or_insert(before);
    }

    /// Answer `result` once the batch is durable; COORDINATOR_NOT_AVAILABLE if it is not.
    fn answer<R: Send + 'static>(&mut self, tx: Answer<R>, result: Result<R, E>) {
        self.batch.after_write(move |ok| {
            let _ = tx.send(if ok {
                result
            } else {
                Err(E::CoordinatorNotAvailable)
            });
        });
    }

    /// Hand `id` to the driver once this batch is written.
    fn schedule(&mut self, id: &str) {
        if self.completing.contains(id) || !self.scheduled.insert(id.to_string()) {
            return;
        }
        let (completions, id) = (self.completions.clone(), id.to_string());
        self.batch.after_write(move |_| {
            let _ = completions.send(id);
        });
    }

    /// Apply `f` to the metadata; write it when `f` reports a change.
    fn update<R: Send + 'static>(
        &mut self,
        id: &str,
        tx: Answer<R>,
        f: impl FnOnce(&mut TxnMetadata) -> Result<(R, bool), E>,
    ) {
        let Some(m) = self.by_id.get_mut(id) else {
            return self.answer(tx, Err(E::InvalidProducerIdMapping));
        };
        let before = m.clone();
        match f(m) {
            Ok((r, changed)) => {
                if changed {
                    self.changed(id, Some(before));
                }
                self.answer(tx, Ok(r));
            }
            Err(e) => {
                *m = before;
                self.answer(tx, Err(e));
            }
        }
    }

    pub(super) fn new_producer_id(&mut self) -> Result<i64, StoreError> {
        self.producer_ids.next(self.store.as_ref())
    }

    /// InitProducerId with a transactional id: (producer id, epoch). A transaction it fences
    /// is handed to the driver to abort; the client gets CONCURRENT_TRANSACTIONS and retries.
    pub(super) fn init_producer_id(
        &mut self,
        id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        now: i64,
        tx: Answer<(i64, i16)>,
    ) {
        let existed = self.by_id.contains_key(id);
        if !existed {
            let Ok(pid) = self.new_producer_id() else {
                return self.answer(tx, Err(E::CoordinatorNotAvailable));
            };
            self.by_id
                .insert(id.to_string(), TxnMetadata::new(pid, timeout_ms, now));
        }
        let Self {
            by_id,
            producer_ids,
            store,
            ..
        } = self;
        let Some(m) = by_id.get_mut(id) else {
            return self.answer(tx, Err(E::UnknownServerError));
        };
        let before = m.clone();
        let new_id = || producer_ids.next(store.as_ref()).ok();
        match m.init_producer_id(timeout_ms, expected, now, new_id) {
            Ok(outcome) => {
                let answer = (m.producer_id, m.producer_epoch);
                self.changed(id, existed.then_some(before));
                match outcome {
                    InitOutcome::Ready => self.answer(tx, Ok(answer)),
                    InitOutcome::AbortOngoing => {
                        self.schedule(id);
                        self.answer(tx, Err(E::ConcurrentTransactions));
                    }
                }
            }
            Err(e) => {
                if existed {
                    *m = before;
                } else {
                    by_id.remove(id);
                }
                self.answer(tx, Err(e));
            }
        }
    }

    pub(super) fn add_partitions(
        &mut self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: Vec<(String, i32)>,
        now: i64,
        tx: Answer<()>,
    ) {
        self.update(id, tx, |m| {
            Ok(((), m.add_partitions(producer_id, epoch, &partitions, now)?))
        })
    }

    pub(super) fn add_group(
        &mut self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        group: &str,
        now: i64,
        tx: Answer<()>,
    ) {
        self.update(id, tx, |m| {
            Ok(((), m.add_group(producer_id, epoch, group, now)?))
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn commit_offsets(
        &mut self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        group: &str,
        offsets: Vec<(String, i32, PendingOffset)>,
        implicit_add: bool,
        now: i64,
        tx: Answer<()>,
    ) {
        self.update(id, tx, |m| {
            m.commit_offsets(producer_id, epoch, group, offsets, implicit_add, now)?;
            Ok(((), true))
        })
    }

    /// EndTxn: Ok(true) once the Prepare state is durable (the markers are due).
    pub(super) fn end(
        &mut self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        now: i64,
        tx: Answer<bool>,
    ) {
        self.update(id, tx, |m| {
            let prepared = m.end(producer_id, epoch, commit, now)?;
            Ok((prepared, prepared))
        })
    }

    /// EndTxn v5: (prepared?, the producer id and epoch to answer) once the Prepare state is
    /// durable. The epoch is bumped; an exhausted one takes a new producer id.
    pub(super) fn end_v2(
        &mut self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        now: i64,
        tx: Answer<(bool, (i64, i16))>,
    ) {
        let Self {
            by_id,
            producer_ids,
            store,
            ..
        } = self;
        let Some(m) = by_id.get_mut(id) else {
            return self.answer(tx, Err(E::InvalidProducerIdMapping));
        };
        let before = m.clone();
        let new_id = || producer_ids.next(store.as_ref()).ok();
        match m.end_v2(producer_id, epoch, commit, now, new_id) {
            Ok(EndV2::Prepared) => {
                let next = m.next_producer();
                self.changed(id, Some(before));
                self.answer(tx, Ok((true, next)));
            }
            Ok(EndV2::Done) => {
                let current = (m.producer_id, m.producer_epoch);
                self.answer(tx, Ok((false, current)));
            }
            Err(e) => {
                *m = before;
                self.answer(tx, Err(e));
            }
        }
    }

    /// AddPartitionsToTxn v4+ VerifyOnly: see [`TxnMetadata::verify_partitions`]; an id
    /// without a transaction is INVALID_PRODUCER_ID_MAPPING.
    pub(super) fn verify_partitions(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
    ) -> Result<Vec<bool>, E> {
        self.by_id
            .get(id)
            .ok_or(E::InvalidProducerIdMapping)?
            .verify_partitions(producer_id, epoch, partitions)
    }

    /// The partitions of `group` whose offsets an open transaction holds.
    pub(super) fn pending_offsets(&self, group: &str) -> HashSet<(String, i32)> {
        self.by_id
            .values()
            .flat_map(|m| m.offsets.keys())
            .filter(|(g, _, _)| g == group)
            .map(|(_, t, p)| (t.clone(), *p))
            .collect()
    }

    /// A completion starts: Some(snapshot) once its (fenced → abort) state is durable, None
    /// when there is nothing to complete.
    pub(super) fn begin_completion(&mut self, id: &str, now: i64, tx: Answer<Option<TxnMetadata>>) {
        self.scheduled.remove(id);
        let Some(m) = self.by_id.get_mut(id) else {
            return self.answer(tx, Ok(None));
        };
        if m.pending_markers().is_none() {
            return self.answer(tx, Ok(None));
        }
        if self.completing.contains(id) {
            return self.answer(tx, Err(E::ConcurrentTransactions));
        }
        if m.state == TxnState::PrepareEpochFence {
            let before = m.clone();
            m.fence_to_abort(now);
            self.changed(id, Some(before));
        }
        let snapshot = self.by_id.get(id).cloned();
        self.completing.insert(id.to_string());
        self.completing_added.push(id.to_string());
        self.answer(tx, Ok(snapshot));
    }

    /// The markers (and a commit's group offsets) are durable, or failed: Complete* or retry.
    pub(super) fn finish_completion(
        &mut self,
        id: &str,
        result: Result<(), E>,
        now: i64,
        tx: Answer<()>,
    ) {
        self.completing.remove(id);
        if let Err(e) = result {
            tracing::warn!(transactional_id = id, error = ?e, "transaction markers not written yet; will retry");
            return self.answer(tx, Err(E::CoordinatorLoadInProgress));
        }
        let Some(m) = self.by_id.get_mut(id) else {
            return self.answer(tx, Ok(()));
        };
        let before = m.clone();
        m.complete(now);
        tracing::debug!(transactional_id = id, state = ?m.state, "transaction complete");
        self.changed(id, Some(before));
        self.answer(tx, Ok(()));
    }

    /// Abort transactions past their timeout; hand those in a Prepare state (after a restart
    /// or a failed marker write) to the driver.
    fn check_timeouts(&mut self, now: i64) {
        let ids: Vec<String> = self.by_id.keys().cloned().collect();
        for id in ids {
            let Some(m) = self.by_id.get_mut(&id) else {
                continue;
            };
            let before = m.clone();
            if m.abort_if_timed_out(now) {
                tracing::info!(transactional_id = %id, "aborting a transaction that timed out");
                self.changed(&id, Some(before));
            }
            if self.by_id[&id].pending_markers().is_some() {
                self.schedule(&id);
            }
        }
    }

    /// Forget transactional ids unused for transactional.id.expiration.ms.
    fn expire_ids(&mut self, now: i64) {
        let before = now.saturating_sub(self.id_expiration_ms);
        let expired: Vec<String> = self
            .by_id
            .iter()
            .filter(|(id, m)| m.expired(before) && !self.completing.contains(*id))
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            let m = self.by_id.remove(&id);
            self.changed(&id, m);
            tracing::debug!(transactional_id = %id, "transactional id expired");
        }
    }

    pub(super) fn describe(&self, ids: &[String]) -> Vec<Option<TxnMetadata>> {
        ids.iter().map(|id| self.by_id.get(id).cloned()).collect()
    }

    pub(super) fn list(&self) -> Vec<TxnSummary> {
        self.by_id
            .iter()
            .map(|(id, m)| TxnSummary {
                transactional_id: id.clone(),
                metadata: m.clone(),
            })
            .collect()
    }
}

impl Machine for Txns {
    fn batch(&mut self) -> &mut Batch {
        &mut self.batch
    }

    fn fire_timers(&mut self, now: i64) {
        if now >= self.next_timeout_check {
            self.next_timeout_check = now + millis(TIMEOUT_CHECK);
            self.check_timeouts(now);
        }
        if now >= self.next_expiry {
            self.next_expiry = now + millis(EXPIRY_CHECK);
            self.expire_ids(now);
        }
    }

    fn next_deadline(&self) -> Option<i64> {
        Some(self.next_timeout_check.min(self.next_expiry))
    }

    fn written(&mut self, ok: bool) {
        let added = std::mem::take(&mut self.completing_added);
        for (id, durable) in std::mem::take(&mut self.undo) {
            if ok {
                self.gate.publish(durable.as_ref(), self.by_id.get(&id));
                continue;
            }
            // Memory must not claim what the store does not hold.
            tracing::warn!(transactional_id = %id, "transaction change not persisted; undone");
            let current = match &durable {
                Some(m) => self.by_id.insert(id.clone(), m.clone()),
                None => self.by_id.remove(&id),
            };
            self.gate.publish(current.as_ref(), durable.as_ref());
        }
        if !ok {
            for id in added {
                self.completing.remove(&id);
            }
        }
    }
}
