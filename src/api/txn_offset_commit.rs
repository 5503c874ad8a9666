//! TxnOffsetCommit (28): a transaction's consumer offsets, kept pending until it commits
//! (discarded on abort). From v5 (transactions v2) the group joins the transaction here: the
//! client sends no AddOffsetsToTxn. v6 (KIP-1319) names topics by id instead of name, as
//! OffsetCommit v10: an id no topic has answers UNKNOWN_TOPIC_ID, as Kafka 4.4 does.

use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};
use kafka_protocol::ResponseError as E;

use super::group_common::{partition_exists, requested_topic_names};
use super::txn_common::{check_transactional_id, code};
use super::RequestContext;
use crate::security::acl::AclOperation;
use crate::txn::state::PendingOffset;

/// The first version of transactions v2.
const TXN_V2: i16 = 5;
/// The first version naming topics by id.
const TOPIC_IDS: i16 = 6;

pub async fn handle(ctx: RequestContext, req: TxnOffsetCommitRequest) -> TxnOffsetCommitResponse {
    let max_metadata = ctx.groups().config().offset_metadata_max_bytes;
    let mut offsets = Vec::new();
    let mut precheck = Vec::new();
    // Kafka: WRITE on the transactional id, then READ on the group (either failing fails
    // every partition), then READ on each topic.
    let denied = check_transactional_id(&ctx, &req.transactional_id)
        .err()
        .or_else(|| {
            (!ctx.authorize_group(AclOperation::Read, &req.group_id))
                .then_some(E::GroupAuthorizationFailed)
        });
    // v6: each topic's name from its id; None where no topic has that id (the zero id never
    // does).
    let topics = req.topics.iter().map(|t| (t.topic_id, t.name.as_str()));
    let names = requested_topic_names(&ctx, ctx.version() >= TOPIC_IDS, topics).await;
    for (t, name) in req.topics.iter().zip(&names) {
        let known = name.is_some();
        let name = name.as_deref().unwrap_or_default();
        let topic_allowed =
            denied.is_none() && known && ctx.authorize_topic(AclOperation::Read, name);
        for p in &t.partitions {
            let too_large = p
                .committed_metadata
                .as_ref()
                .is_some_and(|m| m.len() > max_metadata);
            let check = if let Some(e) = denied {
                Err(e)
            } else if !known {
                Err(E::UnknownTopicId)
            } else if !topic_allowed {
                Err(E::TopicAuthorizationFailed)
            } else if !partition_exists(ctx.topics(), name, p.partition_index) {
                Err(E::UnknownTopicOrPartition)
            } else if too_large {
                Err(E::OffsetMetadataTooLarge)
            } else {
                offsets.push((
                    name.to_string(),
                    p.partition_index,
                    PendingOffset {
                        offset: p.committed_offset,
                        leader_epoch: p.committed_leader_epoch,
                        metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                    },
                ));
                Ok(())
            };
            precheck.push(check);
        }
    }
    let result = if offsets.is_empty() {
        Ok(())
    } else {
        ctx.txns()
            .commit_offsets(
                &req.transactional_id,
                req.producer_id.0,
                req.producer_epoch,
                &req.group_id,
                offsets,
                ctx.version() >= TXN_V2,
            )
            .await
            // v5's implicit add answers a fenced producer as Kafka's partition leaders do.
            .map_err(|e| match e {
                E::ProducerFenced if ctx.version() >= TXN_V2 => E::InvalidProducerEpoch,
                e => e,
            })
    };
    let mut checks = precheck.into_iter();
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = checks.next().unwrap_or(Ok(())).and(result);
                    TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code(r, ctx.version(), 0))
                })
                .collect();
            // The encoder writes the name before v6 and the id from v6.
            TxnOffsetCommitResponseTopic::default()
                .with_name(t.name)
                .with_topic_id(t.topic_id)
                .with_partitions(partitions)
        })
        .collect();
    TxnOffsetCommitResponse::default().with_topics(topics)
}
