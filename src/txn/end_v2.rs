//! EndTxn under transactions v2 (KIP-890 part 2, EndTxn v5), after Kafka 4.4's
//! TransactionCoordinator: every end bumps the producer epoch — the markers carry the bumped
//! epoch, the client's next transaction uses it, and a late batch of the ended transaction
//! (its old epoch) is refused. An exhausted epoch moves the producer to a new id once the
//! markers are written. A retried EndTxn is recognised by the epoch before the bump. Pure.

use kafka_protocol::ResponseError as E;

use super::state::{epoch_exhausted, TxnMetadata, TxnState};

/// What EndTxn v5 did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndV2 {
    /// The transaction prepares to commit/abort with the bumped epoch: its markers are due.
    Prepared,
    /// A retry of an end already done: answer success with the current id and epoch.
    Done,
}

impl TxnMetadata {
    /// The (producer id, epoch) the client continues with once the prepared end completes.
    pub fn next_producer(&self) -> (i64, i16) {
        match self.next_producer_id {
            Some(next) => (next, 0),
            None => (self.producer_id, self.producer_epoch),
        }
    }

    /// EndTxn v5. `new_id` allocates a producer id when the epoch runs out.
    pub fn end_v2(
        &mut self,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        now: i64,
        new_id: impl FnOnce() -> Option<i64>,
    ) -> Result<EndV2, E> {
        let bumped = self.client_v2 && self.state != TxnState::PrepareEpochFence;
        // The request carries the epoch before the bump this end (or its first try) made.
        let retry_on_bump = bumped && i32::from(self.producer_epoch) == i32::from(epoch) + 1;
        let retry_on_overflow = bumped
            && self.previous_producer_id == Some(producer_id)
            && epoch == i16::MAX - 1
            && self.producer_epoch == 0;
        let retry = retry_on_bump || retry_on_overflow;
        let current = epoch == self.producer_epoch;
        let valid_epoch = match self.state {
            TxnState::Ongoing | TxnState::Empty | TxnState::Dead | TxnState::PrepareEpochFence => {
                current
            }
            TxnState::PrepareCommit | TxnState::PrepareAbort if bumped => retry_on_bump,
            TxnState::CompleteCommit | TxnState::CompleteAbort if bumped => retry || current,
            _ => current,
        };
        if producer_id != self.producer_id && !retry_on_overflow {
            return Err(E::InvalidProducerIdMapping);
        }
        if !valid_epoch {
            return Err(E::ProducerFenced);
        }
        match (self.state, commit) {
            (TxnState::Ongoing, _) => self.prepare_v2(commit, now, new_id),
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) if retry => {
                Ok(EndV2::Done)
            }
            // Aborting with nothing ongoing is legal under v2: it bumps the epoch, no markers.
            (TxnState::CompleteCommit | TxnState::CompleteAbort | TxnState::Empty, false)
                if !retry =>
            {
                self.clear_transaction();
                self.prepare_v2(false, now, new_id)
            }
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                Err(E::ConcurrentTransactions)
            }
            (TxnState::PrepareEpochFence | TxnState::Dead, _) => Err(E::ConcurrentTransactions),
            _ => Err(E::InvalidTxnState),
        }
    }

    fn prepare_v2(
        &mut self,
        commit: bool,
        now: i64,
        new_id: impl FnOnce() -> Option<i64>,
    ) -> Result<EndV2, E> {
        if epoch_exhausted(self.producer_epoch) {
            self.next_producer_id = Some(new_id().ok_or(E::UnknownServerError)?);
        }
        self.last_producer_epoch = self.producer_epoch;
        self.producer_epoch += 1;
        self.client_v2 = true;
        self.state = if commit {
            TxnState::PrepareCommit
        } else {
            TxnState::PrepareAbort
        };
        self.last_update_ms = now;
        Ok(EndV2::Prepared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::state::InitOutcome;

    fn p(t: &str, i: i32) -> (String, i32) {
        (t.to_string(), i)
    }

    fn ready() -> TxnMetadata {
        let mut m = TxnMetadata::new(7, 60_000, 0);
        assert_eq!(
            m.init_producer_id(60_000, None, 0, || None),
            Ok(InitOutcome::Ready)
        );
        m
    }

    #[test]
    fn every_end_bumps_the_epoch() {
        let mut m = ready();
        m.add_partitions(7, 0, &[p("a", 0)], 1).unwrap();
        assert_eq!(m.end_v2(7, 0, true, 2, || None), Ok(EndV2::Prepared));
        assert_eq!((m.state, m.producer_epoch), (TxnState::PrepareCommit, 1));
        assert_eq!(m.pending_markers(), Some(true), "markers carry epoch 1");
        assert_eq!(m.next_producer(), (7, 1));
        // The old epoch may not produce any more; the new one may not yet.
        assert_eq!(
            m.verify_partition(7, 0, &p("a", 0)),
            Err(E::InvalidProducerEpoch)
        );
        assert_eq!(
            m.end_v2(7, 0, true, 3, || None),
            Err(E::ConcurrentTransactions),
            "retried while the markers are written"
        );
        assert_eq!(m.end_v2(7, 1, true, 3, || None), Err(E::ProducerFenced));
        m.complete(4);
        assert_eq!((m.state, m.producer_epoch), (TxnState::CompleteCommit, 1));
        assert_eq!(m.end_v2(7, 0, true, 5, || None), Ok(EndV2::Done), "retry");
        assert_eq!(m.end_v2(7, 0, false, 5, || None), Err(E::InvalidTxnState));
        assert_eq!(m.end_v2(7, 1, true, 5, || None), Err(E::InvalidTxnState));
        // The next transaction uses the bumped epoch; the old one is fenced.
        assert_eq!(
            m.add_partitions(7, 0, &[p("a", 0)], 6),
            Err(E::ProducerFenced)
        );
        m.add_partitions(7, 1, &[p("a", 0)], 6).unwrap();
        assert_eq!(m.end_v2(7, 1, false, 7, || None), Ok(EndV2::Prepared));
        m.complete(8);
        assert_eq!((m.state, m.producer_epoch), (TxnState::CompleteAbort, 2));
        assert_eq!(m.end_v2(7, 1, false, 9, || None), Ok(EndV2::Done));
        assert_eq!(m.end_v2(7, 1, true, 9, || None), Err(E::InvalidTxnState));
        assert_eq!(
            m.end_v2(9, 2, false, 9, || None),
            Err(E::InvalidProducerIdMapping)
        );
    }

    #[test]
    fn an_empty_abort_bumps_without_partitions() {
        let mut m = ready();
        assert_eq!(m.end_v2(7, 0, true, 1, || None), Err(E::InvalidTxnState));
        assert_eq!(m.end_v2(7, 0, false, 1, || None), Ok(EndV2::Prepared));
        assert!(m.partitions.is_empty());
        assert_eq!((m.state, m.producer_epoch), (TxnState::PrepareAbort, 1));
        m.complete(2);
        // A new abort at the current epoch is another empty abort, not a retry.
        assert_eq!(m.end_v2(7, 1, false, 3, || None), Ok(EndV2::Prepared));
        assert_eq!(m.producer_epoch, 2);
    }

    #[test]
    fn an_exhausted_epoch_moves_to_a_new_producer_id() {
        let mut m = ready();
        m.producer_epoch = i16::MAX - 1;
        m.add_partitions(7, i16::MAX - 1, &[p("a", 0)], 1).unwrap();
        assert_eq!(
            m.end_v2(7, i16::MAX - 1, true, 2, || Some(99)),
            Ok(EndV2::Prepared)
        );
        // The markers are written by the old id with the last epoch there is.
        assert_eq!((m.producer_id, m.producer_epoch), (7, i16::MAX));
        assert_eq!(m.next_producer(), (99, 0));
        m.complete(3);
        assert_eq!((m.producer_id, m.producer_epoch), (99, 0));
        assert_eq!(m.previous_producer_id, Some(7));
        // A retry with the old id and epoch is recognised.
        assert_eq!(m.end_v2(7, i16::MAX - 1, true, 4, || None), Ok(EndV2::Done));
        m.add_partitions(99, 0, &[p("a", 0)], 5).unwrap();
        assert_eq!(m.end_v2(99, 0, true, 6, || None), Ok(EndV2::Prepared));
        m.complete(7);
        assert_eq!((m.producer_id, m.producer_epoch), (99, 1));
    }

    #[test]
    fn no_producer_id_left_fails_the_end_and_changes_nothing_durable() {
        let mut m = ready();
        m.producer_epoch = i16::MAX - 1;
        m.add_partitions(7, i16::MAX - 1, &[p("a", 0)], 1).unwrap();
        assert_eq!(
            m.end_v2(7, i16::MAX - 1, true, 2, || None),
            Err(E::UnknownServerError)
        );
        assert_eq!(m.state, TxnState::Ongoing);
    }

    #[test]
    fn a_fenced_v2_producer_is_refused() {
        let mut m = ready();
        m.add_partitions(7, 0, &[p("a", 0)], 1).unwrap();
        m.end_v2(7, 0, true, 2, || None).unwrap();
        m.complete(3);
        // Another producer takes the id over: epoch 2.
        m.init_producer_id(60_000, None, 4, || None).unwrap();
        assert_eq!(m.end_v2(7, 1, false, 5, || None), Err(E::ProducerFenced));
        assert_eq!(m.end_v2(7, 0, true, 5, || None), Err(E::ProducerFenced));
    }

    #[test]
    fn offsets_join_the_transaction_implicitly() {
        let mut m = ready();
        let o = crate::txn::state::PendingOffset {
            offset: 3,
            leader_epoch: -1,
            metadata: None,
        };
        let offsets = vec![("t".to_string(), 0, o)];
        assert_eq!(
            m.commit_offsets(7, 0, "g", offsets.clone(), false, 1),
            Err(E::InvalidTxnState)
        );
        assert_eq!(m.commit_offsets(7, 0, "g", offsets, true, 1), Ok(()));
        assert_eq!(m.state, TxnState::Ongoing);
        assert!(m.groups.contains("g") && m.offsets.len() == 1);
    }

    #[test]
    fn v1_state_loads_without_the_v2_fields() {
        let json = r#"{"producer_id":7,"producer_epoch":3,"last_producer_epoch":2,
            "timeout_ms":60000,"state":"CompleteCommit","partitions":[],"groups":[],
            "offsets":[],"start_ms":-1,"last_update_ms":5}"#;
        let m: TxnMetadata = serde_json::from_str(json).unwrap();
        assert_eq!(
            (m.producer_epoch, m.client_v2, m.next_producer_id),
            (3, false, None)
        );
    }
}
