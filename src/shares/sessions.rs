//! What a share leader keeps per member and hands outside: share sessions (Kafka's
//! `ShareSessionCache`: one per (group, member) on this broker), the requests' session step,
//! and the dead letters going to a group's dead-letter topic.

use indexmap::IndexSet;
use kafka_protocol::ResponseError as E;

use crate::group::share::partition::{Ack, AcquireMode, Counts, DeadLetter};
pub use crate::group::share::ShareKey;

/// Records of a share partition to write to its group's dead-letter topic (KIP-1191). Once
/// written (or given up on), [`super::Shares::dead_lettered`] archives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterJob {
    pub group_id: String,
    pub partition: ShareKey,
    pub letter: DeadLetter,
}

/// Where the leader hands dead letters, once the state that made them is durable.
pub type DeadLetterSink = tokio::sync::mpsc::UnboundedSender<DeadLetterJob>;

/// A share session's epoch: 0 opens one, -1 closes it.
pub const OPEN_EPOCH: i32 = 0;
pub const FINAL_EPOCH: i32 = -1;

/// One member's share session: the partitions it fetches (in the order they were added; a
/// set, since a request may name as many as its size allows), the epoch it must send next,
/// and the connection that opened it (its closing ends the session).
#[derive(Debug, Clone, Default)]
pub struct ShareSession {
    pub next_epoch: i32,
    pub partitions: IndexSet<ShareKey>,
    pub connection: u64,
}

/// The session part of a ShareFetch or ShareAcknowledge.
#[derive(Debug, Clone, Default)]
pub struct SessionRequest {
    pub group_id: String,
    pub member_id: String,
    pub epoch: i32,
    /// The connection the request came on.
    pub connection: u64,
    /// ShareFetch: partitions to add to the session (None: a ShareAcknowledge).
    pub fetch: Option<Vec<ShareKey>>,
    pub forgotten: Vec<ShareKey>,
    pub acks: Vec<(ShareKey, Vec<Ack>)>,
}

/// What the session step did: each acknowledged partition's outcome, and the partitions to
/// fetch (none when the session closed).
#[derive(Debug, Clone, Default)]
pub struct SessionOutcome {
    pub acks: Vec<(ShareKey, Result<(), E>)>,
    pub fetch: Vec<ShareKey>,
}

/// How much one ShareFetch acquires: MaxRecords over all its partitions, counted by the
/// request's ShareAcquireMode.
#[derive(Debug, Clone, Copy)]
pub struct FetchLimit {
    pub max_records: usize,
    pub mode: AcquireMode,
}

/// A partition about to be fetched: where the log starts and ends (for initialising its
/// share state), and where the fetch should read.
#[derive(Debug, Clone, Copy)]
pub struct LogBounds {
    pub log_start: i64,
    pub high_watermark: i64,
}

/// What /metrics shows of a share partition.
#[derive(Debug, Clone)]
pub struct SharePartitionSummary {
    pub partition: ShareKey,
    /// Everything below it is done with.
    pub start_offset: i64,
    /// The first offset never acquired.
    pub end_offset: i64,
    pub counts: Counts,
    /// Records archived (rejected or out of deliveries), and of them written to the
    /// dead-letter topic, since this broker loaded the partition.
    pub archived_total: u64,
    pub dead_lettered_total: u64,
}
