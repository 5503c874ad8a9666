//! AddPartitionsToTxn v4 and v5, the batched form a Kafka partition leader sends its
//! transaction coordinator: CLUSTER_ACTION on the cluster, then per transaction an add
//! (VerifyOnly false) or a check that each partition is in the ongoing transaction
//! (TRANSACTION_ABORTABLE for one it lacks). The codes asserted for partitions that do not
//! exist are what Kafka 4.4.0 answered to the same requests.

use crate::acl_support;
use crate::common::*;
use kafka_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError as E;

const TOPIC: &str = "loms.order-events";

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn txn(
    id: &str,
    producer: (i64, i16),
    verify_only: bool,
    topics: &[(&str, &[i32])],
) -> AddPartitionsToTxnTransaction {
    AddPartitionsToTxnTransaction::default()
        .with_transactional_id(TransactionalId(s(id)))
        .with_producer_id(ProducerId(producer.0))
        .with_producer_epoch(producer.1)
        .with_verify_only(verify_only)
        .with_topics(
            topics
                .iter()
                .map(|(t, ps)| {
                    AddPartitionsToTxnTopic::default()
                        .with_name(TopicName(s(t)))
                        .with_partitions(ps.to_vec())
                })
                .collect(),
        )
}

fn request(txns: Vec<AddPartitionsToTxnTransaction>) -> AddPartitionsToTxnRequest {
    AddPartitionsToTxnRequest::default().with_transactions(txns)
}

/// Per transaction: (id, [(topic, partition, code)]) in the answer's order.
type Codes = Vec<(String, Vec<(String, i32, i16)>)>;

fn codes(r: &AddPartitionsToTxnResponse) -> Codes {
    assert_eq!(r.error_code, 0);
    r.results_by_transaction
        .iter()
        .map(|t| {
            let parts = t
                .topic_results
                .iter()
                .flat_map(|tr| {
                    tr.results_by_partition.iter().map(|p| {
                        (
                            tr.name.to_string(),
                            p.partition_index,
                            p.partition_error_code,
                        )
                    })
                })
                .collect();
            (t.transactional_id.to_string(), parts)
        })
        .collect()
}

fn one(id: &str, parts: &[(&str, i32, E)]) -> (String, Vec<(String, i32, i16)>) {
    let parts = parts
        .iter()
        .map(|(t, p, e)| (t.to_string(), *p, e.code()))
        .collect();
    (id.to_string(), parts)
}

fn ok(id: &str, parts: &[(&str, i32)]) -> (String, Vec<(String, i32, i16)>) {
    let parts = parts.iter().map(|(t, p)| (t.to_string(), *p, 0)).collect();
    (id.to_string(), parts)
}

