//! KIP-848's consumer group protocol over the wire: ConsumerGroupHeartbeat and
//! ConsumerGroupDescribe against an in-process broker, and the edge cases real clients only
//! hit by accident (fencing, stale epochs on commit and fetch, unknown members, static
//! members, classic/consumer group conflicts, a restart).

use std::collections::BTreeMap;

use crate::common::*;
use kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError as E;

const TOPIC: &str = "loms.order-events";

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn join(group: &str, member: &str, instance: Option<&str>) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member))
        .with_member_epoch(0)
        .with_instance_id(instance.map(s))
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(Some(vec![TopicName(s(TOPIC))]))
        .with_topic_partitions(Some(vec![]))
}

fn beat(group: &str, member: &str, epoch: i32, owned: &Owned) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member))
        .with_member_epoch(epoch)
        .with_rebalance_timeout_ms(-1)
        .with_topic_partitions(Some(
            owned
                .iter()
                .map(|(t, ps)| {
                    TopicPartitions::default()
                        .with_topic_id(*t)
                        .with_partitions(ps.clone())
                })
                .collect(),
        ))
}

type Owned = BTreeMap<uuid::Uuid, Vec<i32>>;

fn owned_of(r: &ConsumerGroupHeartbeatResponse) -> Option<Owned> {
    r.assignment.as_ref().map(|a| {
        a.topic_partitions
            .iter()
            .map(|tp| (tp.topic_id, tp.partitions.clone()))
            .collect()
    })
}

async fn hb(c: &mut Client, req: &ConsumerGroupHeartbeatRequest) -> ConsumerGroupHeartbeatResponse {
    c.call(req, 1).await
}

fn commit(group: &str, member: &str, epoch: i32, offset: i64) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member))
        .with_generation_id_or_member_epoch(epoch)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(TopicName(s(TOPIC)))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(offset)])])
}

fn commit_code(r: &OffsetCommitResponse) -> i16 {
    r.topics[0].partitions[0].error_code
}

fn fetch(group: &str, member: Option<&str>, epoch: i32) -> OffsetFetchRequest {
    OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(member.map(s))
        .with_member_epoch(epoch)
        .with_topics(Some(vec![OffsetFetchRequestTopics::default()
            .with_name(TopicName(s(TOPIC)))
            .with_partition_indexes(vec![0])]))])
}

/// Two members on the 2-partition topic, heartbeating until both are stable with one each.
async fn two_members(c: &mut Client, group: &str) -> Vec<(String, i32, Owned)> {
    let mut members = Vec::new();
    for id in ["m-a", "m-b"] {
        let r = hb(c, &join(group, id, None)).await;
        assert_eq!(r.error_code, 0, "{:?}", r.error_message);
        members.push((
            id.to_string(),
            r.member_epoch,
            owned_of(&r).unwrap_or_default(),
        ));
    }
    for _ in 0..4 {
        for m in members.iter_mut() {
            let r = hb(c, &beat(group, &m.0, m.1, &m.2)).await;
            assert_eq!(r.error_code, 0);
            m.1 = r.member_epoch;
            if let Some(o) = owned_of(&r) {
                m.2 = o;
            }
        }
    }
    members
}

