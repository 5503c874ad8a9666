//! ListGroups (16), with the v4 state filter and the v5 type filter (`classic`, `consumer`).

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use super::group_common::str;
use super::RequestContext;
use crate::security::acl::AclOperation;

pub async fn handle(ctx: RequestContext, req: ListGroupsRequest) -> ListGroupsResponse {
    let groups = match ctx.groups().list_groups().await {
        Ok(g) => g,
        Err(e) => return ListGroupsResponse::default().with_error_code(e.code()),
    };
    // Filters compare case-insensitively, as Kafka's do.
    let states: Vec<String> = req
        .states_filter
        .iter()
        .map(|s| s.trim().to_lowercase())
        .collect();
    let types: Vec<String> = req
        .types_filter
        .iter()
        .map(|s| s.trim().to_lowercase())
        .collect();
    // Kafka: every group with DESCRIBE on the cluster, else those the principal may describe.
    let all = ctx.authorize_cluster(AclOperation::Describe);
    let listed = groups
        .into_iter()
        .filter(|g| states.is_empty() || states.contains(&g.state.to_lowercase()))
        .filter(|g| types.is_empty() || types.iter().any(|t| t == g.group_type))
        .filter(|g| all || ctx.authorize_group(AclOperation::Describe, &g.group_id))
        .map(|g| {
            ListedGroup::default()
                .with_group_id(GroupId(str(g.group_id)))
                .with_protocol_type(str(g.protocol_type))
                .with_group_state(StrBytes::from_static_str(g.state))
                .with_group_type(StrBytes::from_static_str(g.group_type))
        })
        .collect();
    ListGroupsResponse::default().with_groups(listed)
}
