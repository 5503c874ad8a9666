//! One streams group (Kafka 4.4's `GroupMetadataManager.streamsGroupHeartbeat` and its
//! leave, fence and timer paths): members join with their topology, the group works out its
//! tasks from the topics that exist, assigns them when the group epoch moves, and each member
//! reconciles toward its target at its own pace.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};

use kafka_protocol::ResponseError as E;
use uuid::Uuid;

use super::assignor::{self, MemberSpec, SubtopologySpec, TaskId};
use super::configure::{configure, Configured, InternalTopic};
use super::reconcile::{reconcile, Current, MemberState, Owned, Owners, Target};
use super::topology::{Refusal, Topology};
use super::{Status, ASSIGNMENT_DELAYED, SHUTDOWN_APPLICATION, STALE_TOPOLOGY};

/// Leave epochs: for good, or a static member's pause.
pub const LEAVE_EPOCH: i32 = -1;
pub const STATIC_LEAVE_EPOCH: i32 = -2;

/// A StreamsGroupHeartbeat as the group sees it (warm-up tasks left out: never assigned).
#[derive(Debug, Clone, Default)]
pub struct Heartbeat {
    pub member_id: String,
    pub epoch: i32,
    pub endpoint_information_epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub topology: Option<Topology>,
    pub owned: Option<Owned>,
    pub process_id: Option<String>,
    pub user_endpoint: Option<(String, u16)>,
    pub client_tags: Option<BTreeMap<String, String>>,
    pub task_offsets: Option<BTreeMap<TaskId, i64>>,
    pub shutdown_application: bool,
    pub client_id: String,
    pub client_host: String,
}

/// The group's settings (its configs over the broker's), read at each heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub session_ms: i64,
    pub heartbeat_ms: i32,
    pub standby_replicas: usize,
    pub initial_delay_ms: i64,
    pub assignment_interval_ms: i64,
    pub max_size: usize,
}

impl Default for Settings {
    /// Kafka 4.4's broker defaults.
    fn default() -> Self {
        Self {
            session_ms: 45_000,
            heartbeat_ms: 5_000,
            standby_replicas: 0,
            initial_delay_ms: 3_000,
            assignment_interval_ms: 1_000,
            max_size: usize::MAX,
        }
    }
}

/// A member's tasks by topic partition, for interactive queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointPartitions {
    pub endpoint: (String, u16),
    pub active: BTreeMap<String, BTreeSet<i32>>,
    pub standby: BTreeMap<String, BTreeSet<i32>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub member_id: String,
    pub epoch: i32,
    pub heartbeat_interval_ms: i32,
    /// (active, standby), when the member joined or its tasks changed.
    pub tasks: Option<(BTreeSet<TaskId>, BTreeSet<TaskId>)>,
    pub statuses: Vec<Status>,
    pub endpoint_epoch: i32,
    pub endpoints: Option<Vec<EndpointPartitions>>,
    /// Internal topics the broker is to create.
    pub to_create: Vec<InternalTopic>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub topology_epoch: i32,
    pub process_id: String,
    pub user_endpoint: Option<(String, u16)>,
    pub client_tags: BTreeMap<String, String>,
    pub current: Current,
}

impl Member {
    fn new(id: &str) -> Self {
        Self {
            id: id.to_string(),
            instance_id: None,
            rack_id: None,
            client_id: String::new(),
            client_host: String::new(),
            rebalance_timeout_ms: -1,
            topology_epoch: -1,
            process_id: String::new(),
            user_endpoint: None,
            client_tags: BTreeMap::new(),
            current: Current::default(),
        }
    }
}

/// Kafka's streams group states, as Kafka names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    NotReady,
    Assigning,
    Reconciling,
    Stable,
}

impl GroupState {
    pub fn name(self) -> &'static str {
        match self {
            Self::Empty => "Empty",
            Self::NotReady => "NotReady",
            Self::Assigning => "Assigning",
            Self::Reconciling => "Reconciling",
            Self::Stable => "Stable",
        }
    }
}

