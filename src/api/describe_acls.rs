//! DescribeAcls (29): the bindings a filter selects, grouped by resource pattern (Kafka's
//! `AclApis.handleDescribeAcls`). Needs DESCRIBE on the cluster. Without an authorizer it
//! answers as Kafka does: SECURITY_DISABLED, which tools such as kafka-ui read as "ACLs are
//! off".

use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{DescribeAclsRequest, DescribeAclsResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::authz::acl_filter;
use super::RequestContext;
use crate::security::acl::AclOperation;

pub async fn handle(ctx: RequestContext, req: DescribeAclsRequest) -> DescribeAclsResponse {
    let error = |e: ResponseError, message: String| {
        DescribeAclsResponse::default()
            .with_error_code(e.code())
            .with_error_message(Some(StrBytes::from(message)))
    };
    if !ctx.authorize_cluster(AclOperation::Describe) {
        return error(
            ResponseError::ClusterAuthorizationFailed,
            "Cluster authorization failed.".into(),
        );
    }
    let Some(authorizer) = ctx.authorizer() else {
        return error(
            ResponseError::SecurityDisabled,
            "No Authorizer is configured.".into(),
        );
    };
    let filter = match acl_filter(
        req.resource_type_filter,
        req.resource_name_filter.as_ref(),
        req.pattern_type_filter,
        req.principal_filter.as_ref(),
        req.host_filter.as_ref(),
        req.operation,
        req.permission_type,
    ) {
        Ok(f) => f,
        Err(message) => return error(ResponseError::InvalidRequest, message),
    };
    let acls = authorizer.acls();
    let mut resources: Vec<DescribeAclsResource> = Vec::new();
    // The set is ordered by resource first, so each resource's bindings are adjacent.
    for b in acls.matching(&filter) {
        let same = resources.last().is_some_and(|r| {
            r.resource_type == b.resource_type.code()
                && r.resource_name.as_str() == b.resource_name
                && r.pattern_type == b.pattern_type.code()
        });
        if !same {
            resources.push(
                DescribeAclsResource::default()
                    .with_resource_type(b.resource_type.code())
                    .with_resource_name(StrBytes::from(b.resource_name.clone()))
                    .with_pattern_type(b.pattern_type.code()),
            );
        }
        if let Some(r) = resources.last_mut() {
            r.acls.push(
                AclDescription::default()
                    .with_principal(StrBytes::from(b.principal.clone()))
                    .with_host(StrBytes::from(b.host.clone()))
                    .with_operation(b.operation.code())
                    .with_permission_type(b.permission.code()),
            );
        }
    }
    DescribeAclsResponse::default().with_resources(resources)
}
