//! Deadlines: member sessions, pending members, the join phase and the sync phase.

use super::*;

impl Group {
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

    pub(super) fn expire_member(
        &mut self,
        id: &str,
        now: i64,
        cfg: &GroupConfig,
        out: &mut Outbox,
    ) {
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

    pub(super) fn fire_join_timer(
        &mut self,
        timer: JoinTimer,
        now: i64,
        cfg: &GroupConfig,
        out: &mut Outbox,
    ) {
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
    pub(super) fn expire_pending_sync(
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
}
