//! KIP-932's share groups over the wire: ShareGroupHeartbeat, ShareFetch and
//! ShareAcknowledge against an in-process broker — share sessions and their epochs, malformed
//! or out-of-order acknowledgements (Kafka's error codes, nothing changed), redelivery with
//! delivery counts, the group id namespace shared with consumer groups, and a restart that
//! keeps what was acknowledged.

use crate::common::*;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::share_acknowledge_request::{
    AcknowledgePartition, AcknowledgeTopic, AcknowledgementBatch as AckBatch,
};
use kafka_protocol::messages::share_fetch_request::{
    AcknowledgementBatch, FetchPartition, FetchTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;
use kafka_protocol::ResponseError as E;
use uuid::Uuid;

pub(super) const TOPIC: &str = "loms.order-events";

pub(super) fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

pub(super) async fn produce(c: &mut Client, n: usize) {
    let records: Vec<_> = (0..n)
        .map(|j| record(&format!("k{j}"), "v", 1_000))
        .collect();
    let req = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(s(TOPIC)))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch(&records, Compression::None)))])]);
    let r = c.call(&req, 9).await;
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
}

async fn earliest(c: &mut Client, group: &str) {
    let configs = [
        ("share.auto.offset.reset", "earliest"),
        ("share.delivery.count.limit", "2"),
    ];
    assert_eq!(set_group_configs(c, group, &configs).await, (0, None));
}

/// Set group configs; the answer's error code and message.
pub(super) async fn set_group_configs(
    c: &mut Client,
    group: &str,
    configs: &[(&str, &str)],
) -> (i16, Option<String>) {
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(32)
            .with_resource_name(s(group))
            .with_configs(
                configs
                    .iter()
                    .map(|(name, value)| {
                        AlterableConfig::default()
                            .with_name(s(name))
                            .with_config_operation(0)
                            .with_value(Some(s(value)))
                    })
                    .collect(),
            ),
    ]);
    let r = c.call(&req, 1).await;
    let answer = &r.responses[0];
    (
        answer.error_code,
        answer
            .error_message
            .as_ref()
            .map(|m| m.to_string())
            .filter(|m| !m.is_empty()),
    )
}

/// Join the share group; the topic's id from the assignment.
pub(super) async fn join(c: &mut Client, group: &str, member: &str) -> Uuid {
    let req = ShareGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member))
        .with_member_epoch(0)
        .with_subscribed_topic_names(Some(vec![TopicName(s(TOPIC))]));
    let r = c.call(&req, 1).await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    r.assignment.expect("an assignment").topic_partitions[0].topic_id
}

pub(super) fn fetch(
    group: &str,
    member: &str,
    epoch: i32,
    topic: Uuid,
    acks: Vec<(i64, i64, i8)>,
) -> ShareFetchRequest {
    ShareFetchRequest::default()
        .with_group_id(Some(GroupId(s(group))))
        .with_member_id(Some(s(member)))
        .with_share_session_epoch(epoch)
        .with_max_wait_ms(50)
        .with_max_bytes(1 << 20)
        .with_max_records(100)
        .with_topics(vec![FetchTopic::default()
            .with_topic_id(topic)
            .with_partitions(vec![FetchPartition::default()
                .with_partition_index(0)
                .with_acknowledgement_batches(
                    acks.into_iter()
                        .map(|(f, l, t)| {
                            AcknowledgementBatch::default()
                                .with_first_offset(f)
                                .with_last_offset(l)
                                .with_acknowledge_types(vec![t])
                        })
                        .collect(),
                )])])
}

pub(super) fn ack(
    group: &str,
    member: &str,
    epoch: i32,
    topic: Uuid,
    acks: &[(i64, i64, i8)],
) -> ShareAcknowledgeRequest {
    ShareAcknowledgeRequest::default()
        .with_group_id(Some(GroupId(s(group))))
        .with_member_id(Some(s(member)))
        .with_share_session_epoch(epoch)
        .with_topics(vec![AcknowledgeTopic::default()
            .with_topic_id(topic)
            .with_partitions(vec![AcknowledgePartition::default()
                .with_partition_index(0)
                .with_acknowledgement_batches(
                    acks.iter()
                        .map(|(f, l, t)| {
                            AckBatch::default()
                                .with_first_offset(*f)
                                .with_last_offset(*l)
                                .with_acknowledge_types(vec![*t])
                        })
                        .collect(),
                )])])
}

