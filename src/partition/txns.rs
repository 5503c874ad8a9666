//! Per-partition transaction state: the open transactions (producer id → first offset), which
//! bound the last stable offset, and the aborted transactions read_committed fetches report.

use std::collections::BTreeMap;

/// An aborted transaction's range in one partition (its marker is at `last_offset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    pub last_offset: i64,
}

#[derive(Debug, Default, PartialEq)]
pub struct PartitionTxns {
    pub(super) ongoing: BTreeMap<i64, i64>,
    /// In marker order, hence ordered by last offset.
    pub(super) aborted: Vec<AbortedTxn>,
}

impl PartitionTxns {
    /// A transactional data batch at `first_offset` (opens the producer's transaction here).
    pub fn on_data(&mut self, producer_id: i64, first_offset: i64) {
        self.ongoing.entry(producer_id).or_insert(first_offset);
    }

    /// A marker at `offset` ends the producer's transaction, if it had one here.
    pub fn on_marker(&mut self, producer_id: i64, commit: bool, offset: i64) {
        if let Some(first_offset) = self.ongoing.remove(&producer_id) {
            if !commit {
                self.aborted.push(AbortedTxn {
                    producer_id,
                    first_offset,
                    last_offset: offset,
                });
            }
        }
    }

    /// Forget aborted ranges that end below `offset` (the log start offset: retention or
    /// DeleteRecords removed them, no fetch reaches them).
    pub fn forget_aborted_before(&mut self, offset: i64) {
        let gone = self.aborted.partition_point(|a| a.last_offset < offset);
        self.aborted.drain(..gone);
    }

    /// Whether the producer has a transaction open here.
    pub fn is_open(&self, producer_id: i64) -> bool {
        self.ongoing.contains_key(&producer_id)
    }

    /// The first offset of the oldest open transaction: the last stable offset's bound.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.ongoing.values().min().copied()
    }

    /// Open transactions (producer id, first offset), for DescribeProducers.
    pub fn ongoing(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.ongoing.iter().map(|(p, o)| (*p, *o))
    }

    /// Aborted transactions that overlap `from..to` (Kafka: last offset ≥ fetch offset and
    /// first offset < the end of the returned data), ordered by first offset.
    pub fn aborted_between(&self, from: i64, to: i64) -> Vec<AbortedTxn> {
        let start = self.aborted.partition_point(|a| a.last_offset < from);
        let mut found: Vec<AbortedTxn> = self.aborted[start..]
            .iter()
            .filter(|a| a.first_offset < to)
            .copied()
            .collect();
        found.sort_by_key(|a| a.first_offset);
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lso_bound_and_aborted_ranges() {
        let mut t = PartitionTxns::default();
        assert_eq!(t.first_unstable_offset(), None);
        t.on_data(1, 10);
        t.on_data(1, 12);
        t.on_data(2, 11);
        assert_eq!(t.first_unstable_offset(), Some(10));
        t.on_marker(1, false, 13);
        assert_eq!(t.first_unstable_offset(), Some(11));
        t.on_marker(2, true, 14);
        assert_eq!(t.first_unstable_offset(), None);
        t.on_marker(3, false, 15); // no transaction of producer 3 here: nothing aborted
        let one = AbortedTxn {
            producer_id: 1,
            first_offset: 10,
            last_offset: 13,
        };
        assert_eq!(t.aborted_between(0, 20), vec![one]);
        assert_eq!(t.aborted_between(13, 20), vec![one]);
        assert_eq!(t.aborted_between(14, 20), vec![]);
        assert_eq!(
            t.aborted_between(0, 10),
            vec![],
            "ends before the abort began"
        );
    }
}
