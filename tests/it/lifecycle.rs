//! Log lifecycle over the wire: DeleteRecords and the log start offset (also after a restart),
//! retention and compaction run by the broker's background task, keyless records refused by
//! compacted topics.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::*;
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Compression, Record};

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

fn configs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Produce with acks=all: (error code, base offset, log start offset).
async fn produce(c: &mut Client, topic: &str, records: &[Record]) -> (i16, i64, i64) {
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch(records, Compression::Lz4)))])]);
    let resp = c.call(&req, 9).await;
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset, p.log_start_offset)
}

/// Fetch from `offset`: (error code, log start offset, records).
async fn fetch(c: &mut Client, topic: &str, offset: i64) -> (i16, i64, Vec<Record>) {
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_max_bytes(50 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_fetch_offset(offset)
                .with_partition_max_bytes(50 << 20)])]);
    let resp = c.call(&req, 12).await;
    let p = &resp.responses[0].partitions[0];
    let records = p.records.clone().map(decode_records).unwrap_or_default();
    (p.error_code, p.log_start_offset, records)
}

async fn earliest(c: &mut Client, topic: &str) -> i64 {
    let req = ListOffsetsRequest::default().with_topics(vec![ListOffsetsTopic::default()
        .with_name(name(topic))
        .with_partitions(vec![ListOffsetsPartition::default().with_timestamp(-2)])]);
    let resp = c.call(&req, 7).await;
    let p = &resp.topics[0].partitions[0];
    assert_eq!(p.error_code, 0);
    p.offset
}

async fn delete_records(c: &mut Client, topic: &str, offset: i64) -> (i16, i64) {
    let req = DeleteRecordsRequest::default().with_topics(vec![DeleteRecordsTopic::default()
        .with_name(name(topic))
        .with_partitions(vec![DeleteRecordsPartition::default().with_offset(offset)])]);
    let resp = c.call(&req, 2).await;
    let p = &resp.topics[0].partitions[0];
    (p.error_code, p.low_watermark)
}

fn ten(round: usize, timestamp: i64) -> Vec<Record> {
    (0..10)
        .map(|i| record(&format!("k{i}"), &format!("r{round}"), timestamp))
        .collect()
}

#[tokio::test]
async fn delete_records_moves_the_log_start_offset_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(Some(dir.path())).await;
    let topic = "deletable";
    b.services
        .topics
        .create_topic(
            topic,
            1,
            configs(&[("internal.segment.bytes", "300")]),
            false,
        )
        .unwrap();
    let mut c = Client::connect(&b).await;
    for round in 0..5 {
        assert_eq!(produce(&mut c, topic, &ten(round, 1_000)).await.0, 0);
    }
    assert_eq!(delete_records(&mut c, topic, 17).await, (0, 17));
    // Beyond the high watermark: OFFSET_OUT_OF_RANGE; behind the start: no change.
    assert_eq!(delete_records(&mut c, topic, 51).await.0, 1);
    assert_eq!(delete_records(&mut c, topic, 3).await, (0, 17));
    assert_eq!(delete_records(&mut c, "no-such-topic", 3).await.0, 3);
    assert_eq!(earliest(&mut c, topic).await, 17);
    let (error, start, _) = fetch(&mut c, topic, 16).await;
    assert_eq!(
        (error, start),
        (1, -1),
        "below the start: OFFSET_OUT_OF_RANGE"
    );
    let (error, start, records) = fetch(&mut c, topic, 17).await;
    assert_eq!((error, start), (0, 17));
    assert!(records.iter().any(|r| r.offset == 17));
    assert_eq!(produce(&mut c, topic, &ten(9, 1_000)).await.2, 17);

    b.shutdown().await;
    let b = broker(Some(dir.path())).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(earliest(&mut c, topic).await, 17, "after a restart");
    // -1: up to the high watermark.
    assert_eq!(delete_records(&mut c, topic, -1).await, (0, 60));
    assert_eq!(earliest(&mut c, topic).await, 60);

    // A compact-only topic refuses, as Kafka does (POLICY_VIOLATION).
    b.services
        .topics
        .create_topic(
            "compacted",
            1,
            configs(&[("cleanup.policy", "compact")]),
            false,
        )
        .unwrap();
    assert_eq!(delete_records(&mut c, "compacted", 0).await.0, 44);
}

