//! One transactional id's metadata and its state machine, after Kafka's TransactionMetadata
//! and the checks of its TransactionCoordinator (transactions v1; v2's end is in `end_v2.rs`).
//! Pure: no I/O, the clock is passed in; the coordinator persists what these functions change
//! and writes the markers.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::ResponseError as E;
use serde::{Deserialize, Serialize};

/// Kafka's RecordBatch.NO_PRODUCER_EPOCH: a new transactional id has no epoch yet.
pub const NO_EPOCH: i16 = -1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
    /// An ongoing transaction is being aborted because a new producer took the id over (or it
    /// timed out): the epoch is bumped, then the abort proceeds as PrepareAbort.
    PrepareEpochFence,
    Dead,
}

impl TxnState {
    /// The name Kafka's DescribeTransactions/ListTransactions use.
    pub fn kafka_name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
            TxnState::Dead => "Dead",
        }
    }
}

/// An offset committed within a transaction (TxnOffsetCommit), visible once it commits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

/// (group, topic, partition) → the transaction's latest offset for it.
pub type PendingOffsets = BTreeMap<(String, String, i32), PendingOffset>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnMetadata {
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// The epoch before the last bump (KIP-360: a retried InitProducerId is recognised).
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<(String, i32)>,
    /// Consumer groups added with AddOffsetsToTxn.
    pub groups: BTreeSet<String>,
    #[serde(with = "as_pairs")]
    pub offsets: PendingOffsets,
    /// When the ongoing transaction started (-1: none).
    pub start_ms: i64,
    pub last_update_ms: i64,
    /// The last transaction was ended by a transactions v2 client (EndTxn v5): its end bumped
    /// the epoch (Kafka's clientTransactionVersion). Absent in what older versions stored.
    #[serde(default)]
    pub client_v2: bool,
    /// A v2 end that exhausted the epoch: the producer id the transaction continues with once
    /// its markers (written with the old id) are durable.
    #[serde(default)]
    pub next_producer_id: Option<i64>,
    /// The producer id before the last such switch (a retried EndTxn names it).
    #[serde(default)]
    pub previous_producer_id: Option<i64>,
}

/// JSON maps need string keys: the pending offsets are stored as a list of pairs.
mod as_pairs {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{PendingOffset, PendingOffsets};

    pub fn serialize<S: Serializer>(m: &PendingOffsets, s: S) -> Result<S::Ok, S::Error> {
        m.iter().collect::<Vec<_>>().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PendingOffsets, D::Error> {
        let pairs: Vec<((String, String, i32), PendingOffset)> = Vec::deserialize(d)?;
        Ok(pairs.into_iter().collect())
    }
}

/// What the coordinator must do after InitProducerId changed the metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitOutcome {
    /// Answer with the metadata's producer id and epoch.
    Ready,
    /// An ongoing transaction must be aborted first (the epoch was bumped to fence its
    /// producer); the client gets CONCURRENT_TRANSACTIONS and retries.
    AbortOngoing,
}

/// Whether an epoch can be bumped no further (Kafka starts a new producer id then).
pub(super) fn epoch_exhausted(epoch: i16) -> bool {
    epoch >= i16::MAX - 1
}

impl TxnMetadata {
    pub fn new(producer_id: i64, timeout_ms: i32, now: i64) -> Self {
        Self {
            producer_id,
            producer_epoch: NO_EPOCH,
            last_producer_epoch: NO_EPOCH,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            groups: BTreeSet::new(),
            offsets: PendingOffsets::new(),
            start_ms: -1,
            last_update_ms: now,
            client_v2: false,
            next_producer_id: None,
            previous_producer_id: None,
        }
    }

