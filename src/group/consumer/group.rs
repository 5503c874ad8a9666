//! One consumer group: heartbeats, leaves, fencing, target assignment, offset checks.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use kafka_protocol::ResponseError as E;
use uuid::Uuid;

use super::assignor::{self, MemberSpec};
use super::reconcile::reconcile;
use super::{
    subscription_regex, Assignment, Description, GroupState, Member, MemberState, MemberTimeouts,
    TopicView, LEAVE_EPOCH, STATIC_LEAVE_EPOCH,
};

/// A ConsumerGroupHeartbeat as the group sees it (fields left null are None / -1).
#[derive(Debug, Clone, Default)]
pub struct Heartbeat {
    pub member_id: String,
    pub epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub subscribed_topic_names: Option<Vec<String>>,
    pub subscribed_topic_regex: Option<String>,
    pub server_assignor: Option<String>,
    pub owned: Option<Assignment>,
    pub client_id: String,
    pub client_host: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatAnswer {
    pub member_id: String,
    pub epoch: i32,
    pub heartbeat_interval_ms: i32,
    /// The member's assigned partitions, when the request was full or they changed.
    pub assignment: Option<Assignment>,
}

/// The group's durable state (Kafka's ConsumerGroupMetadata, ConsumerGroupPartitionMetadata,
/// ConsumerGroupTargetAssignment* and ConsumerGroupCurrentMemberAssignment records in one).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ConsumerGroup {
    pub epoch: i32,
    pub assignment_epoch: i32,
    pub members: BTreeMap<String, Member>,
    /// Each member's target assignment at `assignment_epoch`.
    pub targets: BTreeMap<String, Assignment>,
    /// The subscribed topics that exist: name → (id, partition count).
    pub subscription: BTreeMap<String, (Uuid, i32)>,
    /// The assignor of the last target assignment.
    pub assignor: String,
    /// The group's session timeout and heartbeat interval (its configs: set by the
    /// coordinator before each heartbeat, so a change applies from the next one).
    #[serde(skip)]
    timeouts: MemberTimeouts,
    /// Session deadlines by member (not stored: a reload gives every member a new session).
    #[serde(skip)]
    session: HashMap<String, i64>,
    /// Deadlines by which members in UnrevokedPartitions must have revoked.
    #[serde(skip)]
    revocation: HashMap<String, i64>,
    /// The members' subscription regexes, compiled once (not at every heartbeat).
    #[serde(skip)]
    regexes: HashMap<String, regex::Regex>,
}

/// Kafka's request checks (`throwIfConsumerGroupHeartbeatRequestIsInvalid`): INVALID_REQUEST
/// or UNSUPPORTED_ASSIGNOR. Version 1+ requires the member to send its own member id.
pub fn validate(req: &Heartbeat, version: i16) -> Result<(), E> {
    let empty = |s: &Option<String>| s.as_deref() == Some("");
    if empty(&req.instance_id) || empty(&req.rack_id) {
        return Err(E::InvalidRequest);
    }
    if version >= 1 && req.member_id.is_empty() {
        return Err(E::InvalidRequest);
    }
    match req.epoch {
        e if e > 0 || e == LEAVE_EPOCH => {
            if req.member_id.is_empty() {
                return Err(E::InvalidRequest);
            }
        }
        0 => {
            let owned_empty = req.owned.as_ref().is_some_and(|o| o.is_empty());
            let names = req.subscribed_topic_names.as_ref();
            let subscribed = names.is_some_and(|n| !n.is_empty())
                || req
                    .subscribed_topic_regex
                    .as_deref()
                    .is_some_and(|r| !r.is_empty());
            if req.rebalance_timeout_ms == -1 || !owned_empty || !subscribed {
                return Err(E::InvalidRequest);
            }
        }
        STATIC_LEAVE_EPOCH => {
            if req.member_id.is_empty() || req.instance_id.is_none() {
                return Err(E::InvalidRequest);
            }
        }
        _ => return Err(E::InvalidRequest),
    }
    // An empty regex (librdkafka sends it beside topic names) is no regex, as in Kafka.
    if let Some(pattern) = req.subscribed_topic_regex.as_deref() {
        if !pattern.is_empty() && subscription_regex(pattern).is_none() {
            return Err(E::InvalidRegularExpression);
        }
    }
    match &req.server_assignor {
        Some(a) if !assignor::ASSIGNORS.contains(&a.as_str()) => Err(E::UnsupportedAssignor),
        _ => Ok(()),
    }
}

