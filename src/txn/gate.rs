//! The produce path's view of transactions: per producer id, the epoch and — while a
//! transaction is Ongoing — the partitions it holds. Kafka keeps this on each partition
//! leader (its per-partition transaction verification); gregor keeps one table, read
//! synchronously by the produce handler while the coordinator's state machine lives on its
//! runtime thread (`coordinator`).
//!
//! A transactional batch is checked and appended under the table's read lock
//! ([`TxnGate::append`]). The coordinator changes the table under its write lock, by two rules:
//! - a permission is taken away ([`TxnGate::narrow`]) the moment the coordinator's memory
//!   changes, before the change is durable. A transaction leaving Ongoing (EndTxn, a fence, a
//!   timeout) therefore shuts its partitions before the Prepare state is even written, and the
//!   markers are written only after that: no batch of a transaction can land after its marker;
//! - a permission is given ([`TxnGate::publish`]) only once the change is durable, so a batch
//!   never lands in a partition that a failed store write leaves outside the transaction.

use std::collections::{BTreeSet, HashMap};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use kafka_protocol::ResponseError as E;

use super::state::{TxnMetadata, TxnState};

/// What one producer id may do now.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Grant {
    epoch: i16,
    /// The partitions of its Ongoing transaction; None when no transaction is Ongoing.
    partitions: Option<BTreeSet<(String, i32)>>,
}

impl Grant {
    fn of(m: &TxnMetadata) -> Self {
        Self {
            epoch: m.producer_epoch,
            partitions: (m.state == TxnState::Ongoing).then(|| m.partitions.clone()),
        }
    }

    /// What both allow.
    fn meet(&self, other: &Grant) -> Grant {
        if self.epoch != other.epoch {
            return Grant {
                epoch: self.epoch.max(other.epoch),
                partitions: None,
            };
        }
        let partitions = match (&self.partitions, &other.partitions) {
            (Some(a), Some(b)) => Some(a.intersection(b).cloned().collect()),
            _ => None,
        };
        Grant {
            epoch: self.epoch,
            partitions,
        }
    }
}

fn allows(grant: Option<&Grant>, epoch: i16, partition: &(String, i32)) -> Result<(), E> {
    let grant = grant.ok_or(E::InvalidProducerIdMapping)?;
    if epoch < grant.epoch {
        return Err(E::InvalidProducerEpoch);
    }
    if epoch != grant.epoch
        || !grant
            .partitions
            .as_ref()
            .is_some_and(|p| p.contains(partition))
    {
        return Err(E::InvalidTxnState);
    }
    Ok(())
}

/// See the module documentation.
#[derive(Default)]
pub struct TxnGate {
    producers: RwLock<HashMap<i64, Grant>>,
}

