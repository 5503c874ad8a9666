//! DescribeProducers (61): the producers a partition knows (kafka-ui's topic page,
//! `kafka-transactions describe-producers`, `find-hanging` and `abort --start-offset`).

use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse, ProducerId};

use kafka_protocol::ResponseError;

use super::RequestContext;
use crate::security::acl::AclOperation;

pub async fn handle(
    ctx: RequestContext,
    req: DescribeProducersRequest,
) -> DescribeProducersResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            // Kafka: READ on the topic.
            let allowed = ctx.authorize_topic(AclOperation::Read, &t.name);
            let partitions = t
                .partition_indexes
                .iter()
                .map(|&index| {
                    let response = PartitionResponse::default().with_partition_index(index);
                    if !allowed {
                        return response
                            .with_error_code(ResponseError::TopicAuthorizationFailed.code());
                    }
                    match ctx.topics().partition(&t.name, index) {
                        Ok(p) => response.with_active_producers(
                            p.producers()
                                .into_iter()
                                .map(|v| {
                                    ProducerState::default()
                                        .with_producer_id(ProducerId(v.producer_id))
                                        .with_producer_epoch(i32::from(v.epoch))
                                        .with_last_sequence(v.last_sequence)
                                        .with_last_timestamp(v.last_timestamp)
                                        // Of the producer's last marker here, -1 before any
                                        // (the tool's LatestCoordinatorEpoch column).
                                        .with_coordinator_epoch(v.coordinator_epoch)
                                        .with_current_txn_start_offset(v.txn_start_offset)
                                })
                                .collect(),
                        ),
                        Err(e) => response.with_error_code(e.code()),
                    }
                })
                .collect();
            TopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    DescribeProducersResponse::default().with_topics(topics)
}