#[tokio::test]
async fn members_share_partitions_and_are_fenced_by_epoch() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let members = two_members(&mut c, "g848").await;
    let counts: Vec<usize> = members
        .iter()
        .map(|m| m.2.values().map(Vec::len).sum())
        .collect();
    assert_eq!(counts, vec![1, 1], "{members:?}");
    let (a, epoch, owned) = members[0].clone();
    assert_eq!(epoch, 2);

    // An epoch ahead of the coordinator's, or an unknown member.
    let r = hb(&mut c, &beat("g848", &a, epoch + 3, &owned)).await;
    assert_eq!(r.error_code, E::FencedMemberEpoch.code());
    let r = hb(&mut c, &beat("g848", "nobody", 1, &Owned::new())).await;
    assert_eq!(r.error_code, E::UnknownMemberId.code());
    // Joining without a member id is invalid from v1 (the client names itself).
    let r = hb(&mut c, &join("g848", "", None)).await;
    assert_eq!(r.error_code, E::InvalidRequest.code());
    // An unknown assignor.
    let r = hb(
        &mut c,
        &join("g848", "m-c", None).with_server_assignor(Some(s("sticky"))),
    )
    .await;
    assert_eq!(r.error_code, E::UnsupportedAssignor.code());

    // Commits: the member's current epoch only (OffsetCommit v9).
    let r = c.call(&commit("g848", &a, epoch, 5), 9).await;
    assert_eq!(commit_code(&r), 0);
    let r = c.call(&commit("g848", &a, epoch - 1, 6), 9).await;
    assert_eq!(commit_code(&r), E::StaleMemberEpoch.code());
    let r = c.call(&commit("g848", "nobody", epoch, 6), 9).await;
    assert_eq!(commit_code(&r), E::UnknownMemberId.code());
    let r = c.call(&commit("g848", &a, epoch, 6), 8).await;
    assert_eq!(commit_code(&r), E::UnsupportedVersion.code());
    // Admin tools (epoch -1) cannot commit while the group has members.
    let r = c.call(&commit("g848", "", -1, 6), 9).await;
    assert_eq!(commit_code(&r), E::UnknownMemberId.code());

    // Fetches: the same checks with a member id; none without.
    let r = c.call(&fetch("g848", Some(&a), epoch), 9).await;
    assert_eq!(r.groups[0].error_code, 0);
    assert_eq!(r.groups[0].topics[0].partitions[0].committed_offset, 5);
    let r = c.call(&fetch("g848", Some(&a), epoch - 1), 9).await;
    assert_eq!(r.groups[0].error_code, E::StaleMemberEpoch.code());
    let r = c.call(&fetch("g848", Some("nobody"), epoch), 9).await;
    assert_eq!(r.groups[0].error_code, E::UnknownMemberId.code());
    let r = c.call(&fetch("g848", None, -1), 9).await;
    assert_eq!(r.groups[0].error_code, 0);

    // Describe, list: a consumer group, Stable.
    let d = c
        .call(
            &ConsumerGroupDescribeRequest::default()
                .with_group_ids(vec![GroupId(s("g848")), GroupId(s("missing"))]),
            1,
        )
        .await;
    let g = &d.groups[0];
    assert_eq!(
        (
            g.error_code,
            g.group_state.as_str(),
            g.group_epoch,
            g.assignor_name.as_str()
        ),
        (0, "Stable", 2, "uniform")
    );
    assert_eq!(g.members.len(), 2);
    assert!(g.members.iter().all(
        |m| m.member_type == 1 && m.assignment.topic_partitions[0].topic_name.as_str() == TOPIC
    ));
    assert_eq!(d.groups[1].error_code, E::GroupIdNotFound.code());
    // Kafka's message: the AdminClient shows it (kafka-consumer-groups --describe).
    let missing = format!("Group {} not found.", d.groups[1].group_id.as_str());
    assert_eq!(d.groups[1].error_message.as_deref(), Some(missing.as_str()));
    let l = c.call(&ListGroupsRequest::default(), 5).await;
    let listed = l
        .groups
        .iter()
        .find(|g| g.group_id.as_str() == "g848")
        .unwrap();
    assert_eq!(
        (
            listed.group_type.as_str(),
            listed.group_state.as_str(),
            listed.protocol_type.as_str()
        ),
        ("consumer", "Stable", "consumer")
    );
    let l = c
        .call(
            &ListGroupsRequest::default().with_types_filter(vec![s("classic")]),
            5,
        )
        .await;
    assert!(l.groups.iter().all(|g| g.group_id.as_str() != "g848"));

    // A classic member may join it (online migration), once it has a member id and only
    // with a readable consumer-protocol subscription (this one has no metadata); classic
    // heartbeats do not know its consumer-protocol members.
    let classic_join = |member: &str| {
        JoinGroupRequest::default()
            .with_group_id(GroupId(s("g848")))
            .with_member_id(s(member))
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(10_000)
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
            )
            .with_name(s("range"))])
    };
    let j = c.call(&classic_join(""), 9).await;
    assert_eq!(j.error_code, E::MemberIdRequired.code());
    let j = c.call(&classic_join(j.member_id.as_str()), 9).await;
    assert_eq!(j.error_code, E::InconsistentGroupProtocol.code());
    let h = c
        .call(
            &HeartbeatRequest::default()
                .with_group_id(GroupId(s("g848")))
                .with_member_id(s(&a))
                .with_generation_id(epoch),
            4,
        )
        .await;
    assert_eq!(h.error_code, E::UnknownMemberId.code());

    // a leaves: b's next heartbeat gets both partitions; a is then unknown.
    let r = hb(&mut c, &beat("g848", &a, -1, &owned)).await;
    assert_eq!((r.error_code, r.member_epoch), (0, -1));
    let (bid, bepoch, bowned) = members[1].clone();
    let r = hb(&mut c, &beat("g848", &bid, bepoch, &bowned)).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.member_epoch, 3);
    let all: usize = owned_of(&r).unwrap().values().map(Vec::len).sum();
    assert_eq!(all, 2);
    let r = hb(&mut c, &beat("g848", &a, epoch, &owned)).await;
    assert_eq!(r.error_code, E::UnknownMemberId.code());
    b.shutdown().await;
}

