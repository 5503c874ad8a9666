//! DeleteGroups (42): only empty groups; their committed offsets go with them.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse, GroupId};

use kafka_protocol::ResponseError;

use super::RequestContext;
use crate::security::acl::AclOperation;

pub async fn handle(ctx: RequestContext, req: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let mut seen = std::collections::HashSet::new();
    let ids: Vec<GroupId> = req
        .groups_names
        .into_iter()
        .filter(|id| seen.insert(id.to_string()))
        .collect();
    // Kafka: DELETE on each group; the others answer GROUP_AUTHORIZATION_FAILED.
    let allowed: Vec<bool> = ids
        .iter()
        .map(|g| ctx.authorize_group(AclOperation::Delete, g))
        .collect();
    let deletable: Vec<String> = ids
        .iter()
        .zip(&allowed)
        .filter(|(_, ok)| **ok)
        .map(|(g, _)| g.to_string())
        .collect();
    let results = if deletable.is_empty() {
        Ok(Vec::new())
    } else {
        ctx.groups().delete_groups(deletable).await
    };
    let mut i = 0;
    let results = ids
        .into_iter()
        .zip(allowed)
        .map(|(id, allowed)| {
            let code = match (&results, allowed) {
                (_, false) => ResponseError::GroupAuthorizationFailed.code(),
                (Ok(r), true) => {
                    i += 1;
                    r.get(i - 1).and_then(|r| r.err()).map_or(0, |e| e.code())
                }
                (Err(e), true) => e.code(),
            };
            DeletableGroupResult::default()
                .with_group_id(id)
                .with_error_code(code)
        })
        .collect();
    DeleteGroupsResponse::default().with_results(results)
}