#[tokio::test]
async fn adds_and_verifies_partitions_of_a_transaction() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let r = c
        .call(
            &InitProducerIdRequest::default()
                .with_transactional_id(Some(TransactionalId(s("tx-b2b"))))
                .with_transaction_timeout_ms(60_000),
            4,
        )
        .await;
    assert_eq!(r.error_code, 0);
    let producer = (r.producer_id.0, r.producer_epoch);
    let v5 = |txns| request(txns);
    // Nothing added yet: verification says the transaction lacks the partition.
    let r = c
        .call(
            &v5(vec![txn("tx-b2b", producer, true, &[(TOPIC, &[0])])]),
            5,
        )
        .await;
    assert_eq!(
        codes(&r),
        vec![one("tx-b2b", &[(TOPIC, 0, E::TransactionAbortable)])]
    );
    // A partition that does not exist fails alone; the others are not attempted (Kafka 4.4).
    let r = c
        .call(
            &v5(vec![txn(
                "tx-b2b",
                producer,
                false,
                &[(TOPIC, &[0, 7]), ("no-such-topic", &[0])],
            )]),
            5,
        )
        .await;
    assert_eq!(
        codes(&r),
        vec![one(
            "tx-b2b",
            &[
                (TOPIC, 0, E::OperationNotAttempted),
                (TOPIC, 7, E::UnknownTopicOrPartition),
                ("no-such-topic", 0, E::UnknownTopicOrPartition),
            ]
        )]
    );
    let r = c
        .call(
            &v5(vec![txn("tx-b2b", producer, true, &[(TOPIC, &[0])])]),
            5,
        )
        .await;
    assert_eq!(
        codes(&r),
        vec![one("tx-b2b", &[(TOPIC, 0, E::TransactionAbortable)])]
    );
    // The add, then verification of the added partition and one not added.
    let r = c
        .call(
            &v5(vec![txn("tx-b2b", producer, false, &[(TOPIC, &[0])])]),
            5,
        )
        .await;
    assert_eq!(codes(&r), vec![ok("tx-b2b", &[(TOPIC, 0)])]);
    let r = c
        .call(
            &v5(vec![txn("tx-b2b", producer, true, &[(TOPIC, &[0, 1])])]),
            4,
        )
        .await;
    let held = (TOPIC.to_string(), 0, 0);
    let lacking = (TOPIC.to_string(), 1, E::TransactionAbortable.code());
    assert_eq!(codes(&r), vec![("tx-b2b".to_string(), vec![held, lacking])]);
    // The coordinator's checks: another producer id, an old epoch, an id without a
    // transaction, an empty id; several transactions in one request, each answered.
    let r = c
        .call(
            &v5(vec![
                txn(
                    "tx-b2b",
                    (producer.0 + 1, producer.1),
                    true,
                    &[(TOPIC, &[0])],
                ),
                txn(
                    "tx-b2b",
                    (producer.0, producer.1 - 1),
                    false,
                    &[(TOPIC, &[0])],
                ),
                txn("tx-none", producer, true, &[(TOPIC, &[0])]),
                txn("", producer, false, &[(TOPIC, &[1])]),
            ]),
            5,
        )
        .await;
    let answered = codes(&r);
    assert_eq!(answered.len(), 4);
    assert_eq!(
        answered[0],
        one("tx-b2b", &[(TOPIC, 0, E::InvalidProducerIdMapping)])
    );
    assert_eq!(answered[1], one("tx-b2b", &[(TOPIC, 0, E::ProducerFenced)]));
    assert_eq!(
        answered[2],
        one("tx-none", &[(TOPIC, 0, E::InvalidProducerIdMapping)])
    );
    assert_eq!(answered[3], one("", &[(TOPIC, 1, E::InvalidRequest)]));
    // The partition the v5 add put in the transaction is in it: the commit writes its marker.
    let r = c
        .call(
            &EndTxnRequest::default()
                .with_transactional_id(TransactionalId(s("tx-b2b")))
                .with_producer_id(ProducerId(producer.0))
                .with_producer_epoch(producer.1)
                .with_committed(true),
            4,
        )
        .await;
    assert_eq!(r.error_code, 0);
    let end = b
        .services
        .topics
        .get(TOPIC)
        .unwrap()
        .partition(0)
        .unwrap()
        .high_watermark();
    assert_eq!(end, 1, "the commit marker");
    // After the commit nothing is in a transaction.
    let r = c
        .call(
            &v5(vec![txn("tx-b2b", producer, true, &[(TOPIC, &[0])])]),
            5,
        )
        .await;
    assert_eq!(
        codes(&r),
        vec![one("tx-b2b", &[(TOPIC, 0, E::TransactionAbortable)])]
    );
}

#[tokio::test]
async fn needs_cluster_action() {
    let b = acl_support::broker(None, false).await;
    let alice = acl_support::who("alice", "10.0.0.1");
    let add = request(vec![txn("tx-a", (1, 0), false, &[("orders", &[0])])]);
    let r = acl_support::call(&b, &alice, &add, 5).await;
    assert_eq!(r.error_code, E::ClusterAuthorizationFailed.code());
    assert!(r.results_by_transaction.is_empty());
    // CLUSTER_ACTION (9) on the cluster: the transactions are handled (this one has none).
    acl_support::grant_cluster(&b, "User:alice", acl_support::CLUSTER_ACTION).await;
    let r = acl_support::call(&b, &alice, &add, 5).await;
    assert_eq!(
        codes(&r),
        vec![one("tx-a", &[("orders", 0, E::InvalidProducerIdMapping)])]
    );
    // v3 (the client form) needs no cluster right: WRITE on the transactional id.
    let v3 = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(TransactionalId(s("tx-a")))
        .with_v3_and_below_producer_id(ProducerId(1))
        .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
            .with_name(TopicName(s("orders")))
            .with_partitions(vec![0])]);
    let r = acl_support::call(&b, &alice, &v3, 3).await;
    assert_eq!(
        r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code,
        E::TransactionalIdAuthorizationFailed.code()
    );
    b.shutdown().await;
}
