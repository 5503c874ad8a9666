//! Transactions over the wire: InitProducerId with a transactional id, AddPartitionsToTxn,
//! transactional produce, EndTxn, TxnOffsetCommit, and what read_committed readers see.

use std::path::Path;
use std::time::Duration;

use crate::common::*;
use gregor::server::{start, RunningBroker};
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

pub(crate) const TOPIC: &str = "loms.order-events";
pub(crate) const READ_UNCOMMITTED: i8 = 0;
pub(crate) const READ_COMMITTED: i8 = 1;

pub(crate) fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

pub(crate) async fn broker_with(data_dir: Option<&Path>) -> RunningBroker {
    start(config(data_dir)).await.expect("broker starts")
}

/// A producer's view: its transactional id, producer id and epoch, next sequence.
pub(crate) struct Producer {
    pub(crate) txn_id: String,
    pub(crate) pid: i64,
    pub(crate) epoch: i16,
    pub(crate) seq: i32,
}

pub(crate) async fn init(c: &mut Client, txn_id: &str, timeout_ms: i32) -> Producer {
    let resp = c
        .call(
            &InitProducerIdRequest::default()
                .with_transactional_id(Some(TransactionalId(s(txn_id))))
                .with_transaction_timeout_ms(timeout_ms),
            4,
        )
        .await;
    assert_eq!(resp.error_code, 0, "init producer id");
    Producer {
        txn_id: txn_id.to_string(),
        pid: resp.producer_id.0,
        epoch: resp.producer_epoch,
        seq: 0,
    }
}

pub(crate) async fn add_partitions(
    c: &mut Client,
    p: &Producer,
    partitions: &[i32],
    version: i16,
) -> i16 {
    let req = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(TransactionalId(s(&p.txn_id)))
        .with_v3_and_below_producer_id(ProducerId(p.pid))
        .with_v3_and_below_producer_epoch(p.epoch)
        .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
            .with_name(TopicName(s(TOPIC)))
            .with_partitions(partitions.to_vec())]);
    let resp = c.call(&req, version).await;
    resp.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code
}

pub(crate) async fn end(c: &mut Client, p: &Producer, commit: bool) -> i16 {
    let req = EndTxnRequest::default()
        .with_transactional_id(TransactionalId(s(&p.txn_id)))
        .with_producer_id(ProducerId(p.pid))
        .with_producer_epoch(p.epoch)
        .with_committed(commit);
    c.call(&req, 3).await.error_code
}

fn txn_batch(p: &Producer, values: &[&str]) -> bytes::Bytes {
    let records: Vec<(&str, &str)> = values.iter().map(|v| ("k", *v)).collect();
    producer_batch(p.pid, p.epoch, p.seq, true, &records)
}

/// Produce a transactional batch; (error code, base offset).
pub(crate) async fn produce_txn(
    c: &mut Client,
    p: &mut Producer,
    partition: i32,
    values: &[&str],
) -> (i16, i64) {
    let req = ProduceRequest::default()
        .with_transactional_id(Some(TransactionalId(s(&p.txn_id))))
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(s(TOPIC)))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(txn_batch(p, values)))])]);
    let resp = c.call(&req, 9).await;
    let r = &resp.responses[0].partition_responses[0];
    if r.error_code == 0 {
        p.seq += values.len() as i32;
    }
    (r.error_code, r.base_offset)
}

pub(crate) async fn fetch(
    c: &mut Client,
    partition: i32,
    offset: i64,
    isolation: i8,
) -> PartitionData {
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(50 << 20)
        .with_isolation_level(isolation)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(s(TOPIC)))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1 << 20)])]);
    let resp = c.call(&req, 11).await;
    resp.responses[0].partitions[0].clone()
}

/// Values of the data records a fetch returned (control records left out).
pub(crate) fn values(p: &PartitionData) -> Vec<String> {
    decode_records(p.records.clone().unwrap_or_default())
        .into_iter()
        .filter(|r| !r.control)
        .map(|r| String::from_utf8_lossy(&r.value.unwrap_or_default()).into_owned())
        .collect()
}

pub(crate) async fn latest(c: &mut Client, isolation: i8) -> i64 {
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(isolation)
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(TopicName(s(TOPIC)))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(-1)])]);
    c.call(&req, 5).await.topics[0].partitions[0].offset
}

