//! Per-partition producer state for idempotence: each producer's epoch and its last five
//! batches' sequence ranges, so a retried batch is acknowledged with its original offsets
//! instead of being written twice, and a gap is refused.

use std::collections::{HashMap, VecDeque};

use crate::log::batch::BatchHeader;

/// How many recent batches per producer are remembered (Kafka's in-flight limit).
pub(super) const REMEMBERED: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Appended {
    pub(super) first_seq: i32,
    pub(super) last_seq: i32,
    pub(super) first_offset: i64,
    pub(super) last_offset: i64,
}

#[derive(Debug, PartialEq)]
pub(super) struct Producer {
    pub(super) epoch: i16,
    pub(super) recent: VecDeque<Appended>,
    /// When it last wrote here (its batch's max timestamp, or its last marker's; for
    /// producer.id.expiration.ms).
    pub(super) last_timestamp: i64,
    /// The coordinator epoch of its last marker here, -1 before any (Kafka's
    /// ProducerStateEntry.coordinatorEpoch; DescribeProducers shows it).
    pub(super) coordinator_epoch: i32,
}

impl Default for Producer {
    fn default() -> Self {
        Self {
            epoch: 0,
            recent: VecDeque::new(),
            last_timestamp: 0,
            coordinator_epoch: -1,
        }
    }
}

/// One producer as DescribeProducers shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerView {
    pub producer_id: i64,
    pub epoch: i16,
    /// -1 when no batch of this epoch is remembered.
    pub last_sequence: i32,
    pub last_timestamp: i64,
    /// Of its last marker here; -1 before any.
    pub coordinator_epoch: i32,
    /// The first offset of its open transaction here, or -1.
    pub txn_start_offset: i64,
}

/// Why a transaction marker is refused (Kafka's ProducerAppendInfo.appendEndTxnMarker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkerRefusal {
    /// INVALID_PRODUCER_EPOCH: older than the producer's epoch (transaction version 2 markers:
    /// not newer, unless it is the retry of a marker already written).
    StaleEpoch,
    /// TRANSACTION_COORDINATOR_FENCED: an older coordinator epoch than the last marker's.
    CoordinatorFenced,
}

/// What to do with an incoming batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Append it.
    Append,
    /// Already appended at these offsets: acknowledge without writing.
    Duplicate { first_offset: i64, last_offset: i64 },
    /// OUT_OF_ORDER_SEQUENCE_NUMBER
    OutOfOrder,
    /// INVALID_PRODUCER_EPOCH
    StaleEpoch,
}

#[derive(Debug, Default, PartialEq)]
pub struct ProducerStates {
    pub(super) producers: HashMap<i64, Producer>,
}

fn last_seq(h: &BatchHeader) -> i32 {
    // Sequences wrap from i32::MAX to 0.
    ((h.base_sequence as i64 + h.last_offset_delta as i64) % (i32::MAX as i64 + 1)) as i32
}

fn next_seq(seq: i32) -> i32 {
    if seq == i32::MAX {
        0
    } else {
        seq + 1
    }
}

impl ProducerStates {
    pub fn check(&self, h: &BatchHeader) -> Verdict {
        if h.producer_id < 0 {
            return Verdict::Append;
        }
        let Some(p) = self.producers.get(&h.producer_id) else {
            // Unknown producer (new, or its state expired): accept whatever sequence it has.
            return Verdict::Append;
        };
        if h.producer_epoch < p.epoch {
            return Verdict::StaleEpoch;
        }
        if h.producer_epoch > p.epoch {
            return if h.base_sequence == 0 {
                Verdict::Append
            } else {
                Verdict::OutOfOrder
            };
        }
        if let Some(a) = p
            .recent
            .iter()
            .find(|a| a.first_seq == h.base_sequence && a.last_seq == last_seq(h))
        {
            return Verdict::Duplicate {
                first_offset: a.first_offset,
                last_offset: a.last_offset,
            };
        }
        match p.recent.back() {
            Some(last) if h.base_sequence != next_seq(last.last_seq) => Verdict::OutOfOrder,
            _ => Verdict::Append,
        }
    }

    /// Every producer's (id, epoch, last sequence or -1, last timestamp, coordinator epoch of
    /// its last marker or -1).
    pub fn describe(&self) -> Vec<(i64, i16, i32, i64, i32)> {
        let mut all: Vec<_> = self
            .producers
            .iter()
            .map(|(id, p)| {
                let last_seq = p.recent.back().map_or(-1, |a| a.last_seq);
                (
                    *id,
                    p.epoch,
                    last_seq,
                    p.last_timestamp,
                    p.coordinator_epoch,
                )
            })
            .collect();
        all.sort_unstable();
        all
    }

