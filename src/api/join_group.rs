//! JoinGroup (11). The answer waits until the group's join phase completes.

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};
use kafka_protocol::ResponseError as E;

use super::group_common::{code, member_topics, opt_str, str};
use super::RequestContext;
use crate::group::classic::{new_member_id, JoinRequest, JoinResponse, Protocol};
use crate::security::acl::AclOperation;

pub async fn handle(ctx: RequestContext, req: JoinGroupRequest) -> JoinGroupResponse {
    let version = ctx.version();
    let groups = &ctx.groups();
    let cfg = groups.config();
    let member_id = req.member_id.to_string();
    // Kafka: READ on the group, before anything else is looked at.
    if !ctx.authorize_group(AclOperation::Read, &req.group_id) {
        return response(
            JoinResponse::error(E::GroupAuthorizationFailed, ""),
            version,
        );
    }
    if req.group_id.is_empty() {
        return response(JoinResponse::error(E::InvalidGroupId, &member_id), version);
    }
    if !(cfg.min_session_timeout_ms..=cfg.max_session_timeout_ms).contains(&req.session_timeout_ms)
    {
        return response(
            JoinResponse::error(E::InvalidSessionTimeout, &member_id),
            version,
        );
    }
    let client_id = ctx
        .header
        .client_id
        .as_deref()
        .unwrap_or_default()
        .to_string();
    let instance_id = req.group_instance_id.map(|s| s.to_string());
    let join = JoinRequest {
        fresh_member_id: new_member_id(&client_id, instance_id.as_deref()),
        member_id,
        instance_id,
        client_id,
        client_host: ctx.client_host(),
        session_timeout_ms: req.session_timeout_ms,
        // v0 has no rebalance timeout: the session timeout serves.
        rebalance_timeout_ms: if version == 0 {
            req.session_timeout_ms
        } else {
            req.rebalance_timeout_ms
        },
        protocol_type: req.protocol_type.to_string(),
        protocols: req
            .protocols
            .into_iter()
            .map(|p| Protocol {
                name: p.name.to_string(),
                metadata: p.metadata,
            })
            .collect(),
        require_known_member_id: version >= 4,
        supports_skip_assignment: version >= 9,
    };
    let lookup = member_topics(&ctx);
    response(
        groups.join(req.group_id.to_string(), join, lookup).await,
        version,
    )
}

fn response(r: JoinResponse, version: i16) -> JoinGroupResponse {
    // Before v7 the protocol name is not nullable; from v7 an empty one is sent as null.
    let protocol_name = if version < 7 {
        Some(r.protocol_name.unwrap_or_default())
    } else {
        r.protocol_name.filter(|n| !n.is_empty())
    };
    JoinGroupResponse::default()
        .with_error_code(code(r.error))
        .with_generation_id(r.generation)
        .with_protocol_type(r.protocol_type.map(str))
        .with_protocol_name(protocol_name.map(str))
        .with_leader(str(r.leader))
        .with_skip_assignment(r.skip_assignment && version >= 9)
        .with_member_id(str(r.member_id))
        .with_members(
            r.members
                .into_iter()
                .map(|m| {
                    JoinGroupResponseMember::default()
                        .with_member_id(str(m.member_id))
                        .with_group_instance_id(opt_str(m.instance_id))
                        .with_metadata(m.metadata)
                })
                .collect(),
        )
}
