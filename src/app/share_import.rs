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
    let legacy = KvShareStates::new(kv.clone());
    let table = PgShareStates::new(db.clone());
    let logs: Vec<_> = topics
        .all()
        .iter()
        .flat_map(|t| (0..t.partition_count()).map(move |i| (log_name(&t.name, i), t.id, i)))
        .collect();
    let found = legacy.of_logs(&logs)?;
    if found.is_empty() {
        return Ok(());
    }
    let mut imported = 0;
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
        legacy.delete(&key.group, Some(&[key.topic_id]))?;
    }
    tracing::info!(imported, "moved share-partition states to their table");
    Ok(())
}
