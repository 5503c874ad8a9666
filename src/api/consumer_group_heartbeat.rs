//! ConsumerGroupHeartbeat (68): KIP-848's consumer group protocol. Joining (epoch 0),
//! heartbeating with the member epoch, leaving (-1, or -2 for a static member that will
//! come back); the answer carries the member epoch and, when it changed or the request was
//! full, the member's assignment. The group logic is in `group::consumer`.

use kafka_protocol::messages::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError as E;

use super::group_common::member_topics;
use super::RequestContext;
use crate::group::consumer::{self, Heartbeat};
use crate::security::acl::AclOperation;

pub async fn handle(
    ctx: RequestContext,
    req: ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    // group.version 0: the consumer protocol is off (Kafka: UNSUPPORTED_VERSION, before any
    // other check; the API stays advertised).
    if !ctx.features().consumer_protocol_enabled() {
        return ConsumerGroupHeartbeatResponse::default()
            .with_error_code(E::UnsupportedVersion.code());
    }
    let group_id = req.group_id.to_string();
    let heartbeat = Heartbeat {
        member_id: req.member_id.to_string(),
        epoch: req.member_epoch,
        instance_id: req.instance_id.as_ref().map(|s| s.to_string()),
        rack_id: req.rack_id.as_ref().map(|s| s.to_string()),
        rebalance_timeout_ms: req.rebalance_timeout_ms,
        subscribed_topic_names: req
            .subscribed_topic_names
            .as_ref()
            .map(|names| names.iter().map(|n| n.to_string()).collect()),
        subscribed_topic_regex: req.subscribed_topic_regex.as_ref().map(|s| s.to_string()),
        server_assignor: req.server_assignor.as_ref().map(|s| s.to_string()),
        owned: req.topic_partitions.as_ref().map(|tps| {
            let mut owned = consumer::Assignment::new();
            for tp in tps {
                owned
                    .entry(tp.topic_id)
                    .or_default()
                    .extend(tp.partitions.iter().copied());
            }
            owned
        }),
        client_id: ctx.client_id().to_string(),
        client_host: ctx.client_host(),
    };
    match answer(&ctx, group_id, heartbeat).await {
        Ok(a) => ConsumerGroupHeartbeatResponse::default()
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
        Err(e) => ConsumerGroupHeartbeatResponse::default()
            .with_error_code(e.code())
            .with_error_message((e == E::GroupMaxSizeReached).then(|| {
                let max = ctx.groups().config().consumer_max_size;
                StrBytes::from_string(format!(
                    "The consumer group has reached its maximum capacity of {max} members."
                ))
            })),
    }
}

async fn answer(
    ctx: &RequestContext,
    group_id: String,
    mut heartbeat: Heartbeat,
) -> Result<consumer::HeartbeatAnswer, E> {
    // Kafka: READ on the group, then DESCRIBE on every subscribed topic.
    if !ctx.authorize_group(AclOperation::Read, &group_id) {
        return Err(E::GroupAuthorizationFailed);
    }
    if group_id.is_empty() {
        return Err(E::InvalidRequest);
    }
    consumer::validate(&heartbeat, ctx.version())?;
    let names = heartbeat.subscribed_topic_names.iter().flatten();
    if names
        .clone()
        .any(|t| !ctx.authorize_topic(AclOperation::Describe, t))
    {
        return Err(E::TopicAuthorizationFailed);
    }
    if heartbeat.member_id.is_empty() {
        // Version 0: the coordinator names the member.
        heartbeat.member_id = uuid::Uuid::new_v4().to_string();
    }
    ctx.groups()
        .consumer_heartbeat(group_id, heartbeat, member_topics(ctx))
        .await
}
