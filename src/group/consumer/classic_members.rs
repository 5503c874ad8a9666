//! Classic members of a consumer group: the online migration between the classic and the
//! consumer protocol (KIP-848, Kafka 4's default `group.consumer.migration.policy` of
//! bidirectional), after Kafka's `classicGroupJoinToConsumerGroup` and its SyncGroup,
//! Heartbeat and LeaveGroup twins, and `ConsumerGroup.fromClassicGroup`/`ClassicGroup
//! .fromConsumerGroup`.
//!
//! A consumer still on the classic protocol joins with JoinGroup; the group's server-side
//! assignor decides its partitions (its answer names no leader, so no client assigns), which
//! SyncGroup hands it in the consumer protocol's encoding; Heartbeat answers
//! REBALANCE_IN_PROGRESS when it must rejoin to move on (a new group epoch, partitions to
//! revoke, or partitions it waited for now free).

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::ResponseError as E;

use super::embedded::{self, NamedPartitions};
use super::{Assignment, ClassicMember, ConsumerGroup, Member, MemberState, TopicView};
use crate::group::classic::{
    self, JoinRequest, JoinResponse, Protocol, SyncRequest, SyncResponse, CONSUMER_PROTOCOL_TYPE,
};

impl ConsumerGroup {
    /// JoinGroup from a classic member. The bool: the group changed (to be stored).
    /// `max_size`: group.consumer.max.size, which classic members count towards.
    pub fn classic_join(
        &mut self,
        req: &JoinRequest,
        topics: &dyn TopicView,
        max_size: usize,
        now: i64,
    ) -> (JoinResponse, bool) {
        // Kafka throws these errors, so its answer carries no member id (only
        // MEMBER_ID_REQUIRED hands one out).
        let fail = |e| (JoinResponse::error(e, ""), false);
        let unknown = req.member_id.is_empty();
        let member_id = match unknown {
            true => req.fresh_member_id.clone(),
            false => req.member_id.clone(),
        };
        // Kafka checks the size first.
        if let Err(e) = self.check_room(&member_id, req.instance_id.as_deref(), max_size) {
            return fail(e);
        }
        if !self.supports_classic_protocols(&req.protocol_type, &req.protocols) {
            return fail(E::InconsistentGroupProtocol);
        }
        if unknown && req.instance_id.is_none() && req.require_known_member_id {
            return (JoinResponse::error(E::MemberIdRequired, &member_id), false);
        }
        // Kafka reads the subscription from the first protocol the member offers.
        let Some(sub) = req
            .protocols
            .first()
            .and_then(|p| embedded::decode_subscription(&p.metadata))
        else {
            return fail(E::InconsistentGroupProtocol);
        };
        let old = match &req.instance_id {
            None => match self.members.get(&member_id) {
                Some(m) if m.classic.is_none() => return fail(E::UnknownMemberId),
                Some(m) => m.clone(),
                None => Member::new(member_id.clone()),
            },
            Some(instance) => match self.static_member(instance).cloned() {
                None => Member::new(member_id.clone()),
                Some(existing) if existing.id == member_id => existing,
                // A static member restarted (no member id yet) takes its place.
                Some(existing) if unknown => self.replace(&existing, &member_id),
                Some(_) => return fail(E::FencedInstanceId),
            },
        };
        let is_new = !self.members.contains_key(&old.id);
        let mut member = old.clone();
        if req.instance_id.is_some() {
            member.instance_id = req.instance_id.clone();
        }
        if sub.rack_id.is_some() {
            member.rack_id = sub.rack_id.clone();
        }
        member.rebalance_timeout_ms = req.rebalance_timeout_ms;
        member.server_assignor = None;
        let mut names = sub.topics.clone();
        names.sort();
        names.dedup();
        member.subscribed_topic_names = names;
        member.subscribed_topic_regex = None;
        member.regex_topics = Vec::new();
        member.client_id = req.client_id.clone();
        member.client_host = req.client_host.clone();
        member.classic = Some(ClassicMember {
            session_timeout_ms: req.session_timeout_ms,
            protocols: req
                .protocols
                .iter()
                .map(|p| (p.name.clone(), p.metadata.to_vec()))
                .collect(),
        });
        let owned = by_id(&sub.owned, topics);
        let (updated, changed) = self.settle(&old, member, is_new, topics, Some(&owned), now);
        let protocol_name = req.protocols.first().map(|p| p.name.clone());
        let answer = JoinResponse {
            error: None,
            generation: updated.epoch,
            protocol_type: Some(CONSUMER_PROTOCOL_TYPE.to_string()),
            protocol_name,
            // No leader: the coordinator assigns.
            leader: String::new(),
            member_id: updated.id,
            skip_assignment: false,
            members: Vec::new(),
        };
        (answer, changed)
    }

