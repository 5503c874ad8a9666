//! AddPartitionsToTxn (24). v0–v3: the client form (one transaction per request). v4+: the
//! batched form a Kafka partition leader sends its coordinator (CLUSTER_ACTION on the cluster):
//! each transaction's partitions are added (transactions v2's implicit add) or, VerifyOnly,
//! checked against the ongoing transaction (TRANSACTION_ABORTABLE for one it lacks, the code
//! v5 introduced; Kafka's coordinator answers it at v4 too).

use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTransaction;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};
use kafka_protocol::ResponseError as E;

use super::group_common::partition_exists;
use super::txn_common::{check_transactional_id, code};
use super::RequestContext;
use crate::security::acl::AclOperation;

/// The first version of the batched broker-to-broker form.
const BATCHED: i16 = 4;

pub async fn handle(
    ctx: RequestContext,
    req: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    if ctx.version() >= BATCHED {
        return batched(ctx, req).await;
    }
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

/// v4+: CLUSTER_ACTION on the cluster (else that code alone, as Kafka's error answer), then
/// each transaction in turn.
async fn batched(
    ctx: RequestContext,
    req: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    if !ctx.authorize_cluster(AclOperation::ClusterAction) {
        return AddPartitionsToTxnResponse::default()
            .with_error_code(E::ClusterAuthorizationFailed.code());
    }
    let mut results = Vec::with_capacity(req.transactions.len());
    for txn in req.transactions {
        results.push(transaction(&ctx, txn).await);
    }
    AddPartitionsToTxnResponse::default().with_results_by_transaction(results)
}

/// One transaction of a v4+ request, after Kafka's `handleAddPartitionsToTxnRequest`: no
/// transactional id or topic check (the sending broker made them); partitions that do not
/// exist are UNKNOWN_TOPIC_OR_PARTITION and the others then OPERATION_NOT_ATTEMPTED; else
/// the add (one code for all) or the verification (a code each).
async fn transaction(
    ctx: &RequestContext,
    txn: AddPartitionsToTxnTransaction,
) -> AddPartitionsToTxnResult {
    let wanted: Vec<(String, i32)> = txn
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.to_string(), *p)))
        .collect();
    let unknown: Vec<bool> = wanted
        .iter()
        .map(|(t, p)| !partition_exists(ctx.topics(), t, *p))
        .collect();
    let (id, producer_id, epoch) = (&txn.transactional_id, txn.producer_id.0, txn.producer_epoch);
    let codes: Vec<Result<(), E>> = if unknown.iter().any(|u| *u) {
        unknown
            .iter()
            .map(|u| {
                Err(if *u {
                    E::UnknownTopicOrPartition
                } else {
                    E::OperationNotAttempted
                })
            })
            .collect()
    } else if id.is_empty() {
        // Kafka's coordinator: an empty transactional id is INVALID_REQUEST.
        vec![Err(E::InvalidRequest); wanted.len()]
    } else if txn.verify_only {
        match ctx
            .txns()
            .verify_partitions(id, producer_id, epoch, wanted.clone())
            .await
        {
            Ok(held) => held
                .into_iter()
                .map(|h| {
                    if h {
                        Ok(())
                    } else {
                        Err(E::TransactionAbortable)
                    }
                })
                .collect(),
            Err(e) => vec![Err(e); wanted.len()],
        }
    } else {
        let added = ctx
            .txns()
            .add_partitions(id, producer_id, epoch, wanted.clone())
            .await;
        vec![added; wanted.len()]
    };
    let mut codes = codes.into_iter();
    let topic_results = txn
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    AddPartitionsToTxnPartitionResult::default()
                        .with_partition_index(*p)
                        .with_partition_error_code(code(
                            codes.next().unwrap_or(Ok(())),
                            ctx.version(),
                            2,
                        ))
                })
                .collect();
            AddPartitionsToTxnTopicResult::default()
                .with_name(t.name)
                .with_results_by_partition(partitions)
        })
        .collect();
    AddPartitionsToTxnResult::default()
        .with_transactional_id(txn.transactional_id)
        .with_topic_results(topic_results)
}
