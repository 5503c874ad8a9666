//! Who leads which partition in cluster mode: the brokers' registrations and the partitions'
//! leaders, as rows of the cluster's database.
//!
//! Each broker registers its advertised listeners (`gregor_brokers`) and keeps its
//! `broker/<id>` lease; a broker is live while that lease is. Each partition log has a row in
//! `gregor_logs`: its leader, leader epoch and preferred leader (the broker it was placed on).
//! Every broker runs [`rebalance`] on its tick, one at a time (an advisory lock): a partition
//! whose leader is not live moves to its preferred leader if that one is live, else to the
//! live broker leading fewest; a partition led away from its live preferred leader goes back
//! once that broker has been registered for a settling time (Kafka's preferred leader
//! election). Each move takes a new leader epoch, which fences the old leader's commits
//! (`log::storage::postgres`). Epochs come from one sequence, so they only grow.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use anyhow::Context;

use super::postgres::GenericClient;
use super::Db;

/// Serialises placement changes between brokers (any constant they agree on).
const PLACEMENT_LOCK: i64 = 0x6772_6567_6f73;

/// One advertised listener of a broker.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Endpoint {
    pub name: String,
    pub host: String,
    pub port: u16,
}

/// A live broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub node_id: i32,
    pub endpoints: Vec<Endpoint>,
    /// How long ago this broker (its current run) registered, on the database's clock.
    pub registered_ms: i64,
}

/// A partition log's leader and its epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leader {
    pub node_id: i32,
    pub epoch: i32,
}

/// The cluster as the database has it now.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Live brokers by node id.
    pub members: BTreeMap<i32, Member>,
    /// Registered brokers whose lease has expired (stopped, or cut off): Kafka's fenced
    /// brokers, which DescribeCluster v2 lists when asked.
    pub fenced: BTreeMap<i32, Member>,
    /// Every partition log's leader.
    pub leaders: HashMap<String, Leader>,
    /// The broker holding the coordinator's lease, if a live one does.
    pub coordinator: Option<i32>,
}

/// A partition log's name: Kafka's `topic-partition` (its cache directory, its key here).
pub fn log_name(topic: &str, partition: i32) -> String {
    format!("{topic}-{partition}")
}

/// A `(log, leader, leader_epoch)` row.
fn leader_row(r: &super::postgres::Row) -> (String, Leader) {
    let leader = Leader {
        node_id: r.get(1),
        epoch: r.get(2),
    };
    (r.get(0), leader)
}

/// Record (or update) this broker's advertised listeners; its run starts now.
pub fn register(db: &Db, node_id: i32, endpoints: &[Endpoint]) -> anyhow::Result<()> {
    let listeners = serde_json::to_string(endpoints)?;
    db.conn()?
        .execute(
            "INSERT INTO gregor_brokers (node_id, listeners, registered) VALUES ($1, $2, now())
             ON CONFLICT (node_id) DO UPDATE SET listeners = $2, registered = now()",
            &[&node_id, &listeners],
        )
        .context("registering the broker")?;
    Ok(())
}

/// A new run of a broker: every partition an earlier run of it led takes a new epoch, so
/// whatever that run still tries to commit is refused.
pub fn refence(db: &Db, node_id: i32) -> anyhow::Result<u64> {
    let mut conn = db.conn()?;
    let mut tx = conn.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PLACEMENT_LOCK])?;
    // Rows locked in log order first, as every other writer of several rows locks them
    // (opposite orders could deadlock with a share write's or a group commit's FOR SHARE).
    let n = tx.execute(
        "UPDATE gregor_logs SET leader_epoch = nextval('gregor_leader_epochs')
         WHERE log IN (SELECT log FROM gregor_logs WHERE leader = $1 ORDER BY log FOR UPDATE)",
        &[&node_id],
    )?;
    tx.commit()?;
    Ok(n)
}

