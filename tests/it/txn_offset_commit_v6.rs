//! TxnOffsetCommit v6 (KIP-1319: topics by id) and InitProducerId's check of a producer id
//! without an epoch (or the reverse), as Kafka 4.4 answers them over the wire.

use crate::common::*;
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError as E;
use uuid::Uuid;

const TOPIC: &str = "loms.order-events";

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// InitProducerId v5 for a transactional id: (producer id, epoch).
async fn init(c: &mut Client, txn_id: &str) -> (i64, i16) {
    let r = c
        .call(
            &InitProducerIdRequest::default()
                .with_transactional_id(Some(TransactionalId(s(txn_id))))
                .with_transaction_timeout_ms(60_000),
            5,
        )
        .await;
    assert_eq!(r.error_code, 0, "init producer id");
    (r.producer_id.0, r.producer_epoch)
}

/// TxnOffsetCommit v6 of the group "g-v6": each (topic id, [(partition, offset)]).
fn commit_by_id(
    txn_id: &str,
    (pid, epoch): (i64, i16),
    topics: &[(Uuid, &[(i32, i64)])],
) -> TxnOffsetCommitRequest {
    TxnOffsetCommitRequest::default()
        .with_transactional_id(TransactionalId(s(txn_id)))
        .with_group_id(GroupId(s("g-v6")))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_topics(
            topics
                .iter()
                .map(|(id, parts)| {
                    TxnOffsetCommitRequestTopic::default()
                        .with_topic_id(*id)
                        .with_partitions(
                            parts
                                .iter()
                                .map(|(p, o)| {
                                    TxnOffsetCommitRequestPartition::default()
                                        .with_partition_index(*p)
                                        .with_committed_offset(*o)
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
}

/// (topic id, [(partition, error code)]) of an answer.
fn codes(r: &TxnOffsetCommitResponse) -> Vec<(Uuid, Vec<(i32, i16)>)> {
    r.topics
        .iter()
        .map(|t| {
            let parts = t
                .partitions
                .iter()
                .map(|p| (p.partition_index, p.error_code))
                .collect();
            (t.topic_id, parts)
        })
        .collect()
}

/// The group's committed offsets of the homework topic's partitions 0 and 1 (stable only).
async fn committed(c: &mut Client) -> Vec<(i16, i64)> {
    let r = c
        .call(
            &OffsetFetchRequest::default()
                .with_group_id(GroupId(s("g-v6")))
                .with_require_stable(true)
                .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                    .with_name(TopicName(s(TOPIC)))
                    .with_partition_indexes(vec![0, 1])])),
            7,
        )
        .await;
    r.topics[0]
        .partitions
        .iter()
        .map(|p| (p.error_code, p.committed_offset))
        .collect()
}

#[tokio::test]
async fn txn_offset_commit_v6_names_topics_by_id() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let v = c.call(&crate::common::api_versions(), 3).await;
    let range = v
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::TxnOffsetCommit as i16)
        .map(|k| (k.min_version, k.max_version));
    assert_eq!(range, Some((0, 6)), "Kafka 4.4 advertises v6");

    let id = b.services.topics.get(TOPIC).unwrap().id;
    let unknown = Uuid::from_u128(0x1234);
    let producer = init(&mut c, "txn-v6").await;
    // A known id (and a partition it lacks), an id no topic has, the zero id. v6 is
    // transactions v2: the group joins the transaction here, no AddOffsetsToTxn.
    let r = c
        .call(
            &commit_by_id(
                "txn-v6",
                producer,
                &[
                    (id, &[(0, 5), (1, 7), (9, 1)]),
                    (unknown, &[(0, 1)]),
                    (Uuid::nil(), &[(3, 1)]),
                ],
            ),
            6,
        )
        .await;
    let unknown_id = E::UnknownTopicId.code();
    assert_eq!(
        codes(&r),
        vec![
            (
                id,
                vec![(0, 0), (1, 0), (9, E::UnknownTopicOrPartition.code())]
            ),
            (unknown, vec![(0, unknown_id)]),
            (Uuid::nil(), vec![(3, unknown_id)]),
        ]
    );
    assert!(
        r.topics.iter().all(|t| t.name.is_empty()),
        "v6 has no names"
    );
    assert_eq!(
        committed(&mut c).await[0].0,
        E::UnstableOffsetCommit.code(),
        "pending in the transaction"
    );

    let r = c
        .call(
            &EndTxnRequest::default()
                .with_transactional_id(TransactionalId(s("txn-v6")))
                .with_producer_id(ProducerId(producer.0))
                .with_producer_epoch(producer.1)
                .with_committed(true),
            5,
        )
        .await;
    assert_eq!(r.error_code, 0, "EndTxn v5");
    assert_eq!(committed(&mut c).await, vec![(0, 5), (0, 7)]);

    // The epoch the commit replaced is fenced, answered as a v2 implicit add answers it.
    let r = c
        .call(&commit_by_id("txn-v6", producer, &[(id, &[(0, 9)])]), 6)
        .await;
    assert_eq!(
        codes(&r),
        vec![(id, vec![(0, E::InvalidProducerEpoch.code())])]
    );
    assert_eq!(committed(&mut c).await[0], (0, 5), "nothing changed");
}

#[tokio::test]
async fn txn_offset_commit_v5_still_names_topics() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let producer = init(&mut c, "txn-v5-names").await;
    let r = c
        .call(
            &TxnOffsetCommitRequest::default()
                .with_transactional_id(TransactionalId(s("txn-v5-names")))
                .with_group_id(GroupId(s("g-v6")))
                .with_producer_id(ProducerId(producer.0))
                .with_producer_epoch(producer.1)
                .with_topics(vec![
                    TxnOffsetCommitRequestTopic::default()
                        .with_name(TopicName(s(TOPIC)))
                        .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                            .with_partition_index(1)
                            .with_committed_offset(3)]),
                    TxnOffsetCommitRequestTopic::default()
                        .with_name(TopicName(s("no-such-topic")))
                        .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(3)]),
                ]),
            5,
        )
        .await;
    let named: Vec<_> = r
        .topics
        .iter()
        .map(|t| (t.name.to_string(), t.partitions[0].error_code))
        .collect();
    assert_eq!(
        named,
        vec![
            (TOPIC.to_string(), 0),
            (
                "no-such-topic".to_string(),
                E::UnknownTopicOrPartition.code()
            )
        ]
    );
}

