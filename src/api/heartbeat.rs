//! Heartbeat (12). REBALANCE_IN_PROGRESS tells a member to rejoin.

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};
use kafka_protocol::ResponseError as E;

use super::RequestContext;
use crate::security::acl::AclOperation;

pub async fn handle(ctx: RequestContext, req: HeartbeatRequest) -> HeartbeatResponse {
    let result = if !ctx.authorize_group(AclOperation::Read, &req.group_id) {
        Err(E::GroupAuthorizationFailed)
    } else if req.group_id.is_empty() {
        Err(E::InvalidGroupId)
    } else {
        let instance_id = req.group_instance_id.map(|s| s.to_string());
        ctx.groups()
            .heartbeat(
                req.group_id.to_string(),
                req.member_id.to_string(),
                instance_id,
                req.generation_id,
            )
            .await
    };
    HeartbeatResponse::default().with_error_code(result.err().map_or(0, |e| e.code()))
}