/// The group's durable state and its timers.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StreamsGroup {
    pub epoch: i32,
    pub topology: Option<Topology>,
    /// The topology epoch the tasks were last worked out for (-1: not ready).
    pub validated_topology_epoch: i32,
    /// Of the required topics' metadata: a change reconfigures and rebalances.
    pub metadata_hash: u64,
    pub assignment_epoch: i32,
    pub assignment_timestamp: i64,
    pub targets: BTreeMap<String, (BTreeSet<TaskId>, BTreeSet<TaskId>)>,
    pub members: BTreeMap<String, Member>,
    pub assignment_configs: BTreeMap<String, String>,
    #[serde(skip)]
    configured: Option<Configured>,
    #[serde(skip)]
    session: HashMap<String, i64>,
    /// Revocation deadlines, with the member epoch they were armed at.
    #[serde(skip)]
    revocation: HashMap<String, (i64, i32)>,
    #[serde(skip)]
    initial_delay: Option<i64>,
    #[serde(skip)]
    endpoint_epoch: i32,
    #[serde(skip)]
    shutdown_requester: Option<String>,
    #[serde(skip)]
    task_offsets: HashMap<String, BTreeMap<TaskId, i64>>,
}

impl Default for StreamsGroup {
    fn default() -> Self {
        Self {
            epoch: 0,
            topology: None,
            validated_topology_epoch: -1,
            metadata_hash: 0,
            assignment_epoch: 0,
            assignment_timestamp: 0,
            targets: BTreeMap::new(),
            members: BTreeMap::new(),
            assignment_configs: BTreeMap::new(),
            configured: None,
            session: HashMap::new(),
            revocation: HashMap::new(),
            initial_delay: None,
            endpoint_epoch: 0,
            shutdown_requester: None,
            task_offsets: HashMap::new(),
        }
    }
}

fn refuse(e: E, message: String) -> Refusal {
    (e, message)
}

/// Kafka's `throwIfStreamsGroupHeartbeatRequestIsInvalid` (INVALID_REQUEST with its messages).
pub fn validate(req: &Heartbeat, group_id: &str) -> Result<(), Refusal> {
    let invalid = |m: &str| Err(refuse(E::InvalidRequest, m.to_string()));
    if req.member_id.trim().is_empty() {
        return invalid("MemberId can't be empty.");
    }
    if group_id.trim().is_empty() {
        return invalid("GroupId can't be empty.");
    }
    if req
        .instance_id
        .as_deref()
        .is_some_and(|i| i.trim().is_empty())
    {
        return invalid("InstanceId can't be empty.");
    }
    if req.rack_id.as_deref().is_some_and(|r| r.trim().is_empty()) {
        return invalid("RackId can't be empty.");
    }
    match req.epoch {
        0 => {
            if req.rebalance_timeout_ms == -1 {
                return invalid("RebalanceTimeoutMs must be provided in first request.");
            }
            if let Some(o) = &req.owned {
                if !o.active.is_empty() {
                    return invalid("ActiveTasks must be empty when (re-)joining.");
                }
                if !o.standby.is_empty() {
                    return invalid("StandbyTasks must be empty when (re-)joining.");
                }
            }
            match &req.topology {
                None => return invalid("Topology must be non-null when (re-)joining."),
                Some(t) => t.check_changelogs()?,
            }
        }
        STATIC_LEAVE_EPOCH if req.instance_id.is_none() => {
            return invalid("InstanceId can't be null.")
        }
        e if e < STATIC_LEAVE_EPOCH => {
            return Err(refuse(
                E::InvalidRequest,
                format!("MemberEpoch is {e}, but must be greater than or equal to -2."),
            ))
        }
        _ => {}
    }
    if req.epoch != 0 && req.topology.is_some() {
        return invalid("Topology can only be provided when (re-)joining.");
    }
    Ok(())
}

fn fenced_epoch(member: &Member, req: &Heartbeat) -> Result<(), Refusal> {
    let known = member.current.epoch;
    if req.epoch > known {
        return Err(refuse(
            E::FencedMemberEpoch,
            format!("The streams group member has a greater member epoch ({}) than the one known by the group coordinator ({known}). The member must abandon all its partitions and rejoin.", req.epoch),
        ));
    }
    if req.epoch < known {
        // A lost answer: the member may be one epoch behind with a subset of its tasks.
        let assigned = &member.current.assigned;
        let subset = req.owned.as_ref().is_some_and(|o| {
            o.active.iter().all(|t| assigned.active.contains_key(t))
                && o.standby.is_subset(&assigned.standby)
        });
        if req.epoch != member.current.previous_epoch || !subset {
            return Err(refuse(
                E::FencedMemberEpoch,
                format!("The streams group member has a smaller member epoch ({}) than the one known by the group coordinator ({known}). The member must abandon all its partitions and rejoin.", req.epoch),
            ));
        }
    }
    Ok(())
}

