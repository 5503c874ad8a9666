//! One suite for every [`ShareStates`]: memory and RocksDB (through [`KvShareStates`]) and
//! PostgreSQL ([`PgShareStates`], with real `gregor_logs` rows and fences), plus what only
//! one of them has (legacy values; leader fences).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::share_states::{share_state_key, ShareStateKey, ShareWrite, StoredState, Written};
use super::{KvShareStates, KvStore, MemoryStore, PgShareStates, ShareStates};
use crate::log::storage::postgres::PgLogs;
use crate::log::storage::LogStorage;
use crate::pg::fence::Fence;
use crate::pg::{testing, Db};

const T: Uuid = Uuid::from_u128(0x11);
const U: Uuid = Uuid::from_u128(0x22);

fn key(group: &str, topic: Uuid, partition: i32) -> ShareStateKey {
    ShareStateKey::new(group, topic, partition)
}

fn log_of(k: &ShareStateKey) -> String {
    let topic = if k.topic_id == T { "t" } else { "u" };
    format!("{topic}-{}", k.partition)
}

/// A write of `state` for `k` (fenced as `fences` says for its log).
fn write(
    fences: &HashMap<String, Fence>,
    k: &ShareStateKey,
    expect: Option<i64>,
    state: &str,
) -> ShareWrite {
    let log = log_of(k);
    ShareWrite {
        key: k.clone(),
        fence: fences.get(&log).cloned(),
        log,
        expect,
        start_offset: 5,
        state: state.as_bytes().to_vec(),
    }
}

fn epoch_of(w: Written) -> i64 {
    match w {
        Written::Ok { state_epoch } => state_epoch,
        other => panic!("not written: {other:?}"),
    }
}

fn state_of(states: &dyn ShareStates, k: &ShareStateKey) -> Option<String> {
    let stored = states.load(k).unwrap()?;
    Some(String::from_utf8(stored.state).unwrap())
}

fn sorted_keys(found: Vec<(ShareStateKey, StoredState)>) -> Vec<ShareStateKey> {
    let mut keys: Vec<_> = found.into_iter().map(|(k, _)| k).collect();
    keys.sort();
    keys
}

/// What every backend does; `fences` holds the fence of each log ("t-0", "t-1", "u-0").
fn suite(states: &dyn ShareStates, fences: &HashMap<String, Fence>) {
    let k1 = key("g", T, 0);
    let k2 = key("g", T, 1);
    let k3 = key("g", U, 0);
    let other = key("g2", T, 0);
    assert_eq!(states.load(&k1).unwrap(), None);

    // A first write inserts, at a state epoch; a second first write of the key is refused.
    let e1 = epoch_of(states.write(&[write(fences, &k1, None, "a")]).unwrap()[0]);
    let stored = states.load(&k1).unwrap().unwrap();
    assert_eq!(stored.state_epoch, e1);
    assert_eq!(stored.state, b"a");
    assert_eq!(
        states.write(&[write(fences, &k1, None, "b")]).unwrap(),
        vec![Written::StateFenced]
    );
    assert_eq!(state_of(states, &k1).as_deref(), Some("a"));

    // Updates at the loaded epoch go through; at another they are refused, the rest of the
    // batch written all the same.
    let out = states
        .write(&[
            write(fences, &k1, Some(e1), "c"),
            write(fences, &k2, None, "d"),
            write(fences, &k3, Some(e1 + 1000), "e"),
            write(fences, &other, None, "f"),
        ])
        .unwrap();
    assert_eq!(out[0], Written::Ok { state_epoch: e1 });
    let e2 = epoch_of(out[1]);
    assert_ne!(e2, e1);
    assert_eq!(out[2], Written::StateFenced);
    epoch_of(out[3]);
    assert_eq!(state_of(states, &k1).as_deref(), Some("c"));
    assert_eq!(state_of(states, &k2).as_deref(), Some("d"));
    assert_eq!(states.load(&k3).unwrap(), None);
    assert_eq!(states.write(&[]).unwrap(), vec![]);

    // Reads by logs and by group.
    let logs = vec![("t-0".to_string(), T, 0), ("t-1".to_string(), T, 1)];
    assert_eq!(
        sorted_keys(states.of_logs(&logs).unwrap()),
        vec![k1.clone(), k2.clone(), other.clone()]
    );
    assert_eq!(
        sorted_keys(states.group("g").unwrap()),
        vec![k1.clone(), k2.clone()]
    );
    assert_eq!(states.group("nobody").unwrap(), vec![]);

    // A reset replaces the state at a new epoch, which fences the copies of the old one.
    states.reset(&k1, "t-0", 42, b"reset".to_vec()).unwrap();
    let reset = states.load(&k1).unwrap().unwrap();
    assert_eq!(reset.state, b"reset");
    assert!(reset.state_epoch != e1 && reset.state_epoch != e2);
    assert_eq!(
        states.write(&[write(fences, &k1, Some(e1), "g")]).unwrap(),
        vec![Written::StateFenced]
    );
    assert_eq!(
        states
            .write(&[write(fences, &k1, Some(reset.state_epoch), "h")])
            .unwrap(),
        vec![Written::Ok {
            state_epoch: reset.state_epoch
        }]
    );
    // A reset of a share-partition never written creates it.
    states.reset(&k3, "u-0", 7, b"fresh".to_vec()).unwrap();
    assert_eq!(state_of(states, &k3).as_deref(), Some("fresh"));

    // Deletes: of some topics, then of the whole group; other groups keep theirs.
    states.delete("g", Some(&[U])).unwrap();
    assert_eq!(states.load(&k3).unwrap(), None);
    assert_eq!(state_of(states, &k1).as_deref(), Some("h"));
    states.delete("g", None).unwrap();
    assert_eq!(states.group("g").unwrap(), vec![]);
    assert_eq!(state_of(states, &other).as_deref(), Some("f"));
    // A copy loaded before the delete writes nothing; a new first write gets a new epoch.
    assert_eq!(
        states.write(&[write(fences, &k2, Some(e2), "i")]).unwrap(),
        vec![Written::StateFenced]
    );
    let e3 = epoch_of(states.write(&[write(fences, &k2, None, "j")]).unwrap()[0]);
    assert!(![e1, e2, reset.state_epoch].contains(&e3));
    states.delete("nobody", None).unwrap();
}

