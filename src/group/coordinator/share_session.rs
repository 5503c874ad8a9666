//! What share groups keep per member and hand outside the coordinator: share sessions, and the
//! dead letters going to a group's dead-letter topic. Apart from `share.rs` so the coordinator's
//! state can hold them without importing the share group code that works on that state.

use super::super::share::partition::DeadLetter;
use uuid::Uuid;

/// A share partition: (topic id, partition).
pub type ShareKey = (Uuid, i32);

/// Records of a share partition to write to its group's dead-letter topic (KIP-1191). Once
/// written (or given up on), [`super::GroupCoordinator::share_dead_lettered`] archives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterJob {
    pub group_id: String,
    pub partition: ShareKey,
    pub letter: DeadLetter,
}

/// Where the coordinator hands dead letters, once the state that made them is durable.
pub type DeadLetterSink = tokio::sync::mpsc::UnboundedSender<DeadLetterJob>;

/// A share session's epoch: 0 opens one, -1 closes it.
pub const OPEN_EPOCH: i32 = 0;
pub const FINAL_EPOCH: i32 = -1;

/// One member's share session: the partitions it fetches, the epoch it must send next, and
/// the connection that opened it (its closing ends the session).
#[derive(Debug, Clone, Default)]
pub struct ShareSession {
    pub next_epoch: i32,
    pub partitions: Vec<ShareKey>,
    pub connection: u64,
}
