//! Damage on disk under a running broker: the background scrub finds a flipped byte in a
//! sealed segment, reports it in /metrics, and Fetch answers its offsets CORRUPT_MESSAGE while
//! the batches around it are still served. And a truncated sealed segment found at start-up.

use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::*;
use gregor::log::batch;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

const TOPIC: &str = "scrubbed";

fn name() -> TopicName {
    TopicName(StrBytes::from_static_str(TOPIC))
}

/// A broker whose scrub passes every 100 ms at 10 MiB/s.
async fn scrubbing_broker(dir: &Path) -> gregor::server::RunningBroker {
    let config = gregor::config::Config {
        log_scrub_bytes_per_second: 10 << 20,
        log_scrub_interval_ms: 100,
        ..config(Some(dir))
    };
    gregor::server::start(config).await.unwrap()
}

async fn produce(c: &mut Client, round: usize) {
    let records: Vec<_> = (0..3)
        .map(|i| record(&format!("k{i}"), &format!("value {round}-{i}"), 1_000))
        .collect();
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name())
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch(&records, Compression::None)))])]);
    let resp = c.call(&req, 9).await;
    assert_eq!(resp.responses[0].partition_responses[0].error_code, 0);
}

/// (error code, base offsets of the batches returned).
async fn fetch(c: &mut Client, offset: i64) -> (i16, Vec<i64>) {
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(name())
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1 << 20)])]);
    let resp = c.call(&req, 11).await;
    let p = &resp.responses[0].partitions[0];
    let records = p.records.clone().unwrap_or_default();
    let bases = batch::headers(&records)
        .map(|(_, h)| h.base_offset)
        .collect();
    (p.error_code, bases)
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("logs").join(format!("{TOPIC}-0")))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    files
}

/// (position, size) of each batch in a segment file.
fn batches_in(path: &Path) -> Vec<(u64, u64)> {
    let bytes = std::fs::read(path).unwrap();
    batch::headers(&bytes)
        .map(|(p, h)| (p as u64, h.total_size() as u64))
        .collect()
}

fn sample(text: &str, key: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.parse().ok())
}

async fn filled_topic(b: &gregor::server::RunningBroker) {
    let configs: BTreeMap<String, String> =
        [("internal.segment.bytes".to_string(), "400".to_string())].into();
    b.services
        .topics
        .create_topic(TOPIC, 1, configs, false)
        .unwrap();
    let mut c = Client::connect(b).await;
    for round in 0..12 {
        produce(&mut c, round).await;
    }
}

#[tokio::test]
async fn the_scrub_finds_a_flipped_byte_and_fetch_answers_corrupt_message() {
    let dir = tempfile::tempdir().unwrap();
    let b = scrubbing_broker(dir.path()).await;
    filled_topic(&b).await;
    let mut c = Client::connect(&b).await;
    let segments = segment_files(dir.path());
    assert!(segments.len() >= 3, "{segments:?}");
    let batches = batches_in(&segments[0]);
    assert!(batches.len() >= 3);
    // The last byte of the second batch (a record byte) changes under the running broker.
    let (pos, size) = batches[1];
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&segments[0])
        .unwrap();
    let mut byte = [0u8; 1];
    file.read_exact_at(&mut byte, pos + size - 1).unwrap();
    file.write_all_at(&[byte[0] ^ 0x20], pos + size - 1)
        .unwrap();

    let key = format!("gregor_log_corrupt_batches_total{{topic=\"{TOPIC}\",partition=\"0\"}}");
    let mut text = String::new();
    for _ in 0..100 {
        text = gregor::http::scrape::render(&b.services).await;
        if sample(&text, &key) == Some(1.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sample(&text, &key), Some(1.0), "{text}");
    assert!(sample(&text, "gregor_log_scrubbed_bytes_total").unwrap() > 0.0);

    // The first batch is served and the fetch stops before the damage.
    assert_eq!(fetch(&mut c, 0).await, (0, vec![0]));
    assert_eq!(fetch(&mut c, 2).await, (0, vec![0]));
    // The damaged batch (offsets 3..6) is an error, not data.
    assert_eq!(fetch(&mut c, 3).await, (2, vec![]));
    assert_eq!(fetch(&mut c, 5).await, (2, vec![]));
    // After it, everything is served again.
    let (code, bases) = fetch(&mut c, 6).await;
    assert_eq!(code, 0);
    assert_eq!(bases.first(), Some(&6));
    // Found once, however many passes run.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let text = gregor::http::scrape::render(&b.services).await;
    assert_eq!(sample(&text, &key), Some(1.0));
    b.shutdown().await;
}

#[tokio::test]
async fn a_truncated_sealed_segment_is_found_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(Some(dir.path())).await;
    filled_topic(&b).await;
    b.shutdown().await;
    let segments = segment_files(dir.path());
    let batches = batches_in(&segments[0]);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&segments[0])
        .unwrap();
    file.set_len(batches[1].0 + 20).unwrap();

    let b = broker(Some(dir.path())).await;
    let p = b.services.topics.partition(TOPIC, 0).unwrap();
    let text = gregor::http::scrape::render(&b.services).await;
    let labels = format!("{{topic=\"{TOPIC}\",partition=\"0\"}}");
    assert_eq!(
        sample(&text, &format!("gregor_log_recovery_errors_total{labels}")),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, &format!("gregor_log_corrupt_batches_total{labels}")),
        Some(1.0)
    );
    let mut c = Client::connect(&b).await;
    assert_eq!(fetch(&mut c, 0).await, (0, vec![0]));
    assert_eq!(fetch(&mut c, 3).await.0, 2);
    // Nothing after the damaged segment was lost or deleted.
    assert_eq!(p.log_end_offset(), 36);
    let next = gregor::log::batch::BatchHeader::parse(&std::fs::read(&segments[1]).unwrap())
        .unwrap()
        .base_offset;
    assert_eq!(fetch(&mut c, next).await.1.first(), Some(&next));
    b.shutdown().await;
}