fn live_members(client: &mut impl GenericClient) -> anyhow::Result<BTreeMap<i32, Member>> {
    registered(
        client,
        "SELECT b.node_id, b.listeners,
                (extract(epoch FROM now() - b.registered) * 1000)::bigint
         FROM gregor_brokers b JOIN gregor_leases l ON l.name = 'broker/' || b.node_id
         WHERE l.expires > now()",
    )
}

/// Registered brokers without a live lease.
fn fenced_members(client: &mut impl GenericClient) -> anyhow::Result<BTreeMap<i32, Member>> {
    registered(
        client,
        "SELECT b.node_id, b.listeners,
                (extract(epoch FROM now() - b.registered) * 1000)::bigint
         FROM gregor_brokers b LEFT JOIN gregor_leases l ON l.name = 'broker/' || b.node_id
         WHERE l.expires IS NULL OR l.expires <= now()",
    )
}

/// The brokers `query` selects as (node id, listeners, ms since registered).
fn registered(
    client: &mut impl GenericClient,
    query: &str,
) -> anyhow::Result<BTreeMap<i32, Member>> {
    let rows = client.query(query, &[])?;
    let mut members = BTreeMap::new();
    for row in rows {
        let (node_id, listeners, registered_ms): (i32, String, i64) =
            (row.get(0), row.get(1), row.get(2));
        let endpoints = serde_json::from_str(&listeners).unwrap_or_else(|e| {
            tracing::warn!(node_id, error = %e, "unreadable listeners of a broker");
            Vec::new()
        });
        members.insert(
            node_id,
            Member {
                node_id,
                endpoints,
                registered_ms,
            },
        );
    }
    Ok(members)
}

/// The live and the fenced brokers, every partition's leader and the coordinator.
pub fn snapshot(db: &Db) -> anyhow::Result<Snapshot> {
    let mut conn = db.conn()?;
    let mut tx = conn.build_transaction().read_only(true).start()?;
    let members = live_members(&mut tx)?;
    let fenced = fenced_members(&mut tx)?;
    let leaders = tx
        .query("SELECT log, leader, leader_epoch FROM gregor_logs", &[])?
        .iter()
        .map(leader_row)
        .collect();
    let coordinator = tx
        .query_opt(
            "SELECT node_id FROM gregor_leases WHERE name = 'coordinator' AND expires > now()",
            &[],
        )?
        .map(|r| r.get::<_, i32>(0))
        .filter(|node| members.contains_key(node));
    tx.commit()?;
    Ok(Snapshot {
        members,
        fenced,
        leaders,
        coordinator,
    })
}

/// The end (next offset) of log `name` as committed, read from its rows: for a partition led
/// by another broker (a share group's lag). None without a log or a batch.
pub fn log_end(db: &Db, name: &str) -> anyhow::Result<Option<i64>> {
    let row = db.conn()?.query_opt(
        "SELECT data FROM gregor_batches WHERE log = $1 ORDER BY segment DESC, pos DESC LIMIT 1",
        &[&name],
    )?;
    Ok(row.and_then(|r| last_batch_end(r.get(0))))
}

/// The next offset after the last whole batch of `data` (record batches one after the
/// other: base offset i64 at 0, length i32 at 8, last offset delta i32 at 23).
fn last_batch_end(data: &[u8]) -> Option<i64> {
    let mut at = 0usize;
    let mut end = None;
    while let Some(header) = data.get(at..at + 27) {
        let base = i64::from_be_bytes(header[0..8].try_into().ok()?);
        let length = i32::from_be_bytes(header[8..12].try_into().ok()?);
        let delta = i32::from_be_bytes(header[23..27].try_into().ok()?);
        let next = at
            .checked_add(12)?
            .checked_add(usize::try_from(length).ok()?)?;
        if next > data.len() {
            break;
        }
        end = Some(base + i64::from(delta) + 1);
        at = next;
    }
    end
}

