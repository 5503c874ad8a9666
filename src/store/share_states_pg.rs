//! Share-partition state in the cluster's database (`gregor_share_states`, migration 7): each
//! write of a leader's copy is fenced by the partition's row in `gregor_logs` (leader, epoch,
//! opening), locked `FOR SHARE` in the write's own transaction — a takeover's update of that
//! row waits for the write, and a write that starts after the takeover writes nothing — and
//! by the row's state epoch (a reset or delete by the group coordinator fences the copies).

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use super::share_states::{ShareStateKey, ShareStates, ShareWrite, StoredState, Written};
use super::StoreError;
use crate::pg::lease::Holder;
use crate::pg::postgres::{Row, Transaction};
use crate::pg::Db;

pub struct PgShareStates {
    db: Db,
    /// Resets and deletes are the group coordinator's: made only while this holds its lease
    /// (None: unfenced, for the import at a takeover and tests).
    coordinator: Option<Holder>,
}

fn failed(e: crate::pg::postgres::Error) -> StoreError {
    StoreError(format!("postgresql: {e}"))
}

fn keyed(row: &Row) -> (ShareStateKey, StoredState) {
    (
        ShareStateKey {
            group: row.get("grp"),
            topic_id: row.get("topic_id"),
            partition: row.get("part"),
        },
        StoredState {
            state_epoch: row.get("state_epoch"),
            leader_epoch: row.get("leader_epoch"),
            state: row.get("state"),
        },
    )
}

const COLUMNS: &str = "grp, topic_id, part, state_epoch, leader_epoch, state";

/// The writes given, as the parameters of [`LED`]; the `led` CTE keeps those whose fence
/// holds, their `gregor_logs` rows locked in log order (see R3 in the design: one order).
const LED: &str = "
    WITH w AS (SELECT * FROM unnest($1::text[], $2::uuid[], $3::int[], $4::text[], $5::int[],
                                    $6::int[], $7::uuid[], $8::bigint[], $9::bigint[], $10::bytea[])
               AS w(grp, topic_id, part, log, leader, leader_epoch, opened, expect,
                    start_offset, state)),
         led AS (SELECT w.* FROM w JOIN gregor_logs l
                   ON l.log = w.log AND l.leader = w.leader AND l.leader_epoch = w.leader_epoch
                  AND l.opened = w.opened
                 ORDER BY l.log FOR SHARE OF l)";

/// Updates of the rows at the state epoch each copy was loaded with.
const UPDATE: &str = "
    UPDATE gregor_share_states s SET leader_epoch = led.leader_epoch,
           start_offset = led.start_offset, state = led.state, written = now()
    FROM led
    WHERE s.grp = led.grp AND s.topic_id = led.topic_id AND s.part = led.part
      AND s.state_epoch = led.expect
    RETURNING s.grp, s.topic_id, s.part, s.state_epoch";

/// First writes: nothing if a row exists.
const INSERT: &str = "
    INSERT INTO gregor_share_states (grp, topic_id, part, log, leader_epoch, start_offset, state)
    SELECT grp, topic_id, part, log, leader_epoch, start_offset, state FROM led
    ON CONFLICT (grp, topic_id, part) DO NOTHING
    RETURNING grp, topic_id, part, state_epoch";

/// Columns of a set of writes, for [`LED`].
#[derive(Default)]
struct Columns {
    grp: Vec<String>,
    topic_id: Vec<Uuid>,
    part: Vec<i32>,
    log: Vec<String>,
    leader: Vec<i32>,
    leader_epoch: Vec<i32>,
    opened: Vec<Uuid>,
    expect: Vec<i64>,
    start_offset: Vec<i64>,
    state: Vec<Vec<u8>>,
}

impl Columns {
    fn push(&mut self, w: &ShareWrite) -> Result<(), StoreError> {
        let fence = w.fence.as_ref().ok_or_else(|| {
            StoreError(format!(
                "share state of {}: a write without its leader's fence",
                w.log
            ))
        })?;
        self.grp.push(w.key.group.clone());
        self.topic_id.push(w.key.topic_id);
        self.part.push(w.key.partition);
        self.log.push(w.log.clone());
        self.leader.push(fence.node_id);
        self.leader_epoch.push(fence.epoch);
        self.opened.push(fence.opened);
        self.expect.push(w.expect.unwrap_or(-1));
        self.start_offset.push(w.start_offset);
        self.state.push(w.state.clone());
        Ok(())
    }

    /// The keys written and their state epochs.
    fn run(
        &self,
        tx: &mut Transaction,
        statement: &str,
    ) -> Result<HashMap<ShareStateKey, i64>, StoreError> {
        if self.grp.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = tx
            .query(
                &format!("{LED} {statement}"),
                &[
                    &self.grp,
                    &self.topic_id,
                    &self.part,
                    &self.log,
                    &self.leader,
                    &self.leader_epoch,
                    &self.opened,
                    &self.expect,
                    &self.start_offset,
                    &self.state,
                ],
            )
            .map_err(failed)?;
        Ok(rows
            .iter()
            .map(|r| {
                let key = ShareStateKey {
                    group: r.get(0),
                    topic_id: r.get(1),
                    partition: r.get(2),
                };
                (key, r.get(3))
            })
            .collect())
    }
}

impl PgShareStates {
    pub fn new(db: Db) -> Self {
        Self {
            db,
            coordinator: None,
        }
    }

    /// Resets and deletes only while `coordinator` holds the coordinator's lease (a broker
    /// that lost it, but not yet noticed, changes nothing).
    pub fn fenced_by(self, coordinator: Holder) -> Self {
        Self {
            coordinator: Some(coordinator),
            ..self
        }
    }