#[tokio::test]
async fn init_producer_id_with_only_one_of_id_and_epoch_is_invalid() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let (pid, epoch) = init(&mut c, "txn-half").await;
    let ask = |txn: Option<&str>, pid: i64, epoch: i16| {
        InitProducerIdRequest::default()
            .with_transactional_id(txn.map(|t| TransactionalId(s(t))))
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
    };
    for version in 3..=5 {
        for txn in [Some("txn-half"), None] {
            for (p, e) in [(pid, -1), (-1, epoch)] {
                let r = c.call(&ask(txn, p, e), version).await;
                assert_eq!(
                    (r.error_code, r.producer_id.0, r.producer_epoch),
                    (E::InvalidRequest.code(), -1, -1),
                    "v{version} {txn:?} id {p} epoch {e}"
                );
            }
        }
    }
    // The refusals changed nothing: resuming with both bumps the epoch as KIP-360 says.
    let r = c.call(&ask(Some("txn-half"), pid, epoch), 5).await;
    assert_eq!(
        (r.error_code, r.producer_id.0, r.producer_epoch),
        (0, pid, epoch + 1)
    );
    // Before v3 neither field is sent (both read -1): served.
    let r = c.call(&ask(Some("txn-half"), -1, -1), 2).await;
    assert_eq!(r.error_code, 0);
}
