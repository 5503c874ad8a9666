//! Share groups (KIP-932) as pure state machines, after Apache Kafka's `ShareGroup`,
//! `ShareGroupMember`, `SimpleAssignor` and `SharePartition`.
//!
//! [`ShareGroup`] is a group's membership: members join and heartbeat with their member
//! epoch, the group epoch is bumped whenever a member joins, leaves or changes its
//! subscription (or a subscribed topic its partition count), and the server assigns every
//! subscribed partition to members at once — with more members than partitions several
//! members share one. There is no revocation: a member's epoch moves to the group's as soon
//! as it heartbeats. [`partition`] is one share partition's records: acquisition locks,
//! acknowledgements and delivery counts. Nothing here does I/O or reads a clock.

mod acquire_mode;
pub mod partition;
mod partition_types;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_v2;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use kafka_protocol::ResponseError as E;
use uuid::Uuid;

use super::consumer::{Assignment, MemberTimeouts, LEAVE_EPOCH};

/// A share partition: (topic id, partition).
pub type ShareKey = (Uuid, i32);

/// The group type ListGroups shows (and its protocol type).
pub const GROUP_TYPE: &str = "share";
/// ShareGroupDescribe's assignor name (Kafka's `SimpleAssignor`).
pub const ASSIGNOR: &str = "simple";

/// One member (Kafka's ShareGroupMemberMetadata and its current assignment).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ShareMember {
    pub id: String,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// Sorted.
    pub subscribed_topic_names: Vec<String>,
    pub epoch: i32,
    pub assigned: Assignment,
}

/// A ShareGroupHeartbeat as the group sees it.
#[derive(Debug, Clone, Default)]
pub struct ShareHeartbeat {
    pub member_id: String,
    pub epoch: i32,
    pub rack_id: Option<String>,
    pub subscribed_topic_names: Option<Vec<String>>,
    pub client_id: String,
    pub client_host: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareAnswer {
    pub member_id: String,
    pub epoch: i32,
    pub heartbeat_interval_ms: i32,
    /// The member's partitions, when it joined or they changed.
    pub assignment: Option<Assignment>,
}

/// What ShareGroupDescribe shows.
#[derive(Debug, Clone)]
pub struct ShareDescription {
    pub state: &'static str,
    pub epoch: i32,
    pub assignment_epoch: i32,
    pub members: Vec<ShareMember>,
}

/// Kafka's `throwIfShareGroupHeartbeatRequestIsInvalid`.
pub fn validate(req: &ShareHeartbeat) -> Result<(), E> {
    if req.member_id.is_empty() || req.rack_id.as_deref() == Some("") {
        return Err(E::InvalidRequest);
    }
    match req.epoch {
        0 if req
            .subscribed_topic_names
            .as_ref()
            .is_none_or(|n| n.is_empty()) =>
        {
            Err(E::InvalidRequest)
        }
        e if e >= 0 || e == LEAVE_EPOCH => Ok(()),
        _ => Err(E::InvalidRequest),
    }
}

/// A share group's durable state.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ShareGroup {
    pub epoch: i32,
    pub assignment_epoch: i32,
    pub members: BTreeMap<String, ShareMember>,
    /// The subscribed topics that exist: name → (id, partition count).
    pub subscription: BTreeMap<String, (Uuid, i32)>,
    /// Session deadlines by member (not stored: a reload gives every member a new session).
    #[serde(skip)]
    session: HashMap<String, i64>,
    /// The group's session timeout and heartbeat interval (its `share.*` configs: set by the
    /// coordinator before each heartbeat).
    #[serde(skip)]
    timeouts: MemberTimeouts,
}

impl ShareGroup {
    /// The group's member timeouts (its configs), for the heartbeats from now on.
    pub fn set_timeouts(&mut self, timeouts: MemberTimeouts) {
        self.timeouts = timeouts;
    }

    /// After a reload: every member gets a new session from `now`.
    pub fn restored(mut self, now: i64) -> Self {
        for id in self.members.keys() {
            self.session
                .insert(id.clone(), now + self.timeouts.session_ms);
        }
        self
    }