    /// SyncGroup from a classic member: its assigned partitions, encoded in the version of
    /// its subscription.
    pub fn classic_sync(&mut self, req: &SyncRequest, now: i64) -> SyncResponse {
        let member = match self.classic_member(&req.member_id, req.instance_id.as_deref()) {
            Ok(m) => m.clone(),
            Err(e) => return SyncResponse::error(e),
        };
        if req.generation != member.epoch {
            return SyncResponse::error(E::IllegalGeneration);
        }
        let Some(classic) = &member.classic else {
            return SyncResponse::error(E::UnknownMemberId);
        };
        let (name, metadata) = classic.preferred();
        let type_differs = req
            .protocol_type
            .as_deref()
            .is_some_and(|t| t != CONSUMER_PROTOCOL_TYPE);
        if type_differs || req.protocol_name.as_deref().is_some_and(|n| n != name) {
            return SyncResponse::error(E::InconsistentGroupProtocol);
        }
        // A new epoch: rejoin first, unless the member is revoking (its next join follows).
        if self.epoch > member.epoch && member.state != MemberState::UnrevokedPartitions {
            return SyncResponse::error(E::RebalanceInProgress);
        }
        self.arm(&member.id, now, false);
        SyncResponse {
            error: None,
            protocol_type: req.protocol_type.clone(),
            protocol_name: req.protocol_name.clone(),
            assignment: embedded::encode_assignment(
                &self.by_name(&member.assigned),
                embedded::version(metadata),
            ),
        }
    }

    /// Heartbeat from a classic member: REBALANCE_IN_PROGRESS when it must rejoin.
    pub fn classic_heartbeat(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now: i64,
    ) -> Result<(), E> {
        let member = self.classic_member(member_id, instance_id)?.clone();
        if generation != member.epoch {
            return Err(E::IllegalGeneration);
        }
        self.arm(&member.id, now, false);
        let rejoin = member.epoch < self.epoch
            || member.state == MemberState::UnrevokedPartitions
            || (member.state == MemberState::UnreleasedPartitions
                && !self.waits_on_unreleased(&member));
        match rejoin {
            true => Err(E::RebalanceInProgress),
            false => Ok(()),
        }
    }

    /// LeaveGroup of classic members: each one's outcome, in request order.
    pub fn classic_leave(&mut self, members: &[(String, Option<String>)]) -> Vec<Result<(), E>> {
        members
            .iter()
            .map(|(member_id, instance_id)| {
                let id = match instance_id {
                    None => self.classic_member(member_id, None)?.id.clone(),
                    Some(instance) => {
                        let m = self.static_member(instance).ok_or(E::UnknownMemberId)?;
                        // An admin removes a static member by its instance id alone.
                        if !member_id.is_empty() && m.id != *member_id {
                            return Err(E::FencedInstanceId);
                        }
                        if m.classic.is_none() {
                            return Err(E::UnknownMemberId);
                        }
                        m.id.clone()
                    }
                };
                self.fence(&id);
                Ok(())
            })
            .collect()
    }

    /// Kafka's `supportsClassicProtocols`: the consumer protocol type, and (when the group
    /// has classic members) a protocol every one of them offers too.
    fn supports_classic_protocols(&self, protocol_type: &str, protocols: &[Protocol]) -> bool {
        if protocol_type != CONSUMER_PROTOCOL_TYPE || protocols.is_empty() {
            return false;
        }
        let classic: Vec<&ClassicMember> = self
            .members
            .values()
            .filter_map(|m| m.classic.as_ref())
            .collect();
        classic.is_empty()
            || protocols.iter().any(|p| {
                classic
                    .iter()
                    .all(|c| c.protocols.iter().any(|(n, _)| *n == p.name))
            })
    }

    /// The member a classic request names: by instance id for a static member.
    fn classic_member(&self, member_id: &str, instance_id: Option<&str>) -> Result<&Member, E> {
        let member = match instance_id {
            None => self.members.get(member_id).ok_or(E::UnknownMemberId)?,
            Some(instance) => {
                let m = self.static_member(instance).ok_or(E::UnknownMemberId)?;
                if m.id != member_id {
                    return Err(E::FencedInstanceId);
                }
                m
            }
        };
        match member.classic {
            Some(_) => Ok(member),
            None => Err(E::UnknownMemberId),
        }
    }

    /// Does the member still wait for a partition of its target that another member holds?
    fn waits_on_unreleased(&self, member: &Member) -> bool {
        let Some(target) = self.targets.get(&member.id) else {
            return false;
        };
        target.iter().any(|(topic, ps)| {
            ps.iter().any(|p| {
                !member.owns(topic, *p)
                    && self
                        .members
                        .values()
                        .any(|o| o.id != member.id && o.owns(topic, *p))
            })
        })
    }

