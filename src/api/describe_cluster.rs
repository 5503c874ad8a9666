//! DescribeCluster (60): this single node is every broker and the controller.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

use super::{RequestContext, AUTHORIZED_OPERATIONS_OMITTED};

/// ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE, CREATE
/// (what Kafka allows on a cluster without an authorizer).
const CLUSTER_OPERATIONS: i32 =
    (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12) | (1 << 5);

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
        .with_cluster_authorized_operations(if req.include_cluster_authorized_operations {
            CLUSTER_OPERATIONS
        } else {
            AUTHORIZED_OPERATIONS_OMITTED
        })
}
