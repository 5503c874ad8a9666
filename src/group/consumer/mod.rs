//! KIP-848's consumer group protocol as a pure state machine, after Apache Kafka's
//! `ConsumerGroup`, `ConsumerGroupMember`, `CurrentAssignmentBuilder` and the consumer-group
//! parts of `GroupMetadataManager`.
//!
//! A group has an epoch, bumped whenever a member joins, leaves or changes its subscription,
//! or a subscribed topic changes its partitions. The server-side assignor ([`assignor`])
//! then computes a target assignment at that epoch, and each member reconciles towards its
//! own target on its heartbeats ([`reconcile`]): its member epoch reaches the target epoch
//! once it has revoked what it must give up. Nothing here does I/O or reads a clock;
//! deadlines (session, revocation) are kept in the group and fired by [`ConsumerGroup::tick`].

pub mod assignor;
mod classic_members;
pub mod embedded;
mod group;
pub mod reconcile;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_migration;

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

pub use group::{validate, ConsumerGroup, Heartbeat, HeartbeatAnswer};

/// Partitions by topic id.
pub type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

/// `group.consumer.heartbeat.interval.ms` default.
pub const HEARTBEAT_INTERVAL_MS: i32 = 5_000;
/// `group.consumer.session.timeout.ms` default.
pub const SESSION_TIMEOUT_MS: i64 = 45_000;
/// Session timeout and heartbeat interval of a consumer or share group's members: the group's
/// configs (`consumer.*` or `share.*`) over the broker's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberTimeouts {
    pub session_ms: i64,
    pub heartbeat_ms: i32,
}

impl Default for MemberTimeouts {
    /// Kafka's group.consumer.* defaults (group.share.* has the same).
    fn default() -> Self {
        Self {
            session_ms: SESSION_TIMEOUT_MS,
            heartbeat_ms: HEARTBEAT_INTERVAL_MS,
        }
    }
}

/// Member epoch of a member leaving the group.
pub const LEAVE_EPOCH: i32 = -1;
/// Member epoch of a static member leaving for now (it keeps its partitions until its
/// session times out or it rejoins).
pub const STATIC_LEAVE_EPOCH: i32 = -2;
/// The group type ListGroups shows.
pub const GROUP_TYPE: &str = "consumer";

/// The topics a heartbeat sees.
pub trait TopicView: Send + Sync {
    /// A subscribed topic name's id and partition count (None: no such topic).
    fn lookup(&self, name: &str) -> Option<(Uuid, i32)>;
    /// The topics `regex` matches whole (that the member may describe), sorted.
    fn matching(&self, regex: &regex::Regex) -> Vec<String>;
}

/// A name lookup alone sees no topic through a regex (share groups, tests).
impl<F: Fn(&str) -> Option<(Uuid, i32)> + Send + Sync> TopicView for F {
    fn lookup(&self, name: &str) -> Option<(Uuid, i32)> {
        self(name)
    }

    fn matching(&self, _: &regex::Regex) -> Vec<String> {
        Vec::new()
    }
}

pub type TopicLookup = std::sync::Arc<dyn TopicView>;

