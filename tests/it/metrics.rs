//! /metrics and /health over TCP: produce, fetch and commit against an in-process broker,
//! then check what a scrape reports.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;

use crate::common::*;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOPIC: &str = "loms.order-events";

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

async fn produce(c: &mut Client, partition: i32, records: bytes::Bytes) {
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name(TOPIC))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])]);
    let resp = c.call(&req, 9).await;
    assert_eq!(resp.responses[0].partition_responses[0].error_code, 0);
}

async fn fetch(c: &mut Client, partition: i32) -> usize {
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(name(TOPIC))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])]);
    let resp = c.call(&req, 11).await;
    let p = &resp.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    p.records.as_ref().map_or(0, |r| r.len())
}

/// A simple consumer's commit (no membership), as kcat and admin tools do.
async fn commit(c: &mut Client, group: &str, offsets: &[(i32, i64)]) {
    let partitions = offsets
        .iter()
        .map(|(p, o)| {
            OffsetCommitRequestPartition::default()
                .with_partition_index(*p)
                .with_committed_offset(*o)
        })
        .collect();
    let req = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(name(TOPIC))
            .with_partitions(partitions)]);
    let resp = c.call(&req, 2).await;
    assert!(resp.topics[0].partitions.iter().all(|p| p.error_code == 0));
}

/// (status line, headers, body) of one HTTP/1.1 request (the connection closed after it).
pub(super) async fn http(addr: SocketAddr, request_line: &str) -> (String, String, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("{request_line}\r\nHost: gregor\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).await.unwrap();
    let (head, body) = response
        .split_once("\r\n\r\n")
        .expect("a complete response");
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    (status.to_string(), headers.to_string(), body.to_string())
}

/// Parse an exposition, checking its form: sample key (`name{labels}`) → value.
pub(super) fn parse(text: &str) -> HashMap<String, f64> {
    let mut typed = HashSet::new();
    let mut samples = HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (family, kind) = rest.split_once(' ').unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(
                typed.insert(family.to_string()),
                "family typed twice: {line}"
            );
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (key, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line {line:?}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        let metric = key.split('{').next().unwrap();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| metric.strip_suffix(s).filter(|f| typed.contains(*f)))
            .unwrap_or(metric);
        assert!(typed.contains(family), "sample before its # TYPE: {line}");
        assert!(
            samples.insert(key.to_string(), value).is_none(),
            "duplicate {key}"
        );
    }
    samples
}

pub(super) fn get(samples: &HashMap<String, f64>, key: &str) -> f64 {
    *samples
        .get(key)
        .unwrap_or_else(|| panic!("no sample {key}"))
}

