//! StreamsGroupHeartbeat (88): KIP-1071's streams group protocol, as Kafka 4.4's KafkaApis
//! serves it. A Kafka Streams member joins (epoch 0) with its topology, heartbeats with its
//! member epoch and its tasks, and leaves (-1, or -2 for a static member that comes back).
//! The broker checks the topology's topic names first, lets the group coordinator answer
//! (`group::streams`), then creates the internal topics the group is missing and tells the
//! member why they are still missing (no CREATE permission, or a failed creation).

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::messages::streams_group_heartbeat_request::{self as request, TaskIds};
use kafka_protocol::messages::streams_group_heartbeat_response::{
    self as response, EndpointToPartitions, Status,
};
use kafka_protocol::messages::{
    StreamsGroupHeartbeatRequest, StreamsGroupHeartbeatResponse, TopicName,
};
use kafka_protocol::ResponseError as E;

use super::group_common::{member_topics, str};
use super::RequestContext;
use crate::config::valid_topic_name;
use crate::group::streams::assignor::TaskId;
use crate::group::streams::group::{self as streams, Answer, Heartbeat};
use crate::group::streams::reconcile::Owned;
use crate::group::streams::topology::{
    CopartitionGroup, Refusal, Subtopology, TopicInfo, Topology,
};
use crate::group::streams::MISSING_INTERNAL_TOPICS;
use crate::security::acl::AclOperation;
use crate::topics::NewTopic;

/// Kafka's own topics (`Topic.isInternal`), which no topology may name.
const KAFKA_INTERNAL: &[&str] = &[
    "__consumer_offsets",
    "__transaction_state",
    "__share_group_state",
];

/// What Kafka 4.4 gives members besides the heartbeat interval (its broker defaults).
const TASK_OFFSET_INTERVAL_MS: i32 = 60_000;
const ACCEPTABLE_RECOVERY_LAG: i64 = 10_000;

pub async fn handle(
    ctx: RequestContext,
    req: StreamsGroupHeartbeatRequest,
) -> StreamsGroupHeartbeatResponse {
    // streams.version 0: the streams protocol is off (the code alone, as Kafka answers).
    if !ctx.features().streams_groups_enabled() {
        return error(E::UnsupportedVersion, None);
    }
    let group_id = req.group_id.to_string();
    if !ctx.authorize_group(AclOperation::Read, &group_id) {
        return error(E::GroupAuthorizationFailed, None);
    }
    match answer(&ctx, group_id, req).await {
        Ok(a) => encode(&ctx, a),
        Err((e, message)) => error(e, message),
    }
}

fn error(e: E, message: Option<String>) -> StreamsGroupHeartbeatResponse {
    StreamsGroupHeartbeatResponse::default()
        .with_error_code(e.code())
        .with_error_message(message.map(str))
}

async fn answer(
    ctx: &RequestContext,
    group_id: String,
    req: StreamsGroupHeartbeatRequest,
) -> Result<Answer, (E, Option<String>)> {
    let with_message = |(e, m): Refusal| (e, Some(m));
    let heartbeat = heartbeat(ctx, &req);
    if let Some(t) = &heartbeat.topology {
        check_topic_names(ctx, t)?;
        t.check_supported().map_err(with_message)?;
    }
    streams::validate(&heartbeat, &group_id).map_err(with_message)?;
    check_warmup_tasks(&req).map_err(with_message)?;
    ctx.groups()
        .streams_heartbeat(group_id, heartbeat, member_topics(ctx))
        .await
        .map_err(|e| (e, None))?
        .map_err(with_message)
}

/// The topology's topics: none of Kafka's own, valid names, and DESCRIBE on each.
fn check_topic_names(ctx: &RequestContext, t: &Topology) -> Result<(), (E, Option<String>)> {
    let names = t.topic_names();
    let internal: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| KAFKA_INTERNAL.contains(n))
        .collect();
    if !internal.is_empty() {
        return Err((
            E::StreamsInvalidTopology,
            Some(format!(
                "Use of Kafka internal topics {} in a Kafka Streams topology is prohibited.",
                internal.join(",")
            )),
        ));
    }
    let invalid: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !valid_topic_name(n))
        .collect();
    if !invalid.is_empty() {
        return Err((
            E::StreamsInvalidTopology,
            Some(format!(
                "Topic names {} are not valid topic names.",
                invalid.join(",")
            )),
        ));
    }
    if names
        .iter()
        .any(|n| !ctx.authorize_topic(AclOperation::Describe, n))
    {
        return Err((E::TopicAuthorizationFailed, None));
    }
    Ok(())
}

