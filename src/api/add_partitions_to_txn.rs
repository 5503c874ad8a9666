//! AddPartitionsToTxn (24), v0–v3: the client form (one transaction per request). v4+ is the
//! batched broker-to-broker form, used only between Kafka brokers; it is not advertised.

use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};
use kafka_protocol::ResponseError as E;

use super::group_common::partition_exists;
use super::txn_common::{check_transactional_id, code};
use super::RequestContext;
use crate::security::acl::AclOperation;

pub async fn handle(
    ctx: RequestContext,
    req: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    let wanted: Vec<(String, i32)> = req
        .v3_and_below_topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.to_string(), *p)))
        .collect();
    // As Kafka: WRITE on the transactional id (else every partition fails with it); then
    // partitions of topics without WRITE, and unknown ones, fail alone and the others are
    // not attempted.
    let txn_allowed = check_transactional_id(&ctx, &req.v3_and_below_transactional_id);
    let unknown: Vec<Option<E>> = wanted
        .iter()
        .map(|(t, p)| {
            if let Err(e) = txn_allowed {
                Some(e)
            } else if !ctx.authorize_topic(AclOperation::Write, t) {
                Some(E::TopicAuthorizationFailed)
            } else if !partition_exists(ctx.topics(), t, *p) {
                Some(E::UnknownTopicOrPartition)
            } else {
                None
            }
        })
        .collect();
    let result = if let Err(e) = txn_allowed {
        Err(e)
    } else if unknown.iter().any(Option::is_some) {
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
                    let r = match missing.next().flatten() {
                        Some(e) => Err(e),
                        None => result,
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
