//! Client quotas against an in-process broker: AlterClientQuotas stores (and persists) what
//! DescribeClientQuotas lists with Kafka's filter semantics; produce, fetch and request-time
//! quotas answer throttle_time_ms and mute the connection for that long.

use std::time::Instant;

use crate::common::*;
use kafka_protocol::messages::alter_client_quotas_request::{EntityData, EntryData, OpData};
use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

const TOPIC: &str = "loms.order-events";
/// The client id every test client sends.
const CLIENT_ID: &str = "gregor-tests";

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// An entry setting (Some) or removing (None) keys of an entity.
fn entry(entity: &[(&str, Option<&str>)], ops: &[(&str, Option<f64>)]) -> EntryData {
    EntryData::default()
        .with_entity(
            entity
                .iter()
                .map(|(t, n)| {
                    EntityData::default()
                        .with_entity_type(s(t))
                        .with_entity_name(n.map(s))
                })
                .collect(),
        )
        .with_ops(
            ops.iter()
                .map(|(k, v)| {
                    OpData::default()
                        .with_key(s(k))
                        .with_value(v.unwrap_or(0.0))
                        .with_remove(v.is_none())
                })
                .collect(),
        )
}

async fn alter(c: &mut Client, entries: Vec<EntryData>, validate_only: bool) -> Vec<i16> {
    let req = AlterClientQuotasRequest::default()
        .with_entries(entries)
        .with_validate_only(validate_only);
    let resp = c.call(&req, 1).await;
    resp.entries.iter().map(|e| e.error_code).collect()
}

/// (entity as (type, name) pairs, values as (key, value) pairs), sorted.
type Described = Vec<(Vec<(String, Option<String>)>, Vec<(String, f64)>)>;

