//! FindCoordinator (10): this node coordinates every group and transactional id. v4+ asks
//! for a batch of keys.

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError as E;

use super::RequestContext;
use crate::security::acl::{AclOperation, ResourceType};

const GROUP_KEY: i8 = 0;
const TRANSACTION_KEY: i8 = 1;
/// Kafka's share coordinator keys ("group:topicId:partition", v6+): share-partition state
/// lives with the group coordinator here.
const SHARE_KEY: i8 = 2;

/// Group, transaction and share coordinators live here.
fn check(key_type: i8) -> Result<(), E> {
    match key_type {
        GROUP_KEY | TRANSACTION_KEY | SHARE_KEY => Ok(()),
        _ => Err(E::InvalidRequest),
    }
}

pub async fn handle(ctx: RequestContext, req: FindCoordinatorRequest) -> FindCoordinatorResponse {
    let checked = check(req.key_type);
    if ctx.version() >= 4 {
        let coordinators = req
            .coordinator_keys
            .into_iter()
            .map(
                |key| match checked.and_then(|()| coordinator(&ctx, req.key_type, &key)) {
                    Ok((node, host, port)) => Coordinator::default()
                        .with_key(key)
                        .with_node_id(node)
                        .with_host(host)
                        .with_port(port),
                    Err(e) => Coordinator::default()
                        .with_key(key)
                        .with_node_id(BrokerId(-1))
                        .with_port(-1)
                        .with_error_code(e.code()),
                },
            )
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    match checked.and_then(|()| coordinator(&ctx, req.key_type, &req.key)) {
        Ok((node, host, port)) => FindCoordinatorResponse::default()
            .with_node_id(node)
            .with_host(host)
            .with_port(port),
        Err(e) => FindCoordinatorResponse::default()
            .with_error_code(e.code())
            .with_node_id(BrokerId(-1))
            .with_port(-1),
    }
}

/// Kafka's `SharePartitionKey` form: "group:topicId:partition".
fn is_share_key(key: &str) -> bool {
    let mut parts = key.rsplitn(3, ':');
    let (Some(partition), Some(topic), Some(group)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    partition.parse::<i32>().is_ok_and(|p| p >= 0) && !topic.is_empty() && !group.is_empty()
}

/// The coordinator of `key` with its address on the request's listener;
/// COORDINATOR_NOT_AVAILABLE while the cluster view names a node whose address is unknown.
/// Kafka first checks DESCRIBE on the group or transactional id.
fn coordinator(
    ctx: &RequestContext,
    key_type: i8,
    key: &str,
) -> Result<(BrokerId, StrBytes, i32), E> {
    if key_type == SHARE_KEY && !is_share_key(key) {
        return Err(E::InvalidRequest);
    }
    if key_type == GROUP_KEY && !ctx.authorize_group(AclOperation::Describe, key) {
        return Err(E::GroupAuthorizationFailed);
    }
    if key_type == TRANSACTION_KEY
        && !ctx.authorize(AclOperation::Describe, ResourceType::TransactionalId, key)
    {
        return Err(E::TransactionalIdAuthorizationFailed);
    }
    let node = ctx
        .cluster()
        .coordinator(key)
        .ok_or(E::CoordinatorNotAvailable)?;
    ctx.broker_endpoints()
        .into_iter()
        .find(|(id, _, _)| *id == node)
        .map(|(id, host, port)| (BrokerId(id), StrBytes::from_string(host), port))
        .ok_or(E::CoordinatorNotAvailable)
}
