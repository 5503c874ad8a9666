//! Raw-protocol scenarios against an in-process broker.

mod every_version;
mod fetch_limits;
mod fetch_sessions;
mod hostile;
mod idempotent;
mod leader_epochs;

use std::time::Duration;

use crate::common::*;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

const TOPIC: &str = "loms.order-events";

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

fn produce_request(
    topic: &str,
    partition: i32,
    records: bytes::Bytes,
    acks: i16,
) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])])
}

fn fetch_request(topic: &str, partition: i32, offset: i64, max_wait_ms: i32) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(50 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1 << 20)])])
}

async fn produce(c: &mut Client, topic: &str, partition: i32, records: bytes::Bytes) -> i64 {
    let resp = c
        .call(&produce_request(topic, partition, records, -1), 9)
        .await;
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 0, "{:?}", p.error_message);
    p.base_offset
}

#[tokio::test]
async fn api_versions_lists_the_table_and_answers_unknown_versions_with_v0() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let resp = c
        .call(
            &crate::common::api_versions().with_client_software_name(StrBytes::from("t")),
            3,
        )
        .await;
    assert_eq!(resp.error_code, 0);
    let produce = resp.api_keys.iter().find(|k| k.api_key == 0).unwrap();
    assert_eq!(
        (produce.min_version, produce.max_version),
        (3, 13),
        "v12: transactions v2; v13: topics by id"
    );
    // KIP-848's consumer group protocol, at the versions Kafka 4.4 advertises.
    for key in [68, 69] {
        let k = resp.api_keys.iter().find(|k| k.api_key == key).unwrap();
        assert_eq!((k.min_version, k.max_version), (0, 1), "api key {key}");
    }

    // v99: a v0 body with UNSUPPORTED_VERSION and our ApiVersions range.
    // Header v2 (api key 18, version 99, correlation 77, client id "t", no tags), empty body.
    c.write_raw(&[0, 0, 0, 12, 0, 18, 0, 99, 0, 0, 0, 77, 0, 1, b't', 0])
        .await;
    let sent = 77;
    let frame = bytes::Bytes::from(c.read_frame().await.unwrap());
    let mut buf = frame.clone();
    let header = ResponseHeader::decode(&mut buf, 0).unwrap();
    assert_eq!(header.correlation_id, sent);
    let body = ApiVersionsResponse::decode(&mut buf, 0).unwrap();
    assert_eq!(body.error_code, 35);
    assert_eq!(body.api_keys.len(), 1);
    assert_eq!(
        (body.api_keys[0].api_key, body.api_keys[0].max_version),
        (18, 5)
    );
}

use kafka_protocol::protocol::Decodable;

#[tokio::test]
async fn metadata_shows_the_homework_topic_at_the_listener_address() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    for version in [0, 1, 4, 9, 12] {
        let req =
            MetadataRequest::default().with_topics(if version == 0 { Some(vec![]) } else { None });
        let resp = c.call(&req, version).await;
        assert_eq!(resp.brokers.len(), 1);
        assert_eq!(resp.brokers[0].host.as_str(), "127.0.0.1");
        assert_eq!(resp.brokers[0].port, b.addr().port() as i32);
        let t = resp
            .topics
            .iter()
            .find(|t| t.name.as_deref().map(|n| n.as_str()) == Some(TOPIC))
            .unwrap();
        assert_eq!(t.partitions.len(), 2, "v{version}");
        if version >= 10 {
            assert!(!t.topic_id.is_nil());
        }
    }
    // v1+: an empty list means no topics.
    let resp = c
        .call(&MetadataRequest::default().with_topics(Some(vec![])), 4)
        .await;
    assert!(resp.topics.is_empty());
}

#[tokio::test]
async fn metadata_by_topic_id_ignores_the_name_field() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let id = b.services.topics.get(TOPIC).unwrap().id;
    // Java's client asks by id with the name left "" (its default), as KIP-848 consumers do
    // for the topics of a regex assignment.
    for name_field in [None, Some(name(""))] {
        let req =
            MetadataRequest::default().with_topics(Some(vec![MetadataRequestTopic::default()
                .with_topic_id(id)
                .with_name(name_field.clone())]));
        let resp = c.call(&req, 12).await;
        assert_eq!(resp.topics.len(), 1);
        assert_eq!(resp.topics[0].error_code, 0, "{name_field:?}");
        assert_eq!(
            resp.topics[0].name.as_deref().map(|n| n.as_str()),
            Some(TOPIC)
        );
        assert_eq!(resp.topics[0].partitions.len(), 2);
    }
    let unknown =
        MetadataRequest::default().with_topics(Some(vec![MetadataRequestTopic::default()
            .with_topic_id(uuid::Uuid::from_u128(7))
            .with_name(Some(name("")))]));
    assert_eq!(c.call(&unknown, 12).await.topics[0].error_code, 100); // UNKNOWN_TOPIC_ID
}

