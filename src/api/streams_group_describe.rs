//! StreamsGroupDescribe (89): a streams group's epochs, topology and members with their
//! current and target tasks (Kafka 4.4's `StreamsGroup.asDescribedGroup`). A missing group
//! or one of another type answers GROUP_ID_NOT_FOUND; a group whose topology names a topic
//! the caller may not describe answers TOPIC_AUTHORIZATION_FAILED.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::messages::streams_group_describe_response::{
    Assignment, DescribedGroup, Endpoint, KeyValue, Member, Subtopology, TaskIds, TaskOffset,
    TopicInfo, Topology,
};
use kafka_protocol::messages::{
    StreamsGroupDescribeRequest, StreamsGroupDescribeResponse, TopicName,
};
use kafka_protocol::ResponseError as E;

use super::group_common::{member_topics, opt_str, str};
use super::RequestContext;
use crate::group::streams::assignor::TaskId;
use crate::group::streams::group::{DescribedMember, Description};
use crate::group::streams::topology;
use crate::security::acl::{AclOperation, ResourceType};

/// Kafka 4.4's only task assignor.
const ASSIGNOR: &str = "sticky";
/// TopologyDescriptionStatus: not asked for, or asked and none stored (no plugin).
const NOT_REQUESTED: i8 = 0;
const NOT_STORED: i8 = 1;

pub async fn handle(
    ctx: RequestContext,
    req: StreamsGroupDescribeRequest,
) -> StreamsGroupDescribeResponse {
    let failed = |ids: Vec<kafka_protocol::messages::GroupId>, e: E| {
        let groups = ids
            .into_iter()
            .map(|id| {
                DescribedGroup::default()
                    .with_group_id(id)
                    .with_error_code(e.code())
            })
            .collect();
        StreamsGroupDescribeResponse::default().with_groups(groups)
    };
    if !ctx.features().streams_groups_enabled() {
        return failed(req.group_ids, E::UnsupportedVersion);
    }
    let allowed: Vec<bool> = req
        .group_ids
        .iter()
        .map(|g| ctx.authorize_group(AclOperation::Describe, g) && !g.is_empty())
        .collect();
    let ids: Vec<String> = req
        .group_ids
        .iter()
        .zip(&allowed)
        .filter(|(_, ok)| **ok)
        .map(|(g, _)| g.to_string())
        .collect();
    let mut described = match ctx
        .groups()
        .streams_describe(ids, member_topics(&ctx))
        .await
    {
        Ok(d) => d.into_iter(),
        Err(e) => return failed(req.group_ids, e),
    };
    let v1 = ctx.version() >= 1;
    let groups = req
        .group_ids
        .into_iter()
        .zip(allowed)
        .map(|(id, allowed)| {
            let result = if id.is_empty() {
                Err((E::InvalidGroupId, None))
            } else if !allowed {
                Err((E::GroupAuthorizationFailed, None))
            } else {
                match described.next() {
                    Some(Ok(d)) => Ok(d),
                    Some(Err((e, message))) => Err((e, Some(message))),
                    None => Err((E::UnknownServerError, None)),
                }
            };
            let group = match result {
                Ok(d) if !may_describe_topics(&ctx, &d) => DescribedGroup::default()
                    .with_error_code(E::TopicAuthorizationFailed.code())
                    .with_error_message(Some(str(
                        "The described group uses topics that the client is not authorized to describe.".into(),
                    ))),
                Ok(d) => {
                    let status = match req.include_topology_description {
                        true => NOT_STORED,
                        false => NOT_REQUESTED,
                    };
                    let group = describe(d);
                    match v1 {
                        true => group
                            .with_topology_description_status(status)
                            .with_assignor_name(Some(str(ASSIGNOR.into()))),
                        false => group,
                    }
                }
                Err((e, message)) => DescribedGroup::default()
                    .with_error_code(e.code())
                    .with_error_message(opt_str(message)),
            };
            let operations =
                ctx.authorized_operations_if(allowed && req.include_authorized_operations, ResourceType::Group, &id);
            group
                .with_group_id(id)
                .with_authorized_operations(operations)
        })
        .collect();
    StreamsGroupDescribeResponse::default().with_groups(groups)
}

