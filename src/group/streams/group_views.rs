//! What other APIs see of a streams group: StreamsGroupDescribe's view (Kafka's
//! `StreamsGroup.asDescribedGroup`) and the member checks of OffsetCommit and OffsetFetch
//! (`validateOffsetCommit` / `validateOffsetFetch`).

use super::*;
use crate::group::streams::topology::Subtopology;

/// A member as StreamsGroupDescribe shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedMember {
    pub id: String,
    pub epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub topology_epoch: i32,
    pub process_id: String,
    pub user_endpoint: Option<(String, u16)>,
    pub client_tags: BTreeMap<String, String>,
    pub task_offsets: BTreeMap<TaskId, i64>,
    pub active: BTreeSet<TaskId>,
    pub standby: BTreeSet<TaskId>,
    pub target_active: BTreeSet<TaskId>,
    pub target_standby: BTreeSet<TaskId>,
}

/// A streams group as StreamsGroupDescribe shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    pub state: &'static str,
    pub epoch: i32,
    pub assignment_epoch: i32,
    /// The topology's epoch and subtopologies (sorted by id), topic lists sorted; internal
    /// topics with their decided partition counts once the topology is ready.
    pub topology: Option<(i32, Vec<(String, Subtopology)>)>,
    pub members: Vec<DescribedMember>,
}

impl StreamsGroup {
    pub fn describe(&self, topics: &dyn Fn(&str) -> Option<(Uuid, i32)>) -> Description {
        let ready = self.configured.as_ref().is_some_and(Configured::ready);
        let topology = self.topology.as_ref().map(|t| {
            let subs = t
                .subtopologies
                .iter()
                .map(|(id, s)| {
                    let mut s = s.clone();
                    s.source_topics.sort();
                    s.repartition_sink_topics.sort();
                    for infos in [&mut s.repartition_source_topics, &mut s.changelog_topics] {
                        infos.sort_by(|a, b| a.name.cmp(&b.name));
                        if ready {
                            for info in infos.iter_mut() {
                                if let Some((_, n)) = topics(&info.name) {
                                    info.partitions = n;
                                }
                            }
                        }
                    }
                    (id.clone(), s)
                })
                .collect();
            (t.epoch, subs)
        });
        let members = self
            .members
            .values()
            .map(|m| {
                let (target_active, target_standby) =
                    self.targets.get(&m.id).cloned().unwrap_or_default();
                DescribedMember {
                    id: m.id.clone(),
                    epoch: m.current.epoch,
                    instance_id: m.instance_id.clone(),
                    rack_id: m.rack_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    topology_epoch: m.topology_epoch,
                    process_id: m.process_id.clone(),
                    user_endpoint: m.user_endpoint.clone(),
                    client_tags: m.client_tags.clone(),
                    task_offsets: self.task_offsets.get(&m.id).cloned().unwrap_or_default(),
                    active: m.current.assigned.active.keys().cloned().collect(),
                    standby: m.current.assigned.standby.clone(),
                    target_active,
                    target_standby,
                }
            })
            .collect();
        Description {
            state: self.state().name(),
            epoch: self.epoch,
            assignment_epoch: self.assignment_epoch,
            topology,
            members,
        }
    }

    /// OffsetCommit (`transactional`: TxnOffsetCommit) by a member of this group: Kafka's
    /// `StreamsGroup.validateOffsetCommit`. A commit by an older epoch is accepted for tasks
    /// the member still holds (or is revoking) since that epoch.
    pub fn validate_offset_commit(
        &self,
        member_id: &str,
        epoch: i32,
        version: i16,
        partitions: &[(String, i32)],
    ) -> Result<(), E> {
        if epoch < 0 && self.members.is_empty() {
            // An admin tool's commit to an empty group.
            return Ok(());
        }
        let member = self.members.get(member_id).ok_or(E::UnknownMemberId)?;
        if version < 9 {
            return Err(E::UnsupportedVersion);
        }
        let known = member.current.epoch;
        if epoch == known {
            return Ok(());
        }
        if epoch > known {
            return Err(E::StaleMemberEpoch);
        }
        let Some(topology) = &self.topology else {
            return Err(E::StaleMemberEpoch);
        };
        let map = topology.source_topic_map();
        for (topic, p) in partitions {
            let Some(subs) = map.get(topic.as_str()) else {
                return Err(E::StaleMemberEpoch);
            };
            for s in subs {
                let task = (s.to_string(), *p);
                let granted = member
                    .current
                    .assigned
                    .active
                    .get(&task)
                    .or_else(|| member.current.pending_revocation.active.get(&task));
                match granted {
                    Some(at) if epoch >= *at => {}
                    _ => return Err(E::StaleMemberEpoch),
                }
            }
        }
        Ok(())
    }

    /// OffsetFetch v9+ with a member: it must be one at its current epoch.
    pub fn validate_offset_fetch(&self, member_id: Option<&str>, epoch: i32) -> Result<(), E> {
        if member_id.is_none() && epoch < 0 {
            return Ok(());
        }
        let member = self
            .members
            .get(member_id.unwrap_or_default())
            .ok_or(E::UnknownMemberId)?;
        if member.current.epoch != epoch {
            return Err(E::StaleMemberEpoch);
        }
        Ok(())
    }
}
