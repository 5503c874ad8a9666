//! The versions Kafka 4.4 added to Produce, Fetch, Metadata, ApiVersions, DescribeLogDirs,
//! DeleteGroups and DescribeCluster (issue 18), over the wire: Produce v13 names topics by id
//! (KIP-516), Fetch v18 carries a follower's high watermark (KIP-1166: read only by KRaft's
//! quorum, a broker's fetch ignores it), Metadata v13 a top-level error code, ApiVersions v5
//! the cluster and node the client means to reach (KIP-1242), DescribeLogDirs v5 whether a
//! directory is cordoned, DeleteGroups v3 a per-group error message, DescribeCluster v2 fenced
//! brokers (KIP-1073). What Kafka 4.4.0 answered to the same requests (probed on the reference
//! broker) is what is asserted.

use crate::common::*;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;
use kafka_protocol::ResponseError as E;
use uuid::Uuid;

const TOPIC: &str = "loms.order-events";

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn to(id: Uuid, partition: i32, value: &str) -> TopicProduceData {
    TopicProduceData::default()
        .with_topic_id(id)
        .with_partition_data(vec![PartitionProduceData::default()
            .with_index(partition)
            .with_records(Some(batch(&[record("k", value, 1)], Compression::None)))])
}

/// (topic id, partition, error code, base offset) of each partition answered.
fn produced(r: &ProduceResponse) -> Vec<(Uuid, i32, i16, i64)> {
    r.responses
        .iter()
        .flat_map(|t| {
            t.partition_responses
                .iter()
                .map(move |p| (t.topic_id, p.index, p.error_code, p.base_offset))
        })
        .collect()
}

fn fetch_by_id(id: Uuid, high_watermark: Option<i64>) -> FetchRequest {
    let partition = FetchPartition::default()
        .with_partition(0)
        .with_fetch_offset(0)
        .with_partition_max_bytes(1 << 20);
    let partition = match high_watermark {
        Some(hw) => partition.with_high_watermark(hw),
        None => partition,
    };
    FetchRequest::default()
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic_id(id)
            .with_partitions(vec![partition])])
}

#[tokio::test]
async fn advertised_at_kafka_4_4s_maxima() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let v = c.call(&crate::common::api_versions(), 5).await;
    assert_eq!(v.error_code, 0);
    let range = |key: ApiKey| {
        let k = v.api_keys.iter().find(|k| k.api_key == key as i16).unwrap();
        (k.min_version, k.max_version)
    };
    assert_eq!(range(ApiKey::Produce), (3, 13));
    assert_eq!(range(ApiKey::Fetch), (4, 18));
    assert_eq!(range(ApiKey::Metadata), (0, 13));
    assert_eq!(range(ApiKey::ApiVersions), (0, 5));
    assert_eq!(range(ApiKey::DescribeLogDirs), (1, 5));
    assert_eq!(range(ApiKey::DeleteGroups), (0, 3));
    assert_eq!(range(ApiKey::DescribeCluster), (0, 2));
    assert_eq!(range(ApiKey::AddPartitionsToTxn), (0, 5));
    // Delegation tokens: Kafka 4.4's ranges (v0 gone since 4.0, KIP-896).
    assert_eq!(range(ApiKey::CreateDelegationToken), (1, 3));
    assert_eq!(range(ApiKey::RenewDelegationToken), (1, 2));
    assert_eq!(range(ApiKey::ExpireDelegationToken), (1, 2));
    assert_eq!(range(ApiKey::DescribeDelegationToken), (1, 3));
}