#[tokio::test]
async fn committed_data_is_visible_and_aborted_data_is_marked() {
    let b = broker_with(None).await;
    let mut c = Client::connect(&b).await;
    let mut p = init(&mut c, "tx-commit", 60_000).await;
    assert_eq!(add_partitions(&mut c, &p, &[0], 3).await, 0);
    assert_eq!(produce_txn(&mut c, &mut p, 0, &["a", "b"]).await, (0, 0));

    // Open transaction: read_uncommitted sees it, read_committed stops at its first offset.
    let uncommitted = fetch(&mut c, 0, 0, READ_UNCOMMITTED).await;
    assert_eq!(values(&uncommitted), vec!["a", "b"]);
    assert_eq!(uncommitted.high_watermark, 2);
    let committed = fetch(&mut c, 0, 0, READ_COMMITTED).await;
    assert!(values(&committed).is_empty());
    assert_eq!(committed.last_stable_offset, 0);
    assert_eq!(latest(&mut c, READ_COMMITTED).await, 0);
    assert_eq!(latest(&mut c, READ_UNCOMMITTED).await, 2);

    assert_eq!(end(&mut c, &p, true).await, 0);
    let committed = fetch(&mut c, 0, 0, READ_COMMITTED).await;
    assert_eq!(values(&committed), vec!["a", "b"]);
    assert_eq!(
        (committed.high_watermark, committed.last_stable_offset),
        (3, 3)
    );
    assert_eq!(committed.aborted_transactions.as_deref(), Some(&[][..]));
    assert_eq!(end(&mut c, &p, true).await, 0, "a retried commit succeeds");

    // The next transaction aborts: its data stays in the log, reported as aborted.
    assert_eq!(add_partitions(&mut c, &p, &[0], 3).await, 0);
    assert_eq!(produce_txn(&mut c, &mut p, 0, &["x"]).await, (0, 3));
    assert_eq!(end(&mut c, &p, false).await, 0);
    let committed = fetch(&mut c, 0, 3, READ_COMMITTED).await;
    assert_eq!(committed.last_stable_offset, 5);
    let aborted = committed
        .aborted_transactions
        .expect("aborted transactions");
    assert_eq!(aborted.len(), 1);
    assert_eq!(
        (aborted[0].producer_id.0, aborted[0].first_offset),
        (p.pid, 3)
    );
    let uncommitted = fetch(&mut c, 0, 3, READ_UNCOMMITTED).await;
    assert_eq!(values(&uncommitted), vec!["x"]);
    assert_eq!(uncommitted.aborted_transactions, None);
}

#[tokio::test]
async fn transactional_produce_needs_the_partition_in_the_transaction() {
    let b = broker_with(None).await;
    let mut c = Client::connect(&b).await;
    let mut p = init(&mut c, "tx-verify", 60_000).await;
    assert_eq!(
        produce_txn(&mut c, &mut p, 0, &["a"]).await.0,
        48,
        "INVALID_TXN_STATE before AddPartitionsToTxn"
    );
    assert_eq!(add_partitions(&mut c, &p, &[0], 3).await, 0);
    assert_eq!(produce_txn(&mut c, &mut p, 0, &["a"]).await.0, 0);
    assert_eq!(
        end(&mut c, &Producer { epoch: 5, ..p }, true).await,
        90,
        "PRODUCER_FENCED for another epoch"
    );
    let unknown = Producer {
        txn_id: "nobody".into(),
        pid: 1,
        epoch: 0,
        seq: 0,
    };
    assert_eq!(
        end(&mut c, &unknown, true).await,
        49,
        "INVALID_PRODUCER_ID_MAPPING"
    );
    let timeout = c
        .call(
            &InitProducerIdRequest::default()
                .with_transactional_id(Some(TransactionalId(s("too-long"))))
                .with_transaction_timeout_ms(900_001),
            4,
        )
        .await;
    assert_eq!(timeout.error_code, 50, "INVALID_TRANSACTION_TIMEOUT");
}

