//! ElectLeaders (43): `kafka-leader-election` and the AdminClient's `electLeaders`. Every
//! partition gregor serves has one replica, its leader, so there is never an election to hold:
//! as Kafka's controller (`ReplicationControlManager.electLeaders`) answers for a partition
//! already led by its preferred replica (preferred) or led at all (unclean),
//! ELECTION_NOT_NEEDED.
//!
//! - Partitions named: each gets its result, in the order asked; a topic that does not exist
//!   is UNKNOWN_TOPIC_OR_PARTITION "No such topic as T", a partition it does not have
//!   "No such partition as T-P". A partition without a leader (cluster mode, its broker gone
//!   and not yet replaced) is PREFERRED_LEADER_NOT_AVAILABLE (preferred) or
//!   ELIGIBLE_LEADERS_NOT_AVAILABLE (unclean), what Kafka answers when no replica can lead.
//! - No partitions named (null: every partition): every topic is listed, and as in Kafka only
//!   the partitions whose election was needed are: here none.
//! - An election type other than 0 (preferred) and 1 (unclean) is INVALID_REQUEST
//!   "Unknown election type N" on every partition asked for and at the top (v1+), as Kafka's
//!   `getErrorResponse` answers the controller's exception; so is missing ALTER on the
//!   cluster (CLUSTER_AUTHORIZATION_FAILED). v0 has no election type: preferred.
//!
//! The timeout is not waited on: nothing is ever pending.

use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::{catalog, RequestContext};
use crate::security::acl::AclOperation;

const PREFERRED: i8 = 0;
const UNCLEAN: i8 = 1;

pub async fn handle(ctx: RequestContext, req: ElectLeadersRequest) -> ElectLeadersResponse {
    if !ctx.authorize_cluster(AclOperation::Alter) {
        return error_response(
            &req,
            ctx.version(),
            ResponseError::ClusterAuthorizationFailed,
            "Cluster authorization failed.".to_string(),
        );
    }
    if req.election_type != PREFERRED && req.election_type != UNCLEAN {
        return error_response(
            &req,
            ctx.version(),
            ResponseError::InvalidRequest,
            format!("Unknown election type {}", req.election_type),
        );
    }
    let lagging = match &req.topic_partitions {
        Some(topics) => catalog::lagging(&ctx, topics.iter().map(|t| t.topic.0.as_str())),
        None => ctx.topics().is_shared(),
    };
    catalog::catch_up_if(&ctx, lagging).await;
    let results = match &req.topic_partitions {
        Some(topics) => topics
            .iter()
            .map(|t| {
                let partitions = t
                    .partitions
                    .iter()
                    .map(|&p| {
                        let (error, message) = elect(&ctx, &t.topic.0, p, req.election_type);
                        PartitionResult::default()
                            .with_partition_id(p)
                            .with_error_code(error.code())
                            .with_error_message(Some(StrBytes::from_string(message)))
                    })
                    .collect();
                ReplicaElectionResult::default()
                    .with_topic(t.topic.clone())
                    .with_partition_result(partitions)
            })
            .collect(),
        // Every partition is led by its only replica: no election needed anywhere, and those
        // are left out of an answer for every partition.
        None => ctx
            .topics()
            .all()
            .iter()
            .map(|t| {
                ReplicaElectionResult::default()
                    .with_topic(TopicName(StrBytes::from_string(t.name.clone())))
            })
            .collect(),
    };
    ElectLeadersResponse::default().with_replica_election_results(results)
}

/// Kafka's `electLeader` for one partition: its error and message.
fn elect(ctx: &RequestContext, topic: &str, partition: i32, kind: i8) -> (ResponseError, String) {
    let Some(t) = ctx.topics().get(topic) else {
        return (
            ResponseError::UnknownTopicOrPartition,
            format!("No such topic as {topic}"),
        );
    };
    if !(0..t.partition_count()).contains(&partition) {
        return (
            ResponseError::UnknownTopicOrPartition,
            format!("No such partition as {topic}-{partition}"),
        );
    }
    match (ctx.cluster().leader(topic, partition), kind) {
        (Some(_), _) => (
            ResponseError::ElectionNotNeeded,
            "Leader election not needed for topic partition.".to_string(),
        ),
        (None, PREFERRED) => (
            ResponseError::PreferredLeaderNotAvailable,
            "The preferred leader was not available.".to_string(),
        ),
        (None, _) => (
            ResponseError::EligibleLeadersNotAvailable,
            "Eligible topic partition leaders are not available.".to_string(),
        ),
    }
}

/// Kafka's `ElectLeadersRequest.getErrorResponse`: the error on every partition named (none
/// when every partition was asked for) and at the top (v1+).
fn error_response(
    req: &ElectLeadersRequest,
    version: i16,
    error: ResponseError,
    message: String,
) -> ElectLeadersResponse {
    let results = req
        .topic_partitions
        .iter()
        .flatten()
        .map(|t| {
            ReplicaElectionResult::default()
                .with_topic(t.topic.clone())
                .with_partition_result(
                    t.partitions
                        .iter()
                        .map(|&p| {
                            PartitionResult::default()
                                .with_partition_id(p)
                                .with_error_code(error.code())
                                .with_error_message(Some(StrBytes::from_string(message.clone())))
                        })
                        .collect(),
                )
        })
        .collect();
    // v0 has no top-level error code.
    let top = if version >= 1 { error.code() } else { 0 };
    ElectLeadersResponse::default()
        .with_error_code(top)
        .with_replica_election_results(results)
}
