//! DescribeUserScramCredentials (50): gregor has no SASL, so no user has SCRAM credentials:
//! all users → none; a named user → RESOURCE_NOT_FOUND, as Kafka answers for a user without any.

use kafka_protocol::messages::describe_user_scram_credentials_response::DescribeUserScramCredentialsResult;
use kafka_protocol::messages::{
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::RequestContext;
use crate::security::acl::AclOperation;

pub async fn handle(
    ctx: RequestContext,
    req: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    // Kafka: DESCRIBE on the cluster.
    if !ctx.authorize_cluster(AclOperation::Describe) {
        return DescribeUserScramCredentialsResponse::default()
            .with_error_code(ResponseError::ClusterAuthorizationFailed.code())
            .with_error_message(Some(StrBytes::from_static_str(
                "Cluster authorization failed.",
            )));
    }
    let results = req
        .users
        .unwrap_or_default()
        .into_iter()
        .map(|u| {
            DescribeUserScramCredentialsResult::default()
                .with_user(u.name)
                .with_error_code(ResponseError::ResourceNotFound.code())
                .with_error_message(Some(StrBytes::from_static_str(
                    "Attempt to describe a user credential that does not exist",
                )))
        })
        .collect();
    DescribeUserScramCredentialsResponse::default().with_results(results)
}
