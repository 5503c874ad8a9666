//! OffsetCommit (8). Partitions of unknown topics fail alone; the rest go to the coordinator.
//! v10 (KIP-848, what the Java consumer sends under group.protocol=consumer) names topics by
//! id instead of name: an id no topic has answers UNKNOWN_TOPIC_ID, as Kafka 4.4 does.

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};
use kafka_protocol::ResponseError as E;

use super::group_common::{partition_exists, requested_topic_names};
use super::RequestContext;
use crate::group::coordinator::{CommitRequest, OffsetToCommit};
use crate::security::acl::AclOperation;

pub async fn handle(ctx: RequestContext, req: OffsetCommitRequest) -> OffsetCommitResponse {
    // Each partition's outcome, in request order; None until the coordinator answers.
    let mut outcome: Vec<Vec<Option<Result<(), E>>>> = Vec::with_capacity(req.topics.len());
    let mut offsets = Vec::new();
    // Kafka: READ on the group (else every partition fails), then READ on each topic.
    let group_allowed = ctx.authorize_group(AclOperation::Read, &req.group_id);
    // v10: each topic's name from its id; None where no topic has that id.
    let topics = req.topics.iter().map(|t| (t.topic_id, t.name.as_str()));
    let names = requested_topic_names(&ctx, ctx.version() >= 10, topics).await;
    for (topic, name) in req.topics.iter().zip(&names) {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        let known = name.is_some();
        let name = name.as_deref().unwrap_or_default();
        let topic_allowed = group_allowed && known && ctx.authorize_topic(AclOperation::Read, name);
        for p in &topic.partitions {
            if !group_allowed {
                partitions.push(Some(Err(E::GroupAuthorizationFailed)));
            } else if !known {
                partitions.push(Some(Err(E::UnknownTopicId)));
            } else if !topic_allowed {
                partitions.push(Some(Err(E::TopicAuthorizationFailed)));
            } else if partition_exists(ctx.topics(), name, p.partition_index) {
                offsets.push(OffsetToCommit {
                    topic: name.to_string(),
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
            // The encoder writes the name before v10 and the id from v10.
            OffsetCommitResponseTopic::default()
                .with_name(topic.name)
                .with_topic_id(topic.topic_id)
                .with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::offset_commit_response::OffsetCommitResponseTopic;
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::protocol::{Encodable, StrBytes};
    use uuid::Uuid;

    /// The handler sets both the name and the id of each topic and relies on the codec to
    /// write the name up to v9 and only the id from v10.
    #[test]
    fn a_topic_answers_by_name_before_v10_and_by_id_from_v10() {
        let id = Uuid::from_u128(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10);
        let topic = OffsetCommitResponseTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("orders")))
            .with_topic_id(id);
        let encode = |version| {
            let mut buf = Vec::new();
            topic.encode(&mut buf, version).unwrap();
            buf
        };
        let (v9, v10) = (encode(9), encode(10));
        let has = |buf: &[u8], what: &[u8]| buf.windows(what.len()).any(|w| w == what);
        assert!(has(&v9, b"orders") && !has(&v9, id.as_bytes()));
        assert!(has(&v10, id.as_bytes()) && !has(&v10, b"orders"));
    }
}
