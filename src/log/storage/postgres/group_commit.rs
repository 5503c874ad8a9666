//! Group commit across partitions: the syncs of several partitions waiting at once share one
//! database transaction (one commit, and one wait for the synchronous standbys, for all of
//! them), as the local log shares fsyncs.
//!
//! A caller queues its partition and waits. Whoever finds a run slot free takes every waiting
//! partition that no other run holds, and commits their queued changes in one transaction:
//! their `gregor_logs` rows are locked together (in log order, as placement's moves take
//! them, so the two cannot deadlock) and each partition's fence is checked there; a fenced
//! partition's changes are left out (its syncs fail with [`Fenced`]), the others commit. A
//! partition is in one run at a time, so its changes reach the database in order. Up to
//! [`RUNS`] transactions run at once: the database server spends a process per transaction,
//! and compressing and writing large batches is CPU work it can spread over its cores.

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::{Arc, Condvar, Mutex};

use crate::pg::Db;

use super::{db_error, lock, Change, Fenced, Shared};

/// Transactions in flight at once, per broker.
const RUNS: usize = 4;

/// The syncs of one broker's partitions, committed together.
#[derive(Default)]
pub(super) struct GroupCommit {
    state: Mutex<State>,
    done: Condvar,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GroupCommit")
    }
}

#[derive(Default)]
struct State {
    next_ticket: u64,
    /// Syncs not yet taken by a run: (ticket, partition).
    waiting: Vec<(u64, Arc<Shared>)>,
    /// Partitions a run holds (by address).
    running: HashSet<usize>,
    runs: usize,
    /// Outcomes not yet collected, by ticket.
    outcomes: HashMap<u64, Outcome>,
}

#[derive(Clone)]
pub(super) enum Outcome {
    Committed,
    Fenced { leader: i32, epoch: i32 },
    Failed(String),
}

pub(super) fn key(shared: &Arc<Shared>) -> usize {
    Arc::as_ptr(shared) as usize
}