#[tokio::test]
async fn compacted_topics_refuse_records_without_keys() {
    let b = broker(None).await;
    b.services
        .topics
        .create_topic(
            "keyed",
            1,
            configs(&[("cleanup.policy", "compact,delete")]),
            false,
        )
        .unwrap();
    let mut c = Client::connect(&b).await;
    let mut keyless = record("k", "v", 1);
    keyless.key = None;
    assert_eq!(produce(&mut c, "keyed", &[keyless.clone()]).await.0, 87);
    assert_eq!(produce(&mut c, "keyed", &[record("k", "v", 1)]).await.0, 0);
    // Other topics take them.
    assert_eq!(produce(&mut c, "loms.order-events", &[keyless]).await.0, 0);
}

/// A broker whose retention and cleaner run every 50 ms.
async fn busy_broker() -> gregor::server::RunningBroker {
    let config = gregor::config::Config {
        log_retention_check_interval_ms: 50,
        log_cleaner_backoff_ms: 50,
        ..config(None)
    };
    gregor::server::start(config).await.unwrap()
}

/// Poll until `done` holds (the background task runs on its own schedule).
async fn eventually<F: std::future::Future<Output = bool>>(mut check: impl FnMut() -> F) {
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition not reached");
}

#[tokio::test]
async fn retention_drops_old_segments_while_producing() {
    let b = busy_broker().await;
    let topic = "expiring";
    b.services
        .topics
        .create_topic(
            topic,
            1,
            configs(&[("retention.ms", "60000"), ("internal.segment.bytes", "300")]),
            false,
        )
        .unwrap();
    let mut c = Client::connect(&b).await;
    let now = gregor::api::now_ms();
    // Ten minutes old, then fresh.
    for round in 0..5 {
        produce(&mut c, topic, &ten(round, now - 600_000)).await;
    }
    for round in 5..10 {
        produce(&mut c, topic, &ten(round, now)).await;
    }
    let addr = b.addr();
    eventually(|| async move {
        let mut c = Client::from_stream(tokio::net::TcpStream::connect(addr).await.unwrap());
        earliest(&mut c, topic).await >= 40
    })
    .await;
    let start = earliest(&mut c, topic).await;
    assert!(start <= 50, "fresh records stay: start {start}");
    let (error, _, records) = fetch(&mut c, topic, start).await;
    assert_eq!(error, 0);
    assert_eq!(records.first().map(|r| r.offset), Some(start));
    assert!(records.iter().all(|r| r.timestamp == now));
}

#[tokio::test]
async fn compaction_keeps_one_value_per_key() {
    let b = busy_broker().await;
    let topic = "latest";
    b.services
        .topics
        .create_topic(
            topic,
            1,
            configs(&[
                ("cleanup.policy", "compact"),
                ("internal.segment.bytes", "300"),
                ("min.cleanable.dirty.ratio", "0.01"),
            ]),
            false,
        )
        .unwrap();
    let mut c = Client::connect(&b).await;
    for round in 0..20 {
        produce(&mut c, topic, &ten(round, 1_000)).await;
    }
    // Roll past the last round with other keys, so that it can be cleaned too.
    for i in 0..10 {
        produce(&mut c, topic, &[record(&format!("other{i}"), "x", 1_000)]).await;
    }
    let addr = b.addr();
    eventually(|| async move {
        let mut c = Client::from_stream(tokio::net::TcpStream::connect(addr).await.unwrap());
        let (_, _, records) = fetch(&mut c, topic, 0).await;
        records
            .iter()
            .filter(|r| r.key.as_deref().is_some_and(|k| k.starts_with(b"k")))
            .count()
            == 10
    })
    .await;
    let (_, _, records) = fetch(&mut c, topic, 0).await;
    for r in records
        .iter()
        .filter(|r| r.key.as_deref().is_some_and(|k| k.starts_with(b"k")))
    {
        let k: usize = std::str::from_utf8(&r.key.as_ref().unwrap()[1..])
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(r.value.as_deref(), Some(&b"r19"[..]));
        // Offsets are those the records were written at.
        assert_eq!(r.offset, 190 + k as i64);
    }
}