#[tokio::test]
async fn produce_v13_names_topics_by_id_and_refuses_unknown_ids() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let id = b.services.topics.get(TOPIC).unwrap().id;
    let unknown = Uuid::from_u128(5);
    let r = c
        .call(
            &ProduceRequest::default()
                .with_acks(-1)
                .with_timeout_ms(5_000)
                .with_topic_data(vec![
                    to(id, 0, "a"),
                    to(id, 9, "b"),
                    to(unknown, 0, "c"),
                    to(Uuid::nil(), 0, "d"),
                ]),
            13,
        )
        .await;
    // As Kafka 4.4: the known id is written, a partition it lacks is
    // UNKNOWN_TOPIC_OR_PARTITION, an id no topic has (the zero id too) UNKNOWN_TOPIC_ID; each
    // answer names its topic by the request's id.
    let unknown_partition = E::UnknownTopicOrPartition.code();
    let unknown_id = E::UnknownTopicId.code();
    assert_eq!(
        produced(&r),
        vec![
            (id, 0, 0, 0),
            (id, 9, unknown_partition, -1),
            (unknown, 0, unknown_id, -1),
            (Uuid::nil(), 0, unknown_id, -1),
        ]
    );
    // Only the known id's record was written: a second one lands at offset 1.
    let r = c
        .call(
            &ProduceRequest::default()
                .with_acks(1)
                .with_timeout_ms(5_000)
                .with_topic_data(vec![to(id, 0, "e")]),
            13,
        )
        .await;
    assert_eq!(produced(&r), vec![(id, 0, 0, 1)]);
    // v12 still names topics by name (and its answer carries no id).
    let r = c
        .call(
            &ProduceRequest::default()
                .with_acks(1)
                .with_timeout_ms(5_000)
                .with_topic_data(vec![TopicProduceData::default()
                    .with_name(TopicName(s(TOPIC)))
                    .with_partition_data(vec![PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(batch(
                            &[record("k", "f", 1)],
                            Compression::None,
                        )))])]),
            12,
        )
        .await;
    assert_eq!(r.responses[0].name.as_str(), TOPIC);
    assert_eq!(produced(&r), vec![(Uuid::nil(), 0, 0, 2)]);
}

#[tokio::test]
async fn fetch_v18_reads_as_v17_whatever_high_watermark_it_carries() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let id = b.services.topics.get(TOPIC).unwrap().id;
    let r = c
        .call(
            &ProduceRequest::default()
                .with_acks(-1)
                .with_timeout_ms(5_000)
                .with_topic_data(vec![to(id, 0, "x")]),
            13,
        )
        .await;
    assert_eq!(produced(&r), vec![(id, 0, 0, 0)]);
    let answer = |r: &FetchResponse| {
        assert_eq!(r.error_code, 0);
        let t = &r.responses[0];
        let p = &t.partitions[0];
        let records = p.records.clone().map(decode_records).unwrap_or_default();
        let values: Vec<_> = records
            .iter()
            .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).to_string())
            .collect();
        (t.topic_id, p.error_code, p.high_watermark, values)
    };
    let v17 = answer(&c.call(&fetch_by_id(id, None), 17).await);
    assert_eq!(v17, (id, 0, 1, vec!["x".to_string()]));
    // The field's default (i64::MAX: "not supported"), "unknown" (-1), and a stale value.
    for hw in [None, Some(-1), Some(0)] {
        assert_eq!(
            answer(&c.call(&fetch_by_id(id, hw), 18).await),
            v17,
            "{hw:?}"
        );
    }
    // An id no topic has: UNKNOWN_TOPIC_ID, as from v13.
    let r = c.call(&fetch_by_id(Uuid::from_u128(7), Some(0)), 18).await;
    assert_eq!(
        r.responses[0].partitions[0].error_code,
        E::UnknownTopicId.code()
    );
}

#[tokio::test]
async fn metadata_v13_answers_a_top_level_error_code() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let v12 = c
        .call(&MetadataRequest::default().with_topics(None), 12)
        .await;
    let v13 = c
        .call(&MetadataRequest::default().with_topics(None), 13)
        .await;
    assert_eq!(v13.error_code, 0);
    assert_eq!(v13.cluster_id, v12.cluster_id);
    assert_eq!(v13.brokers, v12.brokers);
    assert_eq!(v13.topics, v12.topics);
    // Per-topic errors stay per topic.
    let r = c
        .call(
            &MetadataRequest::default()
                .with_allow_auto_topic_creation(false)
                .with_topics(Some(vec![metadata_request::MetadataRequestTopic::default(
                )
                .with_topic_id(Uuid::from_u128(9))])),
            13,
        )
        .await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.topics[0].error_code, E::UnknownTopicId.code());
}