#[test]
fn memory_states_pass_the_suite() {
    suite(
        &KvShareStates::new(Arc::new(MemoryStore::new())),
        &HashMap::new(),
    );
}

#[cfg(feature = "rocksdb")]
#[test]
fn rocksdb_states_pass_the_suite_and_keep_epochs_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let k = key("g", T, 0);
    let before = {
        let kv: Arc<dyn KvStore> = Arc::new(super::RocksStore::open(dir.path()).unwrap());
        let states = KvShareStates::new(kv);
        suite(&states, &HashMap::new());
        epoch_of(
            states
                .write(&[write(&HashMap::new(), &k, None, "x")])
                .unwrap()[0],
        )
    };
    let kv: Arc<dyn KvStore> = Arc::new(super::RocksStore::open(dir.path()).unwrap());
    let states = KvShareStates::new(kv);
    assert_eq!(states.load(&k).unwrap().unwrap().state_epoch, before);
    states.delete("g", None).unwrap();
    let after = epoch_of(
        states
            .write(&[write(&HashMap::new(), &k, None, "y")])
            .unwrap()[0],
    );
    assert!(after > before, "{after} after {before}");
}

#[test]
fn a_value_written_before_state_epochs_loads_at_epoch_zero() {
    let kv: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let k = key("g", T, 3);
    let legacy = br#"{"start_offset":4,"end_offset":9,"runs":[]}"#;
    kv.put(&share_state_key("g", &T, 3), legacy).unwrap();
    let states = KvShareStates::new(kv);
    let stored = states.load(&k).unwrap().unwrap();
    assert_eq!(
        (stored.state_epoch, stored.state.as_slice()),
        (0, &legacy[..])
    );
    assert_eq!(sorted_keys(states.group("g").unwrap()), vec![k.clone()]);
    assert_eq!(
        states
            .write(&[write(&HashMap::new(), &k, Some(0), "{}")])
            .unwrap(),
        vec![Written::Ok { state_epoch: 0 }]
    );
    assert_eq!(state_of(&states, &k).as_deref(), Some("{}"));
}

/// A database with logs t-0, t-1 and u-0 led by broker 1, their fences, and the logs.
fn cluster() -> (
    testing::TestDb,
    Db,
    PgLogs,
    HashMap<String, Fence>,
    tempfile::TempDir,
) {
    let pg = testing::database();
    let db = Db::open(&pg.url, Duration::from_secs(9)).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let logs = PgLogs::new(db.clone(), 1, cache.path().join("cache")).unwrap();
    let fences = ["t-0", "t-1", "u-0"]
        .into_iter()
        .map(|name| (name.to_string(), logs.open(name).unwrap().fence().unwrap()))
        .collect();
    (pg, db, logs, fences, cache)
}

#[test]
fn postgresql_states_pass_the_suite() {
    let (_pg, db, _logs, fences, _cache) = cluster();
    suite(&PgShareStates::new(db), &fences);
}