impl TxnGate {
    fn read(&self) -> RwLockReadGuard<'_, HashMap<i64, Grant>> {
        self.producers.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<i64, Grant>> {
        self.producers.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Run `append` if (producer id, epoch) has an Ongoing transaction holding `partition`,
    /// while no permission can be taken away (Kafka's produce-time checks: unknown producer
    /// INVALID_PRODUCER_ID_MAPPING, older epoch INVALID_PRODUCER_EPOCH, else
    /// INVALID_TXN_STATE).
    pub fn append<R>(
        &self,
        producer_id: i64,
        epoch: i16,
        partition: &(String, i32),
        append: impl FnOnce() -> R,
    ) -> Result<R, E> {
        let producers = self.read();
        allows(producers.get(&producer_id), epoch, partition)?;
        Ok(append())
    }

    /// The same checks against a transaction read from the store (None: no such id), for a
    /// broker that does not coordinate: its producer id must be the batch's.
    pub fn check(
        stored: Option<&TxnMetadata>,
        producer_id: i64,
        epoch: i16,
        partition: &(String, i32),
    ) -> Result<(), E> {
        let grant = stored
            .filter(|m| m.producer_id == producer_id)
            .map(Grant::of);
        allows(grant.as_ref(), epoch, partition)
    }

    /// Whether a transactions v2 produce (Produce v12+) from (producer id, epoch) must first
    /// add `partition` to the transaction (Kafka's implicit add): the epoch is current and the
    /// partition not held — no transaction Ongoing, or one without it.
    pub fn needs_add(&self, producer_id: i64, epoch: i16, partition: &(String, i32)) -> bool {
        self.read().get(&producer_id).is_some_and(|grant| {
            grant.epoch == epoch
                && !grant
                    .partitions
                    .as_ref()
                    .is_some_and(|p| p.contains(partition))
        })
    }

    /// Memory changed from `before` to `after` (None: absent), not yet durable: keep only
    /// what both allow.
    pub fn narrow(&self, before: Option<&TxnMetadata>, after: Option<&TxnMetadata>) {
        let Some(before) = before else {
            return; // nothing was granted
        };
        let mut producers = self.write();
        match after {
            Some(after) if after.producer_id == before.producer_id => {
                if let Some(grant) = producers.get_mut(&before.producer_id) {
                    *grant = grant.meet(&Grant::of(after));
                }
            }
            _ => {
                producers.remove(&before.producer_id);
            }
        }
    }

    /// What the store holds went from `before` to `after`: grant what `after` allows.
    pub fn publish(&self, before: Option<&TxnMetadata>, after: Option<&TxnMetadata>) {
        let mut producers = self.write();
        if let Some(before) = before {
            if after.is_none_or(|a| a.producer_id != before.producer_id) {
                producers.remove(&before.producer_id);
            }
        }
        if let Some(after) = after {
            producers.insert(after.producer_id, Grant::of(after));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(i: i32) -> (String, i32) {
        ("t".to_string(), i)
    }

    fn ongoing(epoch: i16, partitions: &[i32]) -> TxnMetadata {
        let mut m = TxnMetadata::new(7, 60_000, 0);
        m.producer_epoch = epoch;
        m.state = TxnState::Ongoing;
        m.partitions = partitions.iter().map(|i| p(*i)).collect();
        m
    }

    fn check(gate: &TxnGate, epoch: i16, partition: i32) -> Result<(), E> {
        gate.append(7, epoch, &p(partition), || ())
    }

    #[test]
    fn grants_follow_durability_and_revocations_do_not_wait() {
        let gate = TxnGate::default();
        assert_eq!(check(&gate, 0, 0), Err(E::InvalidProducerIdMapping));
        let one = ongoing(0, &[0]);
        gate.publish(None, Some(&one));
        assert_eq!(check(&gate, 0, 0), Ok(()));
        assert_eq!(check(&gate, 0, 1), Err(E::InvalidTxnState));
        assert!(gate.needs_add(7, 0, &p(1)) && !gate.needs_add(7, 0, &p(0)));
        assert!(!gate.needs_add(7, 1, &p(1)) && !gate.needs_add(8, 0, &p(1)));
        // Adding a partition: not usable until durable.
        let two = ongoing(0, &[0, 1]);
        gate.narrow(Some(&one), Some(&two));
        assert_eq!(check(&gate, 0, 1), Err(E::InvalidTxnState));
        gate.publish(Some(&one), Some(&two));
        assert_eq!(check(&gate, 0, 1), Ok(()));
        // EndTxn: shut at once, before the Prepare state is written.
        let mut preparing = two.clone();
        preparing.state = TxnState::PrepareCommit;
        gate.narrow(Some(&two), Some(&preparing));
        assert_eq!(check(&gate, 0, 0), Err(E::InvalidTxnState));
        // A failed write puts back what the store holds.
        gate.publish(Some(&preparing), Some(&two));
        assert_eq!(check(&gate, 0, 0), Ok(()));
        // A fence bumps the epoch at once: the old producer sees INVALID_PRODUCER_EPOCH.
        let mut fenced = two.clone();
        fenced.producer_epoch = 1;
        fenced.state = TxnState::PrepareEpochFence;
        gate.narrow(Some(&two), Some(&fenced));
        assert_eq!(check(&gate, 0, 0), Err(E::InvalidProducerEpoch));
        assert_eq!(check(&gate, 1, 0), Err(E::InvalidTxnState));
        // A new producer id (exhausted epoch) or an expired id: the old id is unknown.
        let mut moved = fenced.clone();
        moved.producer_id = 8;
        gate.narrow(Some(&fenced), Some(&moved));
        assert_eq!(check(&gate, 1, 0), Err(E::InvalidProducerIdMapping));
        gate.publish(Some(&fenced), Some(&moved));
        assert_eq!(check(&gate, 1, 0), Err(E::InvalidProducerIdMapping));
        gate.narrow(Some(&moved), None);
        gate.publish(Some(&moved), None);
        assert_eq!(gate.read().len(), 0);
    }
}
