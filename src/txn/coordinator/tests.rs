use tokio::sync::Notify;

use super::*;
use crate::store::flaky::Flaky;
use crate::store::{MemoryStore, WriteOp};

/// (producer id, epoch, commit?, partitions) of one marker write.
type Marked = (i64, i16, bool, Vec<(String, i32)>);

/// Markers wait for `release`; records what was marked.
#[derive(Default)]
struct FakeIo {
    release: Notify,
    entered: Notify,
    marked: Mutex<Vec<Marked>>,
}

impl TxnIo for Arc<FakeIo> {
    fn write_markers(
        &self,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        partitions: Vec<(String, i32)>,
    ) -> IoFuture {
        let io = self.clone();
        Box::pin(async move {
            io.entered.notify_one();
            io.release.notified().await;
            io.marked
                .lock()
                .unwrap()
                .push((producer_id, epoch, commit, partitions));
            Ok(())
        })
    }
    fn commit_offsets(&self, _group: String, _offsets: Vec<OffsetToCommit>) -> IoFuture {
        Box::pin(async { Ok(()) })
    }
    fn expire_producers(&self, _before: i64) {}
    fn add_through_coordinator(
        &self,
        _id: &str,
        _producer_id: i64,
        _epoch: i16,
        _partitions: Vec<(String, i32)>,
    ) -> std::result::Result<(), E> {
        Err(E::CoordinatorNotAvailable)
    }
}

fn p(i: i32) -> (String, i32) {
    ("t".to_string(), i)
}

fn gate_allows(c: &TxnCoordinator, pid: i64, epoch: i16, partition: i32) -> bool {
    c.shared
        .gate
        .append(pid, epoch, &p(partition), || ())
        .is_ok()
}

#[tokio::test]
async fn produce_is_shut_before_the_markers_and_end_answers_after_them() {
    let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let c = TxnCoordinator::open(store.clone(), 60_000, 3_600_000, true).unwrap();
    let io = Arc::new(FakeIo::default());
    c.attach(Arc::new(io.clone()));
    let (pid, epoch) = c.init_producer_id("a", 10_000, None).await.unwrap();
    assert_eq!(
        c.add_partitions("a", pid, epoch, vec![p(0), p(1)]).await,
        Ok(())
    );
    // Answered once durable, and then usable by produce.
    assert!(store.get(b"txn/a").unwrap().is_some());
    assert!(gate_allows(&c, pid, epoch, 1));
    let ending = tokio::spawn({
        let c = c.clone();
        async move { c.end("a", pid, epoch, true).await }
    });
    io.entered.notified().await;
    // Markers are being written: the transaction's partitions are shut.
    assert!(!gate_allows(&c, pid, epoch, 0));
    assert!(!ending.is_finished());
    io.release.notify_one();
    assert_eq!(ending.await.unwrap(), Ok(()));
    assert_eq!(
        io.marked.lock().unwrap().clone(),
        vec![(pid, epoch, true, vec![p(0), p(1)])]
    );
    let described = c.describe(vec!["a".into()]).await.unwrap();
    assert_eq!(
        described[0].as_ref().map(|m| m.state),
        Some(TxnState::CompleteCommit)
    );
    c.shutdown();
    assert_eq!(c.list().await.unwrap_err(), E::CoordinatorNotAvailable);
}

#[tokio::test]
async fn a_failed_store_write_undoes_the_change_and_grants_nothing() {
    let flaky = Arc::new(Flaky::default());
    let store: Arc<dyn KvStore> = flaky.clone();
    let c = TxnCoordinator::open(store, 60_000, 3_600_000, true).unwrap();
    let (pid, epoch) = c.init_producer_id("a", 10_000, None).await.unwrap();
    assert_eq!(c.add_partitions("a", pid, epoch, vec![p(0)]).await, Ok(()));
    flaky.set_failing(true);
    assert_eq!(
        c.add_partitions("a", pid, epoch, vec![p(1)]).await,
        Err(E::CoordinatorNotAvailable)
    );
    assert!(!gate_allows(&c, pid, epoch, 1));
    assert!(gate_allows(&c, pid, epoch, 0));
    assert_eq!(
        c.end("a", pid, epoch, false).await,
        Err(E::CoordinatorNotAvailable)
    );
    // Still Ongoing, as the store says.
    assert!(gate_allows(&c, pid, epoch, 0));
    let described = c.describe(vec!["a".into()]).await.unwrap();
    let m = described[0].clone().unwrap();
    assert_eq!((m.state, m.partitions.len()), (TxnState::Ongoing, 1));
    // A new transactional id that cannot be written is not kept either.
    assert_eq!(
        c.init_producer_id("b", 10_000, None).await,
        Err(E::CoordinatorNotAvailable)
    );
    flaky.set_failing(false);
    assert_eq!(c.describe(vec!["b".into()]).await.unwrap(), vec![None]);
}

