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

impl Group {
    pub fn new(id: &str, now: i64) -> Self {
        Self {
            id: id.to_string(),
            state: State::Empty,
            previous_state: State::Dead,
            state_timestamp: now,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: IndexMap::new(),
            static_members: HashMap::new(),
            pending_members: HashMap::new(),
            pending_sync: HashSet::new(),
            new_member_added: false,
            join_timer: None,
            sync_timer: None,
        }
    }

    /// A group as persisted: Stable with its members (each must heartbeat within its session
    /// timeout from `now`), or Empty.
    #[allow(clippy::too_many_arguments)]
    pub fn restore(
        id: &str,
        generation: i32,
        protocol_type: Option<String>,
        protocol_name: Option<String>,
        leader: Option<String>,
        state_timestamp: i64,
        members: Vec<Member>,
        now: i64,
    ) -> Self {
        let mut group = Group::new(id, state_timestamp);
        group.generation = generation;
        group.protocol_type = protocol_type;
        group.protocol_name = protocol_name;
        for mut member in members {
            member.heartbeat_deadline = Some(now + member.session_timeout_ms.max(0) as i64);
            if let Some(instance) = &member.instance_id {
                group
                    .static_members
                    .insert(instance.clone(), member.id.clone());
            }
            group.members.insert(member.id.clone(), member);
        }
        group.leader = leader
            .filter(|l| group.members.contains_key(l))
            .or_else(|| group.members.keys().next().cloned());
        if !group.members.is_empty() {
            group.state = State::Stable;
        }
        group
    }

