//! DeleteAcls (31): remove the bindings each filter selects (Kafka's
//! `AclApis.handleDeleteAcls`, `AclControlManager.deleteAcls`); each filter's result lists
//! what it matched. Needs ALTER on the cluster.

use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::{DeleteAclsRequest, DeleteAclsResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::authz::acl_filter;
use super::RequestContext;
use crate::security::acl::{AclFilter, AclOperation};

pub async fn handle(ctx: RequestContext, req: DeleteAclsRequest) -> DeleteAclsResponse {
    let all = |e: ResponseError, message: &str| {
        DeleteAclsResponse::default().with_filter_results(
            req.filters
                .iter()
                .map(|_| failed(e, message.to_string()))
                .collect(),
        )
    };
    if !ctx.authorize_cluster(AclOperation::Alter) {
        return all(
            ResponseError::ClusterAuthorizationFailed,
            "Cluster authorization failed.",
        );
    }
    let Some(authorizer) = ctx.authorizer().cloned() else {
        return all(
            ResponseError::SecurityDisabled,
            "No Authorizer is configured.",
        );
    };
    let parsed: Vec<Result<AclFilter, String>> = req
        .filters
        .iter()
        .map(|f| {
            acl_filter(
                f.resource_type_filter,
                f.resource_name_filter.as_ref(),
                f.pattern_type_filter,
                f.principal_filter.as_ref(),
                f.host_filter.as_ref(),
                f.operation,
                f.permission_type,
            )
        })
        .collect();
    let valid: Vec<AclFilter> = parsed.iter().filter_map(|r| r.clone().ok()).collect();
    let removed = tokio::task::spawn_blocking(move || authorizer.delete(&valid))
        .await
        .unwrap_or_else(|e| Err(crate::store::StoreError(e.to_string())));
    let mut removed = match removed {
        Ok(r) => r.into_iter(),
        Err(e) => {
            tracing::error!("DeleteAcls: {e}");
            return all(ResponseError::UnknownServerError, &e.to_string());
        }
    };
    let results = parsed
        .into_iter()
        .map(|p| match p {
            Err(message) => failed(ResponseError::InvalidRequest, message),
            Ok(_) => DeleteAclsFilterResult::default().with_matching_acls(
                removed
                    .next()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|b| {
                        DeleteAclsMatchingAcl::default()
                            .with_resource_type(b.resource_type.code())
                            .with_resource_name(StrBytes::from(b.resource_name))
                            .with_pattern_type(b.pattern_type.code())
                            .with_principal(StrBytes::from(b.principal))
                            .with_host(StrBytes::from(b.host))
                            .with_operation(b.operation.code())
                            .with_permission_type(b.permission.code())
                    })
                    .collect(),
            ),
        })
        .collect();
    DeleteAclsResponse::default().with_filter_results(results)
}

fn failed(e: ResponseError, message: String) -> DeleteAclsFilterResult {
    DeleteAclsFilterResult::default()
        .with_error_code(e.code())
        .with_error_message(Some(StrBytes::from(message)))
}
