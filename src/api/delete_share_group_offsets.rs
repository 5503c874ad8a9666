//! DeleteShareGroupOffsets (92): forget an empty share group's state for whole topics (they
//! start again by share.auto.offset.reset); NON_EMPTY_GROUP while it has members.

use kafka_protocol::messages::delete_share_group_offsets_response::DeleteShareGroupOffsetsResponseTopic as Topic;
use kafka_protocol::messages::{DeleteShareGroupOffsetsRequest, DeleteShareGroupOffsetsResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError as E;

use super::{RequestContext, UNSUPPORTED_VERSION_MESSAGE};
use crate::security::acl::AclOperation;

pub async fn handle(
    ctx: RequestContext,
    req: DeleteShareGroupOffsetsRequest,
) -> DeleteShareGroupOffsetsResponse {
    // share.version 0: share groups are off (Kafka: UNSUPPORTED_VERSION with its message).
    if !ctx.features().share_groups_enabled() {
        return DeleteShareGroupOffsetsResponse::default()
            .with_error_code(E::UnsupportedVersion.code())
            .with_error_message(Some(StrBytes::from_static_str(UNSUPPORTED_VERSION_MESSAGE)));
    }
    let group_id = req.group_id.to_string();
    if !ctx.authorize_group(AclOperation::Delete, &group_id) {
        return DeleteShareGroupOffsetsResponse::default()
            .with_error_code(E::GroupAuthorizationFailed.code());
    }
    let mut ids = Vec::new();
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let topic = ctx.topics().get(t.topic_name.as_str());
            let code = match &topic {
                _ if !ctx.authorize_topic(AclOperation::Read, t.topic_name.as_str()) => {
                    E::TopicAuthorizationFailed.code()
                }
                Some(topic) => {
                    ids.push(topic.id);
                    0
                }
                None => E::UnknownTopicOrPartition.code(),
            };
            Topic::default()
                .with_topic_name(t.topic_name)
                .with_topic_id(topic.map(|t| t.id).unwrap_or_default())
                .with_error_code(code)
        })
        .collect();
    match ctx.groups().share_delete_offsets(group_id, ids).await {
        Ok(()) => DeleteShareGroupOffsetsResponse::default().with_responses(topics),
        Err(e) => DeleteShareGroupOffsetsResponse::default().with_error_code(e.code()),
    }
}