#[path = "group_heartbeat.rs"]
mod heartbeat;
#[path = "group_views.rs"]
mod views;
pub use views::{DescribedMember, Description};

impl StreamsGroup {
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn state(&self) -> GroupState {
        let ready = self
            .topology
            .as_ref()
            .is_some_and(|t| t.epoch == self.validated_topology_epoch);
        if self.members.is_empty() {
            GroupState::Empty
        } else if !ready {
            GroupState::NotReady
        } else if self.epoch > self.assignment_epoch {
            GroupState::Assigning
        } else if self.members.values().all(|m| {
            m.current.state == MemberState::Stable && m.current.epoch == self.assignment_epoch
        }) {
            GroupState::Stable
        } else {
            GroupState::Reconciling
        }
    }

    fn static_member(&self, instance: &str) -> Option<&Member> {
        self.members
            .values()
            .find(|m| m.instance_id.as_deref() == Some(instance))
    }

    /// Remove a member (it left, or its session or rebalance timeout passed).
    pub fn fence(&mut self, id: &str) {
        if self.members.remove(id).is_none() {
            return;
        }
        self.targets.remove(id);
        self.session.remove(id);
        self.revocation.remove(id);
        self.task_offsets.remove(id);
        self.epoch += 1;
        if self.members.is_empty() {
            // Empty, not assigning; the next join is not held back by the interval.
            self.assignment_epoch = self.epoch;
            self.assignment_timestamp = 0;
            self.shutdown_requester = None;
        }
    }

    /// After a reload: fresh sessions, and fresh revocation deadlines for revoking members.
    pub fn restored(mut self, now: i64, settings: &Settings) -> Self {
        for m in self.members.values() {
            self.session.insert(m.id.clone(), now + settings.session_ms);
            if m.current.state == MemberState::UnrevokedTasks {
                let deadline = now + i64::from(m.rebalance_timeout_ms.max(0));
                self.revocation
                    .insert(m.id.clone(), (deadline, m.current.epoch));
            }
        }
        self
    }

    pub fn next_deadline(&self) -> Option<i64> {
        self.session
            .values()
            .copied()
            .chain(self.revocation.values().map(|(d, _)| *d))
            .chain(self.initial_delay)
            .min()
    }

    /// Fire what is due: expired sessions and revocations fence; the initial delay's end
    /// computes the first assignment. True if the group changed.
    pub fn tick(&mut self, now: i64, settings: &Settings) -> bool {
        let mut changed = false;
        let expired: Vec<String> = self
            .session
            .iter()
            .filter(|(_, d)| **d <= now)
            .map(|(id, _)| id.clone())
            .collect();
        let stuck: Vec<String> = self
            .revocation
            .iter()
            .filter(|(id, (d, epoch))| {
                *d <= now
                    && self
                        .members
                        .get(*id)
                        .is_some_and(|m| m.current.epoch == *epoch)
            })
            .map(|(id, _)| id.clone())
            .collect();
        self.revocation.retain(|_, (d, _)| *d > now);
        for id in expired.iter().chain(&stuck) {
            tracing::info!(member = %id, "fencing a streams group member: its session or rebalance timeout expired");
            self.fence(id);
            changed = true;
        }
        if self.initial_delay.is_some_and(|d| d <= now) {
            self.initial_delay = None;
            if !self.members.is_empty() {
                self.compute_target(now, settings);
                changed = true;
            }
        }
        changed
    }

    /// Topics offset commits and offset expiry treat as the group's.
    pub fn subscribed_topics(&self) -> BTreeSet<String> {
        self.topology
            .as_ref()
            .map(|t| t.source_topic_map().keys().map(|s| s.to_string()).collect())
            .unwrap_or_default()
    }

    fn hash_topics(topology: &Topology, topics: &dyn Fn(&str) -> Option<(Uuid, i32)>) -> u64 {
        let mut h = DefaultHasher::new();
        for name in topology.required_topics() {
            (name, topics(name)).hash(&mut h);
        }
        h.finish()
    }