    /// Forget producers that wrote nothing since `before` (Kafka's producer.id.expiration.ms),
    /// except those `keep` names (an open transaction).
    pub fn expire(&mut self, before: i64, keep: impl Fn(i64) -> bool) {
        self.producers
            .retain(|id, p| p.last_timestamp >= before || keep(*id));
    }

    /// May a transaction marker of the producer be written? As Kafka's checks: the epoch must
    /// not be older than the producer's (with `transaction_version` 2 newer, unless it repeats
    /// the epoch of a marker already written: no transaction open here (`open`), or the last
    /// epoch there is), then the coordinator epoch not older than its last marker's. A producer
    /// this partition does not know has neither (Kafka's -1), so any marker passes.
    pub fn check_marker(
        &self,
        producer_id: i64,
        epoch: i16,
        coordinator_epoch: i32,
        transaction_version: i8,
        open: bool,
    ) -> Result<(), MarkerRefusal> {
        let Some(p) = self.producers.get(&producer_id) else {
            return Ok(());
        };
        let stale = if transaction_version >= 2 {
            epoch <= p.epoch && !(epoch == p.epoch && (!open || epoch == i16::MAX))
        } else {
            epoch < p.epoch
        };
        if stale {
            return Err(MarkerRefusal::StaleEpoch);
        }
        if p.coordinator_epoch > coordinator_epoch {
            return Err(MarkerRefusal::CoordinatorFenced);
        }
        Ok(())
    }

    /// A marker was written (or is replayed): its epoch becomes the producer's (a newer one,
    /// a fenced producer's abort, forgets its batches), with its coordinator epoch and time.
    pub fn record_marker(
        &mut self,
        producer_id: i64,
        epoch: i16,
        coordinator_epoch: i32,
        timestamp: i64,
    ) {
        let p = self.producers.entry(producer_id).or_default();
        if epoch != p.epoch {
            p.epoch = epoch;
            p.recent.clear();
        }
        p.coordinator_epoch = coordinator_epoch;
        p.last_timestamp = p.last_timestamp.max(timestamp);
    }

    /// Record a batch written at `first_offset..=last_offset` (also used to rebuild the state
    /// from the log at start-up).
    pub fn record(&mut self, h: &BatchHeader, first_offset: i64, last_offset: i64) {
        if h.producer_id < 0 {
            return;
        }
        let p = self.producers.entry(h.producer_id).or_default();
        if h.producer_epoch != p.epoch {
            p.epoch = h.producer_epoch;
            p.recent.clear();
        }
        p.last_timestamp = p.last_timestamp.max(h.max_timestamp);
        p.recent.push_back(Appended {
            first_seq: h.base_sequence,
            last_seq: last_seq(h),
            first_offset,
            last_offset,
        });
        if p.recent.len() > REMEMBERED {
            p.recent.pop_front();
        }
    }
}

impl super::Partition {
    /// Producers known here (DescribeProducers).
    pub fn producers(&self) -> Vec<ProducerView> {
        let state = self.state();
        let ongoing: std::collections::HashMap<i64, i64> = state.txns.ongoing().collect();
        state
            .producers
            .describe()
            .into_iter()
            .map(
                |(producer_id, epoch, last_sequence, last_timestamp, coordinator_epoch)| {
                    ProducerView {
                        producer_id,
                        epoch,
                        last_sequence,
                        last_timestamp,
                        coordinator_epoch,
                        txn_start_offset: ongoing.get(&producer_id).copied().unwrap_or(-1),
                    }
                },
            )
            .collect()
    }

    /// Forget producers idle since `before` (producer.id.expiration.ms), keeping those with an
    /// open transaction here.
    pub fn expire_producers(&self, before: i64) {
        let mut state = self.state();
        let super::State {
            producers, txns, ..
        } = &mut *state;
        let open: std::collections::HashSet<i64> = txns.ongoing().map(|(id, _)| id).collect();
        producers.expire(before, |id| open.contains(&id));
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::partition) fn batch(pid: i64, epoch: i16, seq: i32, count: i32) -> BatchHeader {
        BatchHeader {
            base_offset: 0,
            batch_length: 0,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            records_count: count,
        }
    }