#[tokio::test]
async fn metadata_auto_creates_only_when_allowed() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let ask = |n: &str, allow: bool| {
        MetadataRequest::default()
            .with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(name(n)))
            ]))
            .with_allow_auto_topic_creation(allow)
    };
    let resp = c.call(&ask("not-created", false), 9).await;
    assert_eq!(resp.topics[0].error_code, 3);
    // Kafka answers UNKNOWN_TOPIC_OR_PARTITION while it creates the topic; it is there from
    // the next request on.
    let resp = c.call(&ask("created", true), 9).await;
    assert_eq!(resp.topics[0].error_code, 3);
    assert!(resp.topics[0].partitions.is_empty());
    assert!(b.services.topics.get("created").is_some());
    let resp = c.call(&ask("created", true), 9).await;
    assert_eq!(resp.topics[0].error_code, 0);
    assert_eq!(resp.topics[0].partitions.len(), 1);
    let resp = c.call(&ask("bad name!", true), 9).await;
    assert_eq!(resp.topics[0].error_code, 17);
}

#[tokio::test]
async fn produce_then_fetch_round_trips_every_codec() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let mut expected = Vec::new();
    for (i, codec) in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ]
    .into_iter()
    .enumerate()
    {
        let records: Vec<_> = (0..3)
            .map(|j| record(&format!("k{i}{j}"), &format!("v{i}{j}"), 1_000 + j))
            .collect();
        let base = produce(&mut c, TOPIC, 0, batch(&records, codec)).await;
        assert_eq!(base, 3 * i as i64);
        expected.extend(records);
    }
    let resp = c.call(&fetch_request(TOPIC, 0, 0, 0), 12).await;
    let p = &resp.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    assert_eq!(p.high_watermark, 15);
    let got = decode_records(p.records.clone().unwrap());
    assert_eq!(got.len(), 15);
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(g.offset, i as i64);
        assert_eq!(
            (&g.key, &g.value, &g.headers),
            (&e.key, &e.value, &e.headers)
        );
    }
    // From inside a batch: that batch comes back whole, starting at or before the offset.
    let resp = c.call(&fetch_request(TOPIC, 0, 7, 0), 12).await;
    let got = decode_records(resp.responses[0].partitions[0].records.clone().unwrap());
    assert_eq!(got[0].offset, 6);
    assert!(got.iter().any(|r| r.offset == 7));
    // At the end: nothing; past it: OFFSET_OUT_OF_RANGE.
    let resp = c.call(&fetch_request(TOPIC, 0, 15, 0), 12).await;
    assert_eq!(
        resp.responses[0].partitions[0]
            .records
            .as_ref()
            .map(|r| r.len()),
        Some(0)
    );
    let resp = c.call(&fetch_request(TOPIC, 0, 16, 0), 12).await;
    assert_eq!(resp.responses[0].partitions[0].error_code, 1);
}

/// Kafka's `FetchManager.newContext`: epoch -1 is a sessionless full fetch whatever the
/// session id (kafka-go's `Client.Fetch` sends id -1, epoch -1), answered with session id 0.
/// (Sessions themselves: `protocol/fetch_sessions.rs`.)
#[tokio::test]
async fn final_epoch_fetches_are_sessionless_whatever_the_session_id() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    produce(
        &mut c,
        TOPIC,
        0,
        batch(&[record("k", "v", 1)], Compression::None),
    )
    .await;
    for session_id in [0, -1, 7] {
        let mut req = fetch_request(TOPIC, 0, 0, 0);
        req.session_id = session_id;
        req.session_epoch = -1;
        for version in [7, 11, 12] {
            let resp = c.call(&req, version).await;
            assert_eq!(resp.error_code, 0, "id {session_id} v{version}");
            assert_eq!(resp.session_id, 0);
            let p = &resp.responses[0].partitions[0];
            assert_eq!(p.error_code, 0);
            assert_eq!(decode_records(p.records.clone().unwrap()).len(), 1);
        }
    }
    assert_eq!(b.services.fetch_sessions.len(), 0);
}

