//! ListPartitionReassignments (46): a single node never has a reassignment in progress.

use kafka_protocol::messages::{
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
};

use kafka_protocol::ResponseError;

use super::RequestContext;
use crate::security::acl::AclOperation;

pub async fn handle(
    ctx: RequestContext,
    _req: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    // Kafka: DESCRIBE on the cluster.
    if !ctx.authorize_cluster(AclOperation::Describe) {
        return ListPartitionReassignmentsResponse::default()
            .with_error_code(ResponseError::ClusterAuthorizationFailed.code())
            .with_error_message(Some(kafka_protocol::protocol::StrBytes::from_static_str(
                "Cluster authorization failed.",
            )));
    }
    ListPartitionReassignmentsResponse::default()
}