/// (first, last, delivery count) of what a fetch acquired on partition 0.
pub(super) fn acquired(r: &ShareFetchResponse) -> Vec<(i64, i64, i16)> {
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    r.responses
        .iter()
        .flat_map(|t| &t.partitions)
        .filter(|p| p.partition_index == 0)
        .flat_map(|p| &p.acquired_records)
        .map(|a| (a.first_offset, a.last_offset, a.delivery_count))
        .collect()
}

pub(super) fn ack_code(r: &ShareAcknowledgeResponse) -> (i16, i16) {
    let partition = r
        .responses
        .first()
        .map_or(0, |t| t.partitions[0].error_code);
    (r.error_code, partition)
}

pub(super) const ACCEPT: i8 = 1;
pub(super) const RELEASE: i8 = 2;
pub(super) const REJECT: i8 = 3;

#[tokio::test]
async fn bad_acknowledgements_change_nothing_and_released_records_come_back() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let g = "share-acks";
    earliest(&mut c, g).await;
    produce(&mut c, 5).await;
    let topic = join(&mut c, g, "m1").await;
    join(&mut c, g, "m2").await;
    let r = c.call(&fetch(g, "m1", 0, topic, vec![]), 1).await;
    assert_eq!(acquired(&r), vec![(0, 4, 1)]);
    assert_eq!(r.acquisition_lock_timeout_ms, 30_000);
    let records = r.responses[0].partitions[0].records.clone().unwrap();
    assert_eq!(decode_records(records).len(), 5);

    // A member without a session, a wrong session epoch, acknowledgements in a new session.
    let r = c.call(&ack(g, "m2", 1, topic, &[(0, 0, ACCEPT)]), 1).await;
    assert_eq!(ack_code(&r).0, E::ShareSessionNotFound.code());
    let r = c.call(&ack(g, "m1", 7, topic, &[(0, 0, ACCEPT)]), 1).await;
    assert_eq!(ack_code(&r).0, E::InvalidShareSessionEpoch.code());
    let r = c
        .call(&fetch(g, "m2", 0, topic, vec![(0, 0, ACCEPT)]), 1)
        .await;
    assert_eq!(r.error_code, E::InvalidRequest.code());
    // Records m1 does not hold, overlapping ranges, an unknown type, a range past the end.
    let mut epoch = 1;
    for (acks, code) in [
        (vec![(5, 6, ACCEPT)], E::InvalidRecordState),
        (vec![(0, 2, ACCEPT), (2, 3, ACCEPT)], E::InvalidRequest),
        (vec![(0, 1, 9)], E::InvalidRequest),
        (vec![(0, 0, ACCEPT), (3, 9, REJECT)], E::InvalidRecordState),
    ] {
        let r = c.call(&ack(g, "m1", epoch, topic, &acks), 1).await;
        assert_eq!(ack_code(&r), (0, code.code()), "{acks:?}");
        epoch += 1;
    }
    // m2 opens a session: every record is still m1's, none was acknowledged or released.
    let r = c.call(&fetch(g, "m2", 0, topic, vec![]), 1).await;
    assert_eq!(acquired(&r), vec![]);
    let r = c.call(&ack(g, "m2", 1, topic, &[(0, 0, ACCEPT)]), 1).await;
    assert_eq!(ack_code(&r), (0, E::InvalidRecordState.code()));

    // Accept 0-1, release 2, reject 3-4, piggy-backed on m1's fetch, which acquires the
    // released record again: its second delivery.
    let r = c
        .call(
            &fetch(
                g,
                "m1",
                epoch,
                topic,
                vec![(0, 1, ACCEPT), (2, 2, RELEASE), (3, 4, REJECT)],
            ),
            1,
        )
        .await;
    assert_eq!(r.responses[0].partitions[0].acknowledge_error_code, 0);
    assert_eq!(acquired(&r), vec![(2, 2, 2)]);
    epoch += 1;
    // The limit is 2: released again, it is archived and never delivered again.
    let r = c
        .call(&ack(g, "m1", epoch, topic, &[(2, 2, RELEASE)]), 1)
        .await;
    assert_eq!(ack_code(&r), (0, 0));
    let r = c.call(&fetch(g, "m2", 2, topic, vec![]), 1).await;
    assert_eq!(acquired(&r), vec![]);
    // New records are.
    produce(&mut c, 1).await;
    let r = c.call(&fetch(g, "m2", 3, topic, vec![]), 1).await;
    assert_eq!(acquired(&r), vec![(5, 5, 1)]);

    // Share and consumer groups share one namespace.
    let r = c
        .call(
            &ConsumerGroupHeartbeatRequest::default()
                .with_group_id(GroupId(s(g)))
                .with_member_id(s("c1"))
                .with_rebalance_timeout_ms(30_000)
                .with_subscribed_topic_names(Some(vec![TopicName(s(TOPIC))]))
                .with_topic_partitions(Some(vec![])),
            1,
        )
        .await;
    assert_eq!(r.error_code, E::GroupIdNotFound.code());
    let l = c.call(&ListGroupsRequest::default(), 5).await;
    let listed = l.groups.iter().find(|x| x.group_id.as_str() == g).unwrap();
    assert_eq!(
        (listed.group_type.as_str(), listed.group_state.as_str()),
        ("share", "Stable")
    );
    let d = c
        .call(
            &ShareGroupDescribeRequest::default().with_group_ids(vec![GroupId(s(g))]),
            1,
        )
        .await;
    assert_eq!(d.groups[0].members.len(), 2);
    assert_eq!(d.groups[0].assignor_name.as_str(), "simple");
    b.shutdown().await;
}

