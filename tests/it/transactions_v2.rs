//! Transactions v2 (KIP-890 part 2) over the wire: Produce v12 adds its partition to the
//! transaction, TxnOffsetCommit v5 its group, EndTxn v5 bumps the epoch (markers carry it),
//! retries and late batches of an ended transaction, and the state across a restart.

use std::path::Path;

use crate::common::*;
use gregor::server::{start, RunningBroker};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

const TOPIC: &str = "loms.order-events";
const READ_UNCOMMITTED: i8 = 0;
const READ_COMMITTED: i8 = 1;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const INVALID_TXN_STATE: i16 = 48;
const PRODUCER_FENCED: i16 = 90;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

async fn broker_with(data_dir: Option<&Path>) -> RunningBroker {
    start(config(data_dir)).await.expect("broker starts")
}

/// A transactions v2 producer: its transactional id, producer id, epoch, next sequence.
#[derive(Clone)]
pub(super) struct Producer {
    txn_id: String,
    pid: i64,
    epoch: i16,
    seq: i32,
}

pub(super) async fn init(c: &mut Client, txn_id: &str) -> Producer {
    let resp = c
        .call(
            &InitProducerIdRequest::default()
                .with_transactional_id(Some(TransactionalId(s(txn_id))))
                .with_transaction_timeout_ms(60_000),
            5,
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

/// EndTxn v5: (error code, producer id, epoch).
async fn end(c: &mut Client, p: &Producer, commit: bool) -> (i16, i64, i16) {
    let req = EndTxnRequest::default()
        .with_transactional_id(TransactionalId(s(&p.txn_id)))
        .with_producer_id(ProducerId(p.pid))
        .with_producer_epoch(p.epoch)
        .with_committed(commit);
    let r = c.call(&req, 5).await;
    (r.error_code, r.producer_id.0, r.producer_epoch)
}

/// EndTxn v5 that must succeed; the producer continues with the epoch it answers, from
/// sequence 0.
pub(super) async fn end_ok(c: &mut Client, p: &mut Producer, commit: bool) {
    let (code, pid, epoch) = end(c, p, commit).await;
    assert_eq!(code, 0, "EndTxn v5");
    assert_eq!((pid, epoch), (p.pid, p.epoch + 1), "the epoch is bumped");
    p.epoch = epoch;
    p.seq = 0;
}

fn txn_batch(p: &Producer, values: &[&str]) -> bytes::Bytes {
    let records: Vec<(&str, &str)> = values.iter().map(|v| ("k", *v)).collect();
    producer_batch(p.pid, p.epoch, p.seq, true, &records)
}

/// Produce a transactional batch with `version`; the error code.
pub(super) async fn produce(
    c: &mut Client,
    p: &mut Producer,
    partition: i32,
    values: &[&str],
    version: i16,
) -> i16 {
    let req = ProduceRequest::default()
        .with_transactional_id(Some(TransactionalId(s(&p.txn_id))))
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(s(TOPIC)))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(txn_batch(p, values)))])]);
    let resp = c.call(&req, version).await;
    let code = resp.responses[0].partition_responses[0].error_code;
    if code == 0 {
        p.seq += values.len() as i32;
    }
    code
}

async fn fetch(c: &mut Client, partition: i32, isolation: i8) -> PartitionData {
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
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])]);
    c.call(&req, 11).await.responses[0].partitions[0].clone()
}

fn values(p: &PartitionData) -> Vec<String> {
    decode_records(p.records.clone().unwrap_or_default())
        .into_iter()
        .filter(|r| !r.control)
        .map(|r| String::from_utf8_lossy(&r.value.unwrap_or_default()).into_owned())
        .collect()
}

/// The epochs of the partition's transaction markers, in log order.
fn marker_epochs(p: &PartitionData) -> Vec<i16> {
    decode_records(p.records.clone().unwrap_or_default())
        .into_iter()
        .filter(|r| r.control)
        .map(|r| r.producer_epoch)
        .collect()
}

