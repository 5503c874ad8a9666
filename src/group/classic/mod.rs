//! One classic group as a pure state machine, after Apache Kafka's `ClassicGroup` and the
//! classic-group parts of `GroupMetadataManager`: Empty → PreparingRebalance →
//! CompletingRebalance → Stable (→ Dead when deleted).
//!
//! Nothing here does I/O or reads a clock. Requests that may have to wait (JoinGroup,
//! SyncGroup) carry a [`Waiter`] token; their answers come out through an [`Outbox`], now or
//! from a later call. Timers are deadlines kept in the group; the driver calls
//! [`Group::tick`] once [`Group::next_deadline`] has passed.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use indexmap::IndexMap;
use kafka_protocol::ResponseError as E;

use super::GroupConfig;

/// Identifies a parked JoinGroup or SyncGroup request.
pub type Waiter = u64;

pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl State {
    /// The name Kafka reports (DescribeGroups, ListGroups).
    pub fn name(self) -> &'static str {
        match self {
            State::Empty => "Empty",
            State::PreparingRebalance => "PreparingRebalance",
            State::CompletingRebalance => "CompletingRebalance",
            State::Stable => "Stable",
            State::Dead => "Dead",
        }
    }

    fn can_follow(self, from: State) -> bool {
        use State::*;
        match self {
            Empty => from == PreparingRebalance,
            PreparingRebalance => matches!(from, Stable | CompletingRebalance | Empty),
            CompletingRebalance => from == PreparingRebalance,
            Stable => from == CompletingRebalance,
            Dead => true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol {
    pub name: String,
    pub metadata: Bytes,
}

#[derive(Debug, Clone)]
pub struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub protocol_type: String,
    /// In the member's order of preference.
    pub protocols: Vec<Protocol>,
    pub assignment: Bytes,
    awaiting_join: Option<Waiter>,
    awaiting_sync: Option<Waiter>,
    /// Joined in the current rebalance and has not received its first JoinGroup answer.
    is_new: bool,
    heartbeat_deadline: Option<i64>,
}

impl Member {
    /// A member as persisted (no request waiting, not new).
    #[allow(clippy::too_many_arguments)]
    pub fn restored(
        id: String,
        instance_id: Option<String>,
        client_id: String,
        client_host: String,
        rebalance_timeout_ms: i32,
        session_timeout_ms: i32,
        protocol_type: String,
        protocols: Vec<Protocol>,
        assignment: Bytes,
    ) -> Self {
        Self {
            id,
            instance_id,
            client_id,
            client_host,
            rebalance_timeout_ms,
            session_timeout_ms,
            protocol_type,
            protocols,
            assignment,
            awaiting_join: None,
            awaiting_sync: None,
            is_new: false,
            heartbeat_deadline: None,
        }
    }

    pub fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|p| p.name == protocol)
            .map(|p| p.metadata.clone())
            .unwrap_or_default()
    }

    pub fn is_awaiting_join(&self) -> bool {
        self.awaiting_join.is_some()
    }

    /// Members waiting for a rebalance to finish need no heartbeats; new ones always do.
    fn has_satisfied_heartbeat(&self) -> bool {
        !self.is_new && (self.awaiting_join.is_some() || self.awaiting_sync.is_some())
    }

    fn vote(&self, candidates: &HashSet<&str>) -> Option<&str> {
        self.protocols
            .iter()
            .map(|p| p.name.as_str())
            .find(|n| candidates.contains(n))
    }
}

