//! Cluster mode: share-partition states a cluster stored before they had a table of their
//! own (under `sharestate/` in `gregor_kv`, written by the group coordinator) move to
//! `gregor_share_states` once, when a broker takes the coordinator's lease. A state the table
//! already holds wins (a leader wrote it since); a topic gone takes its states with it.

use std::sync::Arc;

use crate::group::share::partition::StateRecord;
use crate::pg::placement::log_name;
use crate::pg::Db;
use crate::store::{KvShareStates, KvStore, PgShareStates, ShareStates};
use crate::topics::Topics;

/// Move every legacy state of the topics' partitions into the table, then remove the keys.
pub(super) fn import_legacy(db: &Db, kv: &Arc<dyn KvStore>, topics: &Topics) -> anyhow::Result<()> {
    let logs: Vec<_> = topics
        .all()
        .iter()
        .flat_map(|t| (0..t.partition_count()).map(move |i| (log_name(&t.name, i), t.id, i)))
        .collect();
    import_logs(db, kv, &logs).map(drop)
}

/// [`import_legacy`] for these partitions, as (log, topic id, partition); how many moved.
fn import_logs(
    db: &Db,
    kv: &Arc<dyn KvStore>,
    logs: &[(String, uuid::Uuid, i32)],
) -> anyhow::Result<usize> {
    let legacy = KvShareStates::new(kv.clone());
    let table = PgShareStates::new(db.clone());
    let found = legacy.of_logs(logs)?;
    if found.is_empty() {
        return Ok(0);
    }
    let mut imported = 0;
    let mut moved = std::collections::BTreeSet::new();
    for (key, stored) in found {
        let Some((log, _, _)) = logs
            .iter()
            .find(|(_, t, p)| (*t, *p) == (key.topic_id, key.partition))
        else {
            continue;
        };
        let start = serde_json::from_slice::<StateRecord>(&stored.state)
            .map_err(|e| anyhow::anyhow!("unreadable share state of {}: {e}", key.group))?
            .start_offset;
        if table.load(&key)?.is_none() {
            table.reset(&key, log, start, stored.state)?;
            imported += 1;
        }
        moved.insert((key.group, key.topic_id));
    }
    for (group, topic_id) in moved {
        legacy.delete(&group, Some(&[topic_id]))?;
    }
    tracing::info!(imported, "moved share-partition states to their table");
    Ok(imported)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::record::share_state_key as record_key;
    use crate::group::share::partition::RecordState;
    use crate::store::{PgStore, ShareStateKey};

    /// A state the coordinator kept in `gregor_kv` moves to the table once; a state the table
    /// already holds (a leader wrote it since) wins; the keys are gone afterwards.
    #[test]
    fn legacy_states_move_to_the_table_once() {
        let pg = crate::pg::testing::database();
        let db = Db::open(&pg.url, std::time::Duration::from_secs(9)).unwrap();
        db.conn()
            .unwrap()
            .batch_execute(
                "INSERT INTO gregor_logs (log, leader, leader_epoch) VALUES ('t-0', 1, 1), ('t-1', 1, 1)",
            )
            .unwrap();
        let kv: Arc<dyn KvStore> = Arc::new(PgStore::new(db.clone()));
        let topic = uuid::Uuid::from_u128(9);
        let state = |start: i64| StateRecord {
            start_offset: start,
            end_offset: start + 2,
            runs: vec![(start, start + 1, RecordState::Acknowledged, 1)],
        };
        for (partition, start) in [(0, 4), (1, 7)] {
            let key = record_key("g", &topic, partition);
            kv.put(&key, &serde_json::to_vec(&state(start)).unwrap())
                .unwrap();
        }
        let table = PgShareStates::new(db.clone());
        let newer = serde_json::to_vec(&state(20)).unwrap();
        table
            .reset(&ShareStateKey::new("g", topic, 1), "t-1", 20, newer)
            .unwrap();
        let logs = vec![("t-0".to_string(), topic, 0), ("t-1".to_string(), topic, 1)];
        assert_eq!(import_logs(&db, &kv, &logs).unwrap(), 1);
        let start = |partition| {
            let stored = table
                .load(&ShareStateKey::new("g", topic, partition))
                .unwrap()
                .expect("a state in the table");
            serde_json::from_slice::<StateRecord>(&stored.state)
                .unwrap()
                .start_offset
        };
        assert_eq!((start(0), start(1)), (4, 20));
        assert!(kv.get(&record_key("g", &topic, 0)).unwrap().is_none());
        assert!(kv.get(&record_key("g", &topic, 1)).unwrap().is_none());
        assert_eq!(import_logs(&db, &kv, &logs).unwrap(), 0, "once");
    }
}