#[tokio::test]
async fn acknowledgements_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(Some(dir.path())).await;
    let mut c = Client::connect(&b).await;
    let g = "share-durable";
    earliest(&mut c, g).await;
    produce(&mut c, 4).await;
    let topic = join(&mut c, g, "m1").await;
    let r = c.call(&fetch(g, "m1", 0, topic, vec![]), 1).await;
    assert_eq!(acquired(&r), vec![(0, 3, 1)]);
    let r = c
        .call(
            &ack(g, "m1", 1, topic, &[(0, 0, ACCEPT), (2, 2, ACCEPT)]),
            1,
        )
        .await;
    assert_eq!(ack_code(&r), (0, 0));
    drop(c);
    b.shutdown().await;

    // Back: what was accepted is not delivered again; the rest is, as a second delivery.
    let b = broker(Some(dir.path())).await;
    let mut c = Client::connect(&b).await;
    join(&mut c, g, "m9").await;
    let r = c.call(&fetch(g, "m9", 0, topic, vec![]), 1).await;
    assert_eq!(acquired(&r), vec![(1, 1, 2), (3, 3, 2)]);
    b.shutdown().await;
}

#[tokio::test]
async fn share_group_offsets_are_described_reset_and_deleted() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let g = "share-offsets";
    earliest(&mut c, g).await;
    produce(&mut c, 3).await;
    let topic = join(&mut c, g, "m1").await;
    let r = c
        .call(&fetch(g, "m1", 0, topic, vec![(0, 0, ACCEPT)]), 1)
        .await;
    assert_eq!(r.error_code, E::InvalidRequest.code());
    let r = c.call(&fetch(g, "m1", 0, topic, vec![]), 1).await;
    assert_eq!(acquired(&r), vec![(0, 2, 1)]);
    let r = c.call(&ack(g, "m1", 1, topic, &[(0, 1, ACCEPT)]), 1).await;
    assert_eq!(ack_code(&r), (0, 0));
    let describe = DescribeShareGroupOffsetsRequest::default().with_groups(vec![
        describe_share_group_offsets_request::DescribeShareGroupOffsetsRequestGroup::default()
            .with_group_id(GroupId(s(g)))
            .with_topics(None),
        describe_share_group_offsets_request::DescribeShareGroupOffsetsRequestGroup::default()
            .with_group_id(GroupId(s("no-such-group")))
            .with_topics(None),
    ]);
    let r = c.call(&describe, 0).await;
    let starts: Vec<(i32, i64, i32)> = r.groups[0].topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.start_offset, p.leader_epoch))
        .collect();
    // The leader epoch of the partition (0 on one broker), as Kafka's share state has it.
    assert_eq!(starts, vec![(0, 2, 0)]);
    assert_eq!(r.groups[1].error_code, E::GroupIdNotFound.code());
    // v1 adds the lag: 3 records, 2 accepted (the start moved past them), 1 still in flight.
    let r = c.call(&describe, 1).await;
    let lags: Vec<(i64, i64)> = r.groups[0].topics[0]
        .partitions
        .iter()
        .map(|p| (p.start_offset, p.lag))
        .collect();
    assert_eq!(lags, vec![(2, 1)]);

    let alter = AlterShareGroupOffsetsRequest::default()
        .with_group_id(GroupId(s(g)))
        .with_topics(vec![
            alter_share_group_offsets_request::AlterShareGroupOffsetsRequestTopic::default()
                .with_topic_name(TopicName(s(TOPIC)))
                .with_partitions(vec![
                    alter_share_group_offsets_request::AlterShareGroupOffsetsRequestPartition::default()
                        .with_partition_index(0)
                        .with_start_offset(0),
                ]),
        ]);
    // Not while the group has a member.
    let r = c.call(&alter, 0).await;
    assert_eq!(r.error_code, E::NonEmptyGroup.code());
    let leave = ShareGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(g)))
        .with_member_id(s("m1"))
        .with_member_epoch(-1);
    assert_eq!(c.call(&leave, 1).await.error_code, 0);
    let r = c.call(&alter, 0).await;
    assert_eq!(r.error_code, 0);
    let r = c.call(&describe, 0).await;
    assert_eq!(r.groups[0].topics[0].partitions[0].start_offset, 0);
    // Back from the start: all three again, the accepted ones as first deliveries.
    join(&mut c, g, "m2").await;
    let r = c.call(&fetch(g, "m2", 0, topic, vec![]), 1).await;
    assert_eq!(acquired(&r), vec![(0, 2, 1)]);
    let r = c.call(&fetch(g, "m2", -1, topic, vec![]), 1).await;
    assert_eq!(r.error_code, 0);
    let leave = leave.with_member_id(s("m2"));
    assert_eq!(c.call(&leave, 1).await.error_code, 0);

    let delete = DeleteShareGroupOffsetsRequest::default()
        .with_group_id(GroupId(s(g)))
        .with_topics(vec![
            delete_share_group_offsets_request::DeleteShareGroupOffsetsRequestTopic::default()
                .with_topic_name(TopicName(s(TOPIC))),
        ]);
    let r = c.call(&delete, 0).await;
    assert_eq!((r.error_code, r.responses[0].error_code), (0, 0));
    let r = c.call(&describe, 0).await;
    assert!(r.groups[0].topics.is_empty());
    let r = c
        .call(
            &DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s(g))]),
            2,
        )
        .await;
    assert_eq!(r.results[0].error_code, 0);
    let r = c.call(&describe, 0).await;
    assert_eq!(r.groups[0].error_code, E::GroupIdNotFound.code());
    b.shutdown().await;
}

/// As Kafka: a share session belongs to the connection that opened it; when that connection
/// closes (a consumer killed), the member's records are released at once, not after their
/// 30 s locks.
#[tokio::test]
async fn a_closed_connection_releases_its_members_records() {
    let b = broker(None).await;
    let mut admin = Client::connect(&b).await;
    let g = "share-conn";
    earliest(&mut admin, g).await;
    produce(&mut admin, 3).await;
    let mut c1 = Client::connect(&b).await;
    let topic = join(&mut c1, g, "m1").await;
    let r = c1.call(&fetch(g, "m1", 0, topic, vec![]), 1).await;
    assert_eq!(acquired(&r), vec![(0, 2, 1)]);
    join(&mut admin, g, "m2").await;
    drop(c1);
    let mut got = Vec::new();
    for epoch in 0..50 {
        let r = admin.call(&fetch(g, "m2", epoch, topic, vec![]), 1).await;
        got = acquired(&r);
        if !got.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(got, vec![(0, 2, 2)]);
    b.shutdown().await;
}
