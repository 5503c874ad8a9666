//! Dynamic broker configs over the wire (IncrementalAlterConfigs and AlterConfigs on BROKER
//! resources): the cluster-wide default ("") and this node's own values reach every topic
//! that does not override them (produce limits, retention), are described with Kafka's
//! sources, survive a restart, and what Kafka does not change at run time is refused.

use crate::common::*;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Compression, Record};

const TOPIC_RESOURCE: i8 = 2;
const BROKER_RESOURCE: i8 = 4;
const DYNAMIC_BROKER_CONFIG: i8 = 2;
const DYNAMIC_DEFAULT_BROKER_CONFIG: i8 = 3;
const SET: i8 = 0;
const DELETE: i8 = 1;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// IncrementalAlterConfigs of one BROKER resource: (error code, message).
async fn alter(
    c: &mut Client,
    broker: &str,
    ops: &[(&str, i8, Option<&str>)],
    validate_only: bool,
) -> (i16, String) {
    let req = IncrementalAlterConfigsRequest::default()
        .with_validate_only(validate_only)
        .with_resources(vec![AlterConfigsResource::default()
            .with_resource_type(BROKER_RESOURCE)
            .with_resource_name(s(broker))
            .with_configs(
                ops.iter()
                    .map(|(name, op, value)| {
                        AlterableConfig::default()
                            .with_name(s(name))
                            .with_config_operation(*op)
                            .with_value(value.map(s))
                    })
                    .collect(),
            )]);
    let r = &c.call(&req, 1).await.responses[0];
    (
        r.error_code,
        r.error_message.as_deref().unwrap_or("").to_string(),
    )
}

/// DescribeConfigs with synonyms: (name, value, source, read only), in the broker's order.
async fn describe(
    c: &mut Client,
    resource_type: i8,
    name: &str,
) -> Vec<(String, Option<String>, i8, bool)> {
    let req = DescribeConfigsRequest::default()
        .with_include_synonyms(true)
        .with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(s(name))]);
    let resp = c.call(&req, 4).await;
    assert_eq!(resp.results[0].error_code, 0, "describe {name}");
    resp.results[0]
        .configs
        .iter()
        .map(|e| {
            (
                e.name.to_string(),
                e.value.as_ref().map(|v| v.to_string()),
                e.config_source,
                e.read_only,
            )
        })
        .collect()
}

fn find(all: &[(String, Option<String>, i8, bool)], name: &str) -> (Option<String>, i8) {
    let e = all.iter().find(|e| e.0 == name).expect(name);
    (e.1.clone(), e.2)
}

/// Produce one batch with acks=all: the partition's error code.
async fn produce(c: &mut Client, topic: &str, records: &[Record]) -> i16 {
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(s(topic)))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch(records, Compression::None)))])]);
    c.call(&req, 9).await.responses[0].partition_responses[0].error_code
}

async fn earliest(c: &mut Client, topic: &str) -> i64 {
    let req = ListOffsetsRequest::default().with_topics(vec![ListOffsetsTopic::default()
        .with_name(TopicName(s(topic)))
        .with_partitions(vec![ListOffsetsPartition::default().with_timestamp(-2)])]);
    c.call(&req, 7).await.topics[0].partitions[0].offset
}

fn big(n: usize, timestamp: i64) -> Vec<Record> {
    (0..n)
        .map(|i| record(&format!("k{i}"), &"v".repeat(100), timestamp))
        .collect()
}

