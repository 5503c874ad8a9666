//! OffsetCommit (8). Partitions of unknown topics fail alone; the rest go to the coordinator.

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};
use kafka_protocol::ResponseError as E;

use super::group_common::partition_exists;
use super::RequestContext;
use crate::group::coordinator::{CommitRequest, OffsetToCommit};
use crate::security::acl::AclOperation;

pub async fn handle(ctx: RequestContext, req: OffsetCommitRequest) -> OffsetCommitResponse {
    // Each partition's outcome, in request order; None until the coordinator answers.
    let mut outcome: Vec<Vec<Option<Result<(), E>>>> = Vec::with_capacity(req.topics.len());
    let mut offsets = Vec::new();
    // Kafka: READ on the group (else every partition fails), then READ on each topic.
    let group_allowed = ctx.authorize_group(AclOperation::Read, &req.group_id);
    for topic in &req.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        let topic_allowed = group_allowed && ctx.authorize_topic(AclOperation::Read, &topic.name);
        for p in &topic.partitions {
            if !group_allowed {
                partitions.push(Some(Err(E::GroupAuthorizationFailed)));
            } else if !topic_allowed {
                partitions.push(Some(Err(E::TopicAuthorizationFailed)));
            } else if partition_exists(ctx.topics(), &topic.name, p.partition_index) {
                offsets.push(OffsetToCommit {
                    topic: topic.name.to_string(),
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                });
                partitions.push(None);
            } else {
                partitions.push(Some(Err(E::UnknownTopicOrPartition)));
            }
        }
        outcome.push(partitions);
    }
    if !offsets.is_empty() {
        let commit = CommitRequest {
            group_id: req.group_id.to_string(),
            member_id: req.member_id.to_string(),
            instance_id: req.group_instance_id.as_ref().map(|s| s.to_string()),
            generation: req.generation_id_or_member_epoch,
            retention_ms: req.retention_time_ms,
            version: ctx.version(),
            offsets,
        };
        let mut results = match ctx.groups().commit_offsets(commit).await {
            Ok(results) => results.into_iter(),
            // A group-level error applies to every partition that got this far.
            Err(e) => {
                vec![Err(e); outcome.iter().flatten().filter(|o| o.is_none()).count()].into_iter()
            }
        };
        for slot in outcome.iter_mut().flatten().filter(|o| o.is_none()) {
            *slot = Some(results.next().unwrap_or(Err(E::UnknownServerError)));
        }
    }
    let topics = req
        .topics
        .into_iter()
        .zip(outcome)
        .map(|(topic, results)| {
            let partitions = topic
                .partitions
                .iter()
                .zip(results)
                .map(|(p, r)| {
                    let code = r.and_then(|r| r.err()).map_or(0, |e| e.code());
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}
