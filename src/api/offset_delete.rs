//! OffsetDelete (47): drop committed offsets of an empty group, or of topics a consumer
//! group no longer subscribes to.

use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse, TopicName};
use kafka_protocol::ResponseError as E;

use super::group_common::{partition_exists, str};
use super::RequestContext;
use crate::security::acl::AclOperation;

pub async fn handle(ctx: RequestContext, req: OffsetDeleteRequest) -> OffsetDeleteResponse {
    // Kafka: DELETE on the group, READ on each topic.
    if !ctx.authorize_group(AclOperation::Delete, &req.group_id) {
        return OffsetDeleteResponse::default().with_error_code(E::GroupAuthorizationFailed.code());
    }
    if req.group_id.is_empty() {
        return OffsetDeleteResponse::default().with_error_code(E::InvalidGroupId.code());
    }
    let mut answers: Vec<(String, Vec<(i32, i16)>)> = Vec::new();
    let mut wanted = Vec::new();
    for topic in &req.topics {
        if !ctx.authorize_topic(AclOperation::Read, &topic.name) {
            let code = E::TopicAuthorizationFailed.code();
            let denied = topic.partitions.iter().map(|p| (p.partition_index, code));
            answers.push((topic.name.to_string(), denied.collect()));
            continue;
        }
        let (known, unknown): (Vec<i32>, Vec<i32>) = topic
            .partitions
            .iter()
            .map(|p| p.partition_index)
            .partition(|p| partition_exists(ctx.topics(), &topic.name, *p));
        if !unknown.is_empty() {
            let code = E::UnknownTopicOrPartition.code();
            answers.push((
                topic.name.to_string(),
                unknown.into_iter().map(|p| (p, code)).collect(),
            ));
        }
        if !known.is_empty() {
            wanted.push((topic.name.to_string(), known));
        }
    }
    match ctx
        .groups()
        .delete_offsets(req.group_id.to_string(), wanted)
        .await
    {
        Ok(deleted) => {
            for (topic, partitions) in deleted {
                answers.push((
                    topic,
                    partitions
                        .into_iter()
                        .map(|(p, r)| (p, r.err().map_or(0, |e| e.code())))
                        .collect(),
                ));
            }
        }
        Err(e) => return OffsetDeleteResponse::default().with_error_code(e.code()),
    }
    let topics = answers
        .into_iter()
        .map(|(name, partitions)| {
            OffsetDeleteResponseTopic::default()
                .with_name(TopicName(str(name)))
                .with_partitions(
                    partitions
                        .into_iter()
                        .map(|(p, code)| {
                            OffsetDeleteResponsePartition::default()
                                .with_partition_index(p)
                                .with_error_code(code)
                        })
                        .collect(),
                )
        })
        .collect();
    OffsetDeleteResponse::default().with_topics(topics)
}
