//! DescribeClientQuotas (48): gregor enforces no client quotas, so there are none to list.

use kafka_protocol::messages::{DescribeClientQuotasRequest, DescribeClientQuotasResponse};

use super::RequestContext;
use crate::security::acl::AclOperation;

pub async fn handle(
    ctx: RequestContext,
    _req: DescribeClientQuotasRequest,
) -> DescribeClientQuotasResponse {
    // Kafka: DESCRIBE_CONFIGS on the cluster.
    if !ctx.authorize_cluster(AclOperation::DescribeConfigs) {
        return DescribeClientQuotasResponse::default()
            .with_error_code(kafka_protocol::ResponseError::ClusterAuthorizationFailed.code())
            .with_error_message(Some(kafka_protocol::protocol::StrBytes::from_static_str(
                "Cluster authorization failed.",
            )));
    }
    DescribeClientQuotasResponse::default().with_entries(Some(Vec::new()))
}