/// A JoinGroup as the state machine sees it (the handler has checked the group id and the
/// session timeout bounds).
#[derive(Debug, Clone)]
pub struct JoinRequest {
    /// Empty for a member that has none yet.
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<Protocol>,
    /// The id this member gets if it is new (see [`new_member_id`]).
    pub fresh_member_id: String,
    /// JoinGroup v4+: a new dynamic member first gets MEMBER_ID_REQUIRED and its id.
    pub require_known_member_id: bool,
    /// JoinGroup v9+: a rejoining static leader may skip computing an assignment.
    pub supports_skip_assignment: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JoinedMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub metadata: Bytes,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JoinResponse {
    pub error: Option<E>,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    pub skip_assignment: bool,
    /// Every member's metadata, for the leader only.
    pub members: Vec<JoinedMember>,
}

impl JoinResponse {
    pub fn error(error: E, member_id: &str) -> Self {
        Self {
            error: Some(error),
            generation: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.to_string(),
            skip_assignment: false,
            members: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SyncRequest {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    /// From the leader: member id → assignment.
    pub assignments: Vec<(String, Bytes)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SyncResponse {
    pub error: Option<E>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncResponse {
    pub fn error(error: E) -> Self {
        Self {
            error: Some(error),
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Join(Waiter, JoinResponse),
    Sync(Waiter, SyncResponse),
}

/// What a call produced besides its return value.
#[derive(Debug, Default)]
pub struct Outbox {
    pub replies: Vec<Reply>,
    /// The group's metadata changed in a way Kafka writes to its log: persist a snapshot.
    pub persist: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum JoinTimer {
    /// The rebalance timeout: complete the join phase with whoever joined.
    Complete,
    /// The initial rebalance delay of a group that was empty: wait longer while members keep
    /// arriving, up to the rebalance timeout.
    InitialDelay { delay: i64, remaining: i64 },
}

/// One member as DescribeGroups shows it.
#[derive(Debug, Clone)]
pub struct DescribedMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

#[derive(Debug, Clone)]
pub struct Description {
    pub state: State,
    pub protocol_type: String,
    pub protocol_data: String,
    pub members: Vec<DescribedMember>,
}

/// How a group's committed offsets expire (Kafka's offset expiration condition).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetExpiry {
    /// Not at all while the group is in this state.
    Never,
    /// Retention counts from the commit.
    SinceCommit,
    /// Retention counts from this moment (when the group became empty).
    Since(i64),
}

#[derive(Debug, Clone)]
pub struct Group {
    pub id: String,
    state: State,
    previous_state: State,
    state_timestamp: i64,
    generation: i32,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    leader: Option<String>,
    /// In joining order: the first remaining member becomes leader when the leader leaves.
    members: IndexMap<String, Member>,
    /// group.instance.id → member id.
    static_members: HashMap<String, String>,
    /// Members told MEMBER_ID_REQUIRED that have not joined yet → when they expire.
    pending_members: HashMap<String, i64>,
    /// Members of this generation that have not sent SyncGroup yet.
    pending_sync: HashSet<String>,
    new_member_added: bool,
    join_timer: Option<(i64, JoinTimer)>,
    /// Deadline for every member to send SyncGroup, and the generation it belongs to.
    sync_timer: Option<(i64, i32)>,
}

/// `<client id or group.instance.id>-<uuid>`, as Kafka builds member ids.
pub fn new_member_id(client_id: &str, instance_id: Option<&str>) -> String {
    format!(
        "{}-{}",
        instance_id.unwrap_or(client_id),
        uuid::Uuid::new_v4()
    )
}

fn join_result(
    group: &Group,
    member_id: &str,
    members: Vec<JoinedMember>,
    leader: String,
    skip: bool,
) -> JoinResponse {
    JoinResponse {
        error: None,
        generation: group.generation,
        protocol_type: group.protocol_type.clone(),
        protocol_name: group.protocol_name.clone(),
        leader,
        member_id: member_id.to_string(),
        skip_assignment: skip,
        members,
    }
}

fn inconsistent(requested: &Option<String>, current: &Option<String>) -> bool {
    matches!((requested, current), (Some(r), Some(c)) if r != c)
}

/// The topic list of a consumer-protocol subscription: every version starts with
/// `version: int16, topics: [string]`.
pub fn parse_subscription_topics(metadata: &[u8]) -> Option<Vec<String>> {
    let mut r = Reader(metadata);
    let _version = r.take(2)?;
    let count = usize::try_from(i32::from_be_bytes(r.take(4)?.try_into().ok()?)).ok()?;
    let mut topics = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        let len = usize::try_from(i16::from_be_bytes(r.take(2)?.try_into().ok()?)).ok()?;
        topics.push(String::from_utf8(r.take(len)?.to_vec()).ok()?);
    }
    Some(topics)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
}

mod join;
mod members;
mod sync;
mod timers;

#[cfg(test)]
mod tests;