    #[test]
    fn sequences_duplicates_gaps_and_epochs() {
        let mut s = ProducerStates::default();
        assert_eq!(
            s.check(&batch(-1, -1, -1, 3)),
            Verdict::Append,
            "not idempotent"
        );
        assert_eq!(
            s.check(&batch(7, 0, 42, 3)),
            Verdict::Append,
            "unknown producers start anywhere"
        );
        s.record(&batch(7, 0, 0, 3), 10, 12);
        s.record(&batch(7, 0, 3, 2), 13, 14);
        assert_eq!(s.check(&batch(7, 0, 5, 1)), Verdict::Append);
        assert_eq!(
            s.check(&batch(7, 0, 3, 2)),
            Verdict::Duplicate {
                first_offset: 13,
                last_offset: 14
            }
        );
        assert_eq!(
            s.check(&batch(7, 0, 0, 3)),
            Verdict::Duplicate {
                first_offset: 10,
                last_offset: 12
            }
        );
        assert_eq!(s.check(&batch(7, 0, 6, 1)), Verdict::OutOfOrder, "gap");
        assert_eq!(
            s.check(&batch(7, 0, 4, 1)),
            Verdict::OutOfOrder,
            "overlap that is no retry"
        );
        // A bumped epoch starts again at 0; the old epoch is then stale.
        assert_eq!(s.check(&batch(7, 1, 3, 1)), Verdict::OutOfOrder);
        assert_eq!(s.check(&batch(7, 1, 0, 1)), Verdict::Append);
        s.record(&batch(7, 1, 0, 1), 15, 15);
        assert_eq!(s.check(&batch(7, 0, 5, 1)), Verdict::StaleEpoch);
    }

    #[test]
    fn idle_producers_expire() {
        let mut s = ProducerStates::default();
        let mut old = batch(1, 0, 0, 1);
        old.max_timestamp = 100;
        let mut new = batch(2, 0, 0, 1);
        new.max_timestamp = 500;
        let mut open = batch(3, 0, 0, 1);
        open.max_timestamp = 100;
        for h in [old, new, open] {
            s.record(&h, 0, 0);
        }
        s.expire(200, |id| id == 3);
        let left: Vec<i64> = s.describe().iter().map(|d| d.0).collect();
        assert_eq!(left, vec![2, 3]);
        assert_eq!(
            s.check(&batch(1, 0, 7, 1)),
            Verdict::Append,
            "forgotten: starts anew"
        );
    }

    #[test]
    fn remembers_five_batches_and_wraps() {
        let mut s = ProducerStates::default();
        for i in 0..6 {
            s.record(&batch(1, 0, i, 1), i as i64, i as i64);
        }
        assert_eq!(
            s.check(&batch(1, 0, 0, 1)),
            Verdict::OutOfOrder,
            "the oldest is forgotten"
        );
        assert!(matches!(
            s.check(&batch(1, 0, 1, 1)),
            Verdict::Duplicate { .. }
        ));
        let mut s = ProducerStates::default();
        s.record(&batch(2, 0, i32::MAX - 1, 2), 0, 1);
        assert_eq!(
            s.check(&batch(2, 0, 0, 1)),
            Verdict::Append,
            "sequence wraps to 0"
        );
    }

    #[test]
    fn markers_check_epochs_as_kafka_and_keep_the_coordinator_epoch() {
        let mut s = ProducerStates::default();
        assert_eq!(
            s.check_marker(9, 0, 0, 2, false),
            Ok(()),
            "unknown producer"
        );
        s.record(&batch(9, 3, 0, 1), 0, 0);
        assert_eq!(s.describe()[0].4, -1, "no marker yet");
        // Transaction version 0/1: not older.
        assert_eq!(
            s.check_marker(9, 2, 0, 0, true),
            Err(MarkerRefusal::StaleEpoch)
        );
        assert_eq!(s.check_marker(9, 3, 0, 0, true), Ok(()));
        // Version 2: newer, or the same epoch once nothing is open (a retried marker).
        assert_eq!(
            s.check_marker(9, 3, 0, 2, true),
            Err(MarkerRefusal::StaleEpoch)
        );
        assert_eq!(s.check_marker(9, 3, 0, 2, false), Ok(()));
        assert_eq!(s.check_marker(9, 4, 0, 2, true), Ok(()));
        s.record_marker(9, 4, 5, 1_000);
        assert_eq!(
            s.describe(),
            vec![(9, 4, -1, 1_000, 5)],
            "batches forgotten"
        );
        assert_eq!(
            s.check_marker(9, 4, 4, 0, false),
            Err(MarkerRefusal::CoordinatorFenced)
        );
        assert_eq!(s.check_marker(9, 4, 5, 0, false), Ok(()));
    }
}
