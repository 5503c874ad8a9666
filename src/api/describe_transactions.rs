//! DescribeTransactions (65): a transactional id's state, producer and partitions.

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError as E;

use super::RequestContext;
use crate::security::acl::{AclOperation, ResourceType};

pub async fn handle(
    ctx: RequestContext,
    req: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let ids: Vec<String> = req
        .transactional_ids
        .iter()
        .map(|i| i.to_string())
        .collect();
    let found = match ctx.txns().describe(ids).await {
        Ok(found) => found,
        // The coordinator is gone (shutting down): every id is answered with that.
        Err(e) => {
            let states = req
                .transactional_ids
                .into_iter()
                .map(|id| {
                    TransactionState::default()
                        .with_transactional_id(id)
                        .with_error_code(e.code())
                        .with_producer_id(ProducerId(-1))
                        .with_producer_epoch(-1)
                        .with_transaction_start_time_ms(-1)
                })
                .collect();
            return DescribeTransactionsResponse::default().with_transaction_states(states);
        }
    };
    let states = req
        .transactional_ids
        .into_iter()
        .zip(found)
        .map(|(id, m)| {
            // Kafka: DESCRIBE on the transactional id; only topics it may DESCRIBE are shown.
            if !ctx.authorize(AclOperation::Describe, ResourceType::TransactionalId, &id) {
                return TransactionState::default()
                    .with_transactional_id(id)
                    .with_error_code(E::TransactionalIdAuthorizationFailed.code());
            }
            let state = TransactionState::default().with_transactional_id(id);
            let Some(m) = m else {
                return state
                    .with_error_code(E::TransactionalIdNotFound.code())
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1)
                    .with_transaction_start_time_ms(-1);
            };
            let mut topics: BTreeMap<String, Vec<i32>> = BTreeMap::new();
            for (t, p) in m
                .partitions
                .iter()
                .filter(|(t, _)| ctx.authorize_topic(AclOperation::Describe, t))
            {
                topics.entry(t.clone()).or_default().push(*p);
            }
            state
                .with_transaction_state(StrBytes::from_static_str(m.state.kafka_name()))
                .with_transaction_timeout_ms(m.timeout_ms)
                .with_transaction_start_time_ms(m.start_ms)
                .with_producer_id(ProducerId(m.producer_id))
                .with_producer_epoch(m.producer_epoch)
                .with_topics(
                    topics
                        .into_iter()
                        .map(|(t, ps)| {
                            TopicData::default()
                                .with_topic(TopicName(StrBytes::from_string(t)))
                                .with_partitions(ps)
                        })
                        .collect(),
                )
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}
