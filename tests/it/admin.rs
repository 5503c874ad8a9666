//! Admin APIs against an in-process broker: configs (describe, alter, validation, persisted
//! and applied live), features, log dirs, and what a single node without security answers.

use crate::common::*;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

const TOPIC: &str = "loms.order-events";
const TOPIC_RESOURCE: i8 = 2;
const BROKER_RESOURCE: i8 = 4;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn describe(resource_type: i8, name: &str) -> DescribeConfigsRequest {
    DescribeConfigsRequest::default()
        .with_include_synonyms(true)
        .with_include_documentation(true)
        .with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(s(name))])
}

/// name → (value, source)
async fn topic_configs(c: &mut Client, topic: &str) -> Vec<(String, Option<String>, i8)> {
    let resp = c.call(&describe(TOPIC_RESOURCE, topic), 4).await;
    assert_eq!(resp.results[0].error_code, 0);
    resp.results[0]
        .configs
        .iter()
        .map(|e| {
            (
                e.name.to_string(),
                e.value.as_ref().map(|v| v.to_string()),
                e.config_source,
            )
        })
        .collect()
}

fn value_of(configs: &[(String, Option<String>, i8)], name: &str) -> (String, i8) {
    let (_, v, source) = configs.iter().find(|(n, _, _)| n == name).unwrap();
    (v.clone().unwrap_or_default(), *source)
}

async fn produce(c: &mut Client, records: bytes::Bytes) -> i16 {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(s(TOPIC)))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records))])]);
    c.call(&req, 9).await.responses[0].partition_responses[0].error_code
}

fn incremental(topic: &str, ops: &[(&str, i8, Option<&str>)]) -> IncrementalAlterConfigsRequest {
    use kafka_protocol::messages::incremental_alter_configs_request::*;
    IncrementalAlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
        .with_resource_type(TOPIC_RESOURCE)
        .with_resource_name(s(topic))
        .with_configs(
            ops.iter()
                .map(|(n, op, v)| {
                    AlterableConfig::default()
                        .with_name(s(n))
                        .with_config_operation(*op)
                        .with_value(v.map(s))
                })
                .collect(),
        )])
}

