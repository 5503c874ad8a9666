//! Producer state across restarts of the real binary, with the producers' batches in segments
//! older than the newest two: an idempotent producer's retry is still recognised, an open
//! transaction still bounds the last stable offset, an old abort is still reported to
//! read_committed fetches — after a clean shutdown and after kill -9 (snapshots at each roll).

use std::process::{Child, Command};

use super::durability::{connect, spawn};
use crate::common::*;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

const TOPIC: &str = "producer-state";
const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// A producer: transactional id (None: idempotent only), id, epoch, next sequence.
struct Producer {
    txn_id: Option<String>,
    pid: i64,
    epoch: i16,
    seq: i32,
}

async fn init(c: &mut Client, txn_id: Option<&str>) -> Producer {
    let resp = c
        .call(
            &InitProducerIdRequest::default()
                .with_transactional_id(txn_id.map(|t| TransactionalId(s(t))))
                .with_transaction_timeout_ms(120_000),
            4,
        )
        .await;
    assert_eq!(resp.error_code, 0, "init producer id");
    Producer {
        txn_id: txn_id.map(str::to_string),
        pid: resp.producer_id.0,
        epoch: resp.producer_epoch,
        seq: 0,
    }
}

async fn begin(c: &mut Client, p: &Producer) {
    let req = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(TransactionalId(s(p.txn_id.as_deref().unwrap())))
        .with_v3_and_below_producer_id(ProducerId(p.pid))
        .with_v3_and_below_producer_epoch(p.epoch)
        .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
            .with_name(TopicName(s(TOPIC)))
            .with_partitions(vec![0])]);
    let resp = c.call(&req, 3).await;
    assert_eq!(
        resp.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code,
        0
    );
}

async fn end(c: &mut Client, p: &Producer, commit: bool) -> i16 {
    let req = EndTxnRequest::default()
        .with_transactional_id(TransactionalId(s(p.txn_id.as_deref().unwrap())))
        .with_producer_id(ProducerId(p.pid))
        .with_producer_epoch(p.epoch)
        .with_committed(commit);
    c.call(&req, 3).await.error_code
}

/// Produce one batch of `values` at sequence `seq` (`p.seq` when None): (error, base offset).
async fn produce(
    c: &mut Client,
    p: &mut Producer,
    values: &[&str],
    seq: Option<i32>,
) -> (i16, i64) {
    let records: Vec<(&str, &str)> = values.iter().map(|v| ("k", *v)).collect();
    let batch = producer_batch(
        p.pid,
        p.epoch,
        seq.unwrap_or(p.seq),
        p.txn_id.is_some(),
        &records,
    );
    let req = ProduceRequest::default()
        .with_transactional_id(p.txn_id.as_deref().map(|t| TransactionalId(s(t))))
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(s(TOPIC)))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch))])]);
    let resp = c.call(&req, 9).await;
    let r = &resp.responses[0].partition_responses[0];
    if r.error_code == 0 && seq.is_none() {
        p.seq += values.len() as i32;
    }
    (r.error_code, r.base_offset)
}

async fn create_topic(c: &mut Client) {
    let config = CreatableTopicConfig::default()
        .with_name(s("internal.segment.bytes"))
        .with_value(Some(s("300")));
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(s(TOPIC)))
            .with_num_partitions(1)
            .with_replication_factor(1)
            .with_configs(vec![config])]);
    assert_eq!(c.call(&req, 7).await.topics[0].error_code, 0);
}

async fn fetch_committed(c: &mut Client) -> PartitionData {
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_max_bytes(50 << 20)
        .with_isolation_level(1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(s(TOPIC)))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_partition_max_bytes(1 << 20)])]);
    c.call(&req, 11).await.responses[0].partitions[0].clone()
}

fn data_values(p: &PartitionData) -> Vec<String> {
    decode_records(p.records.clone().unwrap_or_default())
        .into_iter()
        .filter(|r| !r.control)
        .map(|r| String::from_utf8_lossy(&r.value.unwrap_or_default()).into_owned())
        .collect()
}

