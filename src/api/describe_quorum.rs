//! DescribeQuorum (55): the KRaft metadata quorum, as Kafka's `kafka-metadata-quorum` tool and
//! kafbat kafka-ui ask for it. gregor has no Raft log; what it answers is what a single
//! combined Kafka node (broker and controller in one) answers about itself: partition 0 of
//! `__cluster_metadata`, led by the controller (this node; in cluster mode the cluster view's
//! controller) as its only voter, no observers.
//!
//! - Leader epoch: 1, the epoch a freshly formatted standalone Kafka elects itself in. gregor
//!   never holds an election, so it never moves.
//! - High watermark: the metadata store's write sequence (RocksDB's sequence number, kept
//!   across restarts; the in-memory store counts its writes), the position of the newest
//!   metadata write as the high watermark is the newest committed record's in Kafka's
//!   metadata log. It only ever grows (Kafka's also grows when idle, by its no-op records).
//!   Cluster mode's shared store keeps no such count: -1, Kafka's "not known".
//! - The voter's log end offset is the high watermark (a lone leader has nothing
//!   uncommitted), its last fetch and caught-up times are now (as Kafka reports the leader's).
//! - v2: the voter's directory id is the zero UUID (Kafka's value for a voter without one, as
//!   in a statically configured quorum), and its endpoints are the listener the request came
//!   on: gregor has no controller listener, every listener serves everything.
//!
//! As Kafka's `KafkaRaftClient`: anything but exactly one topic `__cluster_metadata` with
//! exactly partition 0 is answered UNKNOWN_TOPIC_OR_PARTITION on every partition asked for;
//! without DESCRIBE on the cluster CLUSTER_AUTHORIZATION_FAILED (`ControllerApis`).

use kafka_protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use kafka_protocol::messages::{
    BrokerId, DescribeQuorumRequest, DescribeQuorumResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::{now_ms, RequestContext};
use crate::security::acl::AclOperation;

/// Kafka's metadata log: its topic and only partition.
pub const METADATA_TOPIC: &str = "__cluster_metadata";
const METADATA_PARTITION: i32 = 0;
/// The epoch a new standalone Kafka controller's first election gives it.
const LEADER_EPOCH: i32 = 1;

pub async fn handle(ctx: RequestContext, req: DescribeQuorumRequest) -> DescribeQuorumResponse {
    if !ctx.authorize_cluster(AclOperation::Describe) {
        return top_level_error(ResponseError::ClusterAuthorizationFailed);
    }
    if !asks_for_the_metadata_partition(&req) {
        return partition_level_error(&req, ResponseError::UnknownTopicOrPartition);
    }
    let leader = ctx.cluster().controller();
    let high_watermark = ctx.topics().metadata_offset().unwrap_or(-1);
    let now = now_ms();
    let voter = ReplicaState::default()
        .with_replica_id(BrokerId(leader))
        .with_log_end_offset(high_watermark)
        .with_last_fetch_timestamp(now)
        .with_last_caught_up_timestamp(now);
    let partition = PartitionData::default()
        .with_partition_index(METADATA_PARTITION)
        .with_leader_id(BrokerId(leader))
        .with_leader_epoch(LEADER_EPOCH)
        .with_high_watermark(high_watermark)
        .with_current_voters(vec![voter]);
    let response = DescribeQuorumResponse::default().with_topics(vec![TopicData::default()
        .with_topic_name(TopicName(StrBytes::from_static_str(METADATA_TOPIC)))
        .with_partitions(vec![partition])]);
    if ctx.version() < 2 {
        return response;
    }
    response.with_nodes(vec![Node::default()
        .with_node_id(BrokerId(leader))
        .with_listeners(listeners(&ctx, leader))])
}

/// The leader's address on the request's listener.
fn listeners(ctx: &RequestContext, leader: i32) -> Vec<Listener> {
    ctx.broker_endpoints()
        .into_iter()
        .filter(|(node, _, _)| *node == leader)
        .filter_map(|(_, host, port)| {
            Some(
                Listener::default()
                    .with_name(StrBytes::from_string(ctx.listener.name.clone()))
                    .with_host(StrBytes::from_string(host))
                    .with_port(u16::try_from(port).ok()?),
            )
        })
        .collect()
}

/// Kafka's `hasValidTopicPartition`: one topic, the metadata topic, with one partition, 0.
fn asks_for_the_metadata_partition(req: &DescribeQuorumRequest) -> bool {
    match req.topics.as_slice() {
        [topic] => {
            topic.topic_name.0.as_str() == METADATA_TOPIC
                && matches!(topic.partitions.as_slice(), [p] if p.partition_index == METADATA_PARTITION)
        }
        _ => false,
    }
}

/// Kafka's `getTopLevelErrorResponse`: the code and its message (v2), no topics.
fn top_level_error(error: ResponseError) -> DescribeQuorumResponse {
    DescribeQuorumResponse::default()
        .with_error_code(error.code())
        .with_error_message(Some(StrBytes::from_static_str(message(error))))
}

/// Kafka's `getPartitionLevelErrorResponse`: every partition asked for, with the error.
fn partition_level_error(
    req: &DescribeQuorumRequest,
    error: ResponseError,
) -> DescribeQuorumResponse {
    let topics = req
        .topics
        .iter()
        .map(|t| {
            TopicData::default()
                .with_topic_name(t.topic_name.clone())
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            PartitionData::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(error.code())
                                .with_error_message(Some(StrBytes::from_static_str(message(error))))
                        })
                        .collect(),
                )
        })
        .collect();
    DescribeQuorumResponse::default().with_topics(topics)
}

/// Kafka's default message of the errors answered here (`Errors.message()`).
fn message(error: ResponseError) -> &'static str {
    match error {
        ResponseError::ClusterAuthorizationFailed => "Cluster authorization failed.",
        _ => "This server does not host this topic-partition.",
    }
}