    pub fn state(&self) -> State {
        self.state
    }
    pub fn generation(&self) -> i32 {
        self.generation
    }
    pub fn protocol_type(&self) -> Option<&str> {
        self.protocol_type.as_deref()
    }
    pub fn protocol_name(&self) -> Option<&str> {
        self.protocol_name.as_deref()
    }
    pub fn leader(&self) -> Option<&str> {
        self.leader.as_deref()
    }
    pub fn state_timestamp(&self) -> i64 {
        self.state_timestamp
    }
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }
    pub fn member(&self, id: &str) -> Option<&Member> {
        self.members.get(id)
    }
    pub fn is_empty(&self) -> bool {
        self.state == State::Empty
    }
    pub fn has_pending_members(&self) -> bool {
        !self.pending_members.is_empty()
    }

    fn transition(&mut self, to: State, now: i64) {
        if !to.can_follow(self.state) {
            tracing::error!(group = %self.id, from = ?self.state, ?to, "invalid group state transition");
        }
        self.previous_state = self.state;
        self.state = to;
        self.state_timestamp = now;
    }

    /// Deleted (DeleteGroups, or every offset expired): no request succeeds on it any more.
    pub fn mark_dead(&mut self, now: i64, out: &mut Outbox) {
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            self.remove(&id, out);
        }
        self.pending_members.clear();
        self.join_timer = None;
        self.sync_timer = None;
        self.transition(State::Dead, now);
    }

    // ---- membership bookkeeping -------------------------------------------------------

    fn add(&mut self, member: Member) {
        if let Some(instance) = &member.instance_id {
            self.static_members
                .insert(instance.clone(), member.id.clone());
        }
        if self.members.is_empty() {
            self.protocol_type = Some(member.protocol_type.clone());
        }
        if self.leader.is_none() {
            self.leader = Some(member.id.clone());
        }
        self.pending_members.remove(&member.id);
        self.members.insert(member.id.clone(), member);
    }

    /// Remove a member; anything it still waits for is answered UNKNOWN_MEMBER_ID so no
    /// request stays parked forever.
    fn remove(&mut self, id: &str, out: &mut Outbox) {
        if let Some(mut member) = self.members.shift_remove(id) {
            if let Some(w) = member.awaiting_join.take() {
                out.replies
                    .push(Reply::Join(w, JoinResponse::error(E::UnknownMemberId, "")));
            }
            if let Some(w) = member.awaiting_sync.take() {
                out.replies
                    .push(Reply::Sync(w, SyncResponse::error(E::UnknownMemberId)));
            }
            if let Some(instance) = &member.instance_id {
                if self.static_members.get(instance).map(String::as_str) == Some(id) {
                    self.static_members.remove(instance);
                }
            }
        }
        if self.leader.as_deref() == Some(id) {
            self.leader = self.members.keys().next().cloned();
        }
        self.pending_members.remove(id);
        self.pending_sync.remove(id);
    }

    fn validate_member(&self, member_id: &str, instance_id: Option<&str>) -> Result<(), E> {
        if let Some(instance) = instance_id {
            match self.static_members.get(instance) {
                None => return Err(E::UnknownMemberId),
                Some(existing) if existing != member_id => return Err(E::FencedInstanceId),
                Some(_) => {}
            }
        }
        if self.members.contains_key(member_id) {
            Ok(())
        } else {
            Err(E::UnknownMemberId)
        }
    }

    fn count_supporting(&self, protocol: &str) -> usize {
        self.members
            .values()
            .filter(|m| m.protocols.iter().any(|p| p.name == protocol))
            .count()
    }

    /// Whether a member with these protocols can be in the group: the first one sets the
    /// protocol type; later ones must share it and at least one protocol with everyone.
    fn supports_protocols(&self, protocol_type: &str, protocols: &[Protocol]) -> bool {
        if self.state == State::Empty {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols
                .iter()
                .any(|p| self.count_supporting(&p.name) == self.members.len())
    }

    /// The protocol every member supports with the most first-choice votes.
    fn select_protocol(&self) -> Option<String> {
        let n = self.members.len();
        let candidates: HashSet<&str> = self
            .members
            .values()
            .flat_map(|m| m.protocols.iter().map(|p| p.name.as_str()))
            .filter(|name| self.count_supporting(name) == n)
            .collect();
        let mut votes: IndexMap<&str, usize> = IndexMap::new();
        for member in self.members.values() {
            if let Some(choice) = member.vote(&candidates) {
                *votes.entry(choice).or_default() += 1;
            }
        }
        let best = votes.values().copied().max()?;
        votes
            .into_iter()
            .find(|(_, v)| *v == best)
            .map(|(name, _)| name.to_string())
    }

    fn awaiting_join_count(&self) -> usize {
        self.members
            .values()
            .filter(|m| m.awaiting_join.is_some())
            .count()
    }

    fn has_all_members_joined(&self) -> bool {
        self.members.len() == self.awaiting_join_count() && self.pending_members.is_empty()
    }

    fn rebalance_timeout_ms(&self) -> i64 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms.max(0) as i64)
            .max()
            .unwrap_or(0)
    }

    fn reschedule_heartbeat(&mut self, member_id: &str, now: i64, timeout_ms: Option<i64>) {
        if let Some(m) = self.members.get_mut(member_id) {
            let timeout = timeout_ms.unwrap_or(m.session_timeout_ms.max(0) as i64);
            m.heartbeat_deadline = Some(now + timeout);
        }
    }

    /// Park (or answer) a member's JoinGroup. A request it was already waiting on is answered
    /// REBALANCE_IN_PROGRESS: only the newest one can be answered with the new generation.
    fn set_awaiting_join(&mut self, member_id: &str, waiter: Option<Waiter>, out: &mut Outbox) {
        if let Some(m) = self.members.get_mut(member_id) {
            if let Some(old) = std::mem::replace(&mut m.awaiting_join, waiter) {
                if Some(old) != waiter {
                    out.replies.push(Reply::Join(
                        old,
                        JoinResponse::error(E::RebalanceInProgress, member_id),
                    ));
                }
            }
        }
    }

    fn complete_join(&mut self, member_id: &str, response: JoinResponse, out: &mut Outbox) {
        if let Some(w) = self
            .members
            .get_mut(member_id)
            .and_then(|m| m.awaiting_join.take())
        {
            out.replies.push(Reply::Join(w, response));
        }
    }

    fn current_members(&self) -> Vec<JoinedMember> {
        let protocol = self.protocol_name.as_deref().unwrap_or("");
        self.members
            .values()
            .map(|m| JoinedMember {
                member_id: m.id.clone(),
                instance_id: m.instance_id.clone(),
                metadata: m.metadata(protocol),
            })
            .collect()
    }

    // ---- JoinGroup --------------------------------------------------------------------

    pub fn join(
        &mut self,
        req: JoinRequest,
        waiter: Waiter,
        now: i64,
        cfg: &GroupConfig,
        out: &mut Outbox,
    ) {
        let reply_now =
            |out: &mut Outbox, r: JoinResponse| out.replies.push(Reply::Join(waiter, r));
        if self.state == State::Dead {
            let id = req.member_id.clone();
            return reply_now(out, JoinResponse::error(E::CoordinatorNotAvailable, &id));
        }
        if !self.supports_protocols(&req.protocol_type, &req.protocols) {
            let id = req.member_id.clone();
            return reply_now(out, JoinResponse::error(E::InconsistentGroupProtocol, &id));
        }
        if req.member_id.is_empty() {
            self.join_new_member(req, waiter, now, cfg, out)
        } else {
            self.join_existing_member(req, waiter, now, cfg, out)
        }
    }

    fn join_new_member(
        &mut self,
        req: JoinRequest,
        waiter: Waiter,
        now: i64,
        cfg: &GroupConfig,
        out: &mut Outbox,
    ) {
        let new_id = req.fresh_member_id.clone();
        if let Some(instance) = req.instance_id.clone() {
            match self.static_members.get(&instance).cloned() {
                Some(old_id) => self
                    .replace_static_member_and_rejoin(req, &old_id, &new_id, waiter, now, cfg, out),
                None => self.add_member_and_rebalance(req, &new_id, waiter, now, cfg, out),
            }
        } else if req.require_known_member_id {
            // The client retries with this id; until then the rebalance waits for it.
            self.pending_members
                .insert(new_id.clone(), now + req.session_timeout_ms.max(0) as i64);
            out.replies.push(Reply::Join(
                waiter,
                JoinResponse::error(E::MemberIdRequired, &new_id),
            ));
        } else {
            self.add_member_and_rebalance(req, &new_id, waiter, now, cfg, out)
        }
    }

    fn join_existing_member(
        &mut self,
        req: JoinRequest,
        waiter: Waiter,
        now: i64,
        cfg: &GroupConfig,
        out: &mut Outbox,
    ) {
        let id = req.member_id.clone();
        if self.pending_members.contains_key(&id) {
            if req.instance_id.is_some() {
                // Static members are never told MEMBER_ID_REQUIRED.
                out.replies.push(Reply::Join(
                    waiter,
                    JoinResponse::error(E::UnknownServerError, &id),
                ));
                return;
            }
            return self.add_member_and_rebalance(req, &id, waiter, now, cfg, out);
        }
        if let Err(e) = self.validate_member(&id, req.instance_id.as_deref()) {
            out.replies
                .push(Reply::Join(waiter, JoinResponse::error(e, &id)));
            return;
        }
        let matches = self
            .members
            .get(&id)
            .is_some_and(|m| m.protocols == req.protocols);
        match self.state {
            State::PreparingRebalance => {
                self.update_member_and_rebalance(req, waiter, now, cfg, out)
            }
            State::CompletingRebalance if matches => {
                // Same metadata: it probably missed its JoinGroup answer; give it again.
                let members = if self.leader.as_deref() == Some(id.as_str()) {
                    self.current_members()
                } else {
                    Vec::new()
                };
                let leader = self.leader.clone().unwrap_or_default();
                out.replies.push(Reply::Join(
                    waiter,
                    join_result(self, &id, members, leader, false),
                ));
            }
            State::Stable if matches && self.leader.as_deref() != Some(id.as_str()) => {
                // A follower with nothing new: let it go straight to SyncGroup.
                let leader = self.leader.clone().unwrap_or_default();
                out.replies.push(Reply::Join(
                    waiter,
                    join_result(self, &id, Vec::new(), leader, false),
                ));
            }
            // The leader rejoining (e.g. topic metadata changed) or changed metadata: rebalance.
            State::CompletingRebalance | State::Stable => {
                self.update_member_and_rebalance(req, waiter, now, cfg, out)
            }
            State::Empty | State::Dead => out.replies.push(Reply::Join(
                waiter,
                JoinResponse::error(E::UnknownMemberId, &id),
            )),
        }
    }

    fn update_member(
        &mut self,
        req: &JoinRequest,
        member_id: &str,
        waiter: Option<Waiter>,
        out: &mut Outbox,
    ) {
        if let Some(m) = self.members.get_mut(member_id) {
            m.protocols = req.protocols.clone();
            m.rebalance_timeout_ms = req.rebalance_timeout_ms;
            m.session_timeout_ms = req.session_timeout_ms;
        }
        self.set_awaiting_join(member_id, waiter, out);
    }

    fn update_member_and_rebalance(
        &mut self,
        req: JoinRequest,
        waiter: Waiter,
        now: i64,
        cfg: &GroupConfig,
        out: &mut Outbox,
    ) {
        self.update_member(&req, &req.member_id, Some(waiter), out);
        self.maybe_prepare_rebalance_or_complete_join(now, cfg, out);
    }

    fn add_member_and_rebalance(
        &mut self,
        req: JoinRequest,
        member_id: &str,
        waiter: Waiter,
        now: i64,
        cfg: &GroupConfig,
        out: &mut Outbox,
    ) {
        let member = Member {
            id: member_id.to_string(),
            instance_id: req.instance_id,
            client_id: req.client_id,
            client_host: req.client_host,
            rebalance_timeout_ms: req.rebalance_timeout_ms,
            session_timeout_ms: req.session_timeout_ms,
            protocol_type: req.protocol_type,
            protocols: req.protocols,
            assignment: Bytes::new(),
            awaiting_join: Some(waiter),
            awaiting_sync: None,
            is_new: true,
            // A parked new member cannot heartbeat; if its client gave up, drop it eventually.
            heartbeat_deadline: Some(now + cfg.new_member_join_timeout_ms),
        };
        if self.state == State::PreparingRebalance && self.previous_state == State::Empty {
            self.new_member_added = true;
        }
        self.add(member);
        self.maybe_prepare_rebalance_or_complete_join(now, cfg, out);
    }

    /// A static member came back with a new member id: it takes over the old member's place
    /// (and assignment); the old id is fenced.
    #[allow(clippy::too_many_arguments)]
    fn replace_static_member_and_rejoin(
        &mut self,
        req: JoinRequest,
        old_id: &str,
        new_id: &str,
        waiter: Waiter,
        now: i64,
        cfg: &GroupConfig,
        out: &mut Outbox,
    ) {
        let Some(mut member) = self.members.shift_remove(old_id) else {
            out.replies.push(Reply::Join(
                waiter,
                JoinResponse::error(E::UnknownServerError, ""),
            ));
            return;
        };
        let old_leader = self.leader.clone().unwrap_or_default();
        if let Some(w) = member.awaiting_join.take() {
            out.replies.push(Reply::Join(
                w,
                JoinResponse::error(E::FencedInstanceId, old_id),
            ));
        }
        if let Some(w) = member.awaiting_sync.take() {
            out.replies
                .push(Reply::Sync(w, SyncResponse::error(E::FencedInstanceId)));
        }
        member.id = new_id.to_string();
        member.is_new = false;
        member.heartbeat_deadline = Some(now + member.session_timeout_ms.max(0) as i64);
        if let Some(instance) = &member.instance_id {
            self.static_members
                .insert(instance.clone(), new_id.to_string());
        }
        if self.leader.as_deref() == Some(old_id) {
            self.leader = Some(new_id.to_string());
        }
        self.members.insert(new_id.to_string(), member);
        self.update_member(&req, new_id, Some(waiter), out);

        match self.state {
            State::Stable if self.select_protocol() == self.protocol_name => {
                // Nothing changes for the group: hand back the current generation. Without
                // skip-assignment support the old leader id is returned so that a rejoining
                // leader acts as a follower and just collects its assignment.
                out.persist = true;
                let is_leader = self.leader.as_deref() == Some(new_id);
                let response = if req.supports_skip_assignment {
                    let members = if is_leader {
                        self.current_members()
                    } else {
                        Vec::new()
                    };
                    let leader = self.leader.clone().unwrap_or_default();
                    join_result(self, new_id, members, leader, is_leader)
                } else {
                    join_result(self, new_id, Vec::new(), old_leader, false)
                };
                self.complete_join(new_id, response, out);
            }
            State::Stable => self.maybe_prepare_rebalance_or_complete_join(now, cfg, out),
            // The leader may already have been sent the old member id: assign again.
            State::CompletingRebalance => self.prepare_rebalance(now, cfg, out),
            _ => self.maybe_complete_join_phase(now, cfg, out),
        }
    }

    fn can_rebalance(&self) -> bool {
        State::PreparingRebalance.can_follow(self.state)
    }

    fn maybe_prepare_rebalance_or_complete_join(
        &mut self,
        now: i64,
        cfg: &GroupConfig,
        out: &mut Outbox,
    ) {
        if self.can_rebalance() {
            self.prepare_rebalance(now, cfg, out)
        } else {
            self.maybe_complete_join_phase(now, cfg, out)
        }
    }

    fn prepare_rebalance(&mut self, now: i64, cfg: &GroupConfig, out: &mut Outbox) {
        if self.state == State::CompletingRebalance {
            // Members waiting for their assignment must rejoin instead.
            for m in self.members.values_mut() {
                m.assignment = Bytes::new();
            }
            self.propagate_assignment(Some(E::RebalanceInProgress), now, out);
        }
        self.pending_sync.clear();
        self.sync_timer = None;
        let initial = self.state == State::Empty;
        if initial {
            let delay = cfg.initial_rebalance_delay_ms.max(0);
            let remaining = (self.rebalance_timeout_ms() - delay).max(0);
            self.join_timer = Some((now + delay, JoinTimer::InitialDelay { delay, remaining }));
        }
        self.transition(State::PreparingRebalance, now);
        if !initial {
            self.maybe_complete_join_else_schedule(now, out);
        }
    }

    fn maybe_complete_join_else_schedule(&mut self, now: i64, out: &mut Outbox) {
        if self.has_all_members_joined() {
            self.complete_join_phase(now, out);
        } else {
            self.join_timer = Some((now + self.rebalance_timeout_ms(), JoinTimer::Complete));
        }
    }

    /// Complete the join phase early once everyone rejoined, except during the initial
    /// delay, which exists to let more members arrive.
    fn maybe_complete_join_phase(&mut self, now: i64, _cfg: &GroupConfig, out: &mut Outbox) {
        if self.state == State::PreparingRebalance
            && self.previous_state != State::Empty
            && self.has_all_members_joined()
        {
            self.complete_join_phase(now, out);
        }
    }

    fn maybe_elect_new_joined_leader(&mut self) -> bool {
        let Some(leader) = &self.leader else {
            return false;
        };
        if self
            .members
            .get(leader)
            .is_some_and(|m| m.awaiting_join.is_some())
        {
            return true;
        }
        match self.members.values().find(|m| m.awaiting_join.is_some()) {
            Some(m) => {
                self.leader = Some(m.id.clone());
                true
            }
            None => false,
        }
    }

    /// The join phase ends: dynamic members that did not rejoin are dropped, the generation
    /// advances, and every joined member gets its JoinGroup answer (the leader with everyone's
    /// metadata).
    fn complete_join_phase(&mut self, now: i64, out: &mut Outbox) {
        self.join_timer = None;
        let gone: Vec<String> = self
            .members
            .values()
            .filter(|m| m.awaiting_join.is_none() && m.instance_id.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in gone {
            self.remove(&id, out);
        }
        if self.state == State::Dead {
            return;
        }
        if !self.maybe_elect_new_joined_leader() && !self.members.is_empty() {
            // Only static members that have not rejoined are left: wait for them (or for
            // their session timeouts).
            self.join_timer = Some((now + self.rebalance_timeout_ms(), JoinTimer::Complete));
            return;
        }
        self.init_next_generation(now);
        if self.state == State::Empty {
            out.persist = true;
            return;
        }
        let leader = self.leader.clone().unwrap_or_default();
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let members = if id == leader {
                self.current_members()
            } else {
                Vec::new()
            };
            let response = join_result(self, &id, members, leader.clone(), false);
            self.complete_join(&id, response, out);
            self.reschedule_heartbeat(&id, now, None);
            if let Some(m) = self.members.get_mut(&id) {
                m.is_new = false;
            }
            self.pending_sync.insert(id);
        }
        self.sync_timer = Some((now + self.rebalance_timeout_ms(), self.generation));
    }

    fn init_next_generation(&mut self, now: i64) {
        self.generation = self.generation.wrapping_add(1);
        if self.members.is_empty() {
            self.protocol_name = None;
            self.transition(State::Empty, now);
        } else {
            self.protocol_name = self.select_protocol();
            self.transition(State::CompletingRebalance, now);
        }
        self.pending_sync.clear();
    }

    /// Answer every parked SyncGroup with the member's assignment (or the error).
    fn propagate_assignment(&mut self, error: Option<E>, now: i64, out: &mut Outbox) {
        let (protocol_type, protocol_name) = match error {
            None => (self.protocol_type.clone(), self.protocol_name.clone()),
            Some(_) => (None, None),
        };
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let Some(m) = self.members.get_mut(&id) else {
                continue;
            };
            if let Some(w) = m.awaiting_sync.take() {
                let response = SyncResponse {
                    error,
                    protocol_type: protocol_type.clone(),
                    protocol_name: protocol_name.clone(),
                    assignment: m.assignment.clone(),
                };
                out.replies.push(Reply::Sync(w, response));
                // Its session may have lapsed while it waited; it starts afresh now.
                self.reschedule_heartbeat(&id, now, None);
            }
        }
    }

    // ---- SyncGroup --------------------------------------------------------------------

    pub fn sync(&mut self, req: SyncRequest, waiter: Waiter, now: i64, out: &mut Outbox) {
        let reply = |out: &mut Outbox, r: SyncResponse| out.replies.push(Reply::Sync(waiter, r));
        if self.state == State::Dead {
            return reply(out, SyncResponse::error(E::CoordinatorNotAvailable));
        }
        if self.state == State::Empty {
            return reply(out, SyncResponse::error(E::UnknownMemberId));
        }
        if let Err(e) = self.validate_member(&req.member_id, req.instance_id.as_deref()) {
            return reply(out, SyncResponse::error(e));
        }
        if req.generation != self.generation {
            return reply(out, SyncResponse::error(E::IllegalGeneration));
        }
        if inconsistent(&req.protocol_type, &self.protocol_type)
            || inconsistent(&req.protocol_name, &self.protocol_name)
        {
            return reply(out, SyncResponse::error(E::InconsistentGroupProtocol));
        }
        match self.state {
            State::PreparingRebalance => reply(out, SyncResponse::error(E::RebalanceInProgress)),
            State::CompletingRebalance => {
                if let Some(m) = self.members.get_mut(&req.member_id) {
                    if let Some(old) = m.awaiting_sync.replace(waiter) {
                        out.replies.push(Reply::Sync(
                            old,
                            SyncResponse::error(E::RebalanceInProgress),
                        ));
                    }
                }
                self.remove_pending_sync(&req.member_id);
                if self.leader.as_deref() == Some(req.member_id.as_str()) {
                    let mut assignments: HashMap<String, Bytes> =
                        req.assignments.into_iter().collect();
                    for m in self.members.values_mut() {
                        // Members the leader left out get an empty assignment (idle members).
                        m.assignment = assignments.remove(&m.id).unwrap_or_default();
                    }
                    out.persist = true;
                    self.propagate_assignment(None, now, out);
                    self.transition(State::Stable, now);
                }
            }
            State::Stable => {
                self.remove_pending_sync(&req.member_id);
                let assignment = self
                    .members
                    .get(&req.member_id)
                    .map(|m| m.assignment.clone())
                    .unwrap_or_default();
                reply(
                    out,
                    SyncResponse {
                        error: None,
                        protocol_type: self.protocol_type.clone(),
                        protocol_name: self.protocol_name.clone(),
                        assignment,
                    },
                )
            }
            State::Empty | State::Dead => reply(out, SyncResponse::error(E::UnknownMemberId)),
        }
    }

    fn remove_pending_sync(&mut self, member_id: &str) {
        self.pending_sync.remove(member_id);
        if self.pending_sync.is_empty() {
            self.sync_timer = None;
        }
    }

    // ---- Heartbeat, LeaveGroup, offset commits ----------------------------------------

    pub fn heartbeat(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now: i64,
    ) -> Result<(), E> {
        if self.state == State::Dead {
            return Err(E::CoordinatorNotAvailable);
        }
        self.validate_member(member_id, instance_id)?;
        if generation != self.generation {
            return Err(E::IllegalGeneration);
        }
        match self.state {
            State::Empty | State::Dead => Err(E::UnknownMemberId),
            State::PreparingRebalance => {
                self.reschedule_heartbeat(member_id, now, None);
                Err(E::RebalanceInProgress)
            }
            State::CompletingRebalance | State::Stable => {
                self.reschedule_heartbeat(member_id, now, None);
                Ok(())
            }
        }
    }

    /// Remove members (by member id, or by group.instance.id alone for an admin). Returns each
    /// member's outcome in request order.
    pub fn leave(
        &mut self,
        leaving: &[(String, Option<String>)],
        now: i64,
        cfg: &GroupConfig,
        out: &mut Outbox,
    ) -> Result<Vec<Result<(), E>>, E> {
        if self.state == State::Dead {
            return Err(E::CoordinatorNotAvailable);
        }
        let mut results = Vec::with_capacity(leaving.len());
        for (member_id, instance_id) in leaving {
            let result = if member_id.is_empty() {
                match instance_id
                    .as_ref()
                    .and_then(|i| self.static_members.get(i))
                    .cloned()
                {
                    Some(id) => {
                        self.remove(&id, out);
                        Ok(())
                    }
                    None => Err(E::UnknownMemberId),
                }
            } else if self.pending_members.remove(member_id).is_some() {
                Ok(())
            } else {
                self.validate_member(member_id, instance_id.as_deref())
                    .map(|()| self.remove(member_id, out))
            };
            results.push(result);
        }
        if results.iter().any(Result::is_ok) {
            match self.state {
                State::Stable | State::CompletingRebalance => {
                    self.maybe_prepare_rebalance_or_complete_join(now, cfg, out)
                }
                State::PreparingRebalance => self.maybe_complete_join_phase(now, cfg, out),
                _ => {}
            }
        }
        Ok(results)
    }

    /// Whether an OffsetCommit from this member may be applied now. Generation -1 with no
    /// member id is an admin tool or a consumer that manages partitions itself: allowed while
    /// the group is empty.
    pub fn validate_offset_commit(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<(), E> {
        if self.state == State::Dead {
            return Err(E::CoordinatorNotAvailable);
        }
        if generation < 0 && self.state == State::Empty {
            return Ok(());
        }
        if generation >= 0 || !member_id.is_empty() || instance_id.is_some() {
            self.validate_member(member_id, instance_id)?;
            if generation != self.generation {
                return Err(E::IllegalGeneration);
            }
        } else if self.state != State::Empty {
            return Err(E::UnknownMemberId);
        }
        if self.state == State::CompletingRebalance {
            return Err(E::RebalanceInProgress);
        }
        Ok(())
    }

    /// A commit counts as a heartbeat while the group is Stable or rebalancing.
    pub fn on_offset_commit(&mut self, member_id: &str, now: i64) {
        if matches!(self.state, State::Stable | State::PreparingRebalance) {
            self.reschedule_heartbeat(member_id, now, None);
        }
    }

    // ---- timers -----------------------------------------------------------------------

    pub fn next_deadline(&self) -> Option<i64> {
        let members = self.members.values().filter_map(|m| m.heartbeat_deadline);
        let pending = self.pending_members.values().copied();
        let group = self
            .join_timer
            .map(|(d, _)| d)
            .into_iter()
            .chain(self.sync_timer.map(|(d, _)| d));
        members.chain(pending).chain(group).min()
    }

    /// Fire every timer due at `now`.
    pub fn tick(&mut self, now: i64, cfg: &GroupConfig, out: &mut Outbox) {
        let due = |d: Option<i64>| d.is_some_and(|d| d <= now);
        let expired_members: Vec<String> = self
            .members
            .values()
            .filter(|m| due(m.heartbeat_deadline))
            .map(|m| m.id.clone())
            .collect();
        for id in expired_members {
            self.expire_member(&id, now, cfg, out);
        }
        let expired_pending: Vec<String> = self
            .pending_members
            .iter()
            .filter(|(_, d)| **d <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired_pending {
            self.pending_members.remove(&id);
            if self.state == State::PreparingRebalance && self.has_all_members_joined() {
                self.complete_join_phase(now, out);
            }
        }
        if let Some((deadline, timer)) = self.join_timer {
            if deadline <= now {
                self.join_timer = None;
                self.fire_join_timer(timer, now, cfg, out);
            }
        }
        if let Some((deadline, generation)) = self.sync_timer {
            if deadline <= now {
                self.sync_timer = None;
                self.expire_pending_sync(generation, now, cfg, out);
            }
        }
    }

    fn expire_member(&mut self, id: &str, now: i64, cfg: &GroupConfig, out: &mut Outbox) {
        let Some(member) = self.members.get_mut(id) else {
            return;
        };
        if member.heartbeat_deadline.is_none_or(|d| d > now) {
            return;
        }
        member.heartbeat_deadline = None;
        if member.has_satisfied_heartbeat() || self.state == State::Dead {
            return;
        }
        self.remove(id, out);
        match self.state {
            State::Stable | State::CompletingRebalance => {
                self.maybe_prepare_rebalance_or_complete_join(now, cfg, out)
            }
            State::PreparingRebalance if self.has_all_members_joined() => {
                self.complete_join_phase(now, out)
            }
            _ => {}
        }
    }

    fn fire_join_timer(&mut self, timer: JoinTimer, now: i64, cfg: &GroupConfig, out: &mut Outbox) {
        if self.state != State::PreparingRebalance {
            return;
        }
        match timer {
            JoinTimer::InitialDelay { delay, remaining }
                if self.new_member_added && remaining != 0 =>
            {
                // Someone arrived during the delay: wait once more, within the rebalance timeout.
                self.new_member_added = false;
                let next_delay = cfg.initial_rebalance_delay_ms.max(0).min(remaining);
                let next_remaining = (remaining - delay).max(0);
                self.join_timer = Some((
                    now + next_delay,
                    JoinTimer::InitialDelay {
                        delay: next_delay,
                        remaining: next_remaining,
                    },
                ));
            }
            _ => self.complete_join_phase(now, out),
        }
    }

    /// Members that got their JoinGroup answer but never sent SyncGroup are dropped.
    fn expire_pending_sync(
        &mut self,
        generation: i32,
        now: i64,
        cfg: &GroupConfig,
        out: &mut Outbox,
    ) {
        if generation != self.generation
            || !matches!(self.state, State::CompletingRebalance | State::Stable)
        {
            return;
        }
        if self.pending_sync.is_empty() {
            return;
        }
        let laggards: Vec<String> = self.pending_sync.drain().collect();
        for id in laggards {
            self.remove(&id, out);
        }
        self.prepare_rebalance(now, cfg, out);
    }

    // ---- describing -------------------------------------------------------------------

    pub fn describe(&self) -> Description {
        // Member metadata and the protocol are shown only once they are settled (Stable).
        let protocol =
            (self.state == State::Stable).then(|| self.protocol_name.clone().unwrap_or_default());
        Description {
            state: self.state,
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            protocol_data: protocol.clone().unwrap_or_default(),
            members: self
                .members
                .values()
                .map(|m| DescribedMember {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: protocol
                        .as_deref()
                        .map(|p| m.metadata(p))
                        .unwrap_or_default(),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }

    /// The topics the members subscribe to, when the group uses the consumer protocol and
    /// their subscriptions parse (None: unknown).
    pub fn subscribed_topics(&self) -> Option<HashSet<String>> {
        if self.protocol_type.as_deref() != Some(CONSUMER_PROTOCOL_TYPE) {
            return None;
        }
        if self.members.is_empty() {
            return Some(HashSet::new());
        }
        let protocol = self.protocol_name.as_deref()?;
        let mut topics = HashSet::new();
        for m in self.members.values() {
            topics.extend(parse_subscription_topics(&m.metadata(protocol))?);
        }
        Some(topics)
    }

    /// Whether committed offsets of `topic` are in use (and must not be deleted or expired).
    pub fn is_subscribed_to(&self, topic: &str) -> bool {
        match self.subscribed_topics() {
            Some(topics) => topics.contains(topic),
            None => self.protocol_type.as_deref() == Some(CONSUMER_PROTOCOL_TYPE),
        }
    }

    /// How this group's offsets expire, following Kafka: an empty group's from when it became
    /// empty; a simple group's (no protocol) and a stable consumer group's unsubscribed
    /// topics' from their commit; otherwise not at all.
    pub fn offset_expiry(&self) -> OffsetExpiry {
        match &self.protocol_type {
            None => OffsetExpiry::SinceCommit,
            Some(_) if self.state == State::Empty => OffsetExpiry::Since(self.state_timestamp),
            Some(t)
                if t == CONSUMER_PROTOCOL_TYPE
                    && self.state == State::Stable
                    && self.subscribed_topics().is_some() =>
            {
                OffsetExpiry::SinceCommit
            }
            Some(_) => OffsetExpiry::Never,
        }
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

#[cfg(test)]
mod tests;