/// A classic group is upgraded only when its members' embedded consumer protocol can be read
/// (these join with no metadata): else GROUP_ID_NOT_FOUND, as Kafka.
#[tokio::test]
async fn classic_groups_and_consumer_groups_do_not_mix() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    // A classic group with a member (JoinGroup v3: no member id round trip).
    let j = c
        .call(
            &JoinGroupRequest::default()
                .with_group_id(GroupId(s("classic")))
                .with_session_timeout_ms(10_000)
                .with_rebalance_timeout_ms(10_000)
                .with_protocol_type(s("consumer"))
                .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
                )
                .with_name(s("range"))]),
            3,
        )
        .await;
    assert_eq!(j.error_code, 0);
    let r = hb(&mut c, &join("classic", "m-x", None)).await;
    assert_eq!(r.error_code, E::GroupIdNotFound.code());
    let r = hb(&mut c, &beat("missing", "m-x", 3, &Owned::new())).await;
    assert_eq!(r.error_code, E::GroupIdNotFound.code());
    let d = c
        .call(
            &ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(s("classic"))]),
            0,
        )
        .await;
    assert_eq!(d.groups[0].error_code, E::GroupIdNotFound.code());
    assert_eq!(
        d.groups[0].error_message.as_deref(),
        Some("Group classic is not a consumer group.")
    );
    // A group with offsets only (no members) becomes a consumer group and keeps them.
    let r = c.call(&commit("simple", "", -1, 42), 9).await;
    assert_eq!(commit_code(&r), 0);
    let r = hb(&mut c, &join("simple", "m-y", None)).await;
    assert_eq!(r.error_code, 0);
    let r = c
        .call(&fetch("simple", Some("m-y"), r.member_epoch), 9)
        .await;
    assert_eq!(r.groups[0].topics[0].partitions[0].committed_offset, 42);
    b.shutdown().await;
}

#[tokio::test]
async fn a_static_member_rejoins_with_its_partitions() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let r = hb(&mut c, &join("st", "s-1", Some("inst"))).await;
    assert_eq!((r.error_code, r.member_epoch), (0, 1));
    let owned = owned_of(&r).unwrap();
    assert_eq!(owned.values().map(Vec::len).sum::<usize>(), 2);
    // Another member with the same instance id while it is in the group.
    let r = hb(&mut c, &join("st", "s-2", Some("inst"))).await;
    assert_eq!(r.error_code, E::UnreleasedInstanceId.code());
    // It leaves for now (-2), then rejoins under a new member id: same partitions, same
    // group epoch (no rebalance); the old member id is fenced.
    let leave = beat("st", "s-1", -2, &owned).with_instance_id(Some(s("inst")));
    let r = hb(&mut c, &leave).await;
    assert_eq!((r.error_code, r.member_epoch), (0, -2));
    let r = hb(&mut c, &join("st", "s-2", Some("inst"))).await;
    assert_eq!((r.error_code, r.member_epoch), (0, 1));
    assert_eq!(owned_of(&r).unwrap(), owned);
    let old = beat("st", "s-1", 1, &owned).with_instance_id(Some(s("inst")));
    let r = hb(&mut c, &old).await;
    assert_eq!(r.error_code, E::FencedInstanceId.code());
    b.shutdown().await;
}

#[tokio::test]
async fn a_consumer_group_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(Some(dir.path())).await;
    let mut c = Client::connect(&b).await;
    let members = two_members(&mut c, "durable848").await;
    let (a, epoch, owned) = members[0].clone();
    let r = c.call(&commit("durable848", &a, epoch, 77), 9).await;
    assert_eq!(commit_code(&r), 0);
    drop(c);
    b.shutdown().await;

    let b = broker(Some(dir.path())).await;
    let mut c = Client::connect(&b).await;
    // Same members, epochs and assignment; the member carries on at its epoch.
    let r = hb(&mut c, &beat("durable848", &a, epoch, &owned)).await;
    assert_eq!((r.error_code, r.member_epoch), (0, epoch));
    let r = c.call(&fetch("durable848", Some(&a), epoch), 9).await;
    assert_eq!(r.groups[0].topics[0].partitions[0].committed_offset, 77);
    let d = c
        .call(
            &ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(s("durable848"))]),
            1,
        )
        .await;
    assert_eq!(
        (
            d.groups[0].group_state.as_str(),
            d.groups[0].group_epoch,
            d.groups[0].members.len()
        ),
        ("Stable", 2, 2)
    );
    b.shutdown().await;
}
