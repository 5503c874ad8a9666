//! Streams groups (KIP-1071): the rebalance protocol Kafka Streams 4.4 uses with
//! `group.protocol=streams`, as pure state machines after Apache Kafka's
//! `org.apache.kafka.coordinator.group.streams`.
//!
//! Members declare their application's [`topology`]; the broker turns it into tasks (one per
//! input partition of each subtopology, [`configure`]), creates the repartition and changelog
//! topics it names, and assigns the tasks to members. Nothing here does I/O or reads a clock.

pub mod assignor;
pub mod configure;
pub mod group;
pub mod reconcile;
pub mod topology;

/// The group type ListGroups shows (and its protocol type).
pub const GROUP_TYPE: &str = "streams";

/// StreamsGroupHeartbeat status codes (Kafka's `StreamsGroupHeartbeatResponse.Status`).
pub const STALE_TOPOLOGY: i8 = 0;
pub const MISSING_SOURCE_TOPICS: i8 = 1;
pub const INCORRECTLY_PARTITIONED_TOPICS: i8 = 2;
pub const MISSING_INTERNAL_TOPICS: i8 = 3;
pub const SHUTDOWN_APPLICATION: i8 = 4;
pub const ASSIGNMENT_DELAYED: i8 = 5;
pub const MISSING_CLIENT_TAGS: i8 = 6;

/// A status a heartbeat answer carries: why the member's tasks are not what it may expect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub code: i8,
    pub detail: String,
}