fn overrides(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn cluster_default_and_node_values_reach_topics_without_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(Some(dir.path())).await;
    let node = b.services.cluster.this_node().to_string();
    let topics = &b.services.topics;
    topics
        .create_topic("plain", 1, overrides(&[]), false)
        .unwrap();
    topics
        .create_topic(
            "own",
            1,
            overrides(&[("max.message.bytes", "100000")]),
            false,
        )
        .unwrap();
    let mut c = Client::connect(&b).await;
    let now = gregor::api::now_ms();
    assert_eq!(produce(&mut c, "plain", &big(5, now)).await, 0);

    // A validate-only change checks and keeps nothing.
    assert_eq!(
        alter(&mut c, "", &[("message.max.bytes", SET, Some("300"))], true)
            .await
            .0,
        0
    );
    assert_eq!(produce(&mut c, "plain", &big(5, now)).await, 0);

    // The cluster-wide default: a topic without its own max.message.bytes takes it.
    assert_eq!(
        alter(
            &mut c,
            "",
            &[("message.max.bytes", SET, Some("300"))],
            false
        )
        .await,
        (0, String::new())
    );
    assert_eq!(
        produce(&mut c, "plain", &big(5, now)).await,
        10,
        "MESSAGE_TOO_LARGE"
    );
    assert_eq!(produce(&mut c, "own", &big(5, now)).await, 0);
    let plain = describe(&mut c, TOPIC_RESOURCE, "plain").await;
    assert_eq!(
        find(&plain, "max.message.bytes"),
        (Some("300".into()), DYNAMIC_DEFAULT_BROKER_CONFIG)
    );
    let defaults = describe(&mut c, BROKER_RESOURCE, "").await;
    assert_eq!(
        defaults,
        vec![(
            "message.max.bytes".to_string(),
            Some("300".to_string()),
            DYNAMIC_DEFAULT_BROKER_CONFIG,
            false
        )]
    );

    // This node's own value wins over the cluster default.
    assert_eq!(
        alter(
            &mut c,
            &node,
            &[("message.max.bytes", SET, Some("100000"))],
            false
        )
        .await
        .0,
        0
    );
    assert_eq!(produce(&mut c, "plain", &big(5, now)).await, 0);
    let broker_configs = describe(&mut c, BROKER_RESOURCE, &node).await;
    assert_eq!(
        find(&broker_configs, "message.max.bytes"),
        (Some("100000".into()), DYNAMIC_BROKER_CONFIG)
    );

    // Retention: segments of ten-minute-old records are kept under the default seven days,
    // deleted once this node's log.retention.ms says one minute.
    topics
        .create_topic(
            "expiring",
            1,
            overrides(&[("internal.segment.bytes", "300")]),
            false,
        )
        .unwrap();
    for _ in 0..5 {
        assert_eq!(produce(&mut c, "expiring", &big(2, now - 600_000)).await, 0);
    }
    assert_eq!(produce(&mut c, "expiring", &big(2, now)).await, 0);
    topics.enforce_retention(gregor::api::now_ms());
    assert_eq!(earliest(&mut c, "expiring").await, 0);
    assert_eq!(
        alter(
            &mut c,
            &node,
            &[("log.retention.ms", SET, Some("60000"))],
            false
        )
        .await
        .0,
        0
    );
    topics.enforce_retention(gregor::api::now_ms());
    let start = earliest(&mut c, "expiring").await;
    assert!(
        (8..=10).contains(&start),
        "old segments deleted: start {start}"
    );

    // Deleting the node's value falls back to the cluster default.
    assert_eq!(
        alter(&mut c, &node, &[("message.max.bytes", DELETE, None)], false)
            .await
            .0,
        0
    );
    assert_eq!(produce(&mut c, "plain", &big(5, now)).await, 10);

    // Kept across a restart.
    b.shutdown().await;
    let b = broker(Some(dir.path())).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(produce(&mut c, "plain", &big(5, now)).await, 10);
    let broker_configs = describe(&mut c, BROKER_RESOURCE, &node).await;
    assert_eq!(
        find(&broker_configs, "log.retention.ms"),
        (Some("60000".into()), DYNAMIC_BROKER_CONFIG)
    );
    assert_eq!(
        find(&broker_configs, "message.max.bytes"),
        (Some("300".into()), DYNAMIC_DEFAULT_BROKER_CONFIG)
    );
}

#[tokio::test]
async fn static_names_bad_values_and_other_brokers_are_refused() {
    let b = broker(None).await;
    let node = b.services.cluster.this_node().to_string();
    let mut c = Client::connect(&b).await;
    // One static name spoils the whole change, as in Kafka.
    let (code, message) = alter(
        &mut c,
        "",
        &[
            ("num.partitions", SET, Some("3")),
            ("log.retention.hours", SET, Some("2")),
            ("message.max.bytes", SET, Some("2000000")),
        ],
        false,
    )
    .await;
    assert_eq!(code, 42, "INVALID_REQUEST");
    assert!(
        message.starts_with(
            "Cannot update these configs dynamically: [log.retention.hours, num.partitions]"
        ),
        "{message}"
    );
    let (code, message) = alter(&mut c, "", &[("log.retention.ms", SET, Some("abc"))], false).await;
    assert_eq!(code, 42);
    assert_eq!(
        message,
        "Invalid value abc for configuration log.retention.ms: Not a number of type LONG"
    );
    let (code, message) = alter(
        &mut c,
        "",
        &[("log.segment.bytes", SET, Some("100"))],
        false,
    )
    .await;
    assert_eq!(code, 42);
    assert!(
        message.contains("Value must be at least 1048576"),
        "{message}"
    );
    let (code, message) = alter(&mut c, "77", &[("log.retention.ms", SET, Some("1"))], false).await;
    assert_eq!(code, 42);
    assert!(message.starts_with("Unexpected broker id"), "{message}");
    assert_eq!(describe(&mut c, BROKER_RESOURCE, "").await, vec![]);

    // A list config appends to its effective value.
    assert_eq!(
        alter(
            &mut c,
            &node,
            &[("log.cleanup.policy", 2, Some("compact"))],
            false
        )
        .await
        .0,
        0
    );
    let broker_configs = describe(&mut c, BROKER_RESOURCE, &node).await;
    assert_eq!(
        find(&broker_configs, "log.cleanup.policy"),
        (Some("delete,compact".into()), DYNAMIC_BROKER_CONFIG)
    );

    // AlterConfigs replaces the resource's dynamic configs with exactly the ones given.
    use kafka_protocol::messages::alter_configs_request::{
        AlterConfigsResource as Resource, AlterableConfig as Config,
    };
    let req = AlterConfigsRequest::default().with_resources(vec![Resource::default()
        .with_resource_type(BROKER_RESOURCE)
        .with_resource_name(s(&node))
        .with_configs(vec![Config::default()
            .with_name(s("log.cleaner.backoff.ms"))
            .with_value(Some(s("100")))])]);
    assert_eq!(c.call(&req, 2).await.responses[0].error_code, 0);
    let broker_configs = describe(&mut c, BROKER_RESOURCE, &node).await;
    assert_eq!(
        find(&broker_configs, "log.cleaner.backoff.ms"),
        (Some("100".into()), DYNAMIC_BROKER_CONFIG)
    );
    assert_ne!(
        find(&broker_configs, "log.cleanup.policy").1,
        DYNAMIC_BROKER_CONFIG
    );
    assert_eq!(b.services.topics.cleaner_backoff_ms(), 100);
}

