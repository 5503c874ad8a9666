//! ShareGroupHeartbeat (76): KIP-932's share group membership. Joining (epoch 0, with the
//! subscribed topics), heartbeating with the member epoch, leaving (-1: the member's
//! acquired records are released); the answer carries the member epoch and, when it
//! changed or the member joined, its assignment. The group logic is in `group::share`.

use std::sync::Arc;

use kafka_protocol::messages::share_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{ShareGroupHeartbeatRequest, ShareGroupHeartbeatResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError as E;

use super::RequestContext;
use crate::group::consumer::TopicLookup;
use crate::group::share::{self, ShareAnswer, ShareHeartbeat};
use crate::security::acl::AclOperation;

pub async fn handle(
    ctx: RequestContext,
    req: ShareGroupHeartbeatRequest,
) -> ShareGroupHeartbeatResponse {
    // share.version 0: share groups are off (Kafka: UNSUPPORTED_VERSION before any check).
    if !ctx.features().share_groups_enabled() {
        return ShareGroupHeartbeatResponse::default()
            .with_error_code(E::UnsupportedVersion.code());
    }
    let group_id = req.group_id.to_string();
    let heartbeat = ShareHeartbeat {
        member_id: req.member_id.to_string(),
        epoch: req.member_epoch,
        rack_id: req.rack_id.as_ref().map(|s| s.to_string()),
        subscribed_topic_names: req
            .subscribed_topic_names
            .as_ref()
            .map(|names| names.iter().map(|n| n.to_string()).collect()),
        client_id: ctx.client_id().to_string(),
        client_host: ctx.client_host(),
    };
    match answer(&ctx, group_id, heartbeat).await {
        Ok(a) => ShareGroupHeartbeatResponse::default()
            .with_member_id(Some(StrBytes::from_string(a.member_id)))
            .with_member_epoch(a.epoch)
            .with_heartbeat_interval_ms(a.heartbeat_interval_ms)
            .with_assignment(a.assignment.map(|assigned| {
                Assignment::default().with_topic_partitions(
                    assigned
                        .into_iter()
                        .map(|(topic_id, ps)| {
                            TopicPartitions::default()
                                .with_topic_id(topic_id)
                                .with_partitions(ps.into_iter().collect())
                        })
                        .collect(),
                )
            })),
        Err(e) => ShareGroupHeartbeatResponse::default()
            .with_error_code(e.code())
            .with_error_message((e == E::GroupMaxSizeReached).then(|| {
                let max = ctx.groups().config().share_max_size;
                StrBytes::from_string(format!(
                    "The share group has reached its maximum capacity of {max} members."
                ))
            })),
    }
}

async fn answer(
    ctx: &RequestContext,
    group_id: String,
    heartbeat: ShareHeartbeat,
) -> Result<ShareAnswer, E> {
    // Kafka: READ on the group, then DESCRIBE on every subscribed topic.
    if !ctx.authorize_group(AclOperation::Read, &group_id) {
        return Err(E::GroupAuthorizationFailed);
    }
    if group_id.is_empty() {
        return Err(E::InvalidRequest);
    }
    share::validate(&heartbeat)?;
    let names = heartbeat.subscribed_topic_names.iter().flatten();
    if names
        .clone()
        .any(|t| !ctx.authorize_topic(AclOperation::Describe, t))
    {
        return Err(E::TopicAuthorizationFailed);
    }
    let topics = ctx.topics().clone();
    let lookup: TopicLookup =
        Arc::new(move |name: &str| topics.get(name).map(|t| (t.id, t.partition_count())));
    ctx.groups()
        .share_heartbeat(group_id, heartbeat, lookup)
        .await
}