impl GroupCommit {
    /// Commit every change `shared` queued before this call (with whatever other partitions
    /// wait at the same time). Blocks on the database.
    pub(super) fn commit(&self, shared: &Arc<Shared>) -> io::Result<()> {
        let mut state = lock(&self.state);
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.waiting.push((ticket, shared.clone()));
        loop {
            if let Some(outcome) = state.outcomes.remove(&ticket) {
                return match outcome {
                    Outcome::Committed => Ok(()),
                    Outcome::Fenced { leader, epoch } => Err(io::Error::other(Fenced {
                        log: shared.log.clone(),
                        leader,
                        epoch,
                    })),
                    Outcome::Failed(e) => Err(io::Error::other(e)),
                };
            }
            let free = |s: &State, p: &Arc<Shared>| !s.running.contains(&key(p));
            if state.runs < RUNS && state.waiting.iter().any(|(_, p)| free(&state, p)) {
                let (taken, left): (Vec<_>, Vec<_>) = std::mem::take(&mut state.waiting)
                    .into_iter()
                    .partition(|(_, p)| free(&state, p));
                state.waiting = left;
                let mut partitions: Vec<Arc<Shared>> = Vec::new();
                for (_, p) in &taken {
                    if state.running.insert(key(p)) {
                        partitions.push(p.clone());
                    }
                }
                state.runs += 1;
                drop(state);
                let outcomes = run(&partitions);
                state = lock(&self.state);
                state.runs -= 1;
                for p in &partitions {
                    state.running.remove(&key(p));
                }
                for (t, p) in taken {
                    let outcome = outcomes.get(&key(&p)).cloned();
                    let outcome =
                        outcome.unwrap_or_else(|| Outcome::Failed("not committed".into()));
                    state.outcomes.insert(t, outcome);
                }
                self.done.notify_all();
                continue;
            }
            state = self
                .done
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }
}

/// One transaction for `partitions`' queued changes; each partition's outcome.
pub(super) fn run(partitions: &[Arc<Shared>]) -> HashMap<usize, Outcome> {
    let mut order: Vec<&Arc<Shared>> = partitions.iter().collect();
    order.sort_by(|a, b| a.log.cmp(&b.log));
    // A replacement of segments (`flush_with`) may be committing one of them on its own.
    let _turns: Vec<_> = order.iter().map(|p| lock(&p.flushing)).collect();
    let snapshots: Vec<Vec<Change>> = order.iter().map(|p| lock(&p.queue).clone()).collect();
    let mut outcomes = HashMap::new();
    let busy: Vec<usize> = (0..order.len())
        .filter(|&i| !snapshots[i].is_empty())
        .collect();
    for (i, p) in order.iter().enumerate() {
        if snapshots[i].is_empty() {
            // Everything it queued before is committed (a queue drains only after a commit).
            outcomes.insert(key(p), Outcome::Committed);
        }
    }
    if busy.is_empty() {
        return outcomes;
    }
    let mut results = vec![(busy.clone(), transaction(&order, &busy, &snapshots))];
    if let [(_, Err((_, false)))] = results.as_slice() {
        if busy.len() > 1 {
            // One partition's statement failed and took the others' with it: each on its own,
            // so that one bad partition cannot hold every other back.
            results = busy
                .iter()
                .map(|&i| (vec![i], transaction(&order, &[i], &snapshots)))
                .collect();
        }
    }
    for (which, result) in results {
        match result {
            Ok(decided) => {
                for (i, outcome) in decided {
                    if let Outcome::Committed = outcome {
                        lock(&order[i].queue).drain(..snapshots[i].len());
                    }
                    outcomes.insert(key(order[i]), outcome);
                }
            }
            // Nothing of it committed (or its outcome is unknown): the changes stay queued
            // and the next sync sends them again (rows already there are kept).
            Err((e, _)) => {
                for i in which {
                    outcomes.insert(key(order[i]), Outcome::Failed(e.to_string()));
                }
            }
        }
    }
    outcomes
}

/// Commit the snapshots of partitions `which` of `order` in one transaction, each partition's
/// only if its fence holds. An error says whether it came from the commit itself (the outcome
/// unknown) or before it (nothing committed).
fn transaction(
    order: &[&Arc<Shared>],
    which: &[usize],
    snapshots: &[Vec<Change>],
) -> Result<Vec<(usize, Outcome)>, (io::Error, bool)> {
    let db: &Db = &order[which[0]].db;
    let mut conn = db.conn().map_err(|e| before(db_error(e)))?;
    let mut tx = conn.transaction().map_err(|e| before(db_error(e)))?;
    let logs: Vec<&str> = which.iter().map(|&i| order[i].log.as_str()).collect();
    let rows = tx
        .query(
            "SELECT log, leader, leader_epoch, opened FROM gregor_logs
             WHERE log = ANY($1) ORDER BY log FOR SHARE",
            &[&logs],
        )
        .map_err(|e| before(db_error(e)))?;
    let holders: HashMap<String, (i32, i32, Option<uuid::Uuid>)> = rows
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3))))
        .collect();
    let mut decided = Vec::new();
    for &i in which {
        let p = order[i];
        let (leader, epoch, opened) = holders.get(&p.log).copied().unwrap_or((-1, -1, None));
        let fence = &p.fence;
        if (leader, epoch, opened) != (fence.node_id, fence.epoch, Some(fence.opened)) {
            decided.push((i, Outcome::Fenced { leader, epoch }));
            continue;
        }
        p.apply(&mut tx, &snapshots[i]).map_err(before)?;
        decided.push((i, Outcome::Committed));
    }
    tx.commit().map_err(|e| (db_error(e), true))?;
    Ok(decided)
}

/// An error before the commit: nothing of the transaction committed.
fn before(e: io::Error) -> (io::Error, bool) {
    (e, false)
}