#[tokio::test]
async fn scrape_reports_traffic_offsets_lag_and_requests() {
    let dir = tempfile::tempdir().unwrap();
    let config = gregor::config::Config {
        metrics_listen: Some("127.0.0.1:0".into()),
        ..config(Some(dir.path()))
    };
    let b = gregor::server::start(config).await.unwrap();
    let addr = b.http_addr.expect("metrics are served");
    let mut c = Client::connect(&b).await;

    let three = batch(
        &[
            record("a", "1", 1),
            record("b", "2", 2),
            record("c", "3", 3),
        ],
        Compression::None,
    );
    let two = batch(
        &[record("d", "4", 4), record("e", "5", 5)],
        Compression::None,
    );
    produce(&mut c, 0, three.clone()).await;
    produce(&mut c, 1, two.clone()).await;
    assert_eq!(fetch(&mut c, 0).await, three.len());
    commit(&mut c, "billing", &[(0, 1), (1, 2)]).await;

    let (status, headers, body) = http(addr, "GET /metrics HTTP/1.1").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    // Header names are case-insensitive (hyper writes them in lower case).
    assert!(
        headers
            .to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
        "{headers}"
    );
    let m = parse(&body);
    let t = format!("{{topic=\"{TOPIC}\"}}");
    assert_eq!(get(&m, &format!("gregor_topic_records_in_total{t}")), 5.0);
    assert_eq!(
        get(&m, &format!("gregor_topic_bytes_in_total{t}")),
        (three.len() + two.len()) as f64
    );
    assert_eq!(get(&m, &format!("gregor_topic_records_out_total{t}")), 3.0);
    assert_eq!(
        get(&m, &format!("gregor_topic_bytes_out_total{t}")),
        three.len() as f64
    );
    let p = |i: i32| format!("{{topic=\"{TOPIC}\",partition=\"{i}\"}}");
    assert_eq!(
        get(&m, &format!("gregor_partition_log_end_offset{}", p(0))),
        3.0
    );
    assert_eq!(
        get(&m, &format!("gregor_partition_high_watermark{}", p(0))),
        3.0
    );
    assert_eq!(
        get(&m, &format!("gregor_partition_log_start_offset{}", p(0))),
        0.0
    );
    assert_eq!(
        get(&m, &format!("gregor_partition_log_end_offset{}", p(1))),
        2.0
    );
    assert_eq!(
        get(&m, &format!("gregor_partition_log_size_bytes{}", p(1))),
        two.len() as f64
    );
    let lag = |i: i32| {
        format!("gregor_group_lag{{group=\"billing\",topic=\"{TOPIC}\",partition=\"{i}\"}}")
    };
    assert_eq!(get(&m, &lag(0)), 2.0);
    assert_eq!(get(&m, &lag(1)), 0.0);
    let topic_lag = format!("gregor_group_topic_lag{{group=\"billing\",topic=\"{TOPIC}\"}}");
    assert_eq!(get(&m, &topic_lag), 2.0);
    assert_eq!(
        get(&m, "gregor_group_state{group=\"billing\",state=\"Empty\"}"),
        1.0
    );
    assert_eq!(
        get(&m, "gregor_group_state{group=\"billing\",state=\"Stable\"}"),
        0.0
    );
    assert_eq!(get(&m, "gregor_group_members{group=\"billing\"}"), 0.0);
    let count = |api: &str| {
        get(
            &m,
            &format!("gregor_request_duration_seconds_count{{api=\"{api}\"}}"),
        )
    };
    assert_eq!(count("Produce"), 2.0);
    assert_eq!(count("Fetch"), 1.0);
    assert_eq!(count("OffsetCommit"), 1.0);
    assert_eq!(count("Metadata"), 0.0);
    assert_eq!(
        get(
            &m,
            "gregor_request_duration_seconds_bucket{api=\"Produce\",le=\"+Inf\"}"
        ),
        2.0
    );
    assert_eq!(get(&m, "gregor_connections_open"), 1.0);
    assert_eq!(get(&m, "gregor_connections_accepted_total"), 1.0);
    // No quotas: nothing throttled (tests/it/quotas.rs throttles).
    for quota in ["produce", "fetch", "request"] {
        let key = format!("gregor_quota_throttled_responses_total{{quota=\"{quota}\"}}");
        assert_eq!(get(&m, &key), 0.0);
    }
    // acks=all with fsync=always: each produce waited for a group-commit fsync.
    assert!(get(&m, "gregor_fsync_duration_seconds_count") >= 2.0);
    if cfg!(target_os = "linux") {
        assert!(get(&m, "process_resident_memory_bytes") > 0.0);
        assert!(get(&m, "process_open_fds") > 0.0);
        assert!(get(&m, "process_start_time_seconds") > 1.6e9);
        assert!(m.contains_key("process_cpu_seconds_total"));
    }

    // The sessionless fetches above (epoch -1) opened no fetch session; a full fetch at epoch 0
    // opens one, of one partition.
    assert_eq!(get(&m, "gregor_fetch_sessions"), 0.0);
    let opening = FetchRequest::default()
        .with_max_bytes(1 << 20)
        .with_session_epoch(0)
        .with_topics(vec![FetchTopic::default()
            .with_topic(name(TOPIC))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(1)
                .with_partition_max_bytes(1 << 20)])]);
    assert!(c.call(&opening, 12).await.session_id > 0);
    let m = parse(&http(addr, "GET /metrics HTTP/1.1").await.2);
    assert_eq!(get(&m, "gregor_fetch_sessions"), 1.0);
    assert_eq!(get(&m, "gregor_fetch_session_partitions"), 1.0);
    assert_eq!(get(&m, "gregor_fetch_session_evictions_total"), 0.0);

    // The consumer catches up: lag falls to zero. A closed connection is no longer open.
    commit(&mut c, "billing", &[(0, 3)]).await;
    drop(c);
    let mut closed = false;
    for _ in 0..100 {
        let m = parse(&http(addr, "GET /metrics HTTP/1.1").await.2);
        assert_eq!(get(&m, &lag(0)), 0.0);
        assert_eq!(get(&m, &topic_lag), 0.0);
        if get(&m, "gregor_connections_open") == 0.0 {
            closed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(closed, "the closed connection is still counted as open");
    b.shutdown().await;
}

#[tokio::test]
async fn health_and_other_requests() {
    let config = gregor::config::Config {
        metrics_listen: Some("127.0.0.1:0".into()),
        ..config(None)
    };
    let b = gregor::server::start(config).await.unwrap();
    let addr = b.http_addr.unwrap();
    let (status, _, body) = http(addr, "GET /health HTTP/1.1").await;
    assert_eq!(
        (status.as_str(), body.as_str()),
        ("HTTP/1.1 200 OK", "ok\n")
    );
    // An HTTP/1.0 request is answered in HTTP/1.0.
    let (status, headers, body) = http(addr, "HEAD /metrics HTTP/1.0").await;
    assert_eq!(status, "HTTP/1.0 200 OK");
    assert!(headers.to_ascii_lowercase().contains("content-length: ") && body.is_empty());
    assert_eq!(
        http(addr, "GET /nope HTTP/1.1").await.0,
        "HTTP/1.1 404 Not Found"
    );
    assert_eq!(
        http(addr, "POST /metrics HTTP/1.1").await.0,
        "HTTP/1.1 405 Method Not Allowed"
    );
    assert_eq!(http(addr, "garbage").await.0, "HTTP/1.1 400 Bad Request");
    b.shutdown().await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no health answer once the broker has stopped"
    );
}

/// With every `max_connections` slot taken, the accept loop counts that it waits.
#[tokio::test]
async fn reaching_the_connection_cap_is_counted() {
    let config = gregor::config::Config {
        metrics_listen: Some("127.0.0.1:0".into()),
        max_connections: 1,
        ..config(None)
    };
    let b = gregor::server::start(config).await.unwrap();
    let addr = b.http_addr.unwrap();
    let m = parse(&http(addr, "GET /metrics HTTP/1.1").await.2);
    assert_eq!(get(&m, "gregor_connections_cap_reached_total"), 0.0);
    assert_eq!(get(&m, "gregor_connections_max"), 1.0);
    let mut c = Client::connect(&b).await;
    c.call(&crate::common::api_versions(), 3).await;
    let mut counted = false;
    for _ in 0..100 {
        let m = parse(&http(addr, "GET /metrics HTTP/1.1").await.2);
        if get(&m, "gregor_connections_cap_reached_total") == 1.0 {
            assert_eq!(get(&m, "gregor_connections_open"), 1.0);
            counted = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(counted, "the full connection cap was not counted");
    drop(c);
    b.shutdown().await;
}

#[tokio::test]
async fn metrics_are_off_unless_asked_for() {
    let b = broker(None).await;
    assert!(b.http_addr.is_none());
    b.shutdown().await;
}
