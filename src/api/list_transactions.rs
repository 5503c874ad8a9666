//! ListTransactions (66), v0–v2: transactional ids, filtered by state, producer id, (v1) how
//! long the transaction has been running and (v2, KIP-1152) a regular expression the whole id
//! matches (RE2 syntax, as Kafka's RE2J).

use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{
    ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::RequestContext;
use crate::group::consumer::subscription_regex as whole_name_regex;
use crate::group::now_ms;
use crate::security::acl::{AclOperation, ResourceType};

const STATES: [&str; 8] = [
    "Empty",
    "Ongoing",
    "PrepareCommit",
    "PrepareAbort",
    "CompleteCommit",
    "CompleteAbort",
    "PrepareEpochFence",
    "Dead",
];

pub async fn handle(ctx: RequestContext, req: ListTransactionsRequest) -> ListTransactionsResponse {
    let unknown: Vec<StrBytes> = req
        .state_filters
        .iter()
        .filter(|f| !STATES.contains(&f.as_str()))
        .cloned()
        .collect();
    // Empty or null: every id, as Kafka.
    let pattern = match req
        .transactional_id_pattern
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        None => None,
        Some(p) => match whole_name_regex(p) {
            Some(regex) => Some(regex),
            None => {
                return ListTransactionsResponse::default()
                    .with_error_code(ResponseError::InvalidRegularExpression.code())
            }
        },
    };
    let now = now_ms();
    let listed = match ctx.txns().list().await {
        Ok(listed) => listed,
        // A broker that coordinates no transactions (cluster mode: another broker owns them)
        // lists none, as a Kafka broker leading no __transaction_state partition does: the
        // AdminClient asks every broker and merges their lists.
        Err(ResponseError::NotCoordinator) => Vec::new(),
        Err(e) => return ListTransactionsResponse::default().with_error_code(e.code()),
    };
    let mut listed: Vec<_> = listed
        .into_iter()
        .filter(|t| {
            let m = &t.metadata;
            (req.state_filters.is_empty()
                || req
                    .state_filters
                    .iter()
                    .any(|f| f.as_str() == m.state.kafka_name()))
                && (req.producer_id_filters.is_empty()
                    || req.producer_id_filters.iter().any(|p| p.0 == m.producer_id))
                && (req.duration_filter < 0
                    || (m.start_ms >= 0 && now - m.start_ms > req.duration_filter))
                && pattern
                    .as_ref()
                    .is_none_or(|p| p.is_match(&t.transactional_id))
                // Kafka: only ids the principal may DESCRIBE.
                && ctx.authorize(
                    AclOperation::Describe,
                    ResourceType::TransactionalId,
                    &t.transactional_id,
                )
        })
        .collect();
    listed.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
    let states = listed
        .into_iter()
        .map(|t| {
            TransactionState::default()
                .with_transactional_id(TransactionalId(StrBytes::from_string(t.transactional_id)))
                .with_producer_id(ProducerId(t.metadata.producer_id))
                .with_transaction_state(StrBytes::from_static_str(t.metadata.state.kafka_name()))
        })
        .collect();
    ListTransactionsResponse::default()
        .with_unknown_state_filters(unknown)
        .with_transaction_states(states)
}