fn segment_files(dir: &std::path::Path) -> usize {
    let mut n = 0;
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "log")
                && path.to_string_lossy().contains(TOPIC)
            {
                n += 1;
            }
        }
    }
    n
}

async fn state_outlives_old_segments(stop: impl FnOnce(&mut Child)) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut broker = spawn(dir.path(), port);
    let mut c = connect(port).await;
    create_topic(&mut c).await;

    // Offsets 0 (data) and 1 (marker): an aborted transaction.
    let mut aborter = init(&mut c, Some("aborts-early")).await;
    begin(&mut c, &aborter).await;
    assert_eq!(produce(&mut c, &mut aborter, &["aborted"], None).await.0, 0);
    assert_eq!(end(&mut c, &aborter, false).await, 0);
    // Offset 2: a transaction left open.
    let mut open = init(&mut c, Some("stays-open")).await;
    begin(&mut c, &open).await;
    assert_eq!(
        produce(&mut c, &mut open, &["committed later"], None).await,
        (0, 2)
    );
    // Offset 3: an idempotent producer's only batch.
    let mut idempotent = init(&mut c, None).await;
    assert_eq!(
        produce(&mut c, &mut idempotent, &["once"], None).await,
        (0, 3)
    );
    // Then enough other data to roll several 300-byte segments past all of them.
    let mut filler = Producer {
        txn_id: None,
        pid: -1,
        epoch: -1,
        seq: -1,
    };
    for i in 0..12 {
        let value = format!("filler {i} {}", "x".repeat(100));
        assert_eq!(produce(&mut c, &mut filler, &[&value], Some(-1)).await.0, 0);
    }
    let high_watermark = 16;
    assert!(
        segment_files(dir.path()) >= 5,
        "the producers' batches are in old segments"
    );

    stop(&mut broker);
    let _broker = spawn(dir.path(), port);
    let mut c = connect(port).await;

    let fetched = fetch_committed(&mut c).await;
    assert_eq!(fetched.high_watermark, high_watermark);
    assert_eq!(
        fetched.last_stable_offset, 2,
        "the open transaction still bounds the LSO"
    );
    let aborted = fetched.aborted_transactions.clone().unwrap_or_default();
    assert_eq!(
        aborted.len(),
        1,
        "the old abort is still reported: {aborted:?}"
    );
    assert_eq!(
        (aborted[0].producer_id.0, aborted[0].first_offset),
        (aborter.pid, 0)
    );

    assert_eq!(
        produce(&mut c, &mut idempotent, &["once"], Some(0)).await,
        (0, 3),
        "a retry of the batch from before the restart gets its original offset"
    );
    assert_eq!(
        produce(&mut c, &mut idempotent, &["gap"], Some(5)).await.0,
        OUT_OF_ORDER_SEQUENCE_NUMBER,
        "the producer's sequence is remembered"
    );
    assert_eq!(
        produce(&mut c, &mut idempotent, &["twice"], None).await,
        (0, high_watermark)
    );

    assert_eq!(
        end(&mut c, &open, true).await,
        0,
        "the open transaction commits"
    );
    let fetched = fetch_committed(&mut c).await;
    assert_eq!(fetched.last_stable_offset, fetched.high_watermark);
    let values = data_values(&fetched);
    assert!(
        values.contains(&"committed later".to_string()),
        "{values:?}"
    );
    let aborted = fetched.aborted_transactions.clone().unwrap_or_default();
    assert_eq!(
        aborted.len(),
        1,
        "only the old abort is marked (the client skips it)"
    );
    assert_eq!(
        values.iter().filter(|v| *v == "once").count(),
        1,
        "{values:?}"
    );
}

#[tokio::test]
async fn producer_state_outlives_old_segments_across_kill_9() {
    state_outlives_old_segments(|child| {
        child.kill().unwrap();
        child.wait().unwrap();
    })
    .await;
}

#[tokio::test]
async fn producer_state_outlives_old_segments_across_a_clean_shutdown() {
    state_outlives_old_segments(|child| {
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        assert!(child.wait().unwrap().success());
    })
    .await;
}
