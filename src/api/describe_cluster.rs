//! DescribeCluster (60): this single node is every broker and the controller.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

use super::{RequestContext, AUTHORIZED_OPERATIONS_OMITTED};
use crate::security::acl::{AclOperation, ResourceType, CLUSTER_NAME};

pub async fn handle(ctx: RequestContext, req: DescribeClusterRequest) -> DescribeClusterResponse {
    let brokers = ctx
        .broker_endpoints()
        .into_iter()
        .map(|(node, host, port)| {
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(node))
                .with_host(StrBytes::from_string(host))
                .with_port(port)
        })
        .collect();
    DescribeClusterResponse::default()
        .with_endpoint_type(req.endpoint_type)
        .with_cluster_id(StrBytes::from_string(
            ctx.cluster().cluster_id().to_string(),
        ))
        .with_controller_id(BrokerId(ctx.cluster().controller()))
        .with_brokers(brokers)
        .with_cluster_authorized_operations(cluster_operations(&ctx, &req))
}

/// Kafka (`AuthHelper.computeDescribeClusterResponse`): when asked, what the principal may do
/// on the cluster, or 0 without DESCRIBE on it.
fn cluster_operations(ctx: &RequestContext, req: &DescribeClusterRequest) -> i32 {
    if !req.include_cluster_authorized_operations {
        AUTHORIZED_OPERATIONS_OMITTED
    } else if ctx.authorize_cluster(AclOperation::Describe) {
        ctx.authorized_operations(ResourceType::Cluster, CLUSTER_NAME)
    } else {
        0
    }
}