#[tokio::test]
async fn a_new_producer_fences_the_old_one_and_aborts_its_transaction() {
    let b = broker_with(None).await;
    let mut c = Client::connect(&b).await;
    let mut old = init(&mut c, "tx-fence", 60_000).await;
    assert_eq!(add_partitions(&mut c, &old, &[0], 3).await, 0);
    assert_eq!(produce_txn(&mut c, &mut old, 0, &["zombie"]).await.0, 0);

    let req = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(s("tx-fence"))))
        .with_transaction_timeout_ms(60_000);
    let mut first = c.call(&req, 4).await;
    // CONCURRENT_TRANSACTIONS while the old transaction is aborted; the client retries.
    for _ in 0..100 {
        if first.error_code != 51 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        first = c.call(&req, 4).await;
    }
    assert_eq!(first.error_code, 0);
    assert_eq!(first.producer_id.0, old.pid);
    assert!(first.producer_epoch > old.epoch);

    assert_eq!(
        add_partitions(&mut c, &old, &[0], 3).await,
        90,
        "PRODUCER_FENCED"
    );
    assert_eq!(
        add_partitions(&mut c, &old, &[0], 1).await,
        47,
        "v1: INVALID_PRODUCER_EPOCH"
    );
    let committed = fetch(&mut c, 0, 0, READ_COMMITTED).await;
    assert_eq!(
        committed.last_stable_offset, 2,
        "the zombie's transaction is aborted"
    );
    assert_eq!(committed.aborted_transactions.map(|a| a.len()), Some(1));
}

#[tokio::test]
async fn an_abandoned_transaction_is_aborted_after_its_timeout() {
    let b = broker_with(None).await;
    let mut c = Client::connect(&b).await;
    let mut p = init(&mut c, "tx-timeout", 500).await;
    assert_eq!(add_partitions(&mut c, &p, &[0], 3).await, 0);
    assert_eq!(produce_txn(&mut c, &mut p, 0, &["left"]).await.0, 0);
    let mut lso = 0;
    for _ in 0..200 {
        lso = fetch(&mut c, 0, 0, READ_COMMITTED).await.last_stable_offset;
        if lso > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(lso, 2, "aborted: the marker at 1 ends it");
    assert_eq!(end(&mut c, &p, true).await, 90, "its producer is fenced");
}

async fn offset_fetch(c: &mut Client, group: &str, require_stable: bool) -> (i16, i64) {
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_require_stable(require_stable)
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(TopicName(s(TOPIC)))
            .with_partition_indexes(vec![0])]));
    let resp = c.call(&req, 7).await;
    let p = &resp.topics[0].partitions[0];
    (p.error_code, p.committed_offset)
}

#[tokio::test]
async fn transactional_offsets_become_visible_on_commit_only() {
    let b = broker_with(None).await;
    let mut c = Client::connect(&b).await;
    let p = init(&mut c, "tx-offsets", 60_000).await;
    let add_offsets = AddOffsetsToTxnRequest::default()
        .with_transactional_id(TransactionalId(s(&p.txn_id)))
        .with_producer_id(ProducerId(p.pid))
        .with_producer_epoch(p.epoch)
        .with_group_id(GroupId(s("g")));
    let commit_offset = |offset: i64| {
        TxnOffsetCommitRequest::default()
            .with_transactional_id(TransactionalId(s(&p.txn_id)))
            .with_group_id(GroupId(s("g")))
            .with_producer_id(ProducerId(p.pid))
            .with_producer_epoch(p.epoch)
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![TxnOffsetCommitRequestTopic::default()
                .with_name(TopicName(s(TOPIC)))
                .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(offset)])])
    };
    let code = |r: TxnOffsetCommitResponse| r.topics[0].partitions[0].error_code;
    assert_eq!(
        code(c.call(&commit_offset(5), 3).await),
        48,
        "INVALID_TXN_STATE: the group is not in the transaction"
    );
    assert_eq!(c.call(&add_offsets, 3).await.error_code, 0);
    assert_eq!(code(c.call(&commit_offset(5), 3).await), 0);
    assert_eq!(offset_fetch(&mut c, "g", false).await, (0, -1), "pending");
    assert_eq!(
        offset_fetch(&mut c, "g", true).await.0,
        88,
        "UNSTABLE_OFFSET_COMMIT"
    );
    assert_eq!(end(&mut c, &p, true).await, 0);
    assert_eq!(offset_fetch(&mut c, "g", true).await, (0, 5));

    assert_eq!(c.call(&add_offsets, 3).await.error_code, 0);
    assert_eq!(code(c.call(&commit_offset(9), 3).await), 0);
    assert_eq!(end(&mut c, &p, false).await, 0);
    assert_eq!(
        offset_fetch(&mut c, "g", true).await,
        (0, 5),
        "aborted offsets are dropped"
    );
}