#[tokio::test]
async fn topic_configs_describe_alter_validate_persist_and_apply() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(Some(dir.path())).await;
    let mut c = Client::connect(&b).await;

    let cfg = topic_configs(&mut c, TOPIC).await;
    assert_eq!(value_of(&cfg, "cleanup.policy"), ("delete".into(), 5));
    assert_eq!(value_of(&cfg, "retention.ms"), ("604800000".into(), 5));
    assert!(cfg.len() > 30, "every topic config is described");

    // Synonyms, types and documentation are there when asked for.
    let resp = c.call(&describe(TOPIC_RESOURCE, TOPIC), 4).await;
    let seg = resp.results[0]
        .configs
        .iter()
        .find(|e| e.name.as_str() == "segment.bytes")
        .unwrap();
    assert_eq!(seg.config_type, 3, "INT");
    assert_eq!(seg.synonyms[0].name.as_str(), "log.segment.bytes");
    assert!(seg.documentation.as_ref().is_some_and(|d| !d.is_empty()));

    // SET, APPEND, then DELETE; the change is visible at once and applied to the log.
    let resp = c
        .call(
            &incremental(
                TOPIC,
                &[
                    ("retention.ms", 0, Some("3600000")),
                    ("segment.bytes", 0, Some("1048576")),
                    ("cleanup.policy", 2, Some("compact")),
                ],
            ),
            1,
        )
        .await;
    assert_eq!(resp.responses[0].error_code, 0, "{:?}", resp.responses[0]);
    let cfg = topic_configs(&mut c, TOPIC).await;
    assert_eq!(value_of(&cfg, "retention.ms"), ("3600000".into(), 1));
    assert_eq!(
        value_of(&cfg, "cleanup.policy"),
        ("delete,compact".into(), 1)
    );
    let topic = b.services.topics.get(TOPIC).unwrap();
    assert_eq!(topic.config().0.get("segment.bytes").unwrap(), "1048576");

    // A bad value is INVALID_CONFIG naming what is wrong, and changes nothing.
    let resp = c
        .call(&incremental(TOPIC, &[("retention.ms", 0, Some("soon"))]), 1)
        .await;
    assert_eq!(resp.responses[0].error_code, 40);
    let message = resp.responses[0]
        .error_message
        .as_ref()
        .unwrap()
        .to_string();
    assert!(
        message.contains("retention.ms") && message.contains("soon"),
        "{message}"
    );
    let resp = c
        .call(&incremental(TOPIC, &[("no.such.config", 0, Some("1"))]), 1)
        .await;
    assert_eq!(resp.responses[0].error_code, 40);
    let resp = c
        .call(&incremental(TOPIC, &[("retention.ms", 2, Some("1"))]), 1)
        .await;
    assert_eq!(
        resp.responses[0].error_code, 40,
        "APPEND needs a list config"
    );
    let resp = c
        .call(&incremental("nosuch", &[("retention.ms", 0, Some("1"))]), 1)
        .await;
    assert_eq!(resp.responses[0].error_code, 3);

    // AlterConfigs replaces every override.
    {
        use kafka_protocol::messages::alter_configs_request::*;
        let req =
            AlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
                .with_resource_type(TOPIC_RESOURCE)
                .with_resource_name(s(TOPIC))
                .with_configs(vec![AlterableConfig::default()
                    .with_name(s("max.message.bytes"))
                    .with_value(Some(s("2000")))])]);
        let resp = c.call(&req, 2).await;
        assert_eq!(resp.responses[0].error_code, 0);
    }
    let cfg = topic_configs(&mut c, TOPIC).await;
    assert_eq!(value_of(&cfg, "max.message.bytes"), ("2000".into(), 1));
    assert_eq!(value_of(&cfg, "retention.ms"), ("604800000".into(), 5));

    // Applied live: a batch above the new max.message.bytes is MESSAGE_TOO_LARGE.
    let big = "x".repeat(4000);
    let code = produce(&mut c, batch(&[record("k", &big, 1)], Compression::None)).await;
    assert_eq!(code, 10, "MESSAGE_TOO_LARGE");
    let code = produce(&mut c, batch(&[record("k", "small", 1)], Compression::None)).await;
    assert_eq!(code, 0);

    // Persisted: a restart finds the override.
    drop(c);
    b.shutdown().await;
    let b = broker(Some(dir.path())).await;
    let mut c = Client::connect(&b).await;
    let cfg = topic_configs(&mut c, TOPIC).await;
    assert_eq!(value_of(&cfg, "max.message.bytes"), ("2000".into(), 1));
}

#[tokio::test]
async fn broker_configs_carry_a_version_signal_and_refuse_static_changes() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let node = b.services.cluster.this_node().to_string();
    let resp = c.call(&describe(BROKER_RESOURCE, &node), 4).await;
    let r = &resp.results[0];
    assert_eq!(r.error_code, 0);
    let get = |n: &str| {
        r.configs
            .iter()
            .find(|e| e.name.as_str() == n)
            .and_then(|e| e.value.as_ref().map(|v| v.to_string()))
    };
    assert_eq!(
        get("inter.broker.protocol.version").as_deref(),
        Some("4.3-IV0")
    );
    assert_eq!(get("delete.topic.enable").as_deref(), Some("true"));
    assert_eq!(get("num.partitions").as_deref(), Some("1"));
    // Only the dynamic broker configs change at run time (tests/it/broker_configs.rs).
    let read_only = |n: &str| {
        r.configs
            .iter()
            .find(|e| e.name.as_str() == n)
            .unwrap()
            .read_only
    };
    assert!(read_only("num.partitions"));
    assert!(read_only("listeners"));
    assert!(!read_only("log.retention.ms"));

    let resp = c.call(&describe(BROKER_RESOURCE, "77"), 4).await;
    assert_eq!(
        resp.results[0].error_code, 42,
        "another broker id is INVALID_REQUEST"
    );

    use kafka_protocol::messages::incremental_alter_configs_request::*;
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(BROKER_RESOURCE)
            .with_resource_name(s(&node))
            .with_configs(vec![AlterableConfig::default()
                .with_name(s("num.partitions"))
                .with_value(Some(s("3")))]),
    ]);
    let resp = c.call(&req, 1).await;
    assert_eq!(resp.responses[0].error_code, 42);
    assert!(resp.responses[0]
        .error_message
        .as_ref()
        .unwrap()
        .contains("Cannot update these configs dynamically: [num.partitions]"));
}

