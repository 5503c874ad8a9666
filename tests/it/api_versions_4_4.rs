//! The versions Kafka 4.4 added to the APIs consumers and admin tools use, over the wire:
//! OffsetCommit and OffsetFetch v10 (topics by id, KIP-848), ListOffsets v11 (the earliest
//! offset pending upload, KIP-1023), and InitProducerId v6 left out as Kafka 4.4 leaves it.

use crate::common::*;
use kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::offset_fetch_response::OffsetFetchResponseGroup;
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

/// OffsetCommit v10: each (topic id, [(partition, offset)]).
fn commit_by_id(
    group: &str,
    member: &str,
    epoch: i32,
    topics: &[(Uuid, &[(i32, i64)])],
) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member))
        .with_generation_id_or_member_epoch(epoch)
        .with_topics(
            topics
                .iter()
                .map(|(id, parts)| {
                    OffsetCommitRequestTopic::default()
                        .with_topic_id(*id)
                        .with_partitions(
                            parts
                                .iter()
                                .map(|(p, o)| {
                                    OffsetCommitRequestPartition::default()
                                        .with_partition_index(*p)
                                        .with_committed_offset(*o)
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
}

/// (topic id, [(partition, error code)]) of an OffsetCommit answer.
fn commit_codes(r: &OffsetCommitResponse) -> Vec<(Uuid, Vec<(i32, i16)>)> {
    r.topics
        .iter()
        .map(|t| {
            let codes = t
                .partitions
                .iter()
                .map(|p| (p.partition_index, p.error_code))
                .collect();
            (t.topic_id, codes)
        })
        .collect()
}

/// OffsetFetch v10 for one group: the topics by id (None: every topic).
fn fetch_by_id(
    group: &str,
    member: Option<(&str, i32)>,
    topics: Option<&[(Uuid, &[i32])]>,
) -> OffsetFetchRequest {
    let (member_id, epoch) = member.map_or((None, -1), |(m, e)| (Some(s(m)), e));
    OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(member_id)
        .with_member_epoch(epoch)
        .with_topics(topics.map(|ts| {
            ts.iter()
                .map(|(id, parts)| {
                    OffsetFetchRequestTopics::default()
                        .with_topic_id(*id)
                        .with_partition_indexes(parts.to_vec())
                })
                .collect()
        }))])
}

/// (topic id, [(partition, offset, error code)]) per topic of an OffsetFetch answer.
type Fetched = Vec<(Uuid, Vec<(i32, i64, i16)>)>;

/// One group's OffsetFetch answer.
fn fetched(g: &OffsetFetchResponseGroup) -> Fetched {
    assert_eq!(g.error_code, 0, "group error");
    g.topics
        .iter()
        .map(|t| {
            let parts = t
                .partitions
                .iter()
                .map(|p| (p.partition_index, p.committed_offset, p.error_code))
                .collect();
            (t.topic_id, parts)
        })
        .collect()
}

/// A KIP-848 member of `group` subscribed to the homework topic: (member id, epoch).
async fn join(c: &mut Client, group: &str) -> (String, i32) {
    let member = "member-v10";
    let r = c
        .call(
            &ConsumerGroupHeartbeatRequest::default()
                .with_group_id(GroupId(s(group)))
                .with_member_id(s(member))
                .with_member_epoch(0)
                .with_rebalance_timeout_ms(30_000)
                .with_subscribed_topic_names(Some(vec![TopicName(s(TOPIC))]))
                .with_topic_partitions(Some(Vec::<TopicPartitions>::new())),
            1,
        )
        .await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    (member.to_string(), r.member_epoch)
}

#[tokio::test]
async fn api_versions_advertise_what_kafka_4_4_advertises() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let v = c.call(&crate::common::api_versions(), 3).await;
    let range = |key: ApiKey| {
        let k = v.api_keys.iter().find(|k| k.api_key == key as i16).unwrap();
        (k.min_version, k.max_version)
    };
    assert_eq!(range(ApiKey::OffsetCommit), (2, 10));
    assert_eq!(range(ApiKey::OffsetFetch), (1, 10));
    assert_eq!(range(ApiKey::ListOffsets), (1, 11));
    // v6 (KIP-939) is unstable in Kafka 4.4: not advertised there either.
    assert_eq!(range(ApiKey::InitProducerId), (0, 5));
}

#[tokio::test]
async fn init_producer_id_v6_closes_the_connection_as_kafka_4_4_does() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    // The codec (Kafka 4.4's stable schemas) has no v6, so the frame is written by hand:
    // header v2 (key 22, version 6, correlation 1, client id "t", no tags), then the
    // transactional id "tx", timeout 60 s, producer id and epoch -1, Enable2Pc true,
    // KeepPreparedTxn false, no tags.
    let mut frame = vec![0, 22, 0, 6, 0, 0, 0, 1, 0, 1, b't', 0];
    frame.extend_from_slice(&[3, b't', b'x']);
    frame.extend_from_slice(&60_000i32.to_be_bytes());
    frame.extend_from_slice(&(-1i64).to_be_bytes());
    frame.extend_from_slice(&(-1i16).to_be_bytes());
    frame.extend_from_slice(&[1, 0, 0]);
    let mut bytes = (frame.len() as i32).to_be_bytes().to_vec();
    bytes.extend_from_slice(&frame);
    c.write_raw(&bytes).await;
    assert!(c.read_frame().await.is_none(), "v6 is refused by closing");
    // Another connection is served as before.
    let mut c = Client::connect(&b).await;
    let r = c
        .call(
            &InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(60_000),
            5,
        )
        .await;
    assert_eq!((r.error_code, r.producer_epoch), (0, 0));
}

#[tokio::test]
async fn consumer_member_commits_and_fetches_offsets_by_topic_id() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let id = b.services.topics.get(TOPIC).unwrap().id;
    let unknown = Uuid::from_u128(0x1234);
    let (member, epoch) = join(&mut c, "g-v10").await;

    // A known id, an id no topic has, the zero id, and a partition the topic does not have.
    let r = c
        .call(
            &commit_by_id(
                "g-v10",
                &member,
                epoch,
                &[
                    (id, &[(0, 5), (1, 7)]),
                    (unknown, &[(0, 1)]),
                    (Uuid::nil(), &[(0, 1)]),
                    (id, &[(9, 1)]),
                ],
            ),
            10,
        )
        .await;
    let unknown_id = E::UnknownTopicId.code();
    assert_eq!(
        commit_codes(&r),
        vec![
            (id, vec![(0, 0), (1, 0)]),
            (unknown, vec![(0, unknown_id)]),
            (Uuid::nil(), vec![(0, unknown_id)]),
            (id, vec![(9, E::UnknownTopicOrPartition.code())]),
        ]
    );

    // Fetched by id: the known topic first (a partition without an offset: -1), then the
    // unknown id's partitions with UNKNOWN_TOPIC_ID, wherever it was asked.
    let m = Some((member.as_str(), epoch));
    let r = c
        .call(
            &fetch_by_id("g-v10", m, Some(&[(unknown, &[0, 1]), (id, &[0, 1, 2])])),
            10,
        )
        .await;
    assert_eq!(
        fetched(&r.groups[0]),
        vec![
            (id, vec![(0, 5, 0), (1, 7, 0), (2, -1, 0)]),
            (unknown, vec![(0, -1, unknown_id), (1, -1, unknown_id)]),
        ]
    );
    // Every topic: listed by id.
    let r = c.call(&fetch_by_id("g-v10", m, None), 10).await;
    assert_eq!(
        fetched(&r.groups[0]),
        vec![(id, vec![(0, 5, 0), (1, 7, 0)])]
    );
    // The same offsets by name (v9), and a stale member epoch is still refused at v10.
    let by_name =
        OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(s("g-v10")))
            .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                .with_name(TopicName(s(TOPIC)))
                .with_partition_indexes(vec![1])]))]);
    let r = c.call(&by_name, 9).await;
    assert_eq!(r.groups[0].topics[0].partitions[0].committed_offset, 7);
    let r = c
        .call(
            &commit_by_id("g-v10", &member, epoch + 1, &[(id, &[(0, 6)])]),
            10,
        )
        .await;
    assert_eq!(commit_codes(&r)[0].1[0].1, E::StaleMemberEpoch.code());
}

