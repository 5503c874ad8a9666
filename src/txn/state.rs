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
        self.clear_transaction();
        self.last_update_ms = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(t: &str, i: i32) -> (String, i32) {
        (t.to_string(), i)
    }

    fn ready(timeout: i32) -> TxnMetadata {
        let mut m = TxnMetadata::new(7, timeout, 0);
        assert_eq!(
            m.init_producer_id(timeout, None, 0, || None),
            Ok(InitOutcome::Ready)
        );
        m
    }

    #[test]
    fn commit_cycle() {
        let mut m = ready(60_000);
        assert_eq!(
            (m.producer_id, m.producer_epoch, m.state),
            (7, 0, TxnState::Empty)
        );
        assert_eq!(
            m.end(7, 0, true, 1),
            Err(E::InvalidTxnState),
            "nothing to end"
        );
        assert_eq!(m.add_partitions(7, 0, &[p("a", 0)], 5), Ok(true));
        assert_eq!((m.state, m.start_ms), (TxnState::Ongoing, 5));
        assert_eq!(m.add_partitions(7, 0, &[p("a", 0)], 6), Ok(false));
        assert_eq!(m.verify_partition(7, 0, &p("a", 0)), Ok(()));
        assert_eq!(
            m.verify_partition(7, 0, &p("a", 1)),
            Err(E::InvalidTxnState)
        );
        assert_eq!(m.add_group(7, 0, "g", 7), Ok(true));
        let o = PendingOffset {
            offset: 3,
            leader_epoch: -1,
            metadata: None,
        };
        assert_eq!(
            m.commit_offsets(
                7,
                0,
                "other",
                vec![(String::from("a"), 0, o.clone())],
                false,
                7
            ),
            Err(E::InvalidTxnState),
            "group not in the transaction"
        );
        assert_eq!(
            m.commit_offsets(7, 0, "g", vec![(String::from("a"), 0, o)], false, 7),
            Ok(())
        );
        assert_eq!(m.end(7, 0, true, 8), Ok(true));
        assert_eq!(m.state, TxnState::PrepareCommit);
        assert_eq!(m.pending_markers(), Some(true));
        assert_eq!(
            m.add_partitions(7, 0, &[p("b", 0)], 9),
            Err(E::ConcurrentTransactions)
        );
        assert_eq!(m.end(7, 0, true, 9), Err(E::ConcurrentTransactions));
        assert_eq!(m.end(7, 0, false, 9), Err(E::InvalidTxnState));
        assert_eq!(
            m.init_producer_id(60_000, None, 9, || None),
            Err(E::ConcurrentTransactions)
        );
        m.complete(10);
        assert_eq!(m.state, TxnState::CompleteCommit);
        assert!(m.partitions.is_empty() && m.offsets.is_empty() && m.groups.is_empty());
        assert_eq!(m.end(7, 0, true, 11), Ok(false), "retried commit");
        assert_eq!(m.end(7, 0, false, 11), Err(E::InvalidTxnState));
        // The next transaction starts by adding partitions again.
        assert_eq!(m.add_partitions(7, 0, &[p("b", 0)], 12), Ok(true));
        assert_eq!(m.end(7, 0, false, 13), Ok(true));
        m.complete(14);
        assert_eq!(m.state, TxnState::CompleteAbort);
    }

    #[test]
    fn producer_checks() {
        let mut m = ready(60_000);
        assert_eq!(
            m.add_partitions(8, 0, &[p("a", 0)], 1),
            Err(E::InvalidProducerIdMapping)
        );
        assert_eq!(
            m.add_partitions(7, 1, &[p("a", 0)], 1),
            Err(E::ProducerFenced)
        );
        assert_eq!(m.end(7, 3, true, 1), Err(E::ProducerFenced));
        // A new producer with the same transactional id bumps the epoch: the old one is fenced.
        assert_eq!(
            m.init_producer_id(60_000, None, 2, || None),
            Ok(InitOutcome::Ready)
        );
        assert_eq!(m.producer_epoch, 1);
        assert_eq!(
            m.add_partitions(7, 0, &[p("a", 0)], 3),
            Err(E::ProducerFenced)
        );
        assert_eq!(
            m.verify_partition(7, 0, &p("a", 0)),
            Err(E::InvalidProducerEpoch)
        );
    }

    #[test]
    fn init_fences_an_ongoing_transaction() {
        let mut m = ready(60_000);
        m.add_partitions(7, 0, &[p("a", 0)], 1).unwrap();
        assert_eq!(
            m.init_producer_id(60_000, None, 2, || None),
            Ok(InitOutcome::AbortOngoing)
        );
        assert_eq!(
            (m.state, m.producer_epoch),
            (TxnState::PrepareEpochFence, 1)
        );
        assert_eq!(m.pending_markers(), Some(false));
        assert_eq!(
            m.add_partitions(7, 0, &[p("a", 0)], 3),
            Err(E::ProducerFenced)
        );
        assert_eq!(
            m.init_producer_id(60_000, None, 3, || None),
            Err(E::ConcurrentTransactions)
        );
        m.fence_to_abort(3);
        assert_eq!(m.state, TxnState::PrepareAbort);
        m.complete(4);
        // The client retries and gets a second bump.
        assert_eq!(
            m.init_producer_id(60_000, None, 5, || None),
            Ok(InitOutcome::Ready)
        );
        assert_eq!((m.state, m.producer_epoch), (TxnState::Empty, 2));
    }

    #[test]
    fn kip_360_resume_and_retry() {
        let mut m = ready(60_000);
        assert_eq!(
            m.init_producer_id(60_000, Some((7, 0)), 1, || None),
            Ok(InitOutcome::Ready)
        );
        assert_eq!((m.producer_epoch, m.last_producer_epoch), (1, 0));
        // The answer got lost and the client retries with the epoch it had: same result.
        assert_eq!(
            m.init_producer_id(60_000, Some((7, 0)), 2, || None),
            Ok(InitOutcome::Ready)
        );
        assert_eq!(m.producer_epoch, 1);
        assert_eq!(
            m.init_producer_id(60_000, Some((9, 1)), 3, || None),
            Err(E::ProducerFenced),
            "another producer id"
        );
        assert_eq!(
            m.init_producer_id(60_000, Some((7, 5)), 3, || None),
            Err(E::ProducerFenced),
            "an unknown epoch"
        );
    }

    #[test]
    fn metadata_round_trips_through_json() {
        let mut m = ready(60_000);
        m.add_group(7, 0, "g", 1).unwrap();
        let o = PendingOffset {
            offset: 3,
            leader_epoch: -1,
            metadata: Some("m".into()),
        };
        m.commit_offsets(7, 0, "g", vec![("t".into(), 2, o)], false, 2)
            .unwrap();
        let json = serde_json::to_vec(&m).unwrap();
        assert_eq!(serde_json::from_slice::<TxnMetadata>(&json).unwrap(), m);
    }

    #[test]
    fn exhausted_epoch_takes_a_new_producer_id() {
        let mut m = ready(60_000);
        m.producer_epoch = i16::MAX - 1;
        assert_eq!(
            m.init_producer_id(60_000, None, 1, || Some(99)),
            Ok(InitOutcome::Ready)
        );
        assert_eq!((m.producer_id, m.producer_epoch), (99, 0));
    }

    #[test]
    fn only_idle_ids_expire() {
        let mut m = ready(60_000);
        assert!(m.expired(1) && !m.expired(0));
        m.add_partitions(7, 0, &[p("a", 0)], 10).unwrap();
        assert!(!m.expired(1_000_000), "a transaction is open");
    }

    #[test]
    fn timeout_aborts_with_a_bumped_epoch() {
        let mut m = ready(5_000);
        m.add_partitions(7, 0, &[p("a", 0)], 1_000).unwrap();
        assert!(!m.abort_if_timed_out(5_999));
        assert!(m.abort_if_timed_out(6_000));
        assert_eq!(
            (m.state, m.producer_epoch),
            (TxnState::PrepareEpochFence, 1)
        );
        assert_eq!(m.end(7, 0, true, 6_001), Err(E::ProducerFenced));
        m.fence_to_abort(6_001);
        m.complete(6_002);
        assert_eq!(m.state, TxnState::CompleteAbort);
        assert!(!m.abort_if_timed_out(100_000), "nothing ongoing");
    }
}
