//! ShareAcknowledge (79): acknowledgements outside a fetch, in the member's share session
//! (its next epoch; -1 closes the session after them, releasing the member's other records).
//! Each partition answers its own error: INVALID_RECORD_STATE for records the member does not
//! hold, INVALID_REQUEST for malformed batches, UNKNOWN_TOPIC_OR_PARTITION for a partition
//! another broker leads (as Kafka); a rejected partition changes nothing. v2 also
//! takes RENEW (when IsRenewAck is set) and answers the group's lock duration.

use std::collections::BTreeMap;

use kafka_protocol::messages::share_acknowledge_response::{
    LeaderIdAndEpoch, NodeEndpoint, PartitionData, ShareAcknowledgeTopicResponse,
};
use kafka_protocol::messages::{ShareAcknowledgeRequest, ShareAcknowledgeResponse};
use kafka_protocol::ResponseError as E;
use uuid::Uuid;

use super::share_common::{
    acknowledgeable, acks, check_types, current_leader, ids, names_leader, note_session, partition,
    settings,
};
use super::{leader_epoch, RequestContext};
use crate::shares::SessionRequest;

pub async fn handle(ctx: RequestContext, req: ShareAcknowledgeRequest) -> ShareAcknowledgeResponse {
    // share.version 0: share groups are off (Kafka: UNSUPPORTED_VERSION, nothing else).
    if !ctx.features().share_groups_enabled() {
        return ShareAcknowledgeResponse::default().with_error_code(E::UnsupportedVersion.code());
    }
    let lock_ms = req
        .group_id
        .as_ref()
        .map(|g| settings(&ctx, g.as_str()).limits.lock_ms)
        .unwrap_or_default();
    match serve(&ctx, req).await {
        Ok((topics, endpoints)) => ShareAcknowledgeResponse::default()
            .with_acquisition_lock_timeout_ms(i32::try_from(lock_ms).unwrap_or(i32::MAX))
            .with_responses(topics)
            .with_node_endpoints(endpoints),
        Err(e) => ShareAcknowledgeResponse::default().with_error_code(e.code()),
    }
}

async fn serve(
    ctx: &RequestContext,
    req: ShareAcknowledgeRequest,
) -> Result<(Vec<ShareAcknowledgeTopicResponse>, Vec<NodeEndpoint>), E> {
    let (group_id, member_id) = ids(
        ctx,
        req.group_id.as_ref().map(|g| g.as_str()),
        req.member_id.as_ref().map(|m| m.as_str()),
    )?;
    let settings = settings(ctx, &group_id);
    let version = ctx.version();
    let renew = version >= 2 && req.is_renew_ack;
    let mut errors = BTreeMap::new();
    let mut acknowledged = Vec::new();
    let mut led = Vec::new();
    for t in &req.topics {
        for p in &t.partitions {
            let tp = (t.topic_id, p.partition_index);
            let partition = match acknowledgeable(ctx, &t.topic_id, p.partition_index) {
                Ok(partition) => partition,
                Err(e) => {
                    errors.insert(tp, e);
                    continue;
                }
            };
            let batches = p
                .acknowledgement_batches
                .iter()
                .map(|b| (b.first_offset, b.last_offset, b.acknowledge_types.clone()));
            let batches = acks(batches);
            match check_types(&batches, version, renew) {
                Ok(()) => {
                    acknowledged.push((tp, batches));
                    led.push((tp, partition));
                }
                Err(e) => {
                    errors.insert(tp, e);
                }
            }
        }
    }
    let session = SessionRequest {
        group_id: group_id.clone(),
        member_id: member_id.clone(),
        epoch: req.share_session_epoch,
        connection: ctx.connection().id(),
        fetch: None,
        forgotten: Vec::new(),
        acks: acknowledged,
    };
    let outcome = ctx.shares().session(session, led, settings).await?;
    note_session(ctx, &group_id, &member_id, req.share_session_epoch);
    let mut results: BTreeMap<(Uuid, i32), Option<E>> =
        errors.into_iter().map(|(tp, e)| (tp, Some(e))).collect();
    for (tp, result) in outcome.acks {
        results.insert(tp, result.err());
    }
    let mut endpoints = BTreeMap::new();
    let mut topics: Vec<ShareAcknowledgeTopicResponse> = Vec::new();
    for ((topic_id, index), error) in results {
        let code = error.map_or(0, |e| e.code());
        // A partition led elsewhere names its leader (and the response its address), as
        // Kafka's `KafkaApis.processShareAcknowledgeResponse`.
        let (leader, epoch) = if names_leader(code) {
            let leader = current_leader(ctx, &topic_id, index);
            if let Some((node, host, port)) = leader.endpoint {
                endpoints.insert(node, (host, port));
            }
            (leader.id, leader.epoch)
        } else {
            let epoch =
                partition(ctx, &topic_id, index).map_or(-1, |p| leader_epoch::current(ctx, &p));
            (ctx.cluster().this_node(), epoch)
        };
        let data = PartitionData::default()
            .with_partition_index(index)
            .with_error_code(code)
            .with_current_leader(
                LeaderIdAndEpoch::default()
                    .with_leader_id(leader)
                    .with_leader_epoch(epoch),
            );
        match topics.last_mut() {
            Some(t) if t.topic_id == topic_id => t.partitions.push(data),
            _ => topics.push(
                ShareAcknowledgeTopicResponse::default()
                    .with_topic_id(topic_id)
                    .with_partitions(vec![data]),
            ),
        }
    }
    let endpoints = endpoints
        .into_iter()
        .map(|(node, (host, port))| {
            NodeEndpoint::default()
                .with_node_id(node.into())
                .with_host(host.into())
                .with_port(port)
        })
        .collect();
    Ok((topics, endpoints))
}