/// Give each of `logs` that has no row yet a leader: the live brokers in turn, those
/// preferred by fewest partitions first (`fallback` when none is live). Their leaders
/// (also of the rows that were there).
pub fn place(db: &Db, logs: &[String], fallback: i32) -> anyhow::Result<HashMap<String, Leader>> {
    let mut conn = db.conn()?;
    let mut tx = conn.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PLACEMENT_LOCK])?;
    let members = live_members(&mut tx)?;
    let mut load: BTreeMap<i32, i64> = members.keys().map(|n| (*n, 0)).collect();
    for row in tx.query(
        "SELECT preferred, count(*) FROM gregor_logs WHERE preferred IS NOT NULL
         GROUP BY preferred",
        &[],
    )? {
        if let Some(n) = load.get_mut(&row.get::<_, i32>(0)) {
            *n = row.get(1);
        }
    }
    let mut order: Vec<i32> = load.keys().copied().collect();
    order.sort_by_key(|n| (load[n], *n));
    if order.is_empty() {
        order.push(fallback);
    }
    for (i, log) in logs.iter().enumerate() {
        let node = order[i % order.len()];
        tx.execute(
            "INSERT INTO gregor_logs (log, leader, leader_epoch, preferred)
             VALUES ($1, $2, nextval('gregor_leader_epochs'), $2)
             ON CONFLICT (log) DO NOTHING",
            &[log, &node],
        )?;
    }
    let placed = tx
        .query(
            "SELECT log, leader, leader_epoch FROM gregor_logs WHERE log = ANY($1)",
            &[&logs],
        )?
        .iter()
        .map(leader_row)
        .collect();
    tx.commit()?;
    Ok(placed)
}

/// Move partitions off brokers that are not live, and back to preferred leaders registered
/// for at least `settle`. The moves made, as (log, from, to).
pub fn rebalance(db: &Db, settle: Duration) -> anyhow::Result<Vec<(String, i32, i32)>> {
    let mut conn = db.conn()?;
    let mut tx = conn.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PLACEMENT_LOCK])?;
    let members = live_members(&mut tx)?;
    if members.is_empty() {
        return Ok(Vec::new());
    }
    // In log order: a share-state write locks its logs' rows `FOR SHARE` in that order too, so
    // the two never wait for each other the other way round (a deadlock PostgreSQL would break
    // after `deadlock_timeout` by failing one of them).
    let rows: Vec<(String, i32, Option<i32>)> = tx
        .query(
            "SELECT log, leader, preferred FROM gregor_logs ORDER BY log",
            &[],
        )?
        .into_iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let settled = |node: i32| {
        members
            .get(&node)
            .is_some_and(|m| m.registered_ms >= settle.as_millis() as i64)
    };
    let mut load: BTreeMap<i32, usize> = members.keys().map(|n| (*n, 0)).collect();
    for (_, leader, _) in &rows {
        if let Some(n) = load.get_mut(leader) {
            *n += 1;
        }
    }
    let mut moves = Vec::new();
    for (log, leader, preferred) in rows {
        let to = match preferred {
            Some(p) if p != leader && settled(p) => p,
            _ if members.contains_key(&leader) => continue,
            Some(p) if members.contains_key(&p) => p,
            _ => match load.iter().min_by_key(|(node, n)| (**n, **node)) {
                Some((node, _)) => *node,
                None => continue,
            },
        };
        let moved = tx.execute(
            "UPDATE gregor_logs SET leader = $2, leader_epoch = nextval('gregor_leader_epochs')
             WHERE log = $1 AND leader = $3",
            &[&log, &to, &leader],
        )?;
        if moved == 1 {
            if let Some(n) = load.get_mut(&leader) {
                *n -= 1;
            }
            *load.entry(to).or_default() += 1;
            moves.push((log, leader, to));
        }
    }
    if !moves.is_empty() {
        // Every broker ticks at once (on commit): the one a partition left stops answering
        // for it now, not up to a tick later while the new leader acknowledges.
        super::notify::announce_on_commit(&mut tx, super::notify::CATALOG)?;
    }
    tx.commit()?;
    Ok(moves)
}

#[cfg(test)]
#[path = "placement_tests.rs"]
mod tests;
