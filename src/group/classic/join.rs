//! JoinGroup and the rebalance it drives (join phase, generations, assignment hand-out).

use super::*;

impl Group {
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
        if !self.accepts_joining_member(&req.member_id, cfg.classic_max_size) {
            // Kafka's GroupMetadataManager: the refused member leaves the group (a member
            // that had not rejoined yet, or a pending one) and gets no member id back.
            self.remove(&req.member_id, out);
            return reply_now(out, JoinResponse::error(E::GroupMaxSizeReached, ""));
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

    /// Kafka's `acceptJoiningMember` (group.max.size): while the group rebalances, a member
    /// already rejoined is accepted and others only while fewer than `max` have rejoined (the
    /// group itself may be larger, after the limit was lowered: the last to rejoin are the
    /// ones left out); otherwise a member of the group is accepted and a new one only while
    /// the group has fewer than `max` members.
    pub(super) fn accepts_joining_member(&self, member_id: &str, max: usize) -> bool {
        match self.state {
            State::Empty | State::Dead => true,
            State::PreparingRebalance => {
                self.members
                    .get(member_id)
                    .is_some_and(|m| m.awaiting_join.is_some())
                    || self.awaiting_join_count() < max
            }
            State::CompletingRebalance | State::Stable => {
                self.members.contains_key(member_id) || self.members.len() < max
            }
        }
    }

    pub(super) fn join_new_member(
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

    pub(super) fn join_existing_member(
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

    pub(super) fn update_member(
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

    pub(super) fn update_member_and_rebalance(
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

    pub(super) fn add_member_and_rebalance(
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
    pub(super) fn replace_static_member_and_rejoin(
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

    pub(super) fn can_rebalance(&self) -> bool {
        State::PreparingRebalance.can_follow(self.state)
    }

    pub(super) fn maybe_prepare_rebalance_or_complete_join(
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

    pub(super) fn prepare_rebalance(&mut self, now: i64, cfg: &GroupConfig, out: &mut Outbox) {
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

    pub(super) fn maybe_complete_join_else_schedule(&mut self, now: i64, out: &mut Outbox) {
        if self.has_all_members_joined() {
            self.complete_join_phase(now, out);
        } else {
            self.join_timer = Some((now + self.rebalance_timeout_ms(), JoinTimer::Complete));
        }
    }

    /// Complete the join phase early once everyone rejoined, except during the initial
    /// delay, which exists to let more members arrive.
    pub(super) fn maybe_complete_join_phase(
        &mut self,
        now: i64,
        _cfg: &GroupConfig,
        out: &mut Outbox,
    ) {
        if self.state == State::PreparingRebalance
            && self.previous_state != State::Empty
            && self.has_all_members_joined()
        {
            self.complete_join_phase(now, out);
        }
    }

    pub(super) fn maybe_elect_new_joined_leader(&mut self) -> bool {
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
    pub(super) fn complete_join_phase(&mut self, now: i64, out: &mut Outbox) {
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

    pub(super) fn init_next_generation(&mut self, now: i64) {
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
    pub(super) fn propagate_assignment(&mut self, error: Option<E>, now: i64, out: &mut Outbox) {
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
}