#[tokio::test]
async fn fetch_by_topic_id_from_v13() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    produce(
        &mut c,
        TOPIC,
        1,
        batch(&[record("k", "v", 1)], Compression::None),
    )
    .await;
    let id = b.services.topics.get(TOPIC).unwrap().id;
    let mut req = fetch_request("", 1, 0, 0);
    req.topics[0].topic_id = id;
    let resp = c.call(&req, 13).await;
    assert_eq!(resp.responses[0].topic_id, id);
    assert_eq!(
        decode_records(resp.responses[0].partitions[0].records.clone().unwrap()).len(),
        1
    );
    req.topics[0].topic_id = uuid::Uuid::new_v4();
    let resp = c.call(&req, 13).await;
    assert_eq!(resp.responses[0].partitions[0].error_code, 100);
}

#[tokio::test]
async fn long_poll_wakes_when_data_arrives() {
    let b = broker(None).await;
    let mut consumer = Client::connect(&b).await;
    let mut producer = Client::connect(&b).await;
    let fetch =
        tokio::spawn(async move { consumer.call(&fetch_request(TOPIC, 0, 0, 30_000), 12).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !fetch.is_finished(),
        "fetch with min_bytes 1 must wait for data"
    );
    produce(
        &mut producer,
        TOPIC,
        0,
        batch(&[record("k", "v", 1)], Compression::None),
    )
    .await;
    let resp = tokio::time::timeout(Duration::from_secs(10), fetch)
        .await
        .expect("woken by the produce")
        .unwrap();
    assert_eq!(
        decode_records(resp.responses[0].partitions[0].records.clone().unwrap()).len(),
        1
    );
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let mut sent = Vec::new();
    for i in 0..20 {
        sent.push(
            c.send(
                &produce_request(
                    TOPIC,
                    0,
                    batch(&[record(&format!("k{i}"), "v", 1)], Compression::None),
                    -1,
                ),
                9,
            )
            .await,
        );
    }
    for (i, id) in sent.into_iter().enumerate() {
        let (got, resp) = c.receive::<ProduceRequest>(9).await;
        assert_eq!(got, id);
        assert_eq!(
            resp.responses[0].partition_responses[0].base_offset, i as i64,
            "appends keep request order"
        );
    }
}

#[tokio::test]
async fn acks_zero_gets_no_response_but_is_stored() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    c.send(
        &produce_request(
            TOPIC,
            0,
            batch(&[record("k", "v", 1)], Compression::None),
            0,
        ),
        9,
    )
    .await;
    // The next response on the connection belongs to the next request.
    let resp = c.call(&fetch_request(TOPIC, 0, 0, 1000), 12).await;
    assert_eq!(
        decode_records(resp.responses[0].partitions[0].records.clone().unwrap()).len(),
        1
    );
}

#[tokio::test]
async fn produce_errors_per_partition() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let good = batch(&[record("k", "v", 1)], Compression::None);
    // As Kafka: Produce never creates a topic (only Metadata does, when allowed).
    let resp = c
        .call(&produce_request("not-created", 1, good.clone(), -1), 9)
        .await;
    assert_eq!(resp.responses[0].partition_responses[0].error_code, 3);
    assert!(b.services.topics.get("not-created").is_none());
    let resp = c
        .call(&produce_request(TOPIC, 7, good.clone(), -1), 9)
        .await;
    assert_eq!(resp.responses[0].partition_responses[0].error_code, 3);
    let mut corrupt = bytes::BytesMut::from(&good[..]);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    let resp = c
        .call(&produce_request(TOPIC, 0, corrupt.freeze(), -1), 9)
        .await;
    assert_eq!(
        resp.responses[0].partition_responses[0].error_code, 2,
        "CRC mismatch is CORRUPT_MESSAGE"
    );
    let big = batch(&[record("k", &"x".repeat(2 << 20), 1)], Compression::None);
    let resp = c.call(&produce_request(TOPIC, 0, big, -1), 9).await;
    assert_eq!(resp.responses[0].partition_responses[0].error_code, 10);
    let two_batches = [good.clone(), good.clone()].concat();
    let resp = c
        .call(&produce_request(TOPIC, 0, two_batches.into(), -1), 9)
        .await;
    assert_eq!(
        resp.responses[0].partition_responses[0].error_code, 87,
        "one batch per partition"
    );
    let resp = c.call(&produce_request(TOPIC, 0, good, 2), 9).await;
    assert_eq!(resp.responses[0].partition_responses[0].error_code, 21);
    // Nothing of that was written.
    assert_eq!(
        b.services
            .topics
            .partition(TOPIC, 0)
            .unwrap()
            .log_end_offset(),
        0
    );
}

