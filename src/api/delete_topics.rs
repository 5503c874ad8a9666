//! DeleteTopics (20): by name (v1–5) or by name or id (v6+).

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::{catalog, RequestContext};
use kafka_protocol::ResponseError;

use crate::error::BrokerError;
use crate::security::acl::AclOperation;

pub async fn handle(ctx: RequestContext, req: DeleteTopicsRequest) -> DeleteTopicsResponse {
    let targets: Vec<(Option<TopicName>, Uuid)> = if ctx.version() >= 6 {
        req.topics
            .into_iter()
            .map(|t| (t.name, t.topic_id))
            .collect()
    } else {
        req.topic_names
            .into_iter()
            .map(|n| (Some(n), Uuid::nil()))
            .collect()
    };
    // Deleting touches the store and renames directories: off the async workers.
    let deleted = tokio::task::spawn_blocking(move || {
        catalog::then_tick(ctx.topics(), ctx.cluster(), || delete_all(&ctx, targets))
    })
    .await;
    let responses = deleted.unwrap_or_else(|e| {
        tracing::error!(error = %e, "DeleteTopics failed");
        Vec::new()
    });
    DeleteTopicsResponse::default().with_responses(responses)
}

fn delete_all(
    ctx: &RequestContext,
    targets: Vec<(Option<TopicName>, Uuid)>,
) -> Vec<DeletableTopicResult> {
    // Kafka (ControllerApis.deleteTopics): DELETE on the cluster, or else DELETE on each
    // topic; a name the principal may not DESCRIBE is not looked up, and a topic asked for by
    // id is not named back unless it may be described.
    let may_delete_any = ctx.authorize_cluster(AclOperation::Delete);
    let describable = |n: &str| may_delete_any || ctx.authorize_topic(AclOperation::Describe, n);
    let deletable = |n: &str| may_delete_any || ctx.authorize_topic(AclOperation::Delete, n);
    let denied = || BrokerError::NotAuthorized(ResponseError::TopicAuthorizationFailed);
    targets
        .into_iter()
        .map(|(name, id)| {
            let by_id = name.is_none();
            let name = match name {
                Some(n) => Ok(n),
                None => ctx
                    .topics()
                    .by_id(&id)
                    .map(|t| TopicName(StrBytes::from_string(t.name.clone())))
                    .ok_or(BrokerError::UnknownTopicId),
            };
            let mut shown = name.as_ref().ok().cloned();
            let name = name.and_then(|n| {
                if deletable(&n) {
                    Ok(n)
                } else if by_id {
                    if !describable(&n) {
                        shown = None;
                    }
                    Err(denied())
                } else if describable(&n) && ctx.topics().get(&n).is_none() {
                    Err(BrokerError::UnknownTopicOrPartition)
                } else {
                    Err(denied())
                }
            });
            let deleted = name.and_then(|n| {
                let id = ctx.topics().delete_topic(&n)?;
                // Its committed offsets go with it.
                ctx.groups().topic_deleted(n.to_string());
                Ok(id)
            });
            match deleted {
                Ok(id) => DeletableTopicResult::default()
                    .with_name(shown)
                    .with_topic_id(id),
                Err(e) => DeletableTopicResult::default()
                    .with_name(shown)
                    .with_topic_id(id)
                    .with_error_code(e.code())
                    .with_error_message(Some(StrBytes::from_string(e.to_string()))),
            }
        })
        .collect()
}
