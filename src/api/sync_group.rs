//! SyncGroup (14). Followers wait for the leader's assignment.

use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};
use kafka_protocol::ResponseError as E;

use super::group_common::{code, opt_str};
use super::RequestContext;
use crate::group::classic::{SyncRequest, SyncResponse};
use crate::security::acl::AclOperation;

pub async fn handle(ctx: RequestContext, req: SyncGroupRequest) -> SyncGroupResponse {
    let version = ctx.version();
    if !ctx.authorize_group(AclOperation::Read, &req.group_id) {
        return response(SyncResponse::error(E::GroupAuthorizationFailed));
    }
    // From v5 the protocol type and name are mandatory.
    if version >= 5 && (req.protocol_type.is_none() || req.protocol_name.is_none()) {
        return response(SyncResponse::error(E::InconsistentGroupProtocol));
    }
    if req.group_id.is_empty() {
        return response(SyncResponse::error(E::InvalidGroupId));
    }
    let sync = SyncRequest {
        member_id: req.member_id.to_string(),
        instance_id: req.group_instance_id.map(|s| s.to_string()),
        generation: req.generation_id,
        protocol_type: req.protocol_type.map(|s| s.to_string()),
        protocol_name: req.protocol_name.map(|s| s.to_string()),
        assignments: req
            .assignments
            .into_iter()
            .map(|a| (a.member_id.to_string(), a.assignment))
            .collect(),
    };
    response(ctx.groups().sync(req.group_id.to_string(), sync).await)
}

fn response(r: SyncResponse) -> SyncGroupResponse {
    SyncGroupResponse::default()
        .with_error_code(code(r.error))
        .with_protocol_type(opt_str(r.protocol_type))
        .with_protocol_name(opt_str(r.protocol_name))
        .with_assignment(r.assignment)
}
