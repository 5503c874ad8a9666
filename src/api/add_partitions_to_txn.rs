//! AddPartitionsToTxn (24), v0–v3: the client form (one transaction per request). v4+ is the
//! batched broker-to-broker form, used only between Kafka brokers; it is not advertised.

use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};
use kafka_protocol::ResponseError as E;

use super::txn_common::code;
use super::RequestContext;

pub async fn handle(
    ctx: RequestContext,
    req: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    let wanted: Vec<(String, i32)> = req
        .v3_and_below_topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.to_string(), *p)))
        .collect();
    // As Kafka: unknown partitions fail alone and the others are not attempted.
    let unknown: Vec<bool> = wanted
        .iter()
        .map(|(t, p)| ctx.topics().partition(t, *p).is_err())
        .collect();
    let result = if unknown.iter().any(|u| *u) {
        Err(E::OperationNotAttempted)
    } else {
        ctx.txns()
            .add_partitions(
                &req.v3_and_below_transactional_id,
                req.v3_and_below_producer_id.0,
                req.v3_and_below_producer_epoch,
                wanted,
            )
            .await
    };
    let mut missing = unknown.into_iter();
    let topics = req
        .v3_and_below_topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = if missing.next().unwrap_or(false) {
                        Err(E::UnknownTopicOrPartition)
                    } else {
                        result
                    };
                    AddPartitionsToTxnPartitionResult::default()
                        .with_partition_index(*p)
                        .with_partition_error_code(code(r, ctx.version(), 2))
                })
                .collect();
            AddPartitionsToTxnTopicResult::default()
                .with_name(t.name)
                .with_results_by_partition(partitions)
        })
        .collect();
    AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(topics)
}