    pub fn state(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else {
            "Stable"
        }
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Every topic some member subscribes to.
    pub fn subscribed_topics(&self) -> BTreeSet<String> {
        self.members
            .values()
            .flat_map(|m| m.subscribed_topic_names.iter().cloned())
            .collect()
    }

    /// Kafka's `throwIfShareGroupIsFull` (group.share.max.size): a member that is not one of
    /// a group of `max` members or more is refused with GROUP_MAX_SIZE_REACHED.
    pub fn check_room(&self, member_id: &str, max: usize) -> Result<(), E> {
        if self.members.len() >= max
            && (member_id.is_empty() || !self.members.contains_key(member_id))
        {
            return Err(E::GroupMaxSizeReached);
        }
        Ok(())
    }

    /// One heartbeat: the answer and whether the group changed (to be stored).
    pub fn heartbeat(
        &mut self,
        req: ShareHeartbeat,
        lookup: &dyn Fn(&str) -> Option<(Uuid, i32)>,
        now: i64,
    ) -> Result<(ShareAnswer, bool), E> {
        if req.epoch == LEAVE_EPOCH {
            if !self.members.contains_key(&req.member_id) {
                return Err(E::UnknownMemberId);
            }
            self.remove(&req.member_id);
            return Ok((
                ShareAnswer {
                    member_id: req.member_id,
                    epoch: LEAVE_EPOCH,
                    heartbeat_interval_ms: 0,
                    assignment: None,
                },
                true,
            ));
        }
        let mut changed = false;
        let joining = req.epoch == 0;
        let mut member = match self.members.get(&req.member_id) {
            Some(m) if !joining && m.epoch != req.epoch => return Err(E::FencedMemberEpoch),
            Some(m) => m.clone(),
            None if joining => {
                changed = true;
                ShareMember {
                    id: req.member_id.clone(),
                    rack_id: None,
                    client_id: String::new(),
                    client_host: String::new(),
                    subscribed_topic_names: Vec::new(),
                    epoch: 0,
                    assigned: Assignment::new(),
                }
            }
            None => return Err(E::UnknownMemberId),
        };
        member.client_id = req.client_id;
        member.client_host = req.client_host;
        if req.rack_id.is_some() {
            member.rack_id = req.rack_id;
        }
        let mut bump = changed;
        if let Some(mut names) = req.subscribed_topic_names {
            names.sort();
            names.dedup();
            if names != member.subscribed_topic_names {
                member.subscribed_topic_names = names;
                bump = true;
            }
        }
        self.members.insert(member.id.clone(), member);
        let subscription = self.subscription_of(lookup);
        if subscription != self.subscription {
            self.subscription = subscription;
            bump = true;
        }
        if bump {
            self.epoch += 1;
            self.assign();
            changed = true;
        }
        self.session
            .insert(req.member_id.clone(), now + self.timeouts.session_ms);
        let Some(member) = self.members.get_mut(&req.member_id) else {
            return Err(E::UnknownMemberId);
        };
        if member.epoch != self.assignment_epoch {
            member.epoch = self.assignment_epoch;
            changed = true;
        }
        // Every new assignment comes with a new epoch: send it whenever the epoch moved.
        let send = joining || member.epoch != req.epoch;
        Ok((
            ShareAnswer {
                member_id: member.id.clone(),
                epoch: member.epoch,
                heartbeat_interval_ms: self.timeouts.heartbeat_ms,
                assignment: send.then(|| member.assigned.clone()),
            },
            changed,
        ))
    }

    /// Remove a member (it left or its session expired) and assign again.
    fn remove(&mut self, id: &str) {
        self.members.remove(id);
        self.session.remove(id);
        let names = self.subscribed_topics();
        self.subscription.retain(|name, _| names.contains(name));
        self.epoch += 1;
        self.assign();
    }

    fn subscription_of(
        &self,
        lookup: &dyn Fn(&str) -> Option<(Uuid, i32)>,
    ) -> BTreeMap<String, (Uuid, i32)> {
        self.subscribed_topics()
            .into_iter()
            .filter_map(|name| lookup(&name).map(|t| (name, t)))
            .collect()
    }

    /// Kafka's `SimpleAssignor` (its homogeneous builder), made deterministic, per topic:
    /// every partition is shared by ceil(subscribers / partitions) members, and those
    /// partition slots are spread as evenly as they go over the members (so with 3 members
    /// on 2 partitions one member gets both and each partition has two). Slots are dealt
    /// round the partitions, so a member's run of slots never repeats a partition.
    fn assign(&mut self) {
        let mut targets: BTreeMap<String, Assignment> = BTreeMap::new();
        for (name, (topic_id, count)) in &self.subscription {
            let subscribers: Vec<&String> = self
                .members
                .values()
                .filter(|m| m.subscribed_topic_names.contains(name))
                .map(|m| &m.id)
                .collect();
            let partitions = (*count).max(0) as usize;
            let n = subscribers.len();
            if n == 0 || partitions == 0 {
                continue;
            }
            let sharing = n.div_ceil(partitions);
            let slots = sharing * partitions;
            for (i, m) in subscribers.iter().enumerate() {
                // Kafka's desiredAssignmentCount: member i takes slots [slots*i/n, slots*(i+1)/n).
                let (from, to) = ((slots * i).div_ceil(n), (slots * (i + 1)).div_ceil(n));
                let a = targets.entry((*m).clone()).or_default();
                let set = a.entry(*topic_id).or_default();
                for slot in from..to {
                    set.insert((slot % partitions) as i32);
                }
            }
        }
        for (id, m) in self.members.iter_mut() {
            m.assigned = targets.remove(id).unwrap_or_default();
        }
        self.assignment_epoch = self.epoch;
    }

    pub fn next_deadline(&self) -> Option<i64> {
        self.session.values().min().copied()
    }

    /// Expire sessions due at `now`: the members removed (the group changed if any).
    pub fn tick(&mut self, now: i64) -> Vec<String> {
        let due: Vec<String> = self
            .session
            .iter()
            .filter(|(_, d)| **d <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &due {
            self.remove(id);
        }
        due
    }

    pub fn describe(&self) -> ShareDescription {
        ShareDescription {
            state: self.state(),
            epoch: self.epoch,
            assignment_epoch: self.assignment_epoch,
            members: self.members.values().cloned().collect(),
        }
    }

    /// The topics (by id) that are assigned to someone.
    pub fn assigned_topics(&self) -> BTreeSet<Uuid> {
        self.members
            .values()
            .flat_map(|m| m.assigned.keys().copied())
            .collect()
    }
}