#[test]
fn postgresql_refuses_writes_of_a_copy_whose_leader_moved_on() {
    let (_pg, db, logs, mut fences, _cache) = cluster();
    let states = PgShareStates::new(db.clone());
    let (k0, k1) = (key("g", T, 0), key("g", T, 1));
    let e0 = epoch_of(states.write(&[write(&fences, &k0, None, "a")]).unwrap()[0]);
    let e1 = epoch_of(states.write(&[write(&fences, &k1, None, "b")]).unwrap()[0]);

    // t-0 opened again (a new epoch): the old copy's writes are refused, t-1's still go.
    let stale = fences.clone();
    fences.insert("t-0".into(), logs.open("t-0").unwrap().fence().unwrap());
    let out = states
        .write(&[
            write(&stale, &k0, Some(e0), "c"),
            write(&stale, &k1, Some(e1), "d"),
            write(&stale, &key("g2", T, 0), None, "e"),
        ])
        .unwrap();
    assert_eq!(
        out,
        vec![
            Written::LeaderFenced,
            Written::Ok { state_epoch: e1 },
            Written::LeaderFenced
        ]
    );
    assert_eq!(state_of(&states, &k0).as_deref(), Some("a"));
    assert_eq!(state_of(&states, &key("g2", T, 0)), None);
    // The new copy writes; a wrong state epoch under a good fence is a state fence.
    assert_eq!(
        states.write(&[write(&fences, &k0, Some(e0), "f")]).unwrap(),
        vec![Written::Ok { state_epoch: e0 }]
    );
    assert_eq!(
        states.write(&[write(&fences, &k0, None, "g")]).unwrap(),
        vec![Written::StateFenced]
    );
    // A write without a fence is an error, not a write.
    assert!(states
        .write(&[write(&HashMap::new(), &k0, Some(e0), "h")])
        .is_err());

    // A deleted log takes its share states with it.
    logs.delete("t-1").unwrap();
    assert_eq!(states.load(&k1).unwrap(), None);
}

#[test]
fn a_write_racing_a_takeover_waits_for_it_then_writes_nothing() {
    let (pg, db, _logs, fences, _cache) = cluster();
    let states = PgShareStates::new(db);
    let k = key("g", T, 0);
    let e = epoch_of(states.write(&[write(&fences, &k, None, "a")]).unwrap()[0]);

    // Another broker's takeover of t-0, not yet committed.
    let mut other = pg.client();
    let mut takeover = other.transaction().unwrap();
    takeover
        .execute(
            "UPDATE gregor_logs SET leader = 2, leader_epoch = nextval('gregor_leader_epochs')
             WHERE log = 't-0'",
            &[],
        )
        .unwrap();
    std::thread::scope(|s| {
        let writer = s.spawn(|| states.write(&[write(&fences, &k, Some(e), "b")]));
        std::thread::sleep(Duration::from_millis(300));
        assert!(!writer.is_finished(), "the write waits for the takeover");
        takeover.commit().unwrap();
        assert_eq!(writer.join().unwrap().unwrap(), vec![Written::LeaderFenced]);
    });
    assert_eq!(state_of(&states, &k).as_deref(), Some("a"));
}

/// Resets and deletes are the group coordinator's (R4 in the design): made while the broker
/// holds the coordinator's lease, refused once another broker has taken it over, so a broker
/// that lost the lease and has not stopped yet changes nothing.
#[test]
fn resets_and_deletes_of_a_coordinator_whose_lease_moved_on_change_nothing() {
    use crate::pg::lease::{Lease, Taken};
    let (_pg, db, _logs, _fences, _cache) = cluster();
    let session = Duration::from_millis(500);
    let first = Lease::coordinator(db.clone(), 1, session);
    assert_eq!(first.try_acquire().unwrap(), Taken::Acquired);
    let states = PgShareStates::new(db.clone()).fenced_by(first.holder());
    let (k, log) = (key("g", T, 0), "t-0");
    states.reset(&k, log, 0, b"a".to_vec()).unwrap();
    assert_eq!(state_of(&states, &k).as_deref(), Some("a"));

    std::thread::sleep(session + Duration::from_millis(200));
    let second = Lease::coordinator(db.clone(), 2, session);
    assert_eq!(second.try_acquire().unwrap(), Taken::Acquired);
    assert!(states.reset(&k, log, 0, b"b".to_vec()).is_err());
    assert!(states.delete("g", None).is_err());
    assert_eq!(state_of(&states, &k).as_deref(), Some("a"));

    let now = PgShareStates::new(db).fenced_by(second.holder());
    now.reset(&k, log, 0, b"c".to_vec()).unwrap();
    now.delete("g", Some(&[T])).unwrap();
    assert_eq!(state_of(&now, &k), None);
}