#[tokio::test]
async fn api_versions_v5_checks_the_cluster_and_node_the_client_names() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let md = c
        .call(&MetadataRequest::default().with_topics(None), 12)
        .await;
    let (cluster, node) = (md.cluster_id.clone(), md.brokers[0].node_id.0);
    let ask = |cluster: Option<StrBytes>, node: i32| {
        ApiVersionsRequest::default()
            .with_client_software_name(s("t"))
            .with_client_software_version(s("1"))
            .with_cluster_id(cluster)
            .with_node_id(node)
    };
    let rebootstrap = E::RebootstrapRequired.code();
    let invalid = E::InvalidRequest.code();
    // As Kafka 4.4: neither, or this broker's pair, is answered in full; another node or
    // cluster is REBOOTSTRAP_REQUIRED; one without the other is INVALID_REQUEST. An error
    // answer lists no APIs.
    for (request, code) in [
        (ask(None, -1), 0),
        (ask(cluster.clone(), node), 0),
        (ask(cluster.clone(), node + 1), rebootstrap),
        (ask(Some(s("another-cluster")), node), rebootstrap),
        (ask(cluster.clone(), -1), invalid),
        (ask(None, node), invalid),
    ] {
        let mut c = Client::connect(&b).await;
        let r = c.call(&request, 5).await;
        assert_eq!(r.error_code, code, "{request:?}");
        assert_eq!(r.api_keys.is_empty(), code != 0, "{request:?}");
        assert_eq!(r.finalized_features.is_empty(), code != 0, "{request:?}");
    }
    // v4 has no such fields: answered in full.
    let r = c.call(&crate::common::api_versions(), 4).await;
    assert_eq!(r.error_code, 0);
}

#[tokio::test]
async fn describe_log_dirs_v5_says_no_directory_is_cordoned() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(Some(dir.path())).await;
    let mut c = Client::connect(&b).await;
    let r = c
        .call(&DescribeLogDirsRequest::default().with_topics(None), 5)
        .await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.results.len(), 1);
    let d = &r.results[0];
    assert_eq!((d.error_code, d.is_cordoned), (0, false));
    assert!(d.total_bytes > 0, "v4's fields still there: {d:?}");
    assert!(d.topics.iter().any(|t| t.name.as_str() == TOPIC));
}

#[tokio::test]
async fn delete_groups_v3_answers_each_group_with_its_code_and_no_message() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    // A group with committed offsets and no members (deletable), and one with a member.
    let commit = OffsetCommitRequest::default()
        .with_group_id(GroupId(s("g-simple")))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(s(""))
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(TopicName(s(TOPIC)))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(1)])]);
    let r = c.call(&commit, 8).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    let hb = c
        .call(
            &ConsumerGroupHeartbeatRequest::default()
                .with_group_id(GroupId(s("g-busy")))
                .with_member_id(s("m1"))
                .with_member_epoch(0)
                .with_rebalance_timeout_ms(30_000)
                .with_subscribed_topic_names(Some(vec![TopicName(s(TOPIC))]))
                .with_topic_partitions(Some(vec![])),
            1,
        )
        .await;
    assert_eq!(hb.error_code, 0, "{:?}", hb.error_message);
    let r = c
        .call(
            &DeleteGroupsRequest::default().with_groups_names(vec![
                GroupId(s("g-none")),
                GroupId(s("g-simple")),
                GroupId(s("g-busy")),
            ]),
            3,
        )
        .await;
    let results: Vec<_> = r
        .results
        .iter()
        .map(|g| (g.group_id.as_str(), g.error_code, g.error_message.clone()))
        .collect();
    assert_eq!(
        results,
        vec![
            ("g-none", E::GroupIdNotFound.code(), None),
            ("g-simple", 0, None),
            ("g-busy", E::NonEmptyGroup.code(), None),
        ]
    );
}

#[tokio::test]
async fn describe_cluster_v2_marks_brokers_fenced_and_a_single_node_never_is() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    for include in [false, true] {
        let r = c
            .call(
                &DescribeClusterRequest::default().with_include_fenced_brokers(include),
                2,
            )
            .await;
        assert_eq!(r.error_code, 0);
        let brokers: Vec<_> = r
            .brokers
            .iter()
            .map(|b| (b.broker_id.0, b.is_fenced))
            .collect();
        assert_eq!(brokers, vec![(1, false)], "include fenced: {include}");
    }
    // As Kafka 4.4: a request for the controllers' endpoints on a broker's listener.
    let r = c
        .call(&DescribeClusterRequest::default().with_endpoint_type(2), 2)
        .await;
    assert_eq!(r.error_code, E::MismatchedEndpointType.code());
    assert_eq!(
        r.error_message.as_deref(),
        Some("The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER")
    );
    assert!(r.brokers.is_empty());
    let r = c
        .call(&DescribeClusterRequest::default().with_endpoint_type(7), 1)
        .await;
    assert_eq!(r.error_code, E::UnsupportedEndpointType.code());
    assert_eq!(
        r.error_message.as_deref(),
        Some("Unsupported endpoint type 7")
    );
    // v1 has no IsFenced: the field is not on the wire, the broker is still listed.
    let r = c.call(&DescribeClusterRequest::default(), 1).await;
    assert_eq!(r.brokers.len(), 1);
}
