//! CreateAcls (30): add ACL bindings (Kafka's `AclApis.handleCreateAcls` and
//! `AclControlManager.createAcls`). Needs ALTER on the cluster. Each creation is checked on
//! its own (INVALID_REQUEST with Kafka's message); the valid ones are written together, a
//! binding that exists already counts as created.

use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::{CreateAclsRequest, CreateAclsResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::RequestContext;
use crate::security::acl::{
    validate_new, AclBinding, AclOperation, Code, PatternType, Permission, ResourceType,
};

pub async fn handle(ctx: RequestContext, req: CreateAclsRequest) -> CreateAclsResponse {
    let all = |e: ResponseError, message: &str| {
        CreateAclsResponse::default().with_results(
            req.creations
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
    let checked: Vec<Result<AclBinding, String>> = req
        .creations
        .iter()
        .map(|c| binding(c).and_then(|b| validate_new(&b).map(|()| b)))
        .collect();
    let valid: Vec<AclBinding> = checked.iter().filter_map(|r| r.clone().ok()).collect();
    let written = if valid.is_empty() {
        Ok(())
    } else {
        tokio::task::spawn_blocking(move || authorizer.create(&valid))
            .await
            .unwrap_or_else(|e| Err(crate::store::StoreError(e.to_string())))
    };
    let results = checked
        .into_iter()
        .map(|r| match (r, &written) {
            (Err(message), _) => failed(ResponseError::InvalidRequest, message),
            (Ok(_), Err(e)) => {
                tracing::error!("CreateAcls: {e}");
                failed(ResponseError::UnknownServerError, e.to_string())
            }
            (Ok(_), Ok(())) => AclCreationResult::default(),
        })
        .collect();
    CreateAclsResponse::default().with_results(results)
}

/// Kafka's message for a code CreateAcls cannot take, naming it as Java prints it.
fn invalid<T>(what: &str, code: Code<T>) -> String {
    let name = match code {
        Code::Any => "ANY",
        Code::Match => "MATCH",
        _ => "UNKNOWN",
    };
    format!("Invalid {what} {name}")
}

fn failed(e: ResponseError, message: String) -> AclCreationResult {
    AclCreationResult::default()
        .with_error_code(e.code())
        .with_error_message(Some(StrBytes::from(message)))
}

/// The binding a creation names; Kafka refuses ANY, MATCH and unknown codes.
fn binding(c: &AclCreation) -> Result<AclBinding, String> {
    let resource_type = match ResourceType::from_code(c.resource_type) {
        Code::Is(t) => t,
        other => return Err(invalid("resourceType", other)),
    };
    let pattern_type = match PatternType::from_code(c.resource_pattern_type) {
        Code::Is(p) => p,
        other => return Err(invalid("patternType", other)),
    };
    let operation = match AclOperation::from_code(c.operation) {
        Code::Is(o) => o,
        other => return Err(invalid("operation", other)),
    };
    let permission = match Permission::from_code(c.permission_type) {
        Code::Is(p) => p,
        other => return Err(invalid("permissionType", other)),
    };
    Ok(AclBinding {
        resource_type,
        resource_name: c.resource_name.to_string(),
        pattern_type,
        principal: c.principal.to_string(),
        host: c.host.to_string(),
        operation,
        permission,
    })
}