/// The warm-up task checks `validate` leaves out (the group never assigns warm-ups).
fn check_warmup_tasks(req: &StreamsGroupHeartbeatRequest) -> Result<(), Refusal> {
    let invalid = |m: &str| Err((E::InvalidRequest, m.to_string()));
    if req.member_epoch == 0 && req.warmup_tasks.as_ref().is_some_and(|w| !w.is_empty()) {
        return invalid("WarmupTasks must be empty when (re-)joining.");
    }
    let given = [
        req.active_tasks.is_some(),
        req.standby_tasks.is_some(),
        req.warmup_tasks.is_some(),
    ];
    if given.iter().any(|g| *g) && !given.iter().all(|g| *g) {
        return invalid("If one task-type is non-null, all must be non-null.");
    }
    Ok(())
}

fn tasks(list: &[TaskIds]) -> BTreeSet<TaskId> {
    list.iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.subtopology_id.to_string(), *p))
        })
        .collect()
}

fn key_values(list: &[request::KeyValue]) -> Vec<(String, String)> {
    list.iter()
        .map(|kv| (kv.key.to_string(), kv.value.to_string()))
        .collect()
}

fn topic_info(t: &request::TopicInfo) -> TopicInfo {
    TopicInfo {
        name: t.name.to_string(),
        partitions: t.partitions,
        replication_factor: t.replication_factor,
        configs: key_values(&t.topic_configs),
    }
}

fn topology(t: &request::Topology) -> Topology {
    let subtopologies = t
        .subtopologies
        .iter()
        .map(|s| {
            let names = |list: &[TopicName]| list.iter().map(|n| n.to_string()).collect();
            let sub = Subtopology {
                source_topics: names(&s.source_topics),
                source_topic_regex: s.source_topic_regex.iter().map(|r| r.to_string()).collect(),
                changelog_topics: s.state_changelog_topics.iter().map(topic_info).collect(),
                repartition_sink_topics: names(&s.repartition_sink_topics),
                repartition_source_topics: s
                    .repartition_source_topics
                    .iter()
                    .map(topic_info)
                    .collect(),
                copartition_groups: s
                    .copartition_groups
                    .iter()
                    .map(|g| CopartitionGroup {
                        source_topics: g.source_topics.clone(),
                        source_topic_regex: g.source_topic_regex.clone(),
                        repartition_source_topics: g.repartition_source_topics.clone(),
                    })
                    .collect(),
            };
            (s.subtopology_id.to_string(), sub)
        })
        .collect();
    Topology {
        epoch: t.epoch,
        subtopologies,
    }
}

fn heartbeat(ctx: &RequestContext, req: &StreamsGroupHeartbeatRequest) -> Heartbeat {
    Heartbeat {
        member_id: req.member_id.to_string(),
        epoch: req.member_epoch,
        endpoint_information_epoch: req.endpoint_information_epoch,
        instance_id: req.instance_id.as_ref().map(|s| s.to_string()),
        rack_id: req.rack_id.as_ref().map(|s| s.to_string()),
        rebalance_timeout_ms: req.rebalance_timeout_ms,
        topology: req.topology.as_ref().map(topology),
        owned: req.active_tasks.as_ref().map(|active| Owned {
            active: tasks(active),
            standby: req.standby_tasks.as_deref().map(tasks).unwrap_or_default(),
        }),
        process_id: req.process_id.as_ref().map(|s| s.to_string()),
        user_endpoint: req
            .user_endpoint
            .as_ref()
            .map(|e| (e.host.to_string(), e.port)),
        client_tags: req.client_tags.as_ref().map(|tags| {
            tags.iter()
                .map(|kv| (kv.key.to_string(), kv.value.to_string()))
                .collect()
        }),
        task_offsets: req.task_offsets.as_ref().map(|offsets| {
            offsets
                .iter()
                .map(|o| ((o.subtopology_id.to_string(), o.partition), o.offset))
                .collect()
        }),
        shutdown_application: req.shutdown_application,
        client_id: ctx.client_id().to_string(),
        client_host: ctx.client_host(),
    }
}

fn task_ids(tasks: &BTreeSet<TaskId>) -> Vec<response::TaskIds> {
    let mut by_sub: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (s, p) in tasks {
        by_sub.entry(s.as_str()).or_default().push(*p);
    }
    by_sub
        .into_iter()
        .map(|(s, ps)| {
            response::TaskIds::default()
                .with_subtopology_id(str(s.to_string()))
                .with_partitions(ps)
        })
        .collect()
}