    /// Run `f` in a transaction, once the coordinator's lease is found held (and locked).
    fn as_coordinator(
        &self,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<(), crate::pg::postgres::Error>,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction().map_err(failed)?;
        if let Some(holder) = &self.coordinator {
            let held = holder
                .holds(&mut tx)
                .map_err(|e| StoreError(format!("{e:#}")))?;
            if !held {
                return Err(StoreError(
                    "this broker no longer holds the coordinator's lease".into(),
                ));
            }
        }
        f(&mut tx).map_err(failed)?;
        tx.commit().map_err(failed)
    }

    fn conn(&self) -> Result<crate::pg::Conn, StoreError> {
        self.db.conn().map_err(|e| StoreError(format!("{e:#}")))
    }

    fn select(
        &self,
        condition: &str,
        params: &[&(dyn crate::pg::postgres::types::ToSql + Sync)],
    ) -> Result<Vec<(ShareStateKey, StoredState)>, StoreError> {
        let rows = self
            .conn()?
            .query(
                &format!("SELECT {COLUMNS} FROM gregor_share_states WHERE {condition}"),
                params,
            )
            .map_err(failed)?;
        Ok(rows.iter().map(keyed).collect())
    }

    /// Of these refused writes, those whose fence still holds (so the state epoch refused
    /// them).
    fn still_led(
        tx: &mut Transaction,
        refused: &[&ShareWrite],
    ) -> Result<HashSet<String>, StoreError> {
        let mut c = Columns::default();
        for w in refused {
            c.push(w)?;
        }
        let rows = tx
            .query(
                "SELECT l.log FROM unnest($1::text[], $2::int[], $3::int[], $4::uuid[])
                   AS w(log, leader, leader_epoch, opened)
                 JOIN gregor_logs l ON l.log = w.log AND l.leader = w.leader
                  AND l.leader_epoch = w.leader_epoch AND l.opened = w.opened",
                &[&c.log, &c.leader, &c.leader_epoch, &c.opened],
            )
            .map_err(failed)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
}

impl ShareStates for PgShareStates {
    fn load(&self, key: &ShareStateKey) -> Result<Option<StoredState>, StoreError> {
        let found = self.select(
            "grp = $1 AND topic_id = $2 AND part = $3",
            &[&key.group, &key.topic_id, &key.partition],
        )?;
        Ok(found.into_iter().next().map(|(_, s)| s))
    }

    fn of_logs(
        &self,
        logs: &[(String, Uuid, i32)],
    ) -> Result<Vec<(ShareStateKey, StoredState)>, StoreError> {
        let names: Vec<&str> = logs.iter().map(|(l, _, _)| l.as_str()).collect();
        self.select("log = ANY($1)", &[&names])
    }

    fn write(&self, writes: &[ShareWrite]) -> Result<Vec<Written>, StoreError> {
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        let mut sorted: Vec<&ShareWrite> = writes.iter().collect();
        sorted.sort_by(|a, b| a.log.cmp(&b.log));
        let (mut updates, mut inserts) = (Columns::default(), Columns::default());
        for w in sorted {
            match w.expect {
                Some(_) => updates.push(w)?,
                None => inserts.push(w)?,
            }
        }
        let mut conn = self.conn()?;
        let mut tx = conn.transaction().map_err(failed)?;
        let mut done = updates.run(&mut tx, UPDATE)?;
        done.extend(inserts.run(&mut tx, INSERT)?);
        let refused: Vec<&ShareWrite> = writes
            .iter()
            .filter(|w| !done.contains_key(&w.key))
            .collect();
        let led = if refused.is_empty() {
            HashSet::new()
        } else {
            Self::still_led(&mut tx, &refused)?
        };
        tx.commit().map_err(failed)?;
        Ok(writes
            .iter()
            .map(|w| match done.get(&w.key) {
                Some(&state_epoch) => Written::Ok { state_epoch },
                None if led.contains(&w.log) => Written::StateFenced,
                None => Written::LeaderFenced,
            })
            .collect())
    }

    fn group(&self, group: &str) -> Result<Vec<(ShareStateKey, StoredState)>, StoreError> {
        self.select("grp = $1", &[&group])
    }

    fn reset(
        &self,
        key: &ShareStateKey,
        log: &str,
        start: i64,
        state: Vec<u8>,
    ) -> Result<(), StoreError> {
        self.as_coordinator(|tx| {
            tx.execute(
                "INSERT INTO gregor_share_states
                   (grp, topic_id, part, log, leader_epoch, start_offset, state)
                 VALUES ($1, $2, $3, $4, -1, $5, $6)
                 ON CONFLICT (grp, topic_id, part) DO UPDATE
                 SET state_epoch = nextval('gregor_share_state_epochs'), log = EXCLUDED.log,
                     leader_epoch = -1, start_offset = EXCLUDED.start_offset,
                     state = EXCLUDED.state, written = now()",
                &[
                    &key.group,
                    &key.topic_id,
                    &key.partition,
                    &log,
                    &start,
                    &state,
                ],
            )
            .map(drop)
        })
    }

    fn delete(&self, group: &str, topics: Option<&[Uuid]>) -> Result<(), StoreError> {
        let topics: Option<Vec<Uuid>> = topics.map(<[Uuid]>::to_vec);
        self.as_coordinator(|tx| {
            tx.execute(
                "DELETE FROM gregor_share_states
                 WHERE grp = $1 AND ($2::uuid[] IS NULL OR topic_id = ANY($2))",
                &[&group, &topics],
            )
            .map(drop)
        })
    }
}