#[tokio::test]
async fn features_log_dirs_and_single_node_answers() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(Some(dir.path())).await;
    let mut c = Client::connect(&b).await;

    let v = c.call(&crate::common::api_versions(), 4).await;
    let mut finalized: Vec<_> = v
        .finalized_features
        .iter()
        .map(|f| (f.name.to_string(), f.max_version_level))
        .collect();
    finalized.sort();
    assert_eq!(
        finalized,
        [
            ("group.version".to_string(), 1),
            ("metadata.version".to_string(), 30),
            ("share.version".to_string(), 2),
            ("streams.version".to_string(), 1),
            ("transaction.version".to_string(), 2)
        ],
        "group.version 1 (KIP-848), share.version 2 (KIP-932), streams.version 1 (KIP-1071), \
         transaction.version 2 (KIP-890)"
    );
    let txn = v
        .supported_features
        .iter()
        .find(|f| f.name.as_str() == "transaction.version")
        .expect("transaction.version is supported");
    assert_eq!((txn.min_version, txn.max_version), (0, 2));
    // v3 (Kafka's alterFeatureLevel0): the supported features with minimum 0 are left out.
    let v3 = c.call(&crate::common::api_versions(), 3).await;
    let names: Vec<_> = v3
        .supported_features
        .iter()
        .map(|f| f.name.to_string())
        .collect();
    assert_eq!(names, ["metadata.version"]);
    assert_eq!(v3.finalized_features.len(), 5);
    // DescribeQuorum is answered as a single combined Kafka node answers it
    // (tests/it/quorum_elections.rs), so kafbat kafka-ui sees a KRaft quorum.
    assert!(v
        .api_keys
        .iter()
        .any(|k| k.api_key == ApiKey::DescribeQuorum as i16 && k.max_version == 2));

    let logs = c
        .call(&DescribeLogDirsRequest::default().with_topics(None), 4)
        .await;
    let r = &logs.results[0];
    assert_eq!(r.error_code, 0);
    assert!(r.total_bytes > 0 && r.usable_bytes > 0);
    assert!(r
        .topics
        .iter()
        .any(|t| t.name.as_str() == TOPIC && t.partitions.len() == 2));

    let acls = c.call(&DescribeAclsRequest::default(), 3).await;
    assert_eq!(acls.error_code, 54, "SECURITY_DISABLED");

    let quotas = c.call(&DescribeClientQuotasRequest::default(), 1).await;
    assert_eq!(
        (quotas.error_code, quotas.entries.map(|e| e.len())),
        (0, Some(0))
    );

    let list = c
        .call(
            &ListPartitionReassignmentsRequest::default().with_topics(None),
            0,
        )
        .await;
    assert_eq!((list.error_code, list.topics.len()), (0, 0));

    use kafka_protocol::messages::alter_partition_reassignments_request::*;
    let move_to = |replicas: Option<Vec<i32>>| {
        AlterPartitionReassignmentsRequest::default().with_topics(vec![ReassignableTopic::default(
        )
        .with_name(TopicName(s(TOPIC)))
        .with_partitions(vec![ReassignablePartition::default()
            .with_partition_index(0)
            .with_replicas(replicas.map(|r| r.into_iter().map(BrokerId).collect()))])])
    };
    let code = |r: AlterPartitionReassignmentsResponse| r.responses[0].partitions[0].error_code;
    assert_eq!(
        code(
            c.call(&move_to(Some(vec![b.services.cluster.this_node()])), 0)
                .await
        ),
        0
    );
    assert_eq!(code(c.call(&move_to(Some(vec![99])), 0).await), 39);
    assert_eq!(code(c.call(&move_to(None), 0).await), 85);

    let scram = c
        .call(
            &DescribeUserScramCredentialsRequest::default().with_users(None),
            0,
        )
        .await;
    assert_eq!((scram.error_code, scram.results.len()), (0, 0));
}
