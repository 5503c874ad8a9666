//! DescribeCluster (60): the live brokers (a single node: itself) and the controller. v2
//! (KIP-1073): with IncludeFencedBrokers, also the registered brokers that are not live (in
//! cluster mode, those whose lease expired), marked IsFenced, as Kafka lists its fenced ones.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::{RequestContext, AUTHORIZED_OPERATIONS_OMITTED};
use crate::security::acl::{AclOperation, ResourceType, CLUSTER_NAME};

/// DescribeCluster v2: IncludeFencedBrokers.
const FENCED: i16 = 2;

/// Kafka's `EndpointType` ids (v1+): what a DescribeCluster asks for.
const BROKER_ENDPOINT: i8 = 1;
const CONTROLLER_ENDPOINT: i8 = 2;

pub async fn handle(ctx: RequestContext, req: DescribeClusterRequest) -> DescribeClusterResponse {
    // Kafka (`AuthHelper.computeDescribeClusterResponse`): gregor's listeners are brokers';
    // a request for controllers is MISMATCHED_ENDPOINT_TYPE, an unknown type
    // UNSUPPORTED_ENDPOINT_TYPE (v0, which cannot say either: INVALID_REQUEST).
    let refused = match req.endpoint_type {
        BROKER_ENDPOINT => None,
        CONTROLLER_ENDPOINT => Some((
            ResponseError::MismatchedEndpointType,
            "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of \
             type CONTROLLER"
                .to_string(),
        )),
        other => Some((
            ResponseError::UnsupportedEndpointType,
            format!("Unsupported endpoint type {other}"),
        )),
    };
    if let Some((e, message)) = refused {
        let e = if ctx.version() == 0 {
            ResponseError::InvalidRequest
        } else {
            e
        };
        return DescribeClusterResponse::default()
            .with_error_code(e.code())
            .with_error_message(Some(StrBytes::from_string(message)));
    }
    let broker = |node, host, port, fenced| {
        DescribeClusterBroker::default()
            .with_broker_id(BrokerId(node))
            .with_host(StrBytes::from_string(host))
            .with_port(port)
            .with_is_fenced(fenced)
    };
    let mut brokers: Vec<DescribeClusterBroker> = ctx
        .broker_endpoints()
        .into_iter()
        .map(|(node, host, port)| broker(node, host, port, false))
        .collect();
    if ctx.version() >= FENCED && req.include_fenced_brokers {
        for (node, host, port) in ctx.fenced_broker_endpoints() {
            brokers.push(broker(node, host, port, true));
        }
        brokers.sort_by_key(|b| b.broker_id.0);
    }
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
