//! What goes in and out of a [`SharePartition`](super::partition::SharePartition): the
//! acknowledgement types, the settings it works with, the spans and acknowledgements it is
//! given, and the acquisitions, counts, durable form and dead letters it hands back.

/// AcknowledgeTypes: 0 gap, 1 accept, 2 release, 3 reject, 4 renew (ShareFetch and
/// ShareAcknowledge v2: the record stays acquired and its lock starts again).
pub const GAP: i8 = 0;
pub const ACCEPT: i8 = 1;
pub const RELEASE: i8 = 2;
pub const REJECT: i8 = 3;
pub const RENEW: i8 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RecordState {
    Available,
    Acquired,
    Acknowledged,
    /// Given up on, waiting to be written to the group's dead-letter topic.
    Archiving,
    Archived,
}

/// The share settings a partition works with (Kafka's names in the comments).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// group.share.record.lock.duration.ms
    pub lock_ms: i64,
    /// group.share.delivery.count.limit
    pub delivery_limit: i16,
    /// group.share.partition.max.record.locks
    pub max_in_flight: i64,
    /// The group has a dead-letter topic (errors.deadletterqueue.topic.name).
    pub dead_letters: bool,
    /// share.renew.acknowledge.enable
    pub renew: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            lock_ms: 30_000,
            delivery_limit: 5,
            max_in_flight: 2_000,
            dead_letters: false,
            renew: true,
        }
    }
}

/// A batch the log holds: its offsets and whether it is never delivered — a control batch,
/// or under read_committed a batch of an aborted transaction (archived at once, as Kafka's
/// `SharePartition` archives the aborted batches it filters out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub first: i64,
    pub last: i64,
    pub skip: bool,
}

/// Records acquired together: contiguous, with one delivery count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acquired {
    pub first: i64,
    pub last: i64,
    pub delivery_count: i16,
}

/// An acknowledgement batch as the request carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub first: i64,
    pub last: i64,
    /// One type for the whole range, or one per offset.
    pub types: Vec<i8>,
}

/// The durable form: runs of records with one state and delivery count (acquired ones are
/// kept as available: their locks do not outlive the broker).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StateRecord {
    pub start_offset: i64,
    pub end_offset: i64,
    /// (first, last, state, delivery count)
    pub runs: Vec<(i64, i64, RecordState, i16)>,
}

/// Counts for describing and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub available: i64,
    pub acquired: i64,
    /// Waiting to be written to the dead-letter topic.
    pub archiving: i64,
    pub archived: i64,
}

/// Why a record goes to the dead-letter topic (Kafka's `__dlq.errors.message` texts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    Rejected,
    DeliveryLimit,
}

impl Cause {
    pub fn message(self) -> &'static str {
        match self {
            Cause::Rejected => "Offset rejected by client.",
            Cause::DeliveryLimit => "Offset delivery count exceeded the threshold.",
        }
    }

    /// Kafka's rule for records found archiving after a restart: the delivery count says.
    pub fn of(delivery_count: i16, limits: &Limits) -> Self {
        if delivery_count >= limits.delivery_limit {
            Cause::DeliveryLimit
        } else {
            Cause::Rejected
        }
    }
}

/// Records to write to the dead-letter topic: contiguous, with one delivery count and cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadLetter {
    pub first: i64,
    pub last: i64,
    pub delivery_count: i16,
    pub cause: Cause,
}