#[tokio::test]
async fn transactions_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker_with(Some(dir.path())).await;
    let mut c = Client::connect(&b).await;
    let mut p = init(&mut c, "tx-restart", 60_000).await;
    assert_eq!(add_partitions(&mut c, &p, &[0], 3).await, 0);
    assert_eq!(produce_txn(&mut c, &mut p, 0, &["a"]).await.0, 0);
    assert_eq!(end(&mut c, &p, false).await, 0);
    assert_eq!(add_partitions(&mut c, &p, &[0], 3).await, 0);
    assert_eq!(produce_txn(&mut c, &mut p, 0, &["b"]).await.0, 0);
    b.shutdown().await;

    let b = broker_with(Some(dir.path())).await;
    let mut c = Client::connect(&b).await;
    let committed = fetch(&mut c, 0, 0, READ_COMMITTED).await;
    assert_eq!(
        committed.last_stable_offset, 2,
        "the open transaction still bounds the LSO"
    );
    let aborted = committed.aborted_transactions.unwrap_or_default();
    assert_eq!(aborted.len(), 1, "the aborted one is known again");
    assert_eq!(
        end(&mut c, &p, true).await,
        0,
        "the coordinator remembers the transaction"
    );
    let committed = fetch(&mut c, 0, 0, READ_COMMITTED).await;
    assert_eq!(committed.last_stable_offset, 4);
    assert_eq!(
        values(&committed),
        vec!["a", "b"],
        "the client filters the aborted 'a'"
    );
}

#[tokio::test]
async fn tooling_describes_transactions_and_producers() {
    let b = broker_with(None).await;
    let mut c = Client::connect(&b).await;
    let mut p = init(&mut c, "tx-describe", 60_000).await;
    assert_eq!(add_partitions(&mut c, &p, &[1], 3).await, 0);
    assert_eq!(produce_txn(&mut c, &mut p, 1, &["a", "b"]).await.0, 0);

    let described = c
        .call(
            &DescribeTransactionsRequest::default().with_transactional_ids(vec![
                TransactionalId(s("tx-describe")),
                TransactionalId(s("nobody")),
            ]),
            0,
        )
        .await;
    let t = &described.transaction_states[0];
    assert_eq!((t.error_code, t.transaction_state.as_str()), (0, "Ongoing"));
    assert_eq!((t.producer_id.0, t.producer_epoch), (p.pid, p.epoch));
    assert_eq!(t.topics[0].partitions, vec![1]);
    assert_eq!(
        described.transaction_states[1].error_code, 105,
        "TRANSACTIONAL_ID_NOT_FOUND"
    );

    let listed = c
        .call(
            &ListTransactionsRequest::default()
                .with_state_filters(vec![s("Ongoing"), s("Bogus")])
                .with_duration_filter(-1),
            1,
        )
        .await;
    assert_eq!(listed.unknown_state_filters, vec![s("Bogus")]);
    assert_eq!(listed.transaction_states.len(), 1);
    assert_eq!(listed.transaction_states[0].producer_id.0, p.pid);
    // v2 (KIP-1152): a regular expression the whole transactional id matches.
    for (pattern, found) in [
        (Some("tx-desc.*"), 1),
        (Some("tx-desc"), 0),
        (Some(""), 1),
        (None, 1),
    ] {
        let listed = c
            .call(
                &ListTransactionsRequest::default()
                    .with_transactional_id_pattern(pattern.map(s))
                    .with_duration_filter(-1),
                2,
            )
            .await;
        assert_eq!(listed.error_code, 0);
        assert_eq!(listed.transaction_states.len(), found, "{pattern:?}");
    }
    let bad = c
        .call(
            &ListTransactionsRequest::default()
                .with_transactional_id_pattern(Some(s("tx-(")))
                .with_duration_filter(-1),
            2,
        )
        .await;
    assert_eq!(bad.error_code, 128, "INVALID_REGULAR_EXPRESSION");

    use kafka_protocol::messages::describe_producers_request::TopicRequest;
    let producers = c
        .call(
            &DescribeProducersRequest::default().with_topics(vec![TopicRequest::default()
                .with_name(TopicName(s(TOPIC)))
                .with_partition_indexes(vec![1])]),
            0,
        )
        .await;
    let active = &producers.topics[0].partitions[0].active_producers;
    assert_eq!(active.len(), 1);
    assert_eq!(
        (
            active[0].producer_id.0,
            active[0].last_sequence,
            active[0].current_txn_start_offset
        ),
        (p.pid, 1, 0)
    );
}
