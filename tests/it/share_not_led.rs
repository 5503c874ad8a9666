//! Share acknowledgements for a partition this broker does not lead (cluster mode: another
//! broker leads it and holds its share state) are refused, not applied to this broker's copy:
//! Kafka 4.4 answers UNKNOWN_TOPIC_OR_PARTITION for them (its `SharePartitionManager` has no
//! share partition there), in ShareFetch's AcknowledgeErrorCode and in ShareAcknowledge, and
//! serves the other partitions. Here one in-process broker's partition is marked as led
//! elsewhere, as its cluster tick does when another broker takes the partition.

use crate::common::*;
use crate::share_groups::{s, set_group_configs, ACCEPT};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::share_acknowledge_request::{
    AcknowledgePartition, AcknowledgeTopic, AcknowledgementBatch as AckBatch,
};
use kafka_protocol::messages::share_fetch_request::{
    AcknowledgementBatch, FetchPartition, FetchTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::records::Compression;
use kafka_protocol::ResponseError as E;
use uuid::Uuid;

const TOPIC: &str = "share-not-led";
const GROUP: &str = "share-not-led";

/// Fetch both partitions, acknowledging records 0-1 of each (epoch > 0).
fn fetch(epoch: i32, topic: Uuid, ack: bool) -> ShareFetchRequest {
    let part = |index| {
        let acks = if ack {
            vec![AcknowledgementBatch::default()
                .with_first_offset(0)
                .with_last_offset(1)
                .with_acknowledge_types(vec![ACCEPT])]
        } else {
            Vec::new()
        };
        FetchPartition::default()
            .with_partition_index(index)
            .with_acknowledgement_batches(acks)
    };
    ShareFetchRequest::default()
        .with_group_id(Some(GroupId(s(GROUP))))
        .with_member_id(Some(s("m1")))
        .with_share_session_epoch(epoch)
        .with_max_wait_ms(50)
        .with_max_bytes(1 << 20)
        .with_max_records(100)
        .with_topics(vec![FetchTopic::default()
            .with_topic_id(topic)
            .with_partitions(vec![part(0), part(1)])])
}

/// One partition's answer: (partition, error code, acknowledge error code, acquired (first,
/// last)).
type Answer = (i32, i16, i16, Vec<(i64, i64)>);

fn answers(r: &ShareFetchResponse) -> Vec<Answer> {
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    let mut all: Vec<_> = r
        .responses
        .iter()
        .flat_map(|t| &t.partitions)
        .map(|p| {
            let acquired = p
                .acquired_records
                .iter()
                .map(|a| (a.first_offset, a.last_offset))
                .collect();
            (
                p.partition_index,
                p.error_code,
                p.acknowledge_error_code,
                acquired,
            )
        })
        .collect();
    all.sort();
    all
}

/// Each partition's share start offset.
async fn starts(c: &mut Client) -> Vec<(i32, i64)> {
    let describe = DescribeShareGroupOffsetsRequest::default().with_groups(vec![
        describe_share_group_offsets_request::DescribeShareGroupOffsetsRequestGroup::default()
            .with_group_id(GroupId(s(GROUP)))
            .with_topics(None),
    ]);
    let r = c.call(&describe, 0).await;
    let mut starts: Vec<(i32, i64)> = r.groups[0]
        .topics
        .iter()
        .flat_map(|t| &t.partitions)
        .map(|p| (p.partition_index, p.start_offset))
        .collect();
    starts.sort();
    starts
}

#[tokio::test]
async fn acknowledgements_for_a_partition_led_elsewhere_are_refused_and_not_applied() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let create = CreateTopicsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(s(TOPIC)))
            .with_num_partitions(2)
            .with_replication_factor(1)]);
    assert_eq!(c.call(&create, 5).await.topics[0].error_code, 0);
    let configs = [("share.auto.offset.reset", "earliest")];
    assert_eq!(set_group_configs(&mut c, GROUP, &configs).await, (0, None));
    let records: Vec<_> = (0..2)
        .map(|j| record(&format!("k{j}"), "v", 1_000))
        .collect();
    let produce = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(s(TOPIC)))
            .with_partition_data(
                (0..2)
                    .map(|i| {
                        PartitionProduceData::default()
                            .with_index(i)
                            .with_records(Some(batch(&records, Compression::None)))
                    })
                    .collect(),
            )]);
    let r = c.call(&produce, 9).await;
    assert!(r.responses[0]
        .partition_responses
        .iter()
        .all(|p| p.error_code == 0));
    let join = ShareGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_member_id(s("m1"))
        .with_member_epoch(0)
        .with_subscribed_topic_names(Some(vec![TopicName(s(TOPIC))]));
    let r = c.call(&join, 1).await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    let topic = b.services.topics.get(TOPIC).expect("the topic").id;

    let r = c.call(&fetch(0, topic, false), 1).await;
    assert_eq!(
        answers(&r),
        vec![(0, 0, 0, vec![(0, 1)]), (1, 0, 0, vec![(0, 1)])]
    );

    // Another broker takes partition 1.
    let p1 = b.services.topics.partition(TOPIC, 1).expect("partition 1");
    p1.set_not_led();

    let not_led = E::NotLeaderOrFollower.code();
    let unknown = E::UnknownTopicOrPartition.code();
    let r = c.call(&fetch(1, topic, true), 1).await;
    assert_eq!(
        answers(&r),
        vec![(0, 0, 0, vec![]), (1, not_led, unknown, vec![])]
    );
    // The refused partition names its leader, whose address the response carries (Kafka's
    // `processShareFetchResponse`; one node's view names itself, a cluster's the other broker).
    let me = b.services.cluster.this_node();
    let named: Vec<_> = r.responses[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.current_leader.leader_id))
        .collect();
    assert!(named.contains(&(1, me)), "{named:?}");
    let port = i32::from(b.listeners[0].0.port);
    let endpoints: Vec<_> = r
        .node_endpoints
        .iter()
        .map(|n| (n.node_id.0, n.port))
        .collect();
    assert_eq!(endpoints, vec![(me, port)]);
    assert_eq!(starts(&mut c).await, vec![(0, 2), (1, 0)]);

    let ack = ShareAcknowledgeRequest::default()
        .with_group_id(Some(GroupId(s(GROUP))))
        .with_member_id(Some(s("m1")))
        .with_share_session_epoch(2)
        .with_topics(vec![AcknowledgeTopic::default()
            .with_topic_id(topic)
            .with_partitions(vec![AcknowledgePartition::default()
                .with_partition_index(1)
                .with_acknowledgement_batches(vec![AckBatch::default()
                    .with_first_offset(0)
                    .with_last_offset(1)
                    .with_acknowledge_types(vec![ACCEPT])])])]);
    let r = c.call(&ack, 1).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.responses[0].partitions[0].error_code, unknown);
    assert_eq!(starts(&mut c).await, vec![(0, 2), (1, 0)]);
}