#[tokio::test]
async fn list_offsets_earliest_latest_and_by_timestamp() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    produce(
        &mut c,
        TOPIC,
        0,
        batch(
            &[record("a", "1", 100), record("b", "2", 200)],
            Compression::None,
        ),
    )
    .await;
    produce(
        &mut c,
        TOPIC,
        0,
        batch(
            &[record("c", "3", 300), record("d", "4", 250)],
            Compression::Lz4,
        ),
    )
    .await;
    let ask = |ts: i64| {
        ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(name(TOPIC))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(ts)])])
    };
    let offset = |resp: ListOffsetsResponse| {
        let p = &resp.topics[0].partitions[0];
        assert_eq!(p.error_code, 0);
        (p.offset, p.timestamp)
    };
    assert_eq!(offset(c.call(&ask(-2), 7).await).0, 0);
    assert_eq!(offset(c.call(&ask(-1), 7).await).0, 4);
    assert_eq!(offset(c.call(&ask(150), 7).await), (1, 200));
    assert_eq!(offset(c.call(&ask(260), 7).await), (2, 300));
    assert_eq!(offset(c.call(&ask(-3), 7).await), (2, 300));
    assert_eq!(offset(c.call(&ask(1000), 7).await).0, -1);
}

#[tokio::test]
async fn topic_administration() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let create = |n: &str, partitions: i32, rf: i16| {
        CreateTopicsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![CreatableTopic::default()
                .with_name(name(n))
                .with_num_partitions(partitions)
                .with_replication_factor(rf)])
    };
    let code = |r: CreateTopicsResponse| r.topics[0].error_code;
    assert_eq!(code(c.call(&create("orders", 3, 1), 7).await), 0);
    assert_eq!(code(c.call(&create("orders", 3, 1), 7).await), 36);
    assert_eq!(code(c.call(&create("zero", 0, 1), 7).await), 37);
    assert_eq!(code(c.call(&create("rf3", 1, 3), 7).await), 38);
    assert_eq!(code(c.call(&create("bad/name", 1, 1), 7).await), 17);
    assert_eq!(code(c.call(&create("defaults", -1, -1), 4).await), 0);
    assert_eq!(
        b.services.topics.get("orders").unwrap().partition_count(),
        3
    );

    let grow = |n: &str, count: i32| {
        CreatePartitionsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![
            kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic::default()
                .with_name(name(n))
                .with_count(count),
        ])
    };
    assert_eq!(c.call(&grow("orders", 5), 3).await.results[0].error_code, 0);
    assert_eq!(
        c.call(&grow("orders", 2), 3).await.results[0].error_code,
        37
    );
    assert_eq!(
        b.services.topics.get("orders").unwrap().partition_count(),
        5
    );

    let delete = DeleteTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topic_names(vec![name("orders"), name("missing")]);
    let resp = c.call(&delete, 4).await;
    assert_eq!(resp.responses[0].error_code, 0);
    assert_eq!(resp.responses[1].error_code, 3);
    assert!(b.services.topics.get("orders").is_none());
    // A new topic of the same name starts empty.
    assert_eq!(code(c.call(&create("orders", 1, 1), 7).await), 0);
}

#[tokio::test]
async fn describe_cluster_names_this_node() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let resp = c.call(&DescribeClusterRequest::default(), 1).await;
    assert_eq!(resp.error_code, 0);
    assert_eq!(resp.cluster_id.as_str(), b.services.cluster.cluster_id());
    assert_eq!(resp.brokers.len(), 1);
    assert_eq!(resp.brokers[0].port, b.addr().port() as i32);
    assert_eq!(resp.cluster_authorized_operations, i32::MIN);
}

#[tokio::test]
async fn bad_input_closes_only_that_connection() {
    let b = broker(None).await;
    let mut healthy = Client::connect(&b).await;
    // Garbage, a 2 GiB length prefix, an unknown API key, a negative length.
    let unknown_key: Vec<u8> = [
        &10i32.to_be_bytes()[..],
        &[0x7f, 0x00, 0, 0, 0, 0, 0, 1, 0, 0],
    ]
    .concat();
    for bad in [
        &b"\x00\x00\x00\x05garbage-and-more"[..],
        &[0x7f, 0xff, 0xff, 0xff],
        &unknown_key,
        &[0xff, 0xff, 0xff, 0xfe],
    ] {
        let mut c = Client::connect(&b).await;
        c.write_raw(bad).await;
        assert!(
            tokio::time::timeout(Duration::from_secs(5), c.read_frame())
                .await
                .unwrap()
                .is_none(),
            "connection closed"
        );
    }
    let resp = healthy
        .call(&MetadataRequest::default().with_topics(None), 9)
        .await;
    assert!(!resp.topics.is_empty(), "everyone else is still served");
}