#[tokio::test]
async fn produce_v12_adds_the_partition_and_every_end_bumps_the_epoch() {
    let b = broker_with(None).await;
    let mut c = Client::connect(&b).await;
    let mut p = init(&mut c, "tv2-cycle").await;
    let first = p.clone();
    assert_eq!(
        produce(&mut c, &mut p, 0, &["v1"], 11).await,
        INVALID_TXN_STATE,
        "v11 still needs AddPartitionsToTxn"
    );
    assert_eq!(produce(&mut c, &mut p, 0, &["a", "b"], 12).await, 0);
    assert_eq!(produce(&mut c, &mut p, 1, &["c"], 12).await, 0);
    assert_eq!(fetch(&mut c, 0, READ_COMMITTED).await.last_stable_offset, 0);
    end_ok(&mut c, &mut p, true).await;
    let committed = fetch(&mut c, 0, READ_COMMITTED).await;
    assert_eq!(values(&committed), ["a", "b"]);
    assert_eq!(
        marker_epochs(&committed),
        [first.epoch + 1],
        "bumped marker"
    );
    assert_eq!(values(&fetch(&mut c, 1, READ_COMMITTED).await), ["c"]);

    // A retried EndTxn (the old epoch) succeeds with the same answer; a late batch of the
    // ended transaction is refused.
    assert_eq!(end(&mut c, &first, true).await, (0, p.pid, p.epoch));
    assert_eq!(end(&mut c, &first, false).await.0, INVALID_TXN_STATE);
    let mut late = Producer { seq: 3, ..first };
    assert_eq!(
        produce(&mut c, &mut late, 0, &["late"], 12).await,
        INVALID_PRODUCER_EPOCH
    );

    // The next transaction: the bumped epoch from sequence 0; aborted.
    assert_eq!(produce(&mut c, &mut p, 0, &["x"], 12).await, 0);
    end_ok(&mut c, &mut p, false).await;
    let committed = fetch(&mut c, 0, READ_COMMITTED).await;
    assert_eq!(
        marker_epochs(&committed),
        [first.epoch + 1, first.epoch + 2]
    );
    assert_eq!(committed.aborted_transactions.map(|a| a.len()), Some(1));
    assert_eq!(
        values(&fetch(&mut c, 0, READ_UNCOMMITTED).await),
        ["a", "b", "x"]
    );
    // A commit with nothing produced is refused; an abort is legal and bumps.
    assert_eq!(end(&mut c, &p, true).await.0, INVALID_TXN_STATE);
    end_ok(&mut c, &mut p, false).await;
    assert_eq!(p.epoch, first.epoch + 3);
}

#[tokio::test]
async fn txn_offset_commit_v5_adds_the_group() {
    let b = broker_with(None).await;
    let mut c = Client::connect(&b).await;
    let mut p = init(&mut c, "tv2-offsets").await;
    let commit_offset = |p: &Producer, offset: i64| {
        TxnOffsetCommitRequest::default()
            .with_transactional_id(TransactionalId(s(&p.txn_id)))
            .with_group_id(GroupId(s("g2")))
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
        code(c.call(&commit_offset(&p, 5), 4).await),
        INVALID_TXN_STATE,
        "v4 needs AddOffsetsToTxn"
    );
    assert_eq!(code(c.call(&commit_offset(&p, 5), 5).await), 0);
    let fetch_offset = OffsetFetchRequest::default()
        .with_group_id(GroupId(s("g2")))
        .with_require_stable(true)
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(TopicName(s(TOPIC)))
            .with_partition_indexes(vec![0])]));
    let committed = |r: OffsetFetchResponse| {
        let p = &r.topics[0].partitions[0];
        (p.error_code, p.committed_offset)
    };
    assert_eq!(committed(c.call(&fetch_offset, 7).await).0, 88, "pending");
    end_ok(&mut c, &mut p, true).await;
    assert_eq!(committed(c.call(&fetch_offset, 7).await), (0, 5));
    let stale = Producer {
        epoch: p.epoch - 1,
        ..p.clone()
    };
    assert_eq!(
        code(c.call(&commit_offset(&stale, 9), 5).await),
        INVALID_PRODUCER_EPOCH,
        "as Kafka's implicit add answers a fenced producer"
    );
}

#[tokio::test]
async fn v2_state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker_with(Some(dir.path())).await;
    let mut c = Client::connect(&b).await;
    let mut p = init(&mut c, "tv2-restart").await;
    assert_eq!(produce(&mut c, &mut p, 0, &["a"], 12).await, 0);
    let before_end = p.clone();
    end_ok(&mut c, &mut p, true).await;
    assert_eq!(produce(&mut c, &mut p, 0, &["b"], 12).await, 0);
    b.shutdown().await;

    let b = broker_with(Some(dir.path())).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(
        end(&mut c, &before_end, true).await.0,
        PRODUCER_FENCED,
        "a new transaction is open: the old epoch is no retry now"
    );
    end_ok(&mut c, &mut p, true).await;
    let committed = fetch(&mut c, 0, READ_COMMITTED).await;
    assert_eq!(values(&committed), ["a", "b"]);
    assert_eq!(
        marker_epochs(&committed),
        [before_end.epoch + 1, before_end.epoch + 2]
    );
}