#[tokio::test]
async fn offsets_of_a_deleted_topic_are_an_unknown_id_at_v10() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let create = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(s("doomed")))
            .with_num_partitions(1)
            .with_replication_factor(1)]);
    assert_eq!(c.call(&create, 5).await.topics[0].error_code, 0);
    let doomed = b.services.topics.get("doomed").unwrap().id;
    let id = b.services.topics.get(TOPIC).unwrap().id;
    // A group without members (an admin tool's commit: generation -1, no member).
    let r = c
        .call(
            &commit_by_id("g-simple", "", -1, &[(doomed, &[(0, 3)]), (id, &[(1, 4)])]),
            10,
        )
        .await;
    assert_eq!(
        commit_codes(&r),
        vec![(doomed, vec![(0, 0)]), (id, vec![(1, 0)])]
    );
    let r = c.call(&fetch_by_id("g-simple", None, None), 10).await;
    assert_eq!(
        fetched(&r.groups[0]),
        vec![(doomed, vec![(0, 3, 0)]), (id, vec![(1, 4, 0)])]
    );

    let delete = DeleteTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topic_names(vec![TopicName(s("doomed"))]);
    assert_eq!(c.call(&delete, 5).await.responses[0].error_code, 0);
    let r = c
        .call(
            &fetch_by_id("g-simple", None, Some(&[(doomed, &[0]), (id, &[1])])),
            10,
        )
        .await;
    assert_eq!(
        fetched(&r.groups[0]),
        vec![
            (id, vec![(1, 4, 0)]),
            (doomed, vec![(0, -1, E::UnknownTopicId.code())])
        ]
    );
    let r = c.call(&fetch_by_id("g-simple", None, None), 10).await;
    assert_eq!(fetched(&r.groups[0]), vec![(id, vec![(1, 4, 0)])]);
}

#[tokio::test]
async fn list_offsets_v11_answers_the_tiered_targets_as_kafka_without_remote_storage() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let produce = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(s(TOPIC)))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch(
                    &[
                        record("a", "1", 100),
                        record("b", "2", 300),
                        record("c", "3", 200),
                    ],
                    Compression::None,
                )))])]);
    let r = c.call(&produce, 9).await;
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);

    let ask = |ts: i64| {
        ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(TopicName(s(TOPIC)))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(ts)])])
            .with_timeout_ms(1000)
    };
    let mut answers = Vec::new();
    // Earliest pending upload (-6, KIP-1023), latest tiered (-5), earliest local (-4), max
    // timestamp (-3), earliest (-2), latest (-1).
    for ts in [-6, -5, -4, -3, -2, -1] {
        let r = c.call(&ask(ts), 11).await;
        let p = &r.topics[0].partitions[0];
        answers.push((ts, p.error_code, p.offset, p.timestamp, p.leader_epoch));
    }
    assert_eq!(
        answers,
        vec![
            (-6, 0, -1, -1, -1),
            (-5, 0, -1, -1, -1),
            (-4, 0, 0, -1, 0),
            (-3, 0, 1, 300, 0),
            (-2, 0, 0, -1, 0),
            (-1, 0, 3, -1, 0),
        ]
    );
}
