//! Hostile and careless requests: they close their own connection or get an answer, and the
//! broker keeps serving everyone else.

use std::time::Duration;

use super::{fetch_request, name, produce_request, TOPIC};
use crate::common::*;
use gregor::server::{start, RunningBroker};
use kafka_protocol::messages::*;
use kafka_protocol::records::Compression;

async fn broker_with(edit: impl FnOnce(&mut gregor::config::Config)) -> RunningBroker {
    let mut config = config(None);
    edit(&mut config);
    start(config).await.expect("broker starts")
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut f = (body.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

/// Request header v1 (key, version, correlation id 7, client id "t") followed by `body`.
fn request(key: i16, version: i16, body: &[u8]) -> Vec<u8> {
    let mut r = key.to_be_bytes().to_vec();
    r.extend_from_slice(&version.to_be_bytes());
    r.extend_from_slice(&7i32.to_be_bytes());
    r.extend_from_slice(&[0, 1, b't']);
    r.extend_from_slice(body);
    framed(&r)
}

async fn still_serves(b: &RunningBroker) {
    let mut c = Client::connect(b).await;
    let req = crate::common::api_versions();
    let call = c.call(&req, 3);
    let resp = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("another client is still answered");
    assert_eq!(resp.error_code, 0);
}

async fn closed(c: &mut Client) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(5), c.read_frame()).await,
        Ok(None)
    )
}

#[tokio::test]
async fn huge_counts_close_only_their_connection() {
    let b = broker(None).await;
    let huge = 0x7fff_ffffi32.to_be_bytes();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        // The probe's 23 bytes: Metadata v4, topic count 2^31-1.
        ("metadata v4 topics", [&huge[..], &[0, 1, b'a', 0]].concat()),
        // Produce v3: transactional id null, acks, timeout, then the topic count.
        (
            "produce v3 topics",
            [&[0xff, 0xff, 0, 1, 0, 0, 0x13, 0x88][..], &huge].concat(),
        ),
        // ListOffsets v1: replica id, then the topic count.
        ("list offsets v1 topics", [&[0xff; 4][..], &huge].concat()),
        // SyncGroup v0: group, generation, member, then assignments of 2^31-1.
        (
            "sync group v0 assignments",
            [&[0, 1, b'g', 0, 0, 0, 1, 0, 1, b'm'][..], &huge].concat(),
        ),
    ];
    let keys = [3i16, 0, 2, 14];
    let versions = [4i16, 3, 1, 0];
    for (((what, body), key), version) in cases.iter().zip(keys).zip(versions) {
        let mut c = Client::connect(&b).await;
        c.write_raw(&request(key, version, body)).await;
        assert!(closed(&mut c).await, "{what}: connection closed");
        still_serves(&b).await;
    }
}

#[tokio::test]
async fn huge_compact_lengths_close_only_their_connection() {
    let b = broker(None).await;
    // Metadata v10 (flexible, header v2 with an empty tagged-field section): a compact array
    // count of 2^31-1, then a topic (id, name) whose compact name is 2^31-1 bytes long. (A
    // varint above 2^31 is a negative length, i.e. null, for Kafka and gregor alike.)
    let huge = [0x80, 0x80, 0x80, 0x80, 0x08];
    for body in [
        [&huge[..], &[0, 1, 0, 0]].concat(),
        [&[2][..], &[0; 16], &huge, &[0]].concat(),
    ] {
        let mut header = 3i16.to_be_bytes().to_vec();
        header.extend_from_slice(&10i16.to_be_bytes());
        header.extend_from_slice(&7i32.to_be_bytes());
        header.extend_from_slice(&[0, 1, b't', 0]);
        let mut c = Client::connect(&b).await;
        c.write_raw(&framed(&[header, body].concat())).await;
        assert!(closed(&mut c).await);
        still_serves(&b).await;
    }
}

