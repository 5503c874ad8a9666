//! DescribeGroups v6 (KIP-1043): a group that does not exist, or is not a classic group, is
//! answered GROUP_ID_NOT_FOUND with Kafka's message (Dead, as before); v5 keeps answering it
//! Dead without error. `kafka-consumer-groups --describe` of a missing group prints Kafka's
//! "GroupIdNotFoundException: Group G not found." only with v6.

use crate::common::*;
use kafka_protocol::messages::describe_groups_response::DescribedGroup;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError as E;

const TOPIC: &str = "loms.order-events";

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

async fn describe(c: &mut Client, ids: &[&str], version: i16) -> Vec<DescribedGroup> {
    c.call(
        &DescribeGroupsRequest::default().with_groups(ids.iter().map(|g| GroupId(s(g))).collect()),
        version,
    )
    .await
    .groups
}

fn shown(g: &DescribedGroup) -> (String, i16, Option<String>, String) {
    (
        g.group_id.to_string(),
        g.error_code,
        g.error_message.as_ref().map(|m| m.to_string()),
        g.group_state.to_string(),
    )
}

#[tokio::test]
async fn describe_groups_v6_answers_missing_and_non_classic_groups_not_found() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    // A classic group that exists only through its committed offset (Empty).
    let commit = c
        .call(
            &OffsetCommitRequest::default()
                .with_group_id(GroupId(s("committed")))
                .with_generation_id_or_member_epoch(-1)
                .with_topics(vec![OffsetCommitRequestTopic::default()
                    .with_name(TopicName(s(TOPIC)))
                    .with_partitions(vec![OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(3)])]),
            8,
        )
        .await;
    assert_eq!(commit.topics[0].partitions[0].error_code, 0);
    // A consumer group (KIP-848) with one member.
    let beat = c
        .call(
            &ConsumerGroupHeartbeatRequest::default()
                .with_group_id(GroupId(s("modern")))
                .with_member_id(s("m1"))
                .with_member_epoch(0)
                .with_rebalance_timeout_ms(30_000)
                .with_subscribed_topic_names(Some(vec![TopicName(s(TOPIC))]))
                .with_topic_partitions(Some(vec![])),
            0,
        )
        .await;
    assert_eq!(beat.error_code, 0, "{beat:?}");

    let ids = ["missing", "committed", "modern"];
    let v6 = describe(&mut c, &ids, 6).await;
    let dead = || "Dead".to_string();
    let not_found = E::GroupIdNotFound.code();
    assert_eq!(
        v6.iter().map(shown).collect::<Vec<_>>(),
        vec![
            (
                "missing".into(),
                not_found,
                Some("Group missing not found.".into()),
                dead()
            ),
            ("committed".into(), 0, None, "Empty".into()),
            (
                "modern".into(),
                not_found,
                Some("Group modern is not a classic group.".into()),
                dead()
            ),
        ]
    );
    let v5 = describe(&mut c, &ids, 5).await;
    assert_eq!(
        v5.iter().map(shown).collect::<Vec<_>>(),
        vec![
            ("missing".into(), 0, None, dead()),
            ("committed".into(), 0, None, "Empty".into()),
            ("modern".into(), 0, None, dead()),
        ]
    );
}
