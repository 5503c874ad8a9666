//! Cluster mode: a leader that learns from a refused commit that another broker took the
//! partition stops answering for it at once, not at its next tick.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::log::storage::postgres::PgLogs;
use crate::log::testutil::batch;
use crate::log::Backing;
use crate::pg::Db;

fn partition(storage: Arc<dyn crate::log::storage::LogStorage>) -> Partition {
    let log = PartitionLog::open(Backing::Storage(storage), LogConfig::default()).unwrap();
    Partition::new("t", 0, log, Durability::Fsync, Arc::default()).unwrap()
}

/// Append one record and wait for its commit, as Produce does (the database client blocks:
/// the storages are opened outside the runtime).
fn produce(p: &Partition) -> Result<i64> {
    let records = batch(0, 1);
    let header = BatchHeader::parse(&records).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let appended = p.append(&header, records.freeze(), 1_000)?;
        p.commit(appended.info.last_offset).await?;
        Ok(appended.info.last_offset)
    })
}

#[test]
fn a_copy_whose_commit_is_fenced_answers_as_a_stand_in() {
    let pg = crate::pg::testing::database();
    let db = Db::open(&pg.url, Duration::from_secs(9)).unwrap();
    let cache = tempfile::TempDir::new().unwrap();
    let first = partition(
        PgLogs::new(db.clone(), 1, cache.path().join("1"))
            .unwrap()
            .open("t-0")
            .unwrap(),
    );
    assert_eq!(produce(&first).unwrap(), 0);
    assert!(first.is_led());

    // Broker 2 takes the partition (a new epoch) and reads what was committed.
    let second = partition(
        PgLogs::new(db, 2, cache.path().join("2"))
            .unwrap()
            .open("t-0")
            .unwrap(),
    );
    assert_eq!(second.log_end_offset(), 1);

    let refused = produce(&first).unwrap_err();
    assert_eq!(refused.code(), 6, "{refused}"); // NOT_LEADER_OR_FOLLOWER
    assert!(!first.is_led());
    assert_eq!(first.leader_epoch(), None);
    assert_eq!(first.high_watermark(), 1);
    assert_eq!(produce(&second).unwrap(), 1);
}

/// A partition's fence is its storage's claim: the broker, epoch and opening. Opening the log
/// again at the same epoch claims it anew (another `opened`), and `pg::fence::check` refuses
/// the first opening's fence from then on. One node has no fence.
#[test]
fn fence_matches_the_claim() {
    let pg = crate::pg::testing::database();
    let db = Db::open(&pg.url, Duration::from_secs(9)).unwrap();
    let cache = tempfile::TempDir::new().unwrap();
    let logs = PgLogs::new(db.clone(), 1, cache.path().join("1")).unwrap();
    let first = partition(logs.open("t-0").unwrap());
    let fence = first.fence().expect("a fence in cluster mode");
    let epoch = first.leader_epoch().unwrap();
    assert_eq!(
        (fence.log.as_str(), fence.node_id, fence.epoch),
        ("t-0", 1, epoch)
    );

    let second = partition(logs.open_led("t-0", epoch).unwrap());
    let claimed = second.fence().expect("a fence in cluster mode");
    assert_eq!((claimed.node_id, claimed.epoch), (1, epoch));
    assert_ne!(claimed.opened, fence.opened);

    let mut conn = db.conn().unwrap();
    let mut tx = conn.transaction().unwrap();
    let refused = crate::pg::fence::check(&mut tx, &fence).unwrap_err();
    assert!(
        refused
            .get_ref()
            .is_some_and(|e| e.is::<crate::pg::fence::Fenced>()),
        "{refused}"
    );
    crate::pg::fence::check(&mut tx, &claimed).unwrap();

    let memory = PartitionLog::open(Backing::Memory, LogConfig::default()).unwrap();
    let one_node = Partition::new("t", 0, memory, Durability::Fsync, Arc::default()).unwrap();
    assert_eq!(one_node.fence(), None);
}
