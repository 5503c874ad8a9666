//! OffsetForLeaderEpoch (23): where a leader epoch ended in the partition's log. Consumers
//! ask it after a leader change or when resuming from a committed offset with its epoch
//! (KIP-320), to find out whether the log still holds the history their position came from.

use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};
use kafka_protocol::ResponseError;

use super::{leader_epoch, RequestContext};
use crate::error::BrokerError;
use crate::security::acl::AclOperation;

pub async fn handle(
    ctx: RequestContext,
    req: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    // Kafka: CLUSTER_ACTION (followers) or, since KIP-320, DESCRIBE on the topic.
    let cluster_action = ctx.authorize_cluster(AclOperation::ClusterAction);
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let allowed = cluster_action || ctx.authorize_topic(AclOperation::Describe, &t.topic);
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let answer = EpochEndOffset::default()
                        .with_partition(p.partition)
                        .with_leader_epoch(-1)
                        .with_end_offset(-1);
                    let found = if allowed {
                        ctx.topics()
                            .get(&t.topic)
                            .ok_or(BrokerError::UnknownTopicOrPartition)
                            .and_then(|topic| {
                                leader_epoch::led_partition(
                                    &ctx,
                                    &topic,
                                    p.partition,
                                    p.current_leader_epoch,
                                )
                            })
                    } else {
                        Err(BrokerError::NotAuthorized(
                            ResponseError::TopicAuthorizationFailed,
                        ))
                    };
                    match found {
                        // An epoch the log does not know: no error, epoch and offset -1.
                        Ok(part) => match part.end_offset_for_epoch(p.leader_epoch) {
                            Some((epoch, end)) => {
                                answer.with_leader_epoch(epoch).with_end_offset(end)
                            }
                            None => answer,
                        },
                        Err(e) => answer.with_error_code(e.code()),
                    }
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic)
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