#[tokio::test]
async fn a_transaction_left_preparing_is_completed_by_the_driver() {
    let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let c = TxnCoordinator::open(store.clone(), 60_000, 3_600_000, true).unwrap();
    let (pid, epoch) = c.init_producer_id("a", 10_000, None).await.unwrap();
    c.add_partitions("a", pid, epoch, vec![p(0)]).await.unwrap();
    // EndTxn without io: Prepare is durable, the markers cannot be written yet (the client
    // retries on COORDINATOR_LOAD_IN_PROGRESS).
    assert_eq!(
        c.end("a", pid, epoch, false).await,
        Err(E::CoordinatorLoadInProgress)
    );
    c.shutdown();
    // "Restart": the driver finishes it.
    let c = TxnCoordinator::open(store, 60_000, 3_600_000, true).unwrap();
    assert!(!gate_allows(&c, pid, epoch, 0));
    let io = Arc::new(FakeIo::default());
    c.attach(Arc::new(io.clone()));
    io.release.notify_one();
    let shutdown = CancellationToken::new();
    let driver = tokio::spawn(run_driver(c.clone(), 1_000, shutdown.clone()));
    for _ in 0..200 {
        let m = c.describe(vec!["a".into()]).await.unwrap()[0]
            .clone()
            .unwrap();
        if m.state == TxnState::CompleteAbort {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let m = c.describe(vec!["a".into()]).await.unwrap()[0]
        .clone()
        .unwrap();
    assert_eq!(m.state, TxnState::CompleteAbort);
    assert_eq!(io.marked.lock().unwrap().len(), 1);
    shutdown.cancel();
    driver.await.unwrap();
}

#[tokio::test]
async fn producer_ids_come_from_the_runtime_and_are_unique() {
    let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let c = TxnCoordinator::open(store.clone(), 60_000, 3_600_000, true).unwrap();
    let d = TxnCoordinator::open(store, 60_000, 3_600_000, true).unwrap();
    let mut seen = HashSet::new();
    for _ in 0..1500 {
        assert!(seen.insert(c.new_producer_id().await.unwrap()));
        assert!(seen.insert(d.new_producer_id().await.unwrap()));
    }
}

#[tokio::test]
async fn a_v2_end_with_an_exhausted_epoch_moves_to_a_new_producer_id() {
    let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let mut stored = TxnMetadata::new(5, 60_000, 0);
    stored.producer_epoch = i16::MAX - 1;
    stored.state = TxnState::CompleteCommit;
    store
        .write(vec![WriteOp::Put(
            b"txn/x".to_vec(),
            serde_json::to_vec(&stored).unwrap(),
        )])
        .unwrap();
    let c = TxnCoordinator::open(store.clone(), 60_000, 3_600_000, true).unwrap();
    let io = Arc::new(FakeIo::default());
    c.attach(Arc::new(io.clone()));
    let last = i16::MAX - 1;
    // Produce v12's implicit add, then the end.
    assert_eq!(c.add_for_produce("x", 5, last, vec![p(0)]), Ok(()));
    assert!(gate_allows(&c, 5, last, 0));
    let ending = tokio::spawn({
        let c = c.clone();
        async move { c.end_v2("x", 5, last, true).await }
    });
    io.entered.notified().await;
    io.release.notify_one();
    let (next_pid, next_epoch) = ending.await.unwrap().unwrap();
    assert_ne!(next_pid, 5);
    assert_eq!(next_epoch, 0);
    // The markers are the old id's, with the last epoch there is.
    assert_eq!(
        io.marked.lock().unwrap().clone(),
        vec![(5, i16::MAX, true, vec![p(0)])]
    );
    assert_eq!(
        c.shared.gate.append(5, last, &p(0), || ()),
        Err(E::InvalidProducerIdMapping)
    );
    assert!(c.shared.gate.needs_add(next_pid, 0, &p(0)));
    // A retry with the old id and epoch gets the same answer; the state is durable.
    assert_eq!(c.end_v2("x", 5, last, true).await, Ok((next_pid, 0)));
    c.shutdown();
    let reopened = TxnCoordinator::open(store, 60_000, 3_600_000, true).unwrap();
    let described = reopened.describe(vec!["x".into()]).await.unwrap();
    let m = described[0].clone().unwrap();
    assert_eq!((m.producer_id, m.producer_epoch), (next_pid, 0));
    assert_eq!(m.previous_producer_id, Some(5));
    reopened.shutdown();
}

fn memory_partition(index: i32) -> Partition {
    use crate::log::{Backing, LogConfig, PartitionLog};
    let log = PartitionLog::open(Backing::Memory, LogConfig::default()).unwrap();
    let durability = crate::meta::Durability::Deferred;
    Partition::new("t", index, log, durability, Arc::default()).unwrap()
}

/// Cluster mode: a broker that does not coordinate transactions (its coordinator is on
/// standby over the same store) verifies a transactional batch against the stored
/// transaction, once per producer and partition, and again after a marker: no batch lands
/// in a partition the transaction does not hold, nor after its marker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_does_not_coordinate_verifies_produce_against_the_store() {
    use crate::log::testutil::txn_batch;
    use crate::partition::MarkerSpec;
    let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let coordinator = TxnCoordinator::open(store.clone(), 60_000, 3_600_000, true).unwrap();
    let io = Arc::new(FakeIo::default());
    coordinator.attach(Arc::new(io.clone()));
    let leader = TxnCoordinator::open(store.clone(), 60_000, 3_600_000, false).unwrap();
    let (p0, p1) = (memory_partition(0), memory_partition(1));
    let (pid, epoch) = coordinator
        .init_producer_id("a", 10_000, None)
        .await
        .unwrap();
    let append = |p: &Partition, seq: i32, id: Option<&str>| {
        let batch = txn_batch(pid, epoch, seq, 1);
        let header = BatchHeader::parse(&batch).unwrap();
        leader.append_transactional(p, &header, batch.freeze(), id, 1_000)
    };
    let refused = |r: Result<Appended>| match r {
        Err(BrokerError::Transaction(e)) => e,
        other => panic!("expected a refusal, got {other:?}"),
    };
    // Not added yet: refused (Kafka's INVALID_TXN_STATE), nothing written.
    assert_eq!(refused(append(&p0, 0, Some("a"))), E::InvalidTxnState);
    assert_eq!(refused(append(&p0, 0, None)), E::InvalidTxnState);
    assert_eq!(
        refused(append(&p0, 0, Some("b"))),
        E::InvalidProducerIdMapping
    );
    assert_eq!(p0.log_end_offset(), 0);
    assert!(!p0.is_verified(pid, epoch));
    coordinator
        .add_partitions("a", pid, epoch, vec![p(0)])
        .await
        .unwrap();
    assert!(append(&p0, 0, Some("a")).is_ok());
    assert!(p0.is_verified(pid, epoch));
    assert!(append(&p0, 1, Some("a")).is_ok());
    assert_eq!(refused(append(&p1, 0, Some("a"))), E::InvalidTxnState);
    // The transaction is aborted; its marker here ends the verification, and the stored
    // state (no longer Ongoing) refuses the next batch.
    let ending = tokio::spawn({
        let c = coordinator.clone();
        async move { c.end("a", pid, epoch, false).await }
    });
    io.entered.notified().await;
    let marker = MarkerSpec {
        producer_id: pid,
        producer_epoch: epoch,
        commit: false,
        coordinator_epoch: COORDINATOR_EPOCH,
        transaction_version: 0,
    };
    p0.append_marker(&marker, 1_000).unwrap();
    assert!(!p0.is_verified(pid, epoch));
    assert_eq!(refused(append(&p0, 2, Some("a"))), E::InvalidTxnState);
    io.release.notify_one();
    assert_eq!(ending.await.unwrap(), Ok(()));
    assert_eq!(p0.log_end_offset(), 3);
}
