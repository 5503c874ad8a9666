//! The fence of a partition's leader in cluster mode: the broker, leader epoch and opening
//! (`gregor_logs.leader`, `leader_epoch`, `opened`) one copy of a partition log was opened
//! with. A write made on behalf of that copy checks its fence in the write's own transaction,
//! under a lock on the log's row ([`check`]), so a broker that lost the partition (another
//! broker took it at a new epoch) or a copy that was replaced (the log opened again) commits
//! nothing: a takeover's update of the row waits for the write's transaction, and a write
//! that starts after the takeover sees it.

use std::io;

use uuid::Uuid;

use super::postgres::Transaction;

/// Who may write for one partition log: its leader at an epoch, through one opening.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fence {
    /// The log's name in `gregor_logs` (`placement::log_name`).
    pub log: String,
    pub node_id: i32,
    pub epoch: i32,
    /// This opening of the log (`gregor_logs.opened`).
    pub opened: Uuid,
}

/// This broker no longer leads the partition at the epoch it opened it with, or this copy of
/// the partition is not the latest it opened.
#[derive(Debug, thiserror::Error)]
#[error("partition {log}: led by broker {leader} at epoch {epoch} now, not by this copy (fenced)")]
pub struct Fenced {
    pub log: String,
    pub leader: i32,
    pub epoch: i32,
}

/// Lock the log's row (a takeover's update waits for this transaction, and this one sees a
/// takeover committed before it) and check that `fence` holds still: an error wrapping
/// [`Fenced`] if not.
pub fn check(tx: &mut Transaction, fence: &Fence) -> io::Result<()> {
    let row = tx
        .query_opt(
            "SELECT leader, leader_epoch, opened FROM gregor_logs WHERE log = $1 FOR SHARE",
            &[&fence.log],
        )
        .map_err(|e| io::Error::other(format!("postgresql: {e}")))?;
    let (leader, epoch, opened) = row.map_or((-1, -1, None), |r| (r.get(0), r.get(1), r.get(2)));
    if (leader, epoch, opened) != (fence.node_id, fence.epoch, Some(fence.opened)) {
        return Err(io::Error::other(Fenced {
            log: fence.log.clone(),
            leader,
            epoch,
        }));
    }
    Ok(())
}