async fn describe(
    c: &mut Client,
    components: &[(&str, i8, Option<&str>)],
    strict: bool,
) -> (i16, Option<Described>) {
    let req = DescribeClientQuotasRequest::default()
        .with_components(
            components
                .iter()
                .map(|(t, m, n)| {
                    ComponentData::default()
                        .with_entity_type(s(t))
                        .with_match_type(*m)
                        .with_match(n.map(s))
                })
                .collect(),
        )
        .with_strict(strict);
    let resp = c.call(&req, 1).await;
    let entries = resp.entries.map(|entries| {
        let mut out: Described = entries
            .iter()
            .map(|e| {
                let mut entity: Vec<_> = e
                    .entity
                    .iter()
                    .map(|d| {
                        (
                            d.entity_type.to_string(),
                            d.entity_name.as_ref().map(|n| n.to_string()),
                        )
                    })
                    .collect();
                entity.sort();
                let values = e
                    .values
                    .iter()
                    .map(|v| (v.key.to_string(), v.value))
                    .collect();
                (entity, values)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    });
    (resp.error_code, entries)
}

fn pair(t: &str, n: Option<&str>) -> (String, Option<String>) {
    (t.to_string(), n.map(str::to_string))
}

const EXACT: i8 = 0;
const DEFAULT: i8 = 1;
const SPECIFIED: i8 = 2;

#[tokio::test]
async fn quotas_are_stored_described_and_persisted() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(Some(dir.path())).await;
    let mut c = Client::connect(&b).await;
    let entries = || {
        vec![
            entry(
                &[("user", Some("alice"))],
                &[
                    ("producer_byte_rate", Some(1000.0)),
                    ("request_percentage", Some(50.0)),
                ],
            ),
            entry(
                &[("client-id", None)],
                &[("consumer_byte_rate", Some(2000.0))],
            ),
            entry(
                &[("user", None), ("client-id", Some("app"))],
                &[("producer_byte_rate", Some(3000.0))],
            ),
            entry(
                &[("ip", Some("127.0.0.1"))],
                &[("connection_creation_rate", Some(5.0))],
            ),
        ]
    };
    // validate_only checks and stores nothing.
    assert_eq!(alter(&mut c, entries(), true).await, vec![0; 4]);
    assert_eq!(describe(&mut c, &[], false).await, (0, Some(vec![])));
    assert_eq!(alter(&mut c, entries(), false).await, vec![0; 4]);

    let all = describe(&mut c, &[], false).await.1.unwrap();
    assert_eq!(all.len(), 4);
    let alice = (
        vec![pair("user", Some("alice"))],
        vec![
            ("producer_byte_rate".to_string(), 1000.0),
            ("request_percentage".to_string(), 50.0),
        ],
    );
    assert!(all.contains(&alice));
    // EXACT user alice, DEFAULT client-id, SPECIFIED user (strict: user-only entities).
    let got = describe(&mut c, &[("user", EXACT, Some("alice"))], false).await;
    assert_eq!(got, (0, Some(vec![alice.clone()])));
    let got = describe(&mut c, &[("client-id", DEFAULT, None)], false).await;
    assert_eq!(got.1.unwrap()[0].0, vec![pair("client-id", None)]);
    let got = describe(&mut c, &[("user", SPECIFIED, None)], true).await;
    assert_eq!(got, (0, Some(vec![alice.clone()])));
    // SPECIFIED matches the default entity too (Kafka's image), non-strict any combination.
    let got = describe(&mut c, &[("user", SPECIFIED, None)], false)
        .await
        .1;
    assert_eq!(got.unwrap().len(), 2);
    let got = describe(&mut c, &[("user", DEFAULT, None)], false).await.1;
    assert_eq!(
        got.unwrap()[0].0,
        vec![pair("client-id", Some("app")), pair("user", None)]
    );
    let got = describe(&mut c, &[("ip", SPECIFIED, None)], false).await.1;
    assert_eq!(
        got.unwrap()[0].1,
        vec![("connection_creation_rate".into(), 5.0)]
    );

    // Bad filters: the whole request's error, no entries.
    for (components, code) in [
        (vec![("user", EXACT, None)], 42),
        (vec![("user", DEFAULT, Some("x"))], 42),
        (vec![("user", 7, None)], 42),
        (vec![("", SPECIFIED, None)], 42),
        (vec![("user", SPECIFIED, None), ("user", DEFAULT, None)], 42),
        (vec![("ip", SPECIFIED, None), ("user", SPECIFIED, None)], 42),
        (vec![("group", SPECIFIED, None)], 35),
    ] {
        let got = describe(&mut c, &components, false).await;
        assert_eq!(got, (code, None), "{components:?}");
    }

    // Persisted: a restarted broker lists the same and enforces them.
    b.shutdown().await;
    let b = broker(Some(dir.path())).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(describe(&mut c, &[], false).await.1.unwrap(), all);
    assert_eq!(
        b.services.quotas.produce.quota("alice", "x"),
        Some(1000.0),
        "enforced after a restart"
    );
    // Removing a key keeps the others; removing the last removes the entity.
    let removed = alter(
        &mut c,
        vec![
            entry(&[("user", Some("alice"))], &[("request_percentage", None)]),
            entry(&[("client-id", None)], &[("consumer_byte_rate", None)]),
        ],
        false,
    )
    .await;
    assert_eq!(removed, vec![0, 0]);
    let got = describe(&mut c, &[("user", EXACT, Some("alice"))], true).await;
    assert_eq!(
        got.1.unwrap()[0].1,
        vec![("producer_byte_rate".to_string(), 1000.0)]
    );
    assert_eq!(
        describe(&mut c, &[("client-id", DEFAULT, None)], true)
            .await
            .1
            .unwrap(),
        vec![]
    );
    b.shutdown().await;
}

fn produce_request(value_len: usize) -> ProduceRequest {
    let value = "x".repeat(value_len);
    let records = batch(&[record("k", &value, 0)], Compression::None);
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(s(TOPIC)))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records))])])
}