    /// InitProducerId with this transactional id. `expected` is the (producer id, epoch) a
    /// KIP-360 client sends to resume; `new_id` allocates a producer id when the epoch runs out.
    pub fn init_producer_id(
        &mut self,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        now: i64,
        new_id: impl FnOnce() -> Option<i64>,
    ) -> Result<InitOutcome, E> {
        if let Some((pid, _)) = expected {
            // Kafka fences a resuming producer unless the id is the current one (or the
            // metadata is brand new).
            if self.producer_epoch != NO_EPOCH && pid != self.producer_id {
                return Err(E::ProducerFenced);
            }
        }
        match self.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort | TxnState::PrepareEpochFence => {
                Err(E::ConcurrentTransactions)
            }
            TxnState::Dead => Err(E::ConcurrentTransactions),
            TxnState::Ongoing => {
                // Fence the old producer: bump the epoch, abort its transaction with it.
                self.bump_epoch(new_id)?;
                self.state = TxnState::PrepareEpochFence;
                self.last_update_ms = now;
                Ok(InitOutcome::AbortOngoing)
            }
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                match expected {
                    Some((_, epoch))
                        if epoch != self.producer_epoch && self.producer_epoch != NO_EPOCH =>
                    {
                        if epoch == self.last_producer_epoch {
                            // A retry of a bump whose answer got lost: same epoch again.
                            return Ok(InitOutcome::Ready);
                        }
                        return Err(E::ProducerFenced);
                    }
                    _ => {}
                }
                self.bump_epoch(new_id)?;
                self.timeout_ms = timeout_ms;
                self.state = TxnState::Empty;
                self.clear_transaction();
                self.last_update_ms = now;
                Ok(InitOutcome::Ready)
            }
        }
    }

    fn bump_epoch(&mut self, new_id: impl FnOnce() -> Option<i64>) -> Result<(), E> {
        if epoch_exhausted(self.producer_epoch) {
            self.producer_id = new_id().ok_or(E::UnknownServerError)?;
            self.last_producer_epoch = NO_EPOCH;
            self.producer_epoch = 0;
        } else {
            self.last_producer_epoch = self.producer_epoch;
            self.producer_epoch += 1;
        }
        Ok(())
    }

    pub(super) fn clear_transaction(&mut self) {
        self.partitions.clear();
        self.groups.clear();
        self.offsets.clear();
        self.start_ms = -1;
    }

    /// The checks every in-transaction request makes of its producer id and epoch.
    pub(super) fn check_producer(&self, producer_id: i64, epoch: i16) -> Result<(), E> {
        if producer_id != self.producer_id {
            return Err(E::InvalidProducerIdMapping);
        }
        if epoch != self.producer_epoch {
            return Err(E::ProducerFenced);
        }
        Ok(())
    }

    /// Whether adding to the transaction is possible now (Kafka's AddPartitionsToTxn checks).
    pub(super) fn check_can_add(&self, producer_id: i64, epoch: i16) -> Result<(), E> {
        self.check_producer(producer_id, epoch)?;
        match self.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort | TxnState::PrepareEpochFence => {
                Err(E::ConcurrentTransactions)
            }
            TxnState::Dead => Err(E::InvalidTxnState),
            _ => Ok(()),
        }
    }

    pub(super) fn begin_if_needed(&mut self, now: i64) {
        if self.state != TxnState::Ongoing {
            self.clear_transaction();
            self.state = TxnState::Ongoing;
            self.start_ms = now;
        }
        self.last_update_ms = now;
    }

    /// AddPartitionsToTxn v4+ with VerifyOnly (Kafka's `handleVerifyPartitionsInTransaction`):
    /// after the producer and state checks, whether each partition is in the ongoing
    /// transaction.
    pub fn verify_partitions(
        &self,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
    ) -> Result<Vec<bool>, E> {
        self.check_producer(producer_id, epoch)?;
        if matches!(
            self.state,
            TxnState::PrepareCommit | TxnState::PrepareAbort | TxnState::PrepareEpochFence
        ) {
            return Err(E::ConcurrentTransactions);
        }
        let ongoing = self.state == TxnState::Ongoing;
        Ok(partitions
            .iter()
            .map(|p| ongoing && self.partitions.contains(p))
            .collect())
    }

    /// AddPartitionsToTxn. Ok(true) when the metadata changed (and must be persisted).
    pub fn add_partitions(
        &mut self,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
        now: i64,
    ) -> Result<bool, E> {
        self.check_can_add(producer_id, epoch)?;
        if self.state == TxnState::Ongoing && partitions.iter().all(|p| self.partitions.contains(p))
        {
            return Ok(false);
        }
        self.begin_if_needed(now);
        self.partitions.extend(partitions.iter().cloned());
        Ok(true)
    }

    /// AddOffsetsToTxn: the group's offsets join the transaction.
    pub fn add_group(
        &mut self,
        producer_id: i64,
        epoch: i16,
        group: &str,
        now: i64,
    ) -> Result<bool, E> {
        self.check_can_add(producer_id, epoch)?;
        if self.state == TxnState::Ongoing && self.groups.contains(group) {
            return Ok(false);
        }
        self.begin_if_needed(now);
        self.groups.insert(group.to_string());
        Ok(true)
    }

    /// TxnOffsetCommit: offsets of a group added to the ongoing transaction wait for its end.
    /// `implicit_add` (v5+, transactions v2): the group joins the transaction here, as
    /// AddOffsetsToTxn would have added it.
    pub fn commit_offsets(
        &mut self,
        producer_id: i64,
        epoch: i16,
        group: &str,
        offsets: Vec<(String, i32, PendingOffset)>,
        implicit_add: bool,
        now: i64,
    ) -> Result<(), E> {
        if implicit_add {
            self.add_group(producer_id, epoch, group, now)?;
        }
        self.check_producer(producer_id, epoch)?;
        match self.state {
            TxnState::Ongoing if self.groups.contains(group) => {}
            TxnState::PrepareCommit | TxnState::PrepareAbort | TxnState::PrepareEpochFence => {
                return Err(E::ConcurrentTransactions)
            }
            _ => return Err(E::InvalidTxnState),
        }
        for (topic, partition, offset) in offsets {
            self.offsets
                .insert((group.to_string(), topic, partition), offset);
        }
        self.last_update_ms = now;
        Ok(())
    }

    /// Whether a transactional batch from (producer id, epoch) may go to this partition.
    pub fn verify_partition(
        &self,
        producer_id: i64,
        epoch: i16,
        partition: &(String, i32),
    ) -> Result<(), E> {
        if producer_id != self.producer_id {
            return Err(E::InvalidProducerIdMapping);
        }
        if epoch < self.producer_epoch {
            return Err(E::InvalidProducerEpoch);
        }
        if epoch != self.producer_epoch
            || self.state != TxnState::Ongoing
            || !self.partitions.contains(partition)
        {
            return Err(E::InvalidTxnState);
        }
        Ok(())
    }

    /// EndTxn. Ok(true): the transaction now prepares to commit/abort and its markers must be
    /// written; Ok(false): a retry of an end that already completed (answer success).
    pub fn end(&mut self, producer_id: i64, epoch: i16, commit: bool, now: i64) -> Result<bool, E> {
        self.check_producer(producer_id, epoch)?;
        match (self.state, commit) {
            (TxnState::Ongoing, _) => {
                self.state = if commit {
                    TxnState::PrepareCommit
                } else {
                    TxnState::PrepareAbort
                };
                self.client_v2 = false;
                self.last_update_ms = now;
                Ok(true)
            }
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => Ok(false),
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                Err(E::ConcurrentTransactions)
            }
            (TxnState::PrepareEpochFence, _) => Err(E::ConcurrentTransactions),
            _ => Err(E::InvalidTxnState),
        }
    }

    /// A transaction that ran past its timeout is aborted with a bumped epoch, which fences
    /// its producer (Kafka's abortTimedOutTransactions). True when this metadata did so.
    pub fn abort_if_timed_out(&mut self, now: i64) -> bool {
        if self.state != TxnState::Ongoing || now < self.start_ms + i64::from(self.timeout_ms) {
            return false;
        }
        if epoch_exhausted(self.producer_epoch) {
            // Kafka aborts with the same epoch then; the next InitProducerId picks a new id.
            self.state = TxnState::PrepareAbort;
        } else {
            self.last_producer_epoch = self.producer_epoch;
            self.producer_epoch += 1;
            self.state = TxnState::PrepareEpochFence;
        }
        self.last_update_ms = now;
        true
    }

    /// The fenced transaction proceeds as an abort.
    pub fn fence_to_abort(&mut self, now: i64) {
        if self.state == TxnState::PrepareEpochFence {
            self.state = TxnState::PrepareAbort;
            self.last_update_ms = now;
        }
    }

    /// Whether the id may be forgotten (Kafka's transactional.id.expiration.ms): no
    /// transaction open or finishing, unused since `before`.
    pub fn expired(&self, before: i64) -> bool {
        matches!(
            self.state,
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
        ) && self.last_update_ms < before
    }

    /// Whether markers still have to be written: Some(commit?) in a Prepare* state.
    pub fn pending_markers(&self) -> Option<bool> {
        match self.state {
            TxnState::PrepareCommit => Some(true),
            TxnState::PrepareAbort | TxnState::PrepareEpochFence => Some(false),
            _ => None,
        }
    }

    /// Markers are durable everywhere: the transaction is complete. A v2 end that exhausted
    /// the epoch moves to its new producer id now.
    pub fn complete(&mut self, now: i64) {
        self.state = match self.state {
            TxnState::PrepareCommit => TxnState::CompleteCommit,
            TxnState::PrepareAbort | TxnState::PrepareEpochFence => TxnState::CompleteAbort,
            s => s,
        };
        if let Some(next) = self.next_producer_id.take() {
            self.previous_producer_id = Some(self.producer_id);
            self.producer_id = next;
            self.last_producer_epoch = self.producer_epoch;
            self.producer_epoch = 0;
        }
        // Kafka keeps the completed transaction's start time (DescribeTransactions and
        // kafka-transactions describe show it); only a new producer epoch resets it.
        let start_ms = self.start_ms;
        self.clear_transaction();
        self.start_ms = start_ms;
        self.last_update_ms = now;
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
