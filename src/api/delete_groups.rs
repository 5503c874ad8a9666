//! DeleteGroups (42): only empty groups; their committed offsets go with them.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse, GroupId};

use super::RequestContext;

pub async fn handle(ctx: RequestContext, req: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let mut seen = std::collections::HashSet::new();
    let ids: Vec<GroupId> = req
        .groups_names
        .into_iter()
        .filter(|id| seen.insert(id.to_string()))
        .collect();
    let results = ctx
        .groups()
        .delete_groups(ids.iter().map(|g| g.to_string()).collect())
        .await;
    let results = ids
        .into_iter()
        .enumerate()
        .map(|(i, id)| {
            let code = match &results {
                Ok(r) => r.get(i).and_then(|r| r.err()).map_or(0, |e| e.code()),
                Err(e) => e.code(),
            };
            DeletableGroupResult::default()
                .with_group_id(id)
                .with_error_code(code)
        })
        .collect();
    DeleteGroupsResponse::default().with_results(results)
}