    /// Partitions by topic name, for the topics the group subscribes to.
    fn by_name(&self, assignment: &Assignment) -> NamedPartitions {
        let names: BTreeMap<_, _> = self
            .subscription
            .iter()
            .map(|(name, (id, _))| (*id, name))
            .collect();
        assignment
            .iter()
            .filter_map(|(id, ps)| {
                let name = names.get(id)?;
                Some(((*name).clone(), ps.iter().copied().collect()))
            })
            .collect()
    }

    /// Does every member but `except` use the classic protocol (and is there one)? Then the
    /// group goes back to a classic group when `except` leaves (Kafka's online downgrade).
    pub fn only_classic_besides(&self, except: &str) -> bool {
        let rest: Vec<&Member> = self.members.values().filter(|m| m.id != except).collect();
        !rest.is_empty() && rest.iter().all(|m| m.classic.is_some())
    }

    /// A classic group's members as consumer group members (Kafka's online upgrade, when a
    /// consumer-protocol member joins a classic group that has members): each keeps its
    /// partitions and the generation as its epoch. None when a member's embedded protocol is
    /// malformed (Kafka then answers GROUP_ID_NOT_FOUND).
    pub fn from_classic(group: &classic::Group, topics: &dyn TopicView, now: i64) -> Option<Self> {
        let generation = group.generation();
        let protocol = group.protocol_name().unwrap_or_default();
        let mut consumer = ConsumerGroup::at_epoch(generation);
        for m in group.members() {
            let sub = embedded::decode_subscription(&m.metadata(protocol))?;
            let assigned = by_id(&embedded::decode_assignment(&m.assignment)?, topics);
            let mut member = Member::new(m.id.clone());
            member.instance_id = m.instance_id.clone();
            member.rack_id = sub.rack_id;
            member.client_id = m.client_id.clone();
            member.client_host = m.client_host.clone();
            member.rebalance_timeout_ms = m.rebalance_timeout_ms;
            let mut names = sub.topics;
            names.sort();
            names.dedup();
            member.subscribed_topic_names = names;
            member.epoch = generation;
            member.previous_epoch = generation;
            member.classic = Some(ClassicMember {
                session_timeout_ms: m.session_timeout_ms,
                protocols: m
                    .protocols
                    .iter()
                    .map(|p| (p.name.clone(), p.metadata.to_vec()))
                    .collect(),
            });
            consumer.targets.insert(m.id.clone(), assigned.clone());
            member.assigned = assigned;
            consumer.members.insert(m.id.clone(), member);
        }
        consumer.subscription = consumer.subscription_of(|name| topics.lookup(name));
        let ids: Vec<String> = consumer.members.keys().cloned().collect();
        for id in ids {
            consumer.arm(&id, now, false);
        }
        Some(consumer)
    }

    /// The classic group this one becomes when `leaving`, its last consumer-protocol member,
    /// goes: the classic members with their partitions, at the group epoch as generation,
    /// Stable (the caller starts a rebalance). Kafka's `ClassicGroup.fromConsumerGroup`.
    pub fn to_classic(&self, id: &str, leaving: &str, now: i64) -> classic::Group {
        let members: Vec<classic::Member> = self
            .members
            .values()
            .filter(|m| m.id != leaving)
            .filter_map(|m| {
                let c = m.classic.as_ref()?;
                let (_, metadata) = c.preferred();
                let assignment = embedded::encode_assignment(
                    &self.by_name(&m.assigned),
                    embedded::version(metadata),
                );
                Some(classic::Member::restored(
                    m.id.clone(),
                    m.instance_id.clone(),
                    m.client_id.clone(),
                    m.client_host.clone(),
                    m.rebalance_timeout_ms,
                    c.session_timeout_ms,
                    CONSUMER_PROTOCOL_TYPE.to_string(),
                    c.protocols
                        .iter()
                        .map(|(name, metadata)| Protocol {
                            name: name.clone(),
                            metadata: Bytes::from(metadata.clone()),
                        })
                        .collect(),
                    assignment,
                ))
            })
            .collect();
        // The protocol every member offers, in the first member's order of preference.
        let protocol = members.first().and_then(|first| {
            first.protocols.iter().map(|p| p.name.clone()).find(|name| {
                members
                    .iter()
                    .all(|m| m.protocols.iter().any(|p| p.name == *name))
            })
        });
        classic::Group::restore(
            id,
            self.epoch,
            Some(CONSUMER_PROTOCOL_TYPE.to_string()),
            protocol,
            None,
            now,
            members,
            now,
        )
    }
}

/// Named partitions as topic ids, leaving out topics that do not exist.
fn by_id(partitions: &NamedPartitions, topics: &dyn TopicView) -> Assignment {
    let mut out = Assignment::new();
    for (name, ps) in partitions {
        if let Some((id, count)) = topics.lookup(name) {
            let valid = ps.iter().copied().filter(|p| (0..count).contains(p));
            out.entry(id).or_default().extend(valid);
        }
    }
    out.retain(|_, ps| !ps.is_empty());
    out
}