fn topic_partitions(map: BTreeMap<String, BTreeSet<i32>>) -> Vec<response::TopicPartition> {
    map.into_iter()
        .map(|(t, ps)| {
            response::TopicPartition::default()
                .with_topic(TopicName(str(t)))
                .with_partitions(ps.into_iter().collect())
        })
        .collect()
}

fn encode(ctx: &RequestContext, mut a: Answer) -> StreamsGroupHeartbeatResponse {
    create_internal_topics(ctx, &mut a);
    let (active, standby) = match a.tasks {
        Some((active, standby)) => (Some(task_ids(&active)), Some(task_ids(&standby))),
        None => (None, None),
    };
    let warmup = active.as_ref().map(|_| Vec::new());
    let endpoints = a.endpoints.map(|list| {
        list.into_iter()
            .map(|e| {
                EndpointToPartitions::default()
                    .with_user_endpoint(
                        response::Endpoint::default()
                            .with_host(str(e.endpoint.0))
                            .with_port(e.endpoint.1),
                    )
                    .with_active_partitions(topic_partitions(e.active))
                    .with_standby_partitions(topic_partitions(e.standby))
            })
            .collect()
    });
    let leaving = a.epoch < 0;
    let statuses = a
        .statuses
        .into_iter()
        .map(|s| {
            Status::default()
                .with_status_code(s.code)
                .with_status_detail(str(s.detail))
        })
        .collect();
    StreamsGroupHeartbeatResponse::default()
        .with_member_id(str(a.member_id))
        .with_member_epoch(a.epoch)
        .with_heartbeat_interval_ms(a.heartbeat_interval_ms)
        .with_task_offset_interval_ms(if leaving { 0 } else { TASK_OFFSET_INTERVAL_MS })
        .with_acceptable_recovery_lag(if leaving { -1 } else { ACCEPTABLE_RECOVERY_LAG })
        .with_status(Some(statuses))
        .with_active_tasks(active)
        .with_standby_tasks(standby)
        .with_warmup_tasks(warmup)
        .with_endpoint_information_epoch(a.endpoint_epoch)
        .with_partitions_by_user_endpoint(endpoints)
}

/// Kafka's KafkaApis after the coordinator answered: CREATE on the cluster (or on each
/// topic) to create the missing internal topics in the background, and the reasons they
/// are still missing added to the member's MISSING_INTERNAL_TOPICS status.
fn create_internal_topics(ctx: &RequestContext, a: &mut Answer) {
    if !a.to_create.is_empty() {
        let may_create_any = ctx.authorize_cluster(AclOperation::Create);
        let denied: Vec<&str> = a
            .to_create
            .iter()
            .filter(|t| !may_create_any && !ctx.authorize_topic(AclOperation::Create, &t.name))
            .map(|t| t.name.as_str())
            .collect();
        if !denied.is_empty() {
            let why = format!("Unauthorized to CREATE on topics {}.", denied.join(", "));
            match a
                .statuses
                .iter_mut()
                .find(|s| s.code == MISSING_INTERNAL_TOPICS)
            {
                Some(s) => s.detail = format!("{}; {why}", s.detail),
                None => a.statuses.push(crate::group::streams::Status {
                    code: MISSING_INTERNAL_TOPICS,
                    detail: why,
                }),
            }
        } else {
            let new = a
                .to_create
                .iter()
                .map(|t| NewTopic {
                    name: t.name.clone(),
                    partitions: t.partitions,
                    replication_factor: if t.replication_factor <= 0 {
                        1
                    } else {
                        t.replication_factor
                    },
                    configs: t.configs.iter().cloned().collect(),
                })
                .collect();
            let ttl = 2 * i64::from(a.heartbeat_interval_ms);
            ctx.topics().create_internal_topics(new, ttl);
        }
    }
    let Some(status) = a
        .statuses
        .iter_mut()
        .find(|s| s.code == MISSING_INTERNAL_TOPICS)
    else {
        return;
    };
    let names: Vec<String> = a.to_create.iter().map(|t| t.name.clone()).collect();
    let failed = ctx.topics().internal_topic_errors(&names);
    if failed.is_empty() {
        return;
    }
    let mut shown: Vec<String> = failed
        .iter()
        .take(3)
        .map(|(n, m)| format!("{n} ({m})"))
        .collect();
    if failed.len() > 3 {
        shown.push(format!("and {} more", failed.len() - 3));
    }
    let listed = match failed.len() > 3 {
        true => format!(
            "{} {}",
            shown[..3].join(", "),
            shown.last().cloned().unwrap_or_default()
        ),
        false => shown.join(", "),
    };
    status.detail = format!("{}; Creation failed: {listed}.", status.detail);
}