#[tokio::test]
async fn broker_loggers_are_described_and_changed_as_kafka_does() {
    const BROKER_LOGGER: i8 = 8;
    let b = broker(None).await;
    let node = b.services.cluster.this_node().to_string();
    let mut c = Client::connect(&b).await;
    let alter = |ops: &[(&str, i8, Option<&str>)]| {
        IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(BROKER_LOGGER)
                .with_resource_name(s(&node))
                .with_configs(
                    ops.iter()
                        .map(|(name, op, value)| {
                            AlterableConfig::default()
                                .with_name(s(name))
                                .with_config_operation(*op)
                                .with_value(value.map(s))
                        })
                        .collect(),
                ),
        ])
    };
    let loggers = describe(&mut c, BROKER_LOGGER, &node).await;
    assert_eq!(loggers[0], ("root".into(), Some("INFO".into()), 6, false));
    assert_eq!(find(&loggers, "gregor.api"), (Some("INFO".into()), 6));

    let r = c
        .call(&alter(&[("gregor.api", SET, Some("DEBUG"))]), 1)
        .await;
    assert_eq!(r.responses[0].error_code, 0);
    let loggers = describe(&mut c, BROKER_LOGGER, &node).await;
    assert_eq!(find(&loggers, "gregor.api"), (Some("DEBUG".into()), 6));

    // Every op is checked before any applies: a bad level spoils the request.
    let r = c
        .call(
            &alter(&[
                ("gregor.topics", SET, Some("TRACE")),
                ("gregor.api", SET, Some("LOUD")),
            ]),
            1,
        )
        .await;
    assert_eq!(r.responses[0].error_code, 40, "INVALID_CONFIG");
    assert_eq!(
        r.responses[0].error_message.as_deref(),
        Some(
            "Cannot set the log level of gregor.api to LOUD as it is not a supported log level. \
             Valid log levels are DEBUG, ERROR, FATAL, INFO, TRACE, WARN"
        )
    );
    let loggers = describe(&mut c, BROKER_LOGGER, &node).await;
    assert_eq!(find(&loggers, "gregor.topics"), (Some("INFO".into()), 6));

    // Unset: back to root's level; root itself cannot be unset.
    let r = c.call(&alter(&[("gregor.api", DELETE, None)]), 1).await;
    assert_eq!(r.responses[0].error_code, 0);
    let loggers = describe(&mut c, BROKER_LOGGER, &node).await;
    assert_eq!(find(&loggers, "gregor.api"), (Some("INFO".into()), 6));
    let r = c.call(&alter(&[("root", DELETE, None)]), 1).await;
    assert_eq!(r.responses[0].error_code, 42);
    assert_eq!(
        r.responses[0].error_message.as_deref(),
        Some("Removing the log level of the root logger is not allowed")
    );
    let r = c.call(&alter(&[("gregor.api", 2, Some("DEBUG"))]), 1).await;
    assert_eq!(r.responses[0].error_code, 42);
    let r = c
        .call(&alter(&[("no such logger", SET, Some("DEBUG"))]), 1)
        .await;
    assert_eq!(r.responses[0].error_code, 40);
}
