//! The state machine's unit tests (transactions v1).

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
    assert_eq!(
        m.start_ms, 5,
        "the completed transaction's start time stays, as in Kafka"
    );
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
    assert_eq!((m.state, m.start_ms), (TxnState::CompleteAbort, 1));
    // The client retries and gets a second bump.
    assert_eq!(
        m.init_producer_id(60_000, None, 5, || None),
        Ok(InitOutcome::Ready)
    );
    assert_eq!(
        (m.state, m.producer_epoch, m.start_ms),
        (TxnState::Empty, 2, -1)
    );
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
