//! AlterPartitionReassignments (45), answered as a single-node Kafka cluster does: moving a
//! partition onto this node (where it already is) completes at once; any other broker is not
//! registered; cancelling finds nothing in progress.

use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::RequestContext;
use crate::security::acl::AclOperation;

pub async fn handle(
    ctx: RequestContext,
    req: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    // Kafka: ALTER on the cluster.
    if !ctx.authorize_cluster(AclOperation::Alter) {
        return AlterPartitionReassignmentsResponse::default()
            .with_error_code(ResponseError::ClusterAuthorizationFailed.code())
            .with_error_message(Some(StrBytes::from_static_str(
                "Cluster authorization failed.",
            )));
    }
    let node = ctx.cluster().this_node();
    let responses = req
        .topics
        .iter()
        .map(|t| {
            let topic = ctx.topics().get(&t.name);
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let exists = topic
                        .as_ref()
                        .is_some_and(|t| t.partition(p.partition_index).is_some());
                    let error = if !exists {
                        Some((ResponseError::UnknownTopicOrPartition, None))
                    } else {
                        match &p.replicas {
                            None => Some((
                                ResponseError::NoReassignmentInProgress,
                                Some(format!(
                                    "Unable to find an ongoing reassignment for partition {}-{}",
                                    t.name.as_str(),
                                    p.partition_index
                                )),
                            )),
                            Some(r) if r.len() == 1 && r[0].0 == node => None,
                            Some(r) if r.is_empty() => Some((
                                ResponseError::InvalidReplicaAssignment,
                                Some("The manual partition assignment includes an empty replica list.".into()),
                            )),
                            Some(r) => match r.iter().find(|b| b.0 != node) {
                                Some(b) => Some((
                                    ResponseError::InvalidReplicaAssignment,
                                    Some(format!(
                                        "The manual partition assignment includes broker {}, but no such broker is registered.",
                                        b.0
                                    )),
                                )),
                                None => Some((
                                    ResponseError::InvalidReplicaAssignment,
                                    Some("The manual partition assignment includes duplicate replicas.".into()),
                                )),
                            },
                        }
                    };
                    let response = ReassignablePartitionResponse::default()
                        .with_partition_index(p.partition_index);
                    match error {
                        None => response,
                        Some((e, message)) => response
                            .with_error_code(e.code())
                            .with_error_message(message.map(StrBytes::from_string)),
                    }
                })
                .collect();
            ReassignableTopicResponse::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    let mut response = AlterPartitionReassignmentsResponse::default().with_responses(responses);
    if ctx.version() >= 1 {
        response =
            response.with_allow_replication_factor_change(req.allow_replication_factor_change);
    }
    response
}