    /// A new target for every member at the group epoch.
    fn compute_target(&mut self, now: i64, settings: &Settings) {
        let configured = self.configured.as_ref().filter(|c| c.ready());
        let specs: BTreeMap<String, MemberSpec> = self
            .members
            .values()
            .map(|m| {
                let spec = MemberSpec {
                    process: m.process_id.clone(),
                    active: m.current.assigned.active.keys().cloned().collect(),
                    standby: m.current.assigned.standby.clone(),
                    task_offsets: self.task_offsets.get(&m.id).cloned().unwrap_or_default(),
                };
                (m.id.clone(), spec)
            })
            .collect();
        self.targets = match (configured.and_then(|c| c.tasks.as_ref()), &self.topology) {
            (Some(tasks), Some(topology)) => {
                let subs: BTreeMap<String, SubtopologySpec> = tasks
                    .iter()
                    .map(|(id, n)| {
                        let stateful = topology
                            .subtopologies
                            .get(id)
                            .is_some_and(|s| !s.changelog_topics.is_empty());
                        (
                            id.clone(),
                            SubtopologySpec {
                                tasks: *n,
                                stateful,
                            },
                        )
                    })
                    .collect();
                assignor::assign(&specs, &subs, settings.standby_replicas)
                    .into_iter()
                    .map(|(id, a)| (id, (a.active, a.standby)))
                    .collect()
            }
            _ => specs
                .keys()
                .map(|id| (id.clone(), Default::default()))
                .collect(),
        };
        self.assignment_epoch = self.epoch;
        self.assignment_timestamp = now;
    }

    fn owners(&self) -> Owners {
        Owners::of(
            self.members
                .values()
                .map(|m| (m.id.as_str(), m.process_id.as_str(), &m.current)),
        )
    }

    fn target_of(&self, id: &str) -> Target {
        self.targets
            .get(id)
            .map(|(a, s)| Target {
                active: a.clone(),
                standby: s.clone(),
            })
            .unwrap_or_default()
    }

    fn reconcile_member(&mut self, id: &str, owned: Option<&Owned>, now: i64) -> bool {
        let Some(member) = self.members.get(id) else {
            return false;
        };
        let target = self.target_of(id);
        let next = reconcile(
            &member.current,
            &target,
            self.assignment_epoch,
            owned,
            id,
            &member.process_id,
            &self.owners(),
        );
        let changed = next != member.current;
        let timeout = i64::from(member.rebalance_timeout_ms.max(0));
        if next.state == MemberState::UnrevokedTasks {
            if changed || !self.revocation.contains_key(id) {
                self.revocation
                    .insert(id.to_string(), (now + timeout, next.epoch));
            }
        } else {
            self.revocation.remove(id);
        }
        if let Some(m) = self.members.get_mut(id) {
            m.current = next;
        }
        changed
    }

    /// What a member's tasks mean as topic partitions, for every member with an endpoint.
    fn endpoints(&self, topics: &dyn Fn(&str) -> Option<(Uuid, i32)>) -> Vec<EndpointPartitions> {
        let Some(topology) = &self.topology else {
            return Vec::new();
        };
        let partitions = |tasks: &mut dyn Iterator<Item = &TaskId>| {
            let mut out: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
            for (s, p) in tasks {
                let Some(sub) = topology.subtopologies.get(s) else {
                    continue;
                };
                for t in sub.input_topics() {
                    if topics(t).is_some_and(|(_, n)| *p < n) {
                        out.entry(t.to_string()).or_default().insert(*p);
                    }
                }
            }
            out
        };
        self.members
            .values()
            .filter_map(|m| {
                let endpoint = m.user_endpoint.clone()?;
                Some(EndpointPartitions {
                    endpoint,
                    active: partitions(&mut m.current.assigned.active.keys()),
                    standby: partitions(&mut m.current.assigned.standby.iter()),
                })
            })
            .collect()
    }

    fn statuses(&self, member: &Member, delayed: Option<&str>) -> Vec<Status> {
        let mut out = Vec::new();
        if let Some(t) = &self.topology {
            if member.topology_epoch < t.epoch {
                out.push(Status {
                    code: STALE_TOPOLOGY,
                    detail: format!(
                        "The member's topology epoch {} is behind the group's topology epoch {}.",
                        member.topology_epoch, t.epoch
                    ),
                });
            }
        }
        if let Some(why) = delayed {
            out.push(Status {
                code: ASSIGNMENT_DELAYED,
                detail: why.to_string(),
            });
        }
        if let Some(problem) = self.configured.as_ref().and_then(|c| c.problem.clone()) {
            out.push(problem);
        }
        if let Some(who) = &self.shutdown_requester {
            out.push(Status {
                code: SHUTDOWN_APPLICATION,
                detail: format!("Streams group member {who} encountered a fatal error and requested a shutdown for the entire application."),
            });
        }
        out
    }
}

#[cfg(test)]
#[path = "group_tests.rs"]
mod tests;
