//! Creating and restoring a group, what it shows, and its membership bookkeeping.

use super::*;

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

    pub(super) fn transition(&mut self, to: State, now: i64) {
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

    /// Answer every parked JoinGroup and SyncGroup with `error` (the group is converted to a
    /// consumer group: its members must rejoin that).
    pub fn answer_waiting(&mut self, error: E, out: &mut Outbox) {
        for member in self.members.values_mut() {
            if let Some(w) = member.awaiting_join.take() {
                out.replies
                    .push(Reply::Join(w, JoinResponse::error(error, &member.id)));
            }
            if let Some(w) = member.awaiting_sync.take() {
                out.replies.push(Reply::Sync(w, SyncResponse::error(error)));
            }
        }
    }

    /// Start a rebalance now (a group converted back from a consumer group).
    pub fn rebalance(&mut self, now: i64, cfg: &GroupConfig, out: &mut Outbox) {
        self.prepare_rebalance(now, cfg, out);
    }

    // ---- membership bookkeeping -------------------------------------------------------

    pub(super) fn add(&mut self, member: Member) {
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
    pub(super) fn remove(&mut self, id: &str, out: &mut Outbox) {
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

    pub(super) fn validate_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<(), E> {
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

    pub(super) fn count_supporting(&self, protocol: &str) -> usize {
        self.members
            .values()
            .filter(|m| m.protocols.iter().any(|p| p.name == protocol))
            .count()
    }

    /// Whether a member with these protocols can be in the group: the first one sets the
    /// protocol type; later ones must share it and at least one protocol with everyone.
    pub(super) fn supports_protocols(&self, protocol_type: &str, protocols: &[Protocol]) -> bool {
        if self.state == State::Empty {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols
                .iter()
                .any(|p| self.count_supporting(&p.name) == self.members.len())
    }

    /// The protocol every member supports with the most first-choice votes.
    pub(super) fn select_protocol(&self) -> Option<String> {
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

    pub(super) fn awaiting_join_count(&self) -> usize {
        self.members
            .values()
            .filter(|m| m.awaiting_join.is_some())
            .count()
    }

    pub(super) fn has_all_members_joined(&self) -> bool {
        self.members.len() == self.awaiting_join_count() && self.pending_members.is_empty()
    }

    pub(super) fn rebalance_timeout_ms(&self) -> i64 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms.max(0) as i64)
            .max()
            .unwrap_or(0)
    }

    pub(super) fn reschedule_heartbeat(
        &mut self,
        member_id: &str,
        now: i64,
        timeout_ms: Option<i64>,
    ) {
        if let Some(m) = self.members.get_mut(member_id) {
            let timeout = timeout_ms.unwrap_or(m.session_timeout_ms.max(0) as i64);
            m.heartbeat_deadline = Some(now + timeout);
        }
    }

    /// Park (or answer) a member's JoinGroup. A request it was already waiting on is answered
    /// REBALANCE_IN_PROGRESS: only the newest one can be answered with the new generation.
    pub(super) fn set_awaiting_join(
        &mut self,
        member_id: &str,
        waiter: Option<Waiter>,
        out: &mut Outbox,
    ) {
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

    pub(super) fn complete_join(
        &mut self,
        member_id: &str,
        response: JoinResponse,
        out: &mut Outbox,
    ) {
        if let Some(w) = self
            .members
            .get_mut(member_id)
            .and_then(|m| m.awaiting_join.take())
        {
            out.replies.push(Reply::Join(w, response));
        }
    }

    pub(super) fn current_members(&self) -> Vec<JoinedMember> {
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
