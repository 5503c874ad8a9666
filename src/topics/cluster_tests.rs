//! Cluster mode: a copy of a partition that the tick replaces (another broker leads it now, or
//! this broker leads it at a new epoch) or whose topic it forgets stops answering as led, so
//! that a holder of the old `Arc` does not read on from a removed cache.

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;
use crate::config::{Config, StorageKind};
use crate::log::storage::postgres::PgLogs;
use crate::pg::Db;
use crate::store::PgStore;

fn topics(url: &str, dir: &std::path::Path) -> (Db, Topics) {
    let db = Db::open(url, Duration::from_secs(9)).unwrap();
    let config = Config {
        storage: StorageKind::Postgres(url.to_string()),
        node_id: Some(1),
        data_dir: dir.to_path_buf(),
        ..Config::default()
    };
    let logs = PgLogs::new(db.clone(), 1, dir.join("cache")).unwrap();
    let topics = Topics::open(
        Arc::new(config),
        Arc::new(PgStore::new(db.clone())),
        LogMedia::Postgres(logs),
        Arc::default(),
    )
    .unwrap();
    (db, topics)
}

#[test]
fn a_replaced_or_forgotten_copy_is_no_longer_led() {
    let pg = crate::pg::testing::database();
    let dir = tempfile::TempDir::new().unwrap();
    let (db, topics) = topics(&pg.url, dir.path());
    topics.create_topic("t", 2, BTreeMap::new(), false).unwrap();
    let mut leaders = placement::snapshot(&db).unwrap().leaders;
    topics.follow_leaders(&mut leaders);
    let first = topics.get("t").unwrap().partition(0).unwrap();
    let other = topics.get("t").unwrap().partition(1).unwrap();
    assert!(first.is_led() && other.is_led());

    // This broker leads t-0 at a new epoch: a new copy, the old one no longer led.
    let epoch = leaders["t-0"].epoch;
    db.conn()
        .unwrap()
        .execute(
            "UPDATE gregor_logs SET leader_epoch = nextval('gregor_leader_epochs') WHERE log = 't-0'",
            &[],
        )
        .unwrap();
    let mut leaders = placement::snapshot(&db).unwrap().leaders;
    assert!(leaders["t-0"].epoch > epoch);
    topics.follow_leaders(&mut leaders);
    let second = topics.get("t").unwrap().partition(0).unwrap();
    assert!(!Arc::ptr_eq(&first, &second));
    assert!(second.is_led());
    assert!(!first.is_led());
    assert_eq!(second.leader_epoch(), Some(leaders["t-0"].epoch));

    // Broker 2 leads t-0 now: a stand-in replaces the copy, which is no longer led.
    leaders.insert(
        "t-0".into(),
        Leader {
            node_id: 2,
            epoch: leaders["t-0"].epoch + 1,
        },
    );
    topics.follow_leaders(&mut leaders);
    assert!(!second.is_led());
    assert!(!topics.get("t").unwrap().partition(0).unwrap().is_led());
    assert!(other.is_led(), "t-1 is still led here");

    // The topic is forgotten (deleted by another broker): its copies are no longer led.
    let topic = topics.get("t").unwrap();
    topics.forget(&topic);
    assert!(!other.is_led());
}
