//! SyncGroup, Heartbeat, LeaveGroup and the member checks of offset commits.

use super::*;

impl Group {
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

    pub(super) fn remove_pending_sync(&mut self, member_id: &str) {
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
}
