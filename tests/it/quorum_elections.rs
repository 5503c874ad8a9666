//! DescribeQuorum (55) and ElectLeaders (43) over the wire: what a single combined Kafka node
//! answers about its metadata quorum and its partitions' leaders, the errors Kafka gives, and
//! versions or bodies gregor cannot read closing the connection.

use std::time::Duration;

use crate::common::*;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};
use kafka_protocol::ResponseError as E;

const TOPIC: &str = "loms.order-events";
const METADATA: &str = "__cluster_metadata";

fn name(v: &str) -> TopicName {
    TopicName(StrBytes::from_string(v.to_string()))
}

/// DescribeQuorum for these (topic, partitions).
fn quorum(topics: &[(&str, &[i32])]) -> DescribeQuorumRequest {
    DescribeQuorumRequest::default().with_topics(
        topics
            .iter()
            .map(|(t, parts)| {
                TopicData::default()
                    .with_topic_name(name(t))
                    .with_partitions(
                        parts
                            .iter()
                            .map(|&p| PartitionData::default().with_partition_index(p))
                            .collect(),
                    )
            })
            .collect(),
    )
}

/// ElectLeaders of one type for these (topic, partitions), None: every partition.
fn elect(kind: i8, topics: Option<&[(&str, &[i32])]>) -> ElectLeadersRequest {
    ElectLeadersRequest::default()
        .with_election_type(kind)
        .with_timeout_ms(5000)
        .with_topic_partitions(topics.map(|ts| {
            ts.iter()
                .map(|(t, parts)| {
                    TopicPartitions::default()
                        .with_topic(name(t))
                        .with_partitions(parts.to_vec())
                })
                .collect()
        }))
}

/// (topic, [(partition, error code, message)]) of an ElectLeaders answer.
type Elected = Vec<(String, Vec<(i32, i16, Option<String>)>)>;

fn elected(r: &ElectLeadersResponse) -> Elected {
    r.replica_election_results
        .iter()
        .map(|t| {
            let parts = t
                .partition_result
                .iter()
                .map(|p| {
                    let message = p.error_message.as_ref().map(|m| m.to_string());
                    (p.partition_id, p.error_code, message)
                })
                .collect();
            (t.topic.0.to_string(), parts)
        })
        .collect()
}

/// A request frame of any key and version with this body, header v2 (flexible versions).
fn raw_frame(key: ApiKey, version: i16, body: &[u8]) -> Vec<u8> {
    let mut buf = bytes::BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("raw")))
        .encode(&mut buf, 2)
        .unwrap();
    buf.extend_from_slice(body);
    [&(buf.len() as i32).to_be_bytes()[..], &buf[..]].concat()
}

async fn closes(b: &gregor::server::RunningBroker, frame: &[u8]) -> bool {
    let mut c = Client::connect(b).await;
    c.write_raw(frame).await;
    tokio::time::timeout(Duration::from_secs(5), c.read_frame())
        .await
        .expect("the broker reacts")
        .is_none()
}

#[tokio::test]
async fn both_are_advertised_with_kafka_4_4s_versions() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let r = c.call(&crate::common::api_versions(), 3).await;
    let range = |key: ApiKey| {
        r.api_keys
            .iter()
            .find(|k| k.api_key == key as i16)
            .map(|k| (k.min_version, k.max_version))
    };
    assert_eq!(range(ApiKey::DescribeQuorum), Some((0, 2)));
    assert_eq!(range(ApiKey::ElectLeaders), Some((0, 2)));
}

