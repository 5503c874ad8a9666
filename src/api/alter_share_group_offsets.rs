//! AlterShareGroupOffsets (91): start an empty share group's partitions again at the given
//! offsets (`kafka-share-groups --reset-offsets`); NON_EMPTY_GROUP while it has members,
//! GROUP_ID_NOT_FOUND unless a share group.

use kafka_protocol::messages::alter_share_group_offsets_response::{
    AlterShareGroupOffsetsResponsePartition as Partition,
    AlterShareGroupOffsetsResponseTopic as Topic,
};
use kafka_protocol::messages::{AlterShareGroupOffsetsRequest, AlterShareGroupOffsetsResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError as E;

use super::{RequestContext, UNSUPPORTED_VERSION_MESSAGE};
use crate::security::acl::AclOperation;

pub async fn handle(
    ctx: RequestContext,
    req: AlterShareGroupOffsetsRequest,
) -> AlterShareGroupOffsetsResponse {
    // share.version 0: share groups are off (Kafka: UNSUPPORTED_VERSION with its message).
    if !ctx.features().share_groups_enabled() {
        return AlterShareGroupOffsetsResponse::default()
            .with_error_code(E::UnsupportedVersion.code())
            .with_error_message(Some(StrBytes::from_static_str(UNSUPPORTED_VERSION_MESSAGE)));
    }
    let group_id = req.group_id.to_string();
    if !ctx.authorize_group(AclOperation::Read, &group_id) {
        return AlterShareGroupOffsetsResponse::default()
            .with_error_code(E::GroupAuthorizationFailed.code());
    }
    let mut offsets = Vec::new();
    let mut topics = Vec::new();
    for t in req.topics {
        let topic = ctx.topics().get(t.topic_name.as_str());
        let readable = ctx.authorize_topic(AclOperation::Read, t.topic_name.as_str());
        let partitions = t
            .partitions
            .iter()
            .map(|p| {
                let code = match &topic {
                    _ if !readable => E::TopicAuthorizationFailed.code(),
                    Some(topic) if (0..topic.partition_count()).contains(&p.partition_index) => {
                        let log = crate::pg::placement::log_name(&topic.name, p.partition_index);
                        offsets.push(((topic.id, p.partition_index), log, p.start_offset));
                        0
                    }
                    _ => E::UnknownTopicOrPartition.code(),
                };
                Partition::default()
                    .with_partition_index(p.partition_index)
                    .with_error_code(code)
            })
            .collect();
        topics.push(
            Topic::default()
                .with_topic_name(t.topic_name)
                .with_topic_id(topic.map(|t| t.id).unwrap_or_default())
                .with_partitions(partitions),
        );
    }
    match ctx.groups().share_alter_offsets(group_id, offsets).await {
        Ok(()) => AlterShareGroupOffsetsResponse::default().with_responses(topics),
        Err(e) => AlterShareGroupOffsetsResponse::default().with_error_code(e.code()),
    }
}