/// As Kafka: any negative length of a nullable string is null, so the request is answered.
#[tokio::test]
async fn a_negative_client_id_length_is_answered() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let mut r = 18i16.to_be_bytes().to_vec(); // ApiVersions v1
    r.extend_from_slice(&1i16.to_be_bytes());
    r.extend_from_slice(&7i32.to_be_bytes());
    r.extend_from_slice(&(-2i16).to_be_bytes());
    c.write_raw(&framed(&r)).await;
    let frame = c.read_frame().await.expect("answered");
    assert_eq!(&frame[..4], &7i32.to_be_bytes(), "correlation id");
    assert_eq!(&frame[4..6], &[0, 0], "error code");
}

/// Malformed UTF-8 in a topic name is a bad name, not a bad request (Kafka decodes it with
/// replacement characters and answers for that topic).
#[tokio::test]
async fn an_invalid_utf8_topic_name_is_answered_for_that_topic() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    // Metadata v1: one topic of two bytes that are not UTF-8.
    c.write_raw(&request(3, 1, &[0, 0, 0, 1, 0, 2, 0xff, 0xfe]))
        .await;
    let frame = c.read_frame().await.expect("answered");
    let mut body = bytes::Bytes::from(frame[4..].to_vec());
    let resp = <MetadataResponse as kafka_protocol::protocol::Decodable>::decode(&mut body, 1)
        .expect("a Metadata v1 response");
    assert_eq!(resp.topics.len(), 1);
    assert_ne!(resp.topics[0].error_code, 0);
    assert_eq!(
        resp.topics[0].name.as_ref().map(|n| n.as_str()),
        Some("\u{fffd}\u{fffd}")
    );
}

#[tokio::test]
async fn idle_connections_are_closed_but_long_polls_are_not_idle() {
    let b = broker_with(|c| c.connections_max_idle_ms = 300).await;
    let mut idle = Client::connect(&b).await;
    assert!(closed(&mut idle).await, "closed after 300 ms of silence");

    // A fetch waiting 1.5 s for data is a pending answer, not idleness.
    let mut polling = Client::connect(&b).await;
    let resp = polling.call(&fetch_request(TOPIC, 0, 0, 1500), 12).await;
    assert_eq!(resp.responses[0].partitions[0].error_code, 0);

    // Half a frame, then silence: closed too.
    let mut half = Client::connect(&b).await;
    half.write_raw(&[0, 0, 0, 100, 0, 18]).await;
    assert!(closed(&mut half).await);
    still_serves(&b).await;
}

/// With a per-connection budget smaller than a few requests, pipelined requests are read one
/// after another as earlier ones are answered: all answered, in order.
#[tokio::test]
async fn a_small_connection_budget_still_answers_every_pipelined_request() {
    let b = broker_with(|c| c.connection_max_queued_bytes = 200).await;
    let mut c = Client::connect(&b).await;
    let mut sent = Vec::new();
    for i in 0..10 {
        let records = batch(&[record(&format!("k{i}"), "value", 1)], Compression::None);
        sent.push(c.send(&produce_request(TOPIC, 1, records, -1), 9).await);
    }
    for (i, id) in sent.into_iter().enumerate() {
        let (got, resp) = c.receive::<ProduceRequest>(9).await;
        assert_eq!(got, id);
        assert_eq!(
            resp.responses[0].partition_responses[0].base_offset,
            i as i64
        );
    }
    let _ = name(TOPIC);
}

/// A client that announces a large frame and sends part of it holds the shared budget only
/// for what it sent: others are still read and answered.
#[tokio::test]
async fn announced_bytes_do_not_hold_the_shared_budget() {
    let b = broker_with(|c| {
        c.max_request_bytes = 1 << 20;
        c.queued_max_request_bytes = 1 << 20;
    })
    .await;
    let mut hoarders = Vec::new();
    for _ in 0..4 {
        let mut h = Client::connect(&b).await;
        h.write_raw(&[0, 0x0f, 0xff, 0xff, 0, 18, 0, 3]).await;
        hoarders.push(h);
    }
    still_serves(&b).await;
}
