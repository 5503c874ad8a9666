//! LeaveGroup (13): one member before v3, a batch (members or static instance ids) from v3.

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};
use kafka_protocol::ResponseError as E;

use super::group_common::{opt_str, str};
use super::RequestContext;
use crate::security::acl::AclOperation;

pub async fn handle(ctx: RequestContext, req: LeaveGroupRequest) -> LeaveGroupResponse {
    let version = ctx.version();
    if !ctx.authorize_group(AclOperation::Read, &req.group_id) {
        return LeaveGroupResponse::default().with_error_code(E::GroupAuthorizationFailed.code());
    }
    let members: Vec<(String, Option<String>)> = if version >= 3 {
        req.members
            .iter()
            .map(|m| {
                (
                    m.member_id.to_string(),
                    m.group_instance_id.as_ref().map(|s| s.to_string()),
                )
            })
            .collect()
    } else {
        vec![(req.member_id.to_string(), None)]
    };
    let result = if req.group_id.is_empty() {
        Err(E::InvalidGroupId)
    } else {
        ctx.groups()
            .leave(req.group_id.to_string(), members.clone())
            .await
    };
    let results = match result {
        Ok(r) => r,
        Err(e) => return LeaveGroupResponse::default().with_error_code(e.code()),
    };
    if version < 3 {
        // Old clients read one error: the member's.
        let error = results.first().and_then(|r| r.err());
        return LeaveGroupResponse::default().with_error_code(error.map_or(0, |e| e.code()));
    }
    let members = members
        .into_iter()
        .zip(results)
        .map(|((member_id, instance_id), r)| {
            MemberResponse::default()
                .with_member_id(str(member_id))
                .with_group_instance_id(opt_str(instance_id))
                .with_error_code(r.err().map_or(0, |e| e.code()))
        })
        .collect();
    LeaveGroupResponse::default().with_members(members)
}