#[tokio::test]
async fn describe_quorum_is_this_node_leading_alone() {
    let b = broker(None).await;
    let node = b.services.cluster.this_node();
    let mut c = Client::connect(&b).await;
    let mut last_hw = -1;
    for v in 0..=2 {
        let before = gregor::api::now_ms();
        let r = c.call(&quorum(&[(METADATA, &[0])]), v).await;
        assert_eq!(r.error_code, 0, "v{v}");
        assert_eq!(r.topics.len(), 1);
        assert_eq!(r.topics[0].topic_name.0.as_str(), METADATA);
        let p = &r.topics[0].partitions[0];
        assert_eq!(
            (
                p.partition_index,
                p.error_code,
                p.leader_id.0,
                p.leader_epoch
            ),
            (0, 0, node, 1),
            "v{v}"
        );
        assert!(p.high_watermark >= last_hw, "monotonic: v{v}");
        last_hw = p.high_watermark;
        assert!(p.high_watermark > 0, "the store has been written to");
        assert!(p.observers.is_empty());
        assert_eq!(p.current_voters.len(), 1);
        let voter = &p.current_voters[0];
        assert_eq!(
            (voter.replica_id.0, voter.log_end_offset),
            (node, p.high_watermark)
        );
        if v >= 1 {
            assert!(voter.last_fetch_timestamp >= before, "v{v}");
            assert!(voter.last_caught_up_timestamp >= before, "v{v}");
        } else {
            // Not on the wire before v1: Kafka's default.
            assert_eq!(voter.last_fetch_timestamp, -1);
        }
        if v >= 2 {
            assert_eq!(voter.replica_directory_id, uuid::Uuid::nil());
            assert_eq!(r.nodes.len(), 1);
            assert_eq!(r.nodes[0].node_id.0, node);
            let l = &r.nodes[0].listeners;
            assert_eq!(l.len(), 1);
            assert_eq!(l[0].port, b.addr().port());
            assert_eq!(l[0].host.as_str(), "127.0.0.1");
            assert!(!l[0].name.is_empty());
        } else {
            assert!(r.nodes.is_empty());
        }
    }
    // A metadata change moves the high watermark on.
    let create = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(name("quorum-moves"))
            .with_num_partitions(1)
            .with_replication_factor(1)]);
    assert_eq!(c.call(&create, 7).await.topics[0].error_code, 0);
    let r = c.call(&quorum(&[(METADATA, &[0])]), 2).await;
    assert!(r.topics[0].partitions[0].high_watermark > last_hw);
}

#[tokio::test]
async fn describe_quorum_of_anything_else_is_an_unknown_partition() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let message = Some("This server does not host this topic-partition.".to_string());
    for (asked, want) in [
        (quorum(&[(TOPIC, &[0])]), vec![(TOPIC, vec![0])]),
        (quorum(&[(METADATA, &[1])]), vec![(METADATA, vec![1])]),
        (quorum(&[(METADATA, &[0, 1])]), vec![(METADATA, vec![0, 1])]),
        (
            quorum(&[(METADATA, &[0]), (TOPIC, &[1])]),
            vec![(METADATA, vec![0]), (TOPIC, vec![1])],
        ),
        (quorum(&[]), vec![]),
    ] {
        for v in [0, 2] {
            let r = c.call(&asked, v).await;
            assert_eq!(r.error_code, 0);
            let got: Vec<(&str, Vec<i32>)> = r
                .topics
                .iter()
                .map(|t| {
                    for p in &t.partitions {
                        assert_eq!(p.error_code, E::UnknownTopicOrPartition.code());
                        assert_eq!(p.current_voters.len(), 0);
                        if v == 2 {
                            assert_eq!(p.error_message.as_ref().map(|m| m.to_string()), message);
                        }
                    }
                    let parts = t.partitions.iter().map(|p| p.partition_index).collect();
                    (t.topic_name.0.as_str(), parts)
                })
                .collect();
            assert_eq!(got, want, "v{v}");
        }
    }
}

#[tokio::test]
async fn elections_are_never_needed_on_one_node() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let not_needed = |p: i32| {
        (
            p,
            E::ElectionNotNeeded.code(),
            Some("Leader election not needed for topic partition.".to_string()),
        )
    };
    let unknown = |p: i32, m: &str| (p, E::UnknownTopicOrPartition.code(), Some(m.to_string()));
    for v in 0..=2 {
        // v0 has no election type: always preferred.
        for kind in if v == 0 { vec![0] } else { vec![0, 1] } {
            let r = c
                .call(
                    &elect(kind, Some(&[(TOPIC, &[1, 0, 2]), ("nope", &[0])])),
                    v,
                )
                .await;
            assert_eq!(r.error_code, 0);
            assert_eq!(
                elected(&r),
                vec![
                    (
                        TOPIC.to_string(),
                        vec![
                            not_needed(1),
                            not_needed(0),
                            unknown(2, &format!("No such partition as {TOPIC}-2"))
                        ]
                    ),
                    (
                        "nope".to_string(),
                        vec![unknown(0, "No such topic as nope")]
                    ),
                ],
                "v{v} type {kind}"
            );
            // Every partition: every topic, none of its partitions (none needed an election).
            let r = c.call(&elect(kind, None), v).await;
            assert_eq!(r.error_code, 0);
            assert_eq!(elected(&r), vec![(TOPIC.to_string(), vec![])]);
        }
    }
}

