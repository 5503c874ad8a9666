//! DescribeGroups (15). A group that does not exist, or is not a classic group, is described
//! as Dead: without error before v6, with GROUP_ID_NOT_FOUND and Kafka's message from v6
//! (KIP-1043), which the AdminClient turns into a GroupIdNotFoundException.

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use super::group_common::{opt_str, str};
use super::{RequestContext, AUTHORIZED_OPERATIONS_OMITTED};
use kafka_protocol::ResponseError;

use crate::group::classic::{Description, State};
use crate::security::acl::{AclOperation, ResourceType};

pub async fn handle(ctx: RequestContext, req: DescribeGroupsRequest) -> DescribeGroupsResponse {
    let with_operations = ctx.version() >= 3 && req.include_authorized_operations;
    // Kafka: DESCRIBE on each group; the others answer GROUP_AUTHORIZATION_FAILED.
    let allowed: Vec<bool> = req
        .groups
        .iter()
        .map(|g| ctx.authorize_group(AclOperation::Describe, g))
        .collect();
    let ids: Vec<String> = req
        .groups
        .iter()
        .zip(&allowed)
        .filter(|(_, ok)| **ok)
        .map(|(g, _)| g.to_string())
        .collect();
    let described = match ctx.groups().describe_groups(ids).await {
        Ok(d) => d,
        Err(e) => {
            let failed = req
                .groups
                .into_iter()
                .map(|id| {
                    DescribedGroup::default()
                        .with_group_id(id)
                        .with_error_code(e.code())
                })
                .collect();
            return DescribeGroupsResponse::default().with_groups(failed);
        }
    };
    // v6: which of the groups described as Dead exist as consumer or share groups ("not a
    // classic group" rather than "not found"), asked only when one is missing.
    let others: Vec<String> = if ctx.version() >= 6 && described.iter().any(Option::is_none) {
        match ctx.groups().list_groups().await {
            Ok(listed) => listed
                .into_iter()
                .filter(|g| g.group_type != "classic")
                .map(|g| g.group_id)
                .collect(),
            Err(_) => Vec::new(),
        }
    } else {
        Vec::new()
    };
    let mut described = described.into_iter();
    let groups = req
        .groups
        .into_iter()
        .zip(allowed)
        .map(|(id, allowed)| {
            if !allowed {
                return DescribedGroup::default()
                    .with_group_id(id)
                    .with_error_code(ResponseError::GroupAuthorizationFailed.code())
                    .with_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED);
            }
            let operations =
                ctx.authorized_operations_if(with_operations, ResourceType::Group, &id);
            let Some(d) = described.next().flatten() else {
                let dead = DescribedGroup::default()
                    .with_group_state(StrBytes::from_static_str(State::Dead.name()))
                    .with_authorized_operations(operations);
                if ctx.version() < 6 {
                    return dead.with_group_id(id);
                }
                let message = if others.iter().any(|g| g.as_str() == id.as_str()) {
                    format!("Group {} is not a classic group.", id.as_str())
                } else {
                    format!("Group {} not found.", id.as_str())
                };
                return dead
                    .with_group_id(id)
                    .with_error_code(ResponseError::GroupIdNotFound.code())
                    .with_error_message(Some(StrBytes::from_string(message)));
            };
            describe(d)
                .with_group_id(id)
                .with_authorized_operations(operations)
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}

fn describe(d: Description) -> DescribedGroup {
    let members = d
        .members
        .into_iter()
        .map(|m| {
            DescribedGroupMember::default()
                .with_member_id(str(m.member_id))
                .with_group_instance_id(opt_str(m.instance_id))
                .with_client_id(str(m.client_id))
                .with_client_host(str(m.client_host))
                .with_member_metadata(m.metadata)
                .with_member_assignment(m.assignment)
        })
        .collect();
    DescribedGroup::default()
        .with_group_state(StrBytes::from_static_str(d.state.name()))
        .with_protocol_type(str(d.protocol_type))
        .with_protocol_data(str(d.protocol_data))
        .with_members(members)
}