fn may_describe_topics(ctx: &RequestContext, d: &Description) -> bool {
    let Some((_, subs)) = &d.topology else {
        return true;
    };
    let names: BTreeSet<&str> = subs
        .iter()
        .flat_map(|(_, s)| {
            s.source_topics
                .iter()
                .chain(&s.repartition_sink_topics)
                .map(String::as_str)
                .chain(s.repartition_source_topics.iter().map(|t| t.name.as_str()))
                .chain(s.changelog_topics.iter().map(|t| t.name.as_str()))
        })
        .collect();
    names
        .iter()
        .all(|n| ctx.authorize_topic(AclOperation::Describe, n))
}

fn task_ids(tasks: &BTreeSet<TaskId>) -> Vec<TaskIds> {
    let mut by_sub: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (s, p) in tasks {
        by_sub.entry(s.as_str()).or_default().push(*p);
    }
    by_sub
        .into_iter()
        .map(|(s, ps)| {
            TaskIds::default()
                .with_subtopology_id(str(s.to_string()))
                .with_partitions(ps)
        })
        .collect()
}

fn key_values(list: &[(String, String)]) -> Vec<KeyValue> {
    list.iter()
        .map(|(k, v)| {
            KeyValue::default()
                .with_key(str(k.clone()))
                .with_value(str(v.clone()))
        })
        .collect()
}

fn topic_info(t: &topology::TopicInfo) -> TopicInfo {
    TopicInfo::default()
        .with_name(TopicName(str(t.name.clone())))
        .with_partitions(t.partitions)
        .with_replication_factor(t.replication_factor)
        .with_topic_configs(key_values(&t.configs))
}

fn member(m: DescribedMember) -> Member {
    let offsets = m
        .task_offsets
        .iter()
        .map(|((s, p), o)| {
            TaskOffset::default()
                .with_subtopology_id(str(s.clone()))
                .with_partition(*p)
                .with_offset(*o)
        })
        .collect();
    let tags: Vec<(String, String)> = m.client_tags.into_iter().collect();
    Member::default()
        .with_member_id(str(m.id))
        .with_member_epoch(m.epoch)
        .with_instance_id(opt_str(m.instance_id))
        .with_rack_id(opt_str(m.rack_id))
        .with_client_id(str(m.client_id))
        .with_client_host(str(m.client_host))
        .with_topology_epoch(m.topology_epoch)
        .with_process_id(str(m.process_id))
        .with_user_endpoint(
            m.user_endpoint
                .map(|(host, port)| Endpoint::default().with_host(str(host)).with_port(port)),
        )
        .with_client_tags(key_values(&tags))
        .with_task_offsets(offsets)
        .with_assignment(
            Assignment::default()
                .with_active_tasks(task_ids(&m.active))
                .with_standby_tasks(task_ids(&m.standby)),
        )
        .with_target_assignment(
            Assignment::default()
                .with_active_tasks(task_ids(&m.target_active))
                .with_standby_tasks(task_ids(&m.target_standby)),
        )
}

fn describe(d: Description) -> DescribedGroup {
    let topology = d.topology.map(|(epoch, subs)| {
        let names = |list: &[String]| list.iter().map(|n| TopicName(str(n.clone()))).collect();
        Topology::default()
            .with_epoch(epoch)
            .with_subtopologies(Some(
                subs.into_iter()
                    .map(|(id, s)| {
                        Subtopology::default()
                            .with_subtopology_id(str(id))
                            .with_source_topics(names(&s.source_topics))
                            .with_repartition_sink_topics(names(&s.repartition_sink_topics))
                            .with_state_changelog_topics(
                                s.changelog_topics.iter().map(topic_info).collect(),
                            )
                            .with_repartition_source_topics(
                                s.repartition_source_topics.iter().map(topic_info).collect(),
                            )
                    })
                    .collect(),
            ))
    });
    DescribedGroup::default()
        .with_group_state(str(d.state.to_string()))
        .with_group_epoch(d.epoch)
        .with_assignment_epoch(d.assignment_epoch)
        .with_topology(topology)
        .with_members(d.members.into_iter().map(member).collect())
}