#[tokio::test]
async fn an_unknown_election_type_is_an_invalid_request() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let invalid = Some("Unknown election type 2".to_string());
    for v in 1..=2 {
        let r = c.call(&elect(2, Some(&[(TOPIC, &[0, 1])])), v).await;
        assert_eq!(r.error_code, E::InvalidRequest.code(), "v{v}");
        assert_eq!(
            elected(&r),
            vec![(
                TOPIC.to_string(),
                vec![
                    (0, E::InvalidRequest.code(), invalid.clone()),
                    (1, E::InvalidRequest.code(), invalid.clone())
                ]
            )]
        );
        let r = c.call(&elect(2, None), v).await;
        assert_eq!(
            (r.error_code, r.replica_election_results.len()),
            (E::InvalidRequest.code(), 0)
        );
    }
}

#[tokio::test]
async fn bad_versions_and_bodies_close_the_connection() {
    let b = broker(None).await;
    // Versions past Kafka 4.4's (both APIs stop at 2).
    let body = [1u8, 0]; // DescribeQuorum v2: no topics, no tagged fields
    assert!(closes(&b, &raw_frame(ApiKey::DescribeQuorum, 3, &body)).await);
    assert!(closes(&b, &raw_frame(ApiKey::ElectLeaders, 3, &body)).await);
    // Bodies that end early: a topic array of 5 with nothing after it; an election type and
    // no more.
    assert!(closes(&b, &raw_frame(ApiKey::DescribeQuorum, 2, &[6])).await);
    assert!(closes(&b, &raw_frame(ApiKey::ElectLeaders, 2, &[0])).await);
    // The same frames with whole bodies are answered.
    let mut c = Client::connect(&b).await;
    c.write_raw(&raw_frame(ApiKey::DescribeQuorum, 2, &body))
        .await;
    assert!(c.read_frame().await.is_some());
    let mut whole = bytes::BytesMut::new();
    elect(0, None).encode(&mut whole, 2).unwrap();
    let mut c = Client::connect(&b).await;
    c.write_raw(&raw_frame(ApiKey::ElectLeaders, 2, &whole))
        .await;
    assert!(c.read_frame().await.is_some());
}

/// Kafka's checks (`ControllerApis`, `KafkaApis`): DESCRIBE on the cluster for DescribeQuorum,
/// ALTER for ElectLeaders, DESCRIBE_CONFIGS for ListConfigResources. With an authorizer and no
/// ACLs the anonymous client has none of them.
#[tokio::test]
async fn cluster_operations_need_their_acl() {
    let config = gregor::config::Config {
        authorizer: gregor::config::AuthorizerKind::Acl,
        allow_everyone_if_no_acl_found: false,
        ..config(None)
    };
    let b = gregor::server::start(config).await.expect("broker starts");
    let mut c = Client::connect(&b).await;
    let denied = E::ClusterAuthorizationFailed.code();
    let r = c.call(&quorum(&[(METADATA, &[0])]), 2).await;
    assert_eq!((r.error_code, r.topics.len()), (denied, 0));
    assert_eq!(
        r.error_message.map(|m| m.to_string()).as_deref(),
        Some("Cluster authorization failed.")
    );
    let r = c.call(&elect(0, Some(&[(TOPIC, &[0])])), 2).await;
    assert_eq!(r.error_code, denied);
    assert_eq!(elected(&r)[0].1[0].1, denied);
    let r = c.call(&ListConfigResourcesRequest::default(), 1).await;
    assert_eq!((r.error_code, r.config_resources.len()), (denied, 0));
}