async fn set_client_quota(c: &mut Client, key: &str, value: f64) {
    let e = entry(&[("client-id", Some(CLIENT_ID))], &[(key, Some(value))]);
    assert_eq!(alter(c, vec![e], false).await, vec![0]);
}

#[tokio::test]
async fn a_producer_over_its_byte_rate_is_throttled_and_muted() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    // 10 kB/s: the rate's window is at least 10 s, so 100 kB pass before any throttling.
    set_client_quota(&mut c, "producer_byte_rate", 10_000.0).await;
    let first = c.call(&produce_request(50_000), 9).await;
    assert_eq!(first.responses[0].partition_responses[0].error_code, 0);
    assert_eq!(first.throttle_time_ms, 0);
    // 110 kB in ~10 s: 1 s over, about a second of throttling.
    let second = c.call(&produce_request(60_000), 9).await;
    assert_eq!(second.responses[0].partition_responses[0].error_code, 0);
    let throttle = second.throttle_time_ms;
    assert!((500..=3_000).contains(&throttle), "throttle {throttle}");
    // The connection is muted: the next request is not read before the throttle time.
    let started = Instant::now();
    let _ = c.call(&crate::common::api_versions(), 3).await;
    let waited = started.elapsed().as_millis() as i32;
    assert!(waited >= throttle / 2, "waited {waited} ms of {throttle}");
    assert!(
        b.services
            .quotas
            .produce
            .throttled
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
    // Another client id is not throttled.
    assert_eq!(b.services.quotas.produce.quota("ANONYMOUS", "other"), None);
    b.shutdown().await;
}

fn fetch_request() -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(s(TOPIC)))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])])
}

#[tokio::test]
async fn a_consumer_over_its_byte_rate_gets_an_empty_throttled_fetch() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let produced = c.call(&produce_request(60_000), 9).await;
    assert_eq!(produced.responses[0].partition_responses[0].error_code, 0);
    set_client_quota(&mut c, "consumer_byte_rate", 10_000.0).await;
    let bytes = |r: &FetchResponse| {
        r.responses
            .iter()
            .flat_map(|t| &t.partitions)
            .map(|p| p.records.as_ref().map_or(0, |r| r.len()))
            .sum::<usize>()
    };
    let first = c.call(&fetch_request(), 11).await;
    assert!(bytes(&first) > 60_000);
    assert_eq!(first.throttle_time_ms, 0);
    // 120 kB in ~10 s: throttled, answered empty.
    let second = c.call(&fetch_request(), 11).await;
    let throttle = second.throttle_time_ms;
    assert!(throttle > 0, "throttle {throttle}");
    assert!(second.responses.is_empty());
    // Muted for that long. (The rate's window is still taken as 10 s, so the next fetch of the
    // same 60 kB is throttled again, as in Kafka.)
    let started = Instant::now();
    let _ = c.call(&fetch_request(), 11).await;
    let waited = started.elapsed().as_millis() as i32;
    assert!(waited >= throttle / 2, "waited {waited} ms of {throttle}");
    assert!(
        b.services
            .quotas
            .fetch
            .throttled
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
    b.shutdown().await;
}

#[tokio::test]
async fn a_client_over_its_request_percentage_is_throttled() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    // Any handling time at all is over this share; Kafka caps the throttle at one window.
    set_client_quota(&mut c, "request_percentage", 1e-9).await;
    let first = c
        .call(&MetadataRequest::default().with_topics(None), 12)
        .await;
    assert!(
        (1..=1_000).contains(&first.throttle_time_ms),
        "throttle {}",
        first.throttle_time_ms
    );
    let started = Instant::now();
    let _ = c
        .call(&MetadataRequest::default().with_topics(None), 12)
        .await;
    let waited = started.elapsed().as_millis() as i32;
    assert!(waited >= first.throttle_time_ms / 2, "waited {waited} ms");
    b.shutdown().await;
}