/// A subscription regex as Kafka applies it (RE2J's `matches`: the whole name); None when it
/// does not compile (INVALID_REGULAR_EXPRESSION).
pub fn subscription_regex(pattern: &str) -> Option<regex::Regex> {
    regex::Regex::new(&format!("^(?:{pattern})$")).ok()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MemberState {
    Stable,
    UnrevokedPartitions,
    UnreleasedPartitions,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    Assigning,
    Reconciling,
    Stable,
    Dead,
}

impl GroupState {
    /// The name Kafka reports (ListGroups, ConsumerGroupDescribe).
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::Assigning => "Assigning",
            GroupState::Reconciling => "Reconciling",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// One member, as Kafka's ConsumerGroupMemberMetadata and ConsumerGroupCurrentMemberAssignment
/// records keep it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    /// Sorted.
    pub subscribed_topic_names: Vec<String>,
    pub subscribed_topic_regex: Option<String>,
    /// The topics the regex matched at the member's last heartbeat (sorted).
    #[serde(default)]
    pub regex_topics: Vec<String>,
    pub server_assignor: Option<String>,
    pub epoch: i32,
    pub previous_epoch: i32,
    pub state: MemberState,
    pub assigned: Assignment,
    pub pending_revocation: Assignment,
    /// Some for a member on the classic protocol (JoinGroup/SyncGroup/Heartbeat) in this
    /// consumer group: a group migrating between the protocols (Kafka's ClassicMemberMetadata).
    #[serde(default)]
    pub classic: Option<ClassicMember>,
}

/// What a classic member brought with its JoinGroup.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClassicMember {
    pub session_timeout_ms: i32,
    /// (protocol name, metadata) in the member's order of preference.
    pub protocols: Vec<(String, Vec<u8>)>,
}

impl ClassicMember {
    /// The member's preferred protocol: the one its answers name, and whose metadata
    /// version its assignments are encoded in.
    pub fn preferred(&self) -> (&str, &[u8]) {
        self.protocols
            .first()
            .map(|(n, m)| (n.as_str(), m.as_slice()))
            .unwrap_or(("", &[]))
    }
}

impl Member {
    pub fn new(id: String) -> Self {
        Self {
            id,
            instance_id: None,
            rack_id: None,
            client_id: String::new(),
            client_host: String::new(),
            rebalance_timeout_ms: -1,
            subscribed_topic_names: Vec::new(),
            subscribed_topic_regex: None,
            regex_topics: Vec::new(),
            server_assignor: None,
            epoch: 0,
            previous_epoch: 0,
            state: MemberState::Stable,
            assigned: Assignment::new(),
            pending_revocation: Assignment::new(),
            classic: None,
        }
    }

    /// A new member epoch; the old one is kept as the previous epoch.
    pub fn set_epoch(&mut self, epoch: i32) {
        if epoch != self.epoch {
            self.previous_epoch = self.epoch;
            self.epoch = epoch;
        }
    }

    /// The topics it subscribes to: by name and through its regex.
    pub fn topics(&self) -> impl Iterator<Item = &String> {
        self.subscribed_topic_names.iter().chain(&self.regex_topics)
    }

    pub fn is_reconciled_to(&self, epoch: i32) -> bool {
        self.state == MemberState::Stable && self.epoch == epoch
    }

    /// Does the member hold (assigned or still revoking) this partition?
    pub fn owns(&self, topic: &Uuid, partition: i32) -> bool {
        let has = |a: &Assignment| a.get(topic).is_some_and(|s| s.contains(&partition));
        has(&self.assigned) || has(&self.pending_revocation)
    }
}

impl ConsumerGroup {
    /// Kafka's `throwIfConsumerGroupIsFull` (group.consumer.max.size): a member joining a
    /// group of `max` members or more is refused with GROUP_MAX_SIZE_REACHED, unless it is
    /// one of them or takes the place of a static member.
    pub fn check_room(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
        max: usize,
    ) -> Result<(), kafka_protocol::ResponseError> {
        if instance_id.is_some_and(|i| self.static_member(i).is_some()) {
            return Ok(());
        }
        if self.members.len() >= max
            && (member_id.is_empty() || !self.members.contains_key(member_id))
        {
            return Err(kafka_protocol::ResponseError::GroupMaxSizeReached);
        }
        Ok(())
    }
}

/// What ConsumerGroupDescribe shows of a group.
#[derive(Debug, Clone)]
pub struct Description {
    pub state: GroupState,
    pub epoch: i32,
    pub assignment_epoch: i32,
    pub assignor: String,
    /// Each member with its target assignment.
    pub members: Vec<(Member, Assignment)>,
}
