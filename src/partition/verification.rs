//! Produce-time transaction verification where this broker leads the partition but does not
//! coordinate transactions (cluster mode): Kafka's verification guard (KIP-890 part 1). The
//! transaction's state is read from the database; a guard set before that read and cleared by
//! every marker written here lets a batch in only if no marker came between the read and the
//! append, so no batch of an ended transaction lands after its marker (a hanging transaction).

use std::collections::HashMap;

use bytes::Bytes;
use kafka_protocol::ResponseError;

use super::{Appended, Partition};
use crate::error::{BrokerError, Result};
use crate::log::batch::BatchHeader;

/// Per producer id: the epoch a guard was set for, its token, and whether the transaction was
/// found to hold this partition.
#[derive(Debug, Default)]
pub(super) struct Verifications {
    guards: HashMap<i64, Guard>,
    next_token: u64,
}

#[derive(Debug, Clone, Copy)]
struct Guard {
    epoch: i16,
    token: u64,
    verified: bool,
}

impl Verifications {
    fn begin(&mut self, producer_id: i64, epoch: i16) -> u64 {
        self.next_token += 1;
        let token = self.next_token;
        let guard = Guard {
            epoch,
            token,
            verified: false,
        };
        self.guards.insert(producer_id, guard);
        token
    }

    fn confirm(&mut self, producer_id: i64, token: u64) -> bool {
        match self.guards.get_mut(&producer_id) {
            Some(g) if g.token == token => {
                g.verified = true;
                true
            }
            _ => false,
        }
    }

    fn abandon(&mut self, producer_id: i64, token: u64) {
        if self
            .guards
            .get(&producer_id)
            .is_some_and(|g| g.token == token)
        {
            self.guards.remove(&producer_id);
        }
    }

    fn allows(&self, producer_id: i64, epoch: i16) -> bool {
        self.guards
            .get(&producer_id)
            .is_some_and(|g| g.verified && g.epoch == epoch)
    }

    /// A marker of the producer was written: its next batch is verified again.
    pub(super) fn clear(&mut self, producer_id: i64) {
        self.guards.remove(&producer_id);
    }
}

impl Partition {
    /// Whether a batch of (producer id, epoch) was verified since the producer's last marker.
    pub fn is_verified(&self, producer_id: i64, epoch: i16) -> bool {
        self.state().verifications.allows(producer_id, epoch)
    }

    /// Set a guard before reading the transaction's state; [`Self::confirm_verification`]
    /// with the token once the state says the transaction holds this partition.
    pub fn begin_verification(&self, producer_id: i64, epoch: i16) -> u64 {
        self.state().verifications.begin(producer_id, epoch)
    }

    /// False when a marker (or another verification) replaced the guard meanwhile.
    pub fn confirm_verification(&self, producer_id: i64, token: u64) -> bool {
        self.state().verifications.confirm(producer_id, token)
    }

    /// The read refused the batch: the guard goes (unless another verification replaced it).
    pub fn abandon_verification(&self, producer_id: i64, token: u64) {
        self.state().verifications.abandon(producer_id, token);
    }

    /// Append a transactional batch of a verified producer; INVALID_TXN_STATE when its guard
    /// is gone (a marker came since).
    pub fn append_verified(
        &self,
        header: &BatchHeader,
        batch: Bytes,
        now_ms: i64,
    ) -> Result<Appended> {
        self.append_checked(header, batch, now_ms, |v| {
            if v.allows(header.producer_id, header.producer_epoch) {
                Ok(())
            } else {
                Err(BrokerError::Transaction(ResponseError::InvalidTxnState))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guard_is_confirmed_only_if_nothing_replaced_it() {
        let mut v = Verifications::default();
        let token = v.begin(7, 1);
        assert!(!v.allows(7, 1));
        assert!(v.confirm(7, token));
        assert!(v.allows(7, 1));
        assert!(!v.allows(7, 2));
        // A marker between the read and the confirmation.
        let token = v.begin(8, 0);
        v.clear(8);
        assert!(!v.confirm(8, token));
        assert!(!v.allows(8, 0));
        // A newer verification of the same producer wins.
        let old = v.begin(9, 0);
        let new = v.begin(9, 0);
        assert!(!v.confirm(9, old));
        assert!(v.confirm(9, new));
        v.clear(9);
        assert!(!v.allows(9, 0));
        // A refused producer leaves nothing behind; an abandoned token does not remove a
        // newer guard.
        let token = v.begin(10, 0);
        v.abandon(10, token);
        assert!(!v.guards.contains_key(&10));
        let old = v.begin(11, 0);
        let new = v.begin(11, 0);
        v.abandon(11, old);
        assert!(v.confirm(11, new));
    }
}