fn is_subset(owned: Option<&Assignment>, of: &Assignment) -> bool {
    let Some(owned) = owned else { return false };
    owned
        .iter()
        .all(|(t, ps)| of.get(t).is_some_and(|set| ps.is_subset(set)))
}

/// FENCED_MEMBER_EPOCH unless `received` is the member's epoch, or its previous one with a
/// subset of its partitions (the answer with the new epoch may have been lost).
fn check_epoch(member: &Member, received: i32, owned: Option<&Assignment>) -> Result<(), E> {
    if received > member.epoch
        || (received < member.epoch
            && (received != member.previous_epoch || !is_subset(owned, &member.assigned)))
    {
        return Err(E::FencedMemberEpoch);
    }
    Ok(())
}

impl ConsumerGroup {
    /// After a reload: every member gets a new session from `now`.
    pub fn restored(mut self, now: i64) -> Self {
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            self.arm(&id, now, true);
        }
        self
    }

    /// An empty group whose group and assignment epochs are `epoch`.
    pub(super) fn at_epoch(epoch: i32) -> Self {
        Self {
            epoch,
            assignment_epoch: epoch,
            ..Self::default()
        }
    }

    pub fn state(&self) -> GroupState {
        if self.members.is_empty() {
            GroupState::Empty
        } else if self.epoch > self.assignment_epoch {
            GroupState::Assigning
        } else if self
            .members
            .values()
            .all(|m| m.is_reconciled_to(self.assignment_epoch))
        {
            GroupState::Stable
        } else {
            GroupState::Reconciling
        }
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub(super) fn static_member(&self, instance_id: &str) -> Option<&Member> {
        self.members
            .values()
            .find(|m| m.instance_id.as_deref() == Some(instance_id))
    }

    /// The group's member timeouts (its configs), for the heartbeats from now on.
    pub fn set_timeouts(&mut self, timeouts: MemberTimeouts) {
        self.timeouts = timeouts;
    }

    /// One heartbeat. Ok carries the answer and whether the group changed (to be stored).
    pub fn heartbeat(
        &mut self,
        req: Heartbeat,
        topics: &dyn TopicView,
        now: i64,
    ) -> Result<(HeartbeatAnswer, bool), E> {
        if req.epoch == LEAVE_EPOCH || req.epoch == STATIC_LEAVE_EPOCH {
            return self.leave(&req);
        }
        let create = req.epoch == 0;
        let owned = req.owned.as_ref();
        let old = match &req.instance_id {
            None => match self.members.get(&req.member_id) {
                Some(m) => {
                    check_epoch(m, req.epoch, owned)?;
                    m.clone()
                }
                None if create => Member::new(req.member_id.clone()),
                None => return Err(E::UnknownMemberId),
            },
            Some(instance) => match self.static_member(instance).cloned() {
                None if create => self
                    .members
                    .get(&req.member_id)
                    .cloned()
                    .unwrap_or_else(|| Member::new(req.member_id.clone())),
                None => return Err(E::UnknownMemberId),
                Some(existing) if create && existing.id != req.member_id => {
                    if existing.epoch != STATIC_LEAVE_EPOCH {
                        return Err(E::UnreleasedInstanceId);
                    }
                    self.replace(&existing, &req.member_id)
                }
                Some(existing) => {
                    if existing.id != req.member_id {
                        return Err(E::FencedInstanceId);
                    }
                    check_epoch(&existing, req.epoch, owned)?;
                    existing
                }
            },
        };
        let is_new = !self.members.contains_key(&old.id);
        let mut member = old.clone();
        if req.instance_id.is_some() {
            member.instance_id = req.instance_id.clone();
        }
        if req.rack_id.is_some() {
            member.rack_id = req.rack_id.clone();
        }
        if req.rebalance_timeout_ms != -1 {
            member.rebalance_timeout_ms = req.rebalance_timeout_ms;
        }
        if req.server_assignor.is_some() {
            member.server_assignor = req.server_assignor.clone();
        }
        if let Some(names) = &req.subscribed_topic_names {
            let mut names = names.clone();
            names.sort();
            names.dedup();
            member.subscribed_topic_names = names;
        }
        if let Some(regex) = &req.subscribed_topic_regex {
            member.subscribed_topic_regex = Some(regex.clone()).filter(|r| !r.is_empty());
        }
        // The regex is matched again at every heartbeat: topics created since join.
        member.regex_topics = match member.subscribed_topic_regex.as_deref() {
            Some(pattern) => self
                .regex(pattern)
                .map(|re| topics.matching(re))
                .unwrap_or_default(),
            None => Vec::new(),
        };
        member.client_id = req.client_id.clone();
        member.client_host = req.client_host.clone();
        let (updated, changed) = self.settle(&old, member, is_new, topics, owned, now);
        let full = req.epoch == 0
            || (req.rebalance_timeout_ms != -1
                && (req.subscribed_topic_names.is_some() || req.subscribed_topic_regex.is_some())
                && req.owned.is_some());
        let assignment =
            (full || updated.assigned != old.assigned).then(|| updated.assigned.clone());
        let answer = HeartbeatAnswer {
            member_id: updated.id.clone(),
            epoch: updated.epoch,
            heartbeat_interval_ms: self.timeouts.heartbeat_ms,
            assignment,
        };
        Ok((answer, changed))
    }

    /// A member's request applied (its new subscription in `member`, `old` as it was): the
    /// group epoch bumped if the subscriptions changed, a new target assignment if due, the
    /// member reconciled towards its target with what it says it `owned`, and its session
    /// renewed. Returns the member as it now is and whether the group changed.
    pub(super) fn settle(
        &mut self,
        old: &Member,
        member: Member,
        is_new: bool,
        topics: &dyn TopicView,
        owned: Option<&Assignment>,
        now: i64,
    ) -> (Member, bool) {
        let mut bump = member.subscribed_topic_names != old.subscribed_topic_names
            || member.subscribed_topic_regex != old.subscribed_topic_regex
            || member.regex_topics != old.regex_topics;
        self.members.insert(member.id.clone(), member.clone());
        let subscription = self.subscription_of(|name| topics.lookup(name));
        if subscription != self.subscription {
            self.subscription = subscription;
            bump = true;
        }
        if bump {
            self.epoch += 1;
        }
        if self.epoch > self.assignment_epoch {
            self.assign();
        }
        let target = self.targets.get(&member.id).cloned().unwrap_or_default();
        let updated = reconcile(&member, self.assignment_epoch, &target, owned, |t, p| {
            self.members
                .values()
                .any(|o| o.id != member.id && o.owns(t, p))
        });
        let entered_revocation = updated.state == MemberState::UnrevokedPartitions
            && (old.state != MemberState::UnrevokedPartitions || old.epoch != updated.epoch);
        let changed = is_new || bump || updated != *old;
        self.members.insert(updated.id.clone(), updated.clone());
        self.arm(&updated.id, now, entered_revocation);
        (updated, changed)
    }

    /// A static member rejoining under a new member id takes the place of its previous
    /// instance (which left with epoch -2): same partitions and target, epoch 0.
    pub(super) fn replace(&mut self, existing: &Member, new_id: &str) -> Member {
        self.members.remove(&existing.id);
        self.session.remove(&existing.id);
        self.revocation.remove(&existing.id);
        if let Some(target) = self.targets.remove(&existing.id) {
            self.targets.insert(new_id.to_string(), target);
        }
        let mut member = existing.clone();
        member.id = new_id.to_string();
        member.epoch = 0;
        member.previous_epoch = 0;
        self.members.insert(member.id.clone(), member.clone());
        member
    }

    /// Start (or renew) the member's session; `revoking`: it just started revoking, so its
    /// rebalance timeout starts now.
    pub(super) fn arm(&mut self, id: &str, now: i64, revoking: bool) {
        // A classic member keeps the session timeout of its JoinGroup.
        let session_ms = match self.members.get(id).and_then(|m| m.classic.as_ref()) {
            Some(c) => i64::from(c.session_timeout_ms.max(0)),
            None => self.timeouts.session_ms,
        };
        self.session
            .insert(id.to_string(), now.saturating_add(session_ms));
        match self.members.get(id) {
            Some(m) if m.state == MemberState::UnrevokedPartitions => {
                if revoking || !self.revocation.contains_key(id) {
                    let timeout = i64::from(m.rebalance_timeout_ms.max(0));
                    self.revocation
                        .insert(id.to_string(), now.saturating_add(timeout));
                }
            }
            _ => {
                self.revocation.remove(id);
            }
        }
    }

    fn leave(&mut self, req: &Heartbeat) -> Result<(HeartbeatAnswer, bool), E> {
        let answer = |epoch| HeartbeatAnswer {
            member_id: req.member_id.clone(),
            epoch,
            heartbeat_interval_ms: 0,
            assignment: None,
        };
        let id = match &req.instance_id {
            None => {
                if !self.members.contains_key(&req.member_id) {
                    return Err(E::UnknownMemberId);
                }
                req.member_id.clone()
            }
            Some(instance) => {
                let member = self.static_member(instance).ok_or(E::UnknownMemberId)?;
                if member.id != req.member_id {
                    return Err(E::FencedInstanceId);
                }
                if req.epoch == STATIC_LEAVE_EPOCH {
                    let id = member.id.clone();
                    if let Some(m) = self.members.get_mut(&id) {
                        m.epoch = STATIC_LEAVE_EPOCH;
                        m.pending_revocation.clear();
                    }
                    return Ok((answer(STATIC_LEAVE_EPOCH), true));
                }
                member.id.clone()
            }
        };
        self.fence(&id);
        Ok((answer(req.epoch), true))
    }

    /// Remove a member (left, session or rebalance timeout): the group epoch is bumped and
    /// the target assignment recomputed on the next heartbeat.
    pub fn fence(&mut self, id: &str) {
        if self.members.remove(id).is_none() {
            return;
        }
        self.targets.remove(id);
        self.session.remove(id);
        self.revocation.remove(id);
        let kept = self.subscription.clone();
        self.subscription = self.subscription_of(|name| kept.get(name).copied());
        self.epoch += 1;
    }

    /// The subscribed topics of every member that exist.
    pub(super) fn subscription_of(
        &self,
        lookup: impl Fn(&str) -> Option<(Uuid, i32)>,
    ) -> BTreeMap<String, (Uuid, i32)> {
        let names: BTreeSet<&String> = self.members.values().flat_map(|m| m.topics()).collect();
        names
            .into_iter()
            .filter_map(|n| lookup(n).map(|t| (n.clone(), t)))
            .collect()
    }

    /// `pattern` compiled, from the cache; patterns no member holds any more are dropped.
    fn regex(&mut self, pattern: &str) -> Option<&regex::Regex> {
        if !self.regexes.contains_key(pattern) {
            let held: Vec<&String> = self
                .members
                .values()
                .flat_map(|m| &m.subscribed_topic_regex)
                .collect();
            self.regexes.retain(|p, _| held.contains(&p));
            self.regexes
                .insert(pattern.to_string(), subscription_regex(pattern)?);
        }
        self.regexes.get(pattern)
    }

    /// Kafka's preferred assignor: the one most members ask for, else the default.
    fn assignor_name(&self) -> &'static str {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some(a) = m.server_assignor.as_deref() {
                *counts.entry(a).or_default() += 1;
            }
        }
        let best = counts
            .into_iter()
            .max_by_key(|(name, n)| (*n, std::cmp::Reverse(*name)));
        assignor::ASSIGNORS
            .iter()
            .find(|a| best.is_some_and(|(b, _)| b == **a))
            .copied()
            .unwrap_or(assignor::ASSIGNORS[0])
    }

    /// A new target assignment at the group epoch.
    fn assign(&mut self) {
        let name = self.assignor_name();
        let partitions: BTreeMap<Uuid, i32> = self.subscription.values().copied().collect();
        let specs: Vec<MemberSpec<'_>> = self
            .members
            .values()
            .map(|m| MemberSpec {
                id: &m.id,
                topics: m
                    .topics()
                    .filter_map(|n| self.subscription.get(n).map(|(id, _)| *id))
                    .collect(),
                previous: self.targets.get(&m.id),
            })
            .collect();
        let targets = assignor::assign(name, &specs, &partitions);
        self.targets = targets;
        self.assignment_epoch = self.epoch;
        self.assignor = name.to_string();
    }

    pub fn next_deadline(&self) -> Option<i64> {
        self.session
            .values()
            .chain(self.revocation.values())
            .min()
            .copied()
    }

    /// Fence members whose session or rebalance timeout passed; true if any was.
    pub fn tick(&mut self, now: i64) -> bool {
        let due: BTreeSet<String> = self
            .session
            .iter()
            .chain(self.revocation.iter())
            .filter(|(_, d)| **d <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &due {
            tracing::info!(member = %id, "fencing a consumer group member: its session or rebalance timeout expired");
            self.fence(id);
        }
        !due.is_empty()
    }

    /// Kafka's `ConsumerGroup.validateOffsetCommit` (non-transactional).
    pub fn validate_offset_commit(
        &self,
        member_id: &str,
        epoch: i32,
        version: i16,
    ) -> Result<(), E> {
        if epoch < 0 && self.members.is_empty() {
            return Ok(());
        }
        let member = self.members.get(member_id).ok_or(E::UnknownMemberId)?;
        // A classic member commits with its generation (its member epoch), any version.
        if member.classic.is_some() {
            return match epoch == member.epoch {
                true => Ok(()),
                false => Err(E::IllegalGeneration),
            };
        }
        if version < 9 {
            return Err(E::UnsupportedVersion);
        }
        if epoch != member.epoch {
            return Err(E::StaleMemberEpoch);
        }
        Ok(())
    }

    /// Kafka's `ConsumerGroup.validateOffsetFetch`.
    pub fn validate_offset_fetch(&self, member_id: Option<&str>, epoch: i32) -> Result<(), E> {
        if member_id.is_none() && epoch < 0 {
            return Ok(());
        }
        let member = member_id
            .and_then(|id| self.members.get(id))
            .ok_or(E::UnknownMemberId)?;
        if epoch != member.epoch {
            return Err(E::StaleMemberEpoch);
        }
        Ok(())
    }

    pub fn subscribed_topics(&self) -> BTreeSet<String> {
        self.members
            .values()
            .flat_map(|m| m.topics().cloned())
            .collect()
    }

    pub fn describe(&self) -> Description {
        Description {
            state: self.state(),
            epoch: self.epoch,
            assignment_epoch: self.assignment_epoch,
            assignor: if self.assignor.is_empty() {
                assignor::ASSIGNORS[0].to_string()
            } else {
                self.assignor.clone()
            },
            members: self
                .members
                .values()
                .map(|m| {
                    (
                        m.clone(),
                        self.targets.get(&m.id).cloned().unwrap_or_default(),
                    )
                })
                .collect(),
        }
    }
}
