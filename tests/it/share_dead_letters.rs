//! KIP-1191's dead-letter topics for share groups, over the wire: records a share group
//! rejects or runs out of deliveries for land on the group's dead-letter topic with Kafka's
//! `__dlq.errors.*` headers (and their key and value when the group copies records), and are
//! archived once written; a dead-letter topic the broker may not use leaves them archived
//! without a copy; with auto-creation the topic is made on the first dead letter; below
//! share.version 2 (Kafka's `supportsShareGroupDLQ`) dead-letter topics are off.

use std::time::Duration;

use super::metrics::{get, http, parse};
use super::share_groups::*;
use crate::common::*;
use gregor::server::start;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::*;
use kafka_protocol::records::Record;
use uuid::Uuid;

async fn create_topic(c: &mut Client, name: &str, partitions: i32, dlq_enabled: bool) {
    let configs = if dlq_enabled {
        vec![CreatableTopicConfig::default()
            .with_name(s("errors.deadletterqueue.group.enable"))
            .with_value(Some(s("true")))]
    } else {
        vec![]
    };
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(s(name)))
            .with_num_partitions(partitions)
            .with_replication_factor(1)
            .with_configs(configs)]);
    let r = c.call(&req, 5).await;
    assert_eq!(r.topics[0].error_code, 0, "{:?}", r.topics[0].error_message);
}

