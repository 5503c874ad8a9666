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
use crate::txn::state::TxnState;

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
            m.state != TxnState::Dead
                && (req.state_filters.is_empty()
                || req
                    .state_filters
                    .iter()
                    .any(|f| f.as_str() == m.state.kafka_name()))
                && (req.producer_id_filters.is_empty()
                    || req.producer_id_filters.iter().any(|p| p.0 == m.producer_id))
                && passes_duration_filter(m.start_ms, now, req.duration_filter)
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

/// Kafka's DurationFilter (TransactionStateManager.listTransactionStates): below 0 every id;
/// else those with now - start > filter. An id with no transaction started (Empty: start -1)
/// passes every filter shorter than the clock's time since 1970, as in Kafka; Complete* keep
/// the start of the transaction they ended.
fn passes_duration_filter(start_ms: i64, now: i64, filter: i64) -> bool {
    filter < 0 || now.saturating_sub(start_ms) > filter
}

#[cfg(test)]
mod tests {
    use super::passes_duration_filter;

    #[test]
    fn duration_filter_as_kafka() {
        assert!(passes_duration_filter(1_000, 1_500, -1), "no filter");
        assert!(passes_duration_filter(1_000, 1_500, 499));
        assert!(
            !passes_duration_filter(1_000, 1_500, 500),
            "strictly longer"
        );
        let now = 1_700_000_000_000;
        assert!(
            passes_duration_filter(-1, now, 3_600_000),
            "Empty: no start, listed whatever the filter (Kafka: now - (-1))"
        );
        assert!(!passes_duration_filter(now - 10, now, 3_600_000));
    }
}