/// The records of `topic`'s partition, once there are `want` (or after ten seconds): the
/// dead-letter writer runs beside the request that gave the records up.
async fn read(c: &mut Client, topic: &str, partition: i32, want: usize) -> Vec<Record> {
    let mut records = Vec::new();
    for _ in 0..100 {
        let req = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_bytes(1 << 20)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(s(topic)))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(partition)
                    .with_partition_max_bytes(1 << 20)])]);
        let r = c.call(&req, 12).await;
        let p = &r.responses[0].partitions[0];
        if p.error_code == 0 {
            records = decode_records(p.records.clone().unwrap_or_default());
            if records.len() >= want {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    records
}

/// The share partition's start offset (DescribeShareGroupOffsets), once it reaches `want`.
async fn start_offset(c: &mut Client, group: &str, want: i64) -> i64 {
    let req = DescribeShareGroupOffsetsRequest::default().with_groups(vec![
        describe_share_group_offsets_request::DescribeShareGroupOffsetsRequestGroup::default()
            .with_group_id(GroupId(s(group)))
            .with_topics(None),
    ]);
    let mut start = -1;
    for _ in 0..100 {
        let r = c.call(&req, 0).await;
        start = r.groups[0].topics[0].partitions[0].start_offset;
        if start >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    start
}

fn header(r: &Record, name: &str) -> Option<String> {
    r.headers
        .get(&s(name))
        .cloned()
        .flatten()
        .map(|v| String::from_utf8_lossy(&v).into_owned())
}

/// Reject offset 0, accept 1, release 2 twice (the group's limit is 2): 0 and 2 are given
/// up on. Returns the topic id.
async fn give_up_on_two(c: &mut Client, group: &str) -> Uuid {
    produce(c, 3).await;
    let topic = join(c, group, "m1").await;
    let r = c.call(&fetch(group, "m1", 0, topic, vec![]), 1).await;
    assert_eq!(acquired(&r), vec![(0, 2, 1)]);
    let acks = vec![(0, 0, REJECT), (1, 1, ACCEPT), (2, 2, RELEASE)];
    let r = c.call(&fetch(group, "m1", 1, topic, acks), 1).await;
    assert_eq!(acquired(&r), vec![(2, 2, 2)]);
    let r = c
        .call(&ack(group, "m1", 2, topic, &[(2, 2, RELEASE)]), 1)
        .await;
    assert_eq!(ack_code(&r), (0, 0));
    topic
}

#[tokio::test]
async fn given_up_records_land_on_the_dead_letter_topic() {
    let config = gregor::config::Config {
        metrics_listen: Some("127.0.0.1:0".into()),
        ..config(None)
    };
    let b = start(config).await.expect("broker starts");
    let mut c = Client::connect(&b).await;
    let g = "share-dlq";
    // Kafka refuses an internal topic as a dead-letter topic.
    let (code, message) = set_group_configs(
        &mut c,
        g,
        &[("errors.deadletterqueue.topic.name", "__orders")],
    )
    .await;
    assert_eq!(code, 40, "INVALID_CONFIG");
    assert!(message.unwrap().contains("must not start with '__'"));
    create_topic(&mut c, "dlq.orders", 1, true).await;
    let configs = [
        ("share.auto.offset.reset", "earliest"),
        ("share.delivery.count.limit", "2"),
        ("errors.deadletterqueue.topic.name", "dlq.orders"),
        ("errors.deadletterqueue.copy.record.enable", "true"),
    ];
    assert_eq!(set_group_configs(&mut c, g, &configs).await, (0, None));
    // kafka-configs --describe --entity-type groups: set on the group (GROUP_CONFIG, 8).
    let d = c
        .call(
            &DescribeConfigsRequest::default().with_resources(vec![
                describe_configs_request::DescribeConfigsResource::default()
                    .with_resource_type(32)
                    .with_resource_name(s(g)),
            ]),
            4,
        )
        .await;
    let dlq = d.results[0]
        .configs
        .iter()
        .find(|e| e.name.as_str() == "errors.deadletterqueue.topic.name")
        .expect("the dead-letter topic is described");
    assert_eq!(dlq.value.as_deref(), Some("dlq.orders"));
    assert_eq!(dlq.config_source, 8);
    give_up_on_two(&mut c, g).await;

    let letters = read(&mut c, "dlq.orders", 0, 2).await;
    assert_eq!(letters.len(), 2, "{letters:?}");
    let (rejected, exhausted) = (&letters[0], &letters[1]);
    assert_eq!(rejected.key.as_deref(), Some(&b"k0"[..]));
    assert_eq!(rejected.value.as_deref(), Some(&b"v"[..]));
    assert_eq!(exhausted.key.as_deref(), Some(&b"k2"[..]));
    for (r, offset, count, message) in [
        (rejected, "0", "1", "Offset rejected by client."),
        (
            exhausted,
            "2",
            "2",
            "Offset delivery count exceeded the threshold.",
        ),
    ] {
        assert_eq!(header(r, "__dlq.errors.topic").as_deref(), Some(TOPIC));
        assert_eq!(header(r, "__dlq.errors.partition").as_deref(), Some("0"));
        assert_eq!(header(r, "__dlq.errors.offset").as_deref(), Some(offset));
        assert_eq!(header(r, "__dlq.errors.group").as_deref(), Some(g));
        assert_eq!(
            header(r, "__dlq.errors.delivery.count").as_deref(),
            Some(count)
        );
        assert_eq!(header(r, "__dlq.errors.message").as_deref(), Some(message));
    }
    // Written, so archived: the share partition is done with all three.
    assert_eq!(start_offset(&mut c, g, 3).await, 3);

    // /metrics: two given up on, both dead-lettered; two new records wait, none in flight.
    produce(&mut c, 2).await;
    let addr = b.http_addr.expect("metrics are served");
    let m = parse(&http(addr, "GET /metrics HTTP/1.1").await.2);
    let labels = format!("group=\"{g}\",topic=\"{TOPIC}\",partition=\"0\"");
    let sample = |name: &str, extra: &str| get(&m, &format!("{name}{{{labels}{extra}}}"));
    assert_eq!(sample("gregor_share_records_archived_total", ""), 2.0);
    assert_eq!(sample("gregor_share_records_dead_lettered_total", ""), 2.0);
    let records = "gregor_share_partition_records";
    assert_eq!(sample(records, ",state=\"available\""), 2.0);
    assert_eq!(sample(records, ",state=\"acquired\""), 0.0);
    assert_eq!(sample(records, ",state=\"archiving\""), 0.0);
    // The records' timestamps are from 1970 (the test batches'): an old backlog.
    assert!(sample("gregor_share_oldest_unacknowledged_age_seconds", "") > 1e9);
    b.shutdown().await;
}

#[tokio::test]
async fn a_topic_not_allowed_as_dead_letter_topic_gets_nothing_and_archives() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let g = "share-dlq-refused";
    // The topic exists but does not allow dead letters (errors.deadletterqueue.group.enable).
    create_topic(&mut c, "dlq.closed", 1, false).await;
    let configs = [
        ("share.auto.offset.reset", "earliest"),
        ("share.delivery.count.limit", "2"),
        ("errors.deadletterqueue.topic.name", "dlq.closed"),
    ];
    assert_eq!(set_group_configs(&mut c, g, &configs).await, (0, None));
    give_up_on_two(&mut c, g).await;
    assert_eq!(start_offset(&mut c, g, 3).await, 3);
    // Archived means the writer is done with them: nothing was written.
    assert!(read(&mut c, "dlq.closed", 0, 0).await.is_empty());
    b.shutdown().await;
}

#[tokio::test]
async fn a_missing_dead_letter_topic_is_created_when_the_broker_allows() {
    let config = gregor::config::Config {
        dlq_auto_create_topics: true,
        num_partitions: 3,
        ..config(None)
    };
    let b = start(config).await.expect("broker starts");
    let mut c = Client::connect(&b).await;
    let g = "share-dlq-auto";
    let configs = [
        ("share.auto.offset.reset", "earliest"),
        ("share.delivery.count.limit", "2"),
        ("errors.deadletterqueue.topic.name", "dlq.made"),
    ];
    assert_eq!(set_group_configs(&mut c, g, &configs).await, (0, None));
    give_up_on_two(&mut c, g).await;
    // Source partition 0 → dead-letter partition 0; no copy asked for: headers only.
    let letters = read(&mut c, "dlq.made", 0, 2).await;
    assert_eq!(letters.len(), 2, "{letters:?}");
    assert!(letters.iter().all(|r| r.key.is_none() && r.value.is_none()));
    assert_eq!(
        header(&letters[1], "__dlq.errors.offset").as_deref(),
        Some("2")
    );
    assert_eq!(start_offset(&mut c, g, 3).await, 3);
    let d = c
        .call(
            &DescribeConfigsRequest::default().with_resources(vec![
                describe_configs_request::DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s("dlq.made")),
            ]),
            4,
        )
        .await;
    let enabled = d.results[0]
        .configs
        .iter()
        .find(|e| e.name.as_str() == "errors.deadletterqueue.group.enable")
        .and_then(|e| e.value.as_ref().map(|v| v.to_string()));
    assert_eq!(enabled.as_deref(), Some("true"));
    b.shutdown().await;
}

#[tokio::test]
async fn below_share_version_2_dead_letter_topics_are_off() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let g = "share-dlq-sv1";
    // share.version 1 (Kafka's ShareVersion.supportsShareGroupDLQ needs SV_2).
    let down = UpdateFeaturesRequest::default().with_feature_updates(vec![
        update_features_request::FeatureUpdateKey::default()
            .with_feature(s("share.version"))
            .with_max_version_level(1)
            .with_upgrade_type(2),
    ]);
    assert_eq!(c.call(&down, 2).await.error_code, 0);
    // A topic that allows dead letters, and a group naming it.
    create_topic(&mut c, "dlq.sv1", 1, true).await;
    let configs = [
        ("share.auto.offset.reset", "earliest"),
        ("share.delivery.count.limit", "2"),
        ("errors.deadletterqueue.topic.name", "dlq.sv1"),
    ];
    assert_eq!(set_group_configs(&mut c, g, &configs).await, (0, None));
    give_up_on_two(&mut c, g).await;
    assert_eq!(start_offset(&mut c, g, 3).await, 3);
    assert!(read(&mut c, "dlq.sv1", 0, 0).await.is_empty());
    b.shutdown().await;
}
