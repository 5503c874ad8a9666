//! Consumer groups over the wire: raw JoinGroup/SyncGroup/Heartbeat/LeaveGroup and offset
//! scenarios against an in-process broker, at the versions real clients send.

use std::path::Path;
use std::time::Duration;

use crate::common::*;
use bytes::{BufMut, Bytes, BytesMut};
use gregor::server::{start, RunningBroker};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

const TOPIC: &str = "loms.order-events";
/// Kafka's smallest allowed session timeout (group.min.session.timeout.ms).
const SESSION_MS: i32 = 6_000;

async fn broker_with(data_dir: Option<&Path>) -> RunningBroker {
    let mut config = config(data_dir);
    // Long enough for members started together to land in one rebalance, short for tests.
    config.group_initial_rebalance_delay_ms = 300;
    start(config).await.expect("broker starts")
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn group(v: &str) -> GroupId {
    GroupId(s(v))
}

/// ConsumerProtocolSubscription v0: the topics, no user data.
fn subscription(topics: &[&str]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(0);
    b.put_i32(topics.len() as i32);
    for t in topics {
        b.put_i16(t.len() as i16);
        b.put_slice(t.as_bytes());
    }
    b.put_i32(-1);
    b.freeze()
}

/// ConsumerProtocolAssignment v0: partitions of TOPIC.
fn assignment(partitions: &[i32]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(0);
    if partitions.is_empty() {
        b.put_i32(0);
    } else {
        b.put_i32(1);
        b.put_i16(TOPIC.len() as i16);
        b.put_slice(TOPIC.as_bytes());
        b.put_i32(partitions.len() as i32);
        partitions.iter().for_each(|p| b.put_i32(*p));
    }
    b.put_i32(-1);
    b.freeze()
}

fn join_request(group_id: &str, member_id: &str, instance_id: Option<&str>) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(group(group_id))
        .with_session_timeout_ms(SESSION_MS)
        .with_rebalance_timeout_ms(10_000)
        .with_member_id(s(member_id))
        .with_group_instance_id(instance_id.map(s))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(s("range"))
            .with_metadata(subscription(&[TOPIC]))])
}

/// JoinGroup the way Kafka 2.2+ clients do (v4+): the first answer hands out the member id.
async fn join(c: &mut Client, group_id: &str, member_id: &str, version: i16) -> JoinGroupResponse {
    let resp = c
        .call(&join_request(group_id, member_id, None), version)
        .await;
    if resp.error_code == 79 && member_id.is_empty() {
        assert!(
            !resp.member_id.is_empty(),
            "MEMBER_ID_REQUIRED carries the new id"
        );
        return c
            .call(&join_request(group_id, &resp.member_id, None), version)
            .await;
    }
    resp
}

/// Every client joins at once (the joins are parked until the join phase ends).
async fn join_all(
    clients: Vec<Client>,
    group_id: &'static str,
    ids: Vec<String>,
    version: i16,
) -> Vec<(Client, JoinGroupResponse)> {
    let tasks: Vec<_> = clients
        .into_iter()
        .zip(ids)
        .map(|(mut c, id)| {
            tokio::spawn(async move {
                let resp = join(&mut c, group_id, &id, version).await;
                (c, resp)
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(
            tokio::time::timeout(Duration::from_secs(20), t)
                .await
                .expect("join completes")
                .unwrap(),
        );
    }
    out
}

fn sync_request(
    group_id: &str,
    joined: &JoinGroupResponse,
    assignments: Vec<(String, Bytes)>,
) -> SyncGroupRequest {
    SyncGroupRequest::default()
        .with_group_id(group(group_id))
        .with_generation_id(joined.generation_id)
        .with_member_id(joined.member_id.clone())
        .with_protocol_type(Some(s("consumer")))
        .with_protocol_name(Some(s("range")))
        .with_assignments(
            assignments
                .into_iter()
                .map(|(m, a)| {
                    SyncGroupRequestAssignment::default()
                        .with_member_id(s(&m))
                        .with_assignment(a)
                })
                .collect(),
        )
}

/// The leader assigns one partition each to the first two members (Range over 2
/// partitions); followers send empty assignments. Returns each member's assignment.
async fn sync_all(
    joined: Vec<(Client, JoinGroupResponse)>,
    group_id: &'static str,
    version: i16,
) -> Vec<(Client, JoinGroupResponse, Bytes)> {
    let leader = joined
        .iter()
        .find(|(_, j)| j.leader == j.member_id)
        .expect("a leader")
        .1
        .clone();
    let mut members: Vec<String> = leader
        .members
        .iter()
        .map(|m| m.member_id.to_string())
        .collect();
    members.sort();
    let plan: Vec<(String, Bytes)> = members
        .iter()
        .enumerate()
        .map(|(i, m)| {
            (
                m.clone(),
                if i < 2 {
                    assignment(&[i as i32])
                } else {
                    assignment(&[])
                },
            )
        })
        .collect();
    let tasks: Vec<_> = joined
        .into_iter()
        .map(|(mut c, j)| {
            let assignments = if j.leader == j.member_id {
                plan.clone()
            } else {
                vec![]
            };
            tokio::spawn(async move {
                let resp = c
                    .call(&sync_request(group_id, &j, assignments), version)
                    .await;
                assert_eq!(resp.error_code, 0, "sync of {}", j.member_id.as_str());
                (c, j, resp.assignment)
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(
            tokio::time::timeout(Duration::from_secs(20), t)
                .await
                .expect("sync completes")
                .unwrap(),
        );
    }
    out
}

async fn heartbeat(c: &mut Client, group_id: &str, j: &JoinGroupResponse, version: i16) -> i16 {
    let req = HeartbeatRequest::default()
        .with_group_id(group(group_id))
        .with_generation_id(j.generation_id)
        .with_member_id(j.member_id.clone());
    c.call(&req, version).await.error_code
}

async fn describe(c: &mut Client, group_id: &str) -> describe_groups_response::DescribedGroup {
    let resp = c
        .call(
            &DescribeGroupsRequest::default().with_groups(vec![group(group_id)]),
            5,
        )
        .await;
    resp.groups.into_iter().next().unwrap()
}

async fn clients(b: &RunningBroker, n: usize) -> Vec<Client> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(Client::connect(b).await);
    }
    out
}

#[tokio::test]
async fn find_coordinator_single_and_batched() {
    let b = broker_with(None).await;
    let mut c = Client::connect(&b).await;
    for version in [0, 1, 3] {
        let resp = c
            .call(&FindCoordinatorRequest::default().with_key(s("g")), version)
            .await;
        assert_eq!(
            (resp.error_code, resp.node_id.0, resp.port),
            (0, 1, b.addr().port() as i32),
            "v{version}"
        );
        assert_eq!(resp.host.as_str(), "127.0.0.1");
    }
    let resp = c
        .call(
            &FindCoordinatorRequest::default()
                .with_key_type(1)
                .with_key(s("txn")),
            3,
        )
        .await;
    assert_eq!(resp.error_code, 0);
    let resp = c
        .call(
            &FindCoordinatorRequest::default().with_coordinator_keys(vec![s("a"), s("b")]),
            4,
        )
        .await;
    assert_eq!(resp.coordinators.len(), 2);
    assert!(resp
        .coordinators
        .iter()
        .all(|k| k.error_code == 0 && k.node_id.0 == 1));
    assert_eq!(resp.coordinators[1].key.as_str(), "b");
    let resp = c
        .call(
            &FindCoordinatorRequest::default()
                .with_key_type(2)
                .with_coordinator_keys(vec![s("share"), s("g:AAAAAAAAAAAAAAAAAAAAAA:3")]),
            6,
        )
        .await;
    assert_eq!(
        resp.coordinators[0].error_code, 42,
        "a share coordinator key is group:topicId:partition"
    );
    assert_eq!(
        (
            resp.coordinators[1].error_code,
            resp.coordinators[1].node_id.0
        ),
        (0, 1),
        "share-partition state lives with the group coordinator"
    );
}

#[tokio::test]
async fn three_members_on_two_partitions_then_one_leaves() {
    let b = broker_with(None).await;
    let g = "notifier";
    let joined = join_all(clients(&b, 3).await, g, vec![String::new(); 3], 7).await;
    let generation = joined[0].1.generation_id;
    assert!(
        joined
            .iter()
            .all(|(_, j)| j.error_code == 0 && j.generation_id == generation),
        "one rebalance for all three"
    );
    let leaders: Vec<_> = joined
        .iter()
        .filter(|(_, j)| j.leader == j.member_id)
        .collect();
    assert_eq!(leaders.len(), 1);
    assert_eq!(
        leaders[0].1.members.len(),
        3,
        "the leader gets every member's metadata"
    );
    assert_eq!(leaders[0].1.members[0].metadata, subscription(&[TOPIC]));
    assert_eq!(
        leaders[0].1.protocol_name.as_ref().map(|p| p.as_str()),
        Some("range")
    );

    let mut synced = sync_all(joined, g, 5).await;
    let mut owned: Vec<Bytes> = synced.iter().map(|(_, _, a)| a.clone()).collect();
    owned.sort();
    assert_eq!(
        owned,
        vec![assignment(&[]), assignment(&[0]), assignment(&[1])],
        "two own a partition, one idles"
    );

    // Everyone, the idle member included, heartbeats cleanly.
    for _ in 0..3 {
        for (c, j, _) in synced.iter_mut() {
            assert_eq!(heartbeat(c, g, j, 4).await, 0);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut admin = Client::connect(&b).await;
    let d = describe(&mut admin, g).await;
    assert_eq!(
        (
            d.error_code,
            d.group_state.as_str(),
            d.protocol_type.as_str(),
            d.protocol_data.as_str()
        ),
        (0, "Stable", "consumer", "range")
    );
    assert_eq!(d.members.len(), 3);
    assert!(d
        .members
        .iter()
        .all(|m| m.client_id.as_str() == "gregor-tests"
            && m.client_host.as_str() == "/127.0.0.1"
            && m.member_metadata == subscription(&[TOPIC])));
    assert_eq!(d.authorized_operations, i32::MIN);
    let listed = admin.call(&ListGroupsRequest::default(), 4).await;
    let l = listed
        .groups
        .iter()
        .find(|l| l.group_id.as_str() == g)
        .unwrap();
    assert_eq!(
        (l.protocol_type.as_str(), l.group_state.as_str()),
        ("consumer", "Stable")
    );
    let listed = admin
        .call(
            &ListGroupsRequest::default().with_states_filter(vec![s("empty")]),
            4,
        )
        .await;
    assert!(listed.groups.iter().all(|l| l.group_id.as_str() != g));

    // The owner of partition 1 leaves (LeaveGroup v3+ batch form).
    let leaver = synced
        .iter()
        .position(|(_, _, a)| *a == assignment(&[1]))
        .unwrap();
    let (mut lc, lj, _) = synced.remove(leaver);
    let leave = LeaveGroupRequest::default()
        .with_group_id(group(g))
        .with_members(vec![
            MemberIdentity::default().with_member_id(lj.member_id.clone())
        ]);
    let resp = lc.call(&leave, 5).await;
    assert_eq!(
        (
            resp.error_code,
            resp.members.len(),
            resp.members[0].error_code
        ),
        (0, 1, 0)
    );
    let resp = lc.call(&leave, 5).await;
    assert_eq!(resp.members[0].error_code, 25, "already gone");

    // The others learn of the rebalance from their heartbeats and rejoin.
    for (c, j, _) in synced.iter_mut() {
        assert_eq!(heartbeat(c, g, j, 4).await, 27);
    }
    let ids: Vec<String> = synced
        .iter()
        .map(|(_, j, _)| j.member_id.to_string())
        .collect();
    let rejoined = join_all(synced.into_iter().map(|(c, _, _)| c).collect(), g, ids, 7).await;
    assert!(rejoined
        .iter()
        .all(|(_, j)| j.error_code == 0 && j.generation_id == generation + 1));
    let synced = sync_all(rejoined, g, 5).await;
    let mut owned: Vec<Bytes> = synced.iter().map(|(_, _, a)| a.clone()).collect();
    owned.sort();
    assert_eq!(
        owned,
        vec![assignment(&[0]), assignment(&[1])],
        "the idle member took over"
    );
}

#[tokio::test]
async fn a_member_that_stops_heartbeating_is_expired_old_protocol_versions() {
    let b = broker_with(None).await;
    let g = "kafka-go";
    // kafka-go / old Sarama: JoinGroup v1, SyncGroup v0, Heartbeat v0 — no MEMBER_ID_REQUIRED.
    let joined = join_all(clients(&b, 2).await, g, vec![String::new(); 2], 1).await;
    assert!(joined
        .iter()
        .all(|(_, j)| j.error_code == 0 && !j.member_id.is_empty()));
    let mut synced = sync_all(joined, g, 0).await;
    let (mut survivor, sj, _) = synced.remove(0);
    let started = std::time::Instant::now();
    let error = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let e = heartbeat(&mut survivor, g, &sj, 0).await;
        if e != 0 || started.elapsed() > Duration::from_secs(15) {
            break e;
        }
    };
    assert_eq!(error, 27, "the silent member's session expired");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(SESSION_MS as u64 - 1_000),
        "not before its session timeout ({waited:?})"
    );
    let resp = survivor
        .call(&join_request(g, &sj.member_id, None), 1)
        .await;
    assert_eq!(
        (resp.error_code, resp.generation_id, resp.members.len()),
        (0, sj.generation_id + 1, 1)
    );
    let (mut gone, gj, _) = synced.remove(0);
    assert_eq!(
        heartbeat(&mut gone, g, &gj, 0).await,
        25,
        "UNKNOWN_MEMBER_ID"
    );
}

#[tokio::test]
async fn member_id_required_and_join_errors() {
    let b = broker_with(None).await;
    let mut c = Client::connect(&b).await;
    let first = c.call(&join_request("g", "", None), 4).await;
    assert_eq!(first.error_code, 79);
    assert!(
        first.member_id.starts_with("gregor-tests-"),
        "client id prefix: {}",
        first.member_id.as_str()
    );
    let second = c.call(&join_request("g", &first.member_id, None), 4).await;
    assert_eq!(
        (
            second.error_code,
            second.member_id.as_str(),
            second.leader.as_str()
        ),
        (0, first.member_id.as_str(), first.member_id.as_str())
    );
    assert_eq!(second.generation_id, 1);
    // v0-v3 join straight away.
    let mut other = Client::connect(&b).await;
    let resp = other.call(&join_request("g2", "", None), 3).await;
    assert_eq!(resp.error_code, 0);
    // Errors.
    assert_eq!(
        c.call(&join_request("", "", None), 4).await.error_code,
        24,
        "INVALID_GROUP_ID"
    );
    assert_eq!(
        c.call(&join_request("g", "made-up", None), 4)
            .await
            .error_code,
        25
    );
    assert_eq!(
        c.call(&join_request("nope", "made-up", None), 4)
            .await
            .error_code,
        25
    );
    let short = join_request("g", "", None).with_session_timeout_ms(100);
    assert_eq!(
        c.call(&short, 4).await.error_code,
        26,
        "INVALID_SESSION_TIMEOUT"
    );
    let other_type = join_request("g", "", None).with_protocol_type(s("connect"));
    assert_eq!(
        c.call(&other_type, 3).await.error_code,
        23,
        "INCONSISTENT_GROUP_PROTOCOL"
    );
    // Protocol name is nullable only from v7: an error answer still encodes at v6 and v7.
    for version in [0, 6, 7, 9] {
        assert_eq!(
            c.call(&join_request("", "", None), version)
                .await
                .error_code,
            24
        );
    }
    let sync = SyncGroupRequest::default()
        .with_group_id(group("g"))
        .with_generation_id(1)
        .with_member_id(s("x"));
    assert_eq!(c.call(&sync, 3).await.error_code, 25);
    assert_eq!(
        c.call(&sync, 5).await.error_code,
        23,
        "v5 requires protocol type and name"
    );
}

#[tokio::test]
async fn a_restarted_static_member_gets_its_assignment_back_without_a_rebalance() {
    let b = broker_with(None).await;
    let g = "static";
    let mut a = Client::connect(&b).await;
    let mut other = Client::connect(&b).await;
    let ja = tokio::spawn(async move {
        let r = a.call(&join_request(g, "", Some("notifier-1")), 5).await;
        (a, r)
    });
    let jo = other
        .call(&join_request(g, "", Some("notifier-2")), 5)
        .await;
    let (a, ja) = ja.await.unwrap();
    assert_eq!(
        (ja.error_code, jo.error_code),
        (0, 0),
        "static members skip MEMBER_ID_REQUIRED"
    );
    assert!(ja.member_id.starts_with("notifier-1-"));
    let (leader, follower) = if ja.leader == ja.member_id {
        (&ja, &jo)
    } else {
        (&jo, &ja)
    };
    let plan = vec![
        (leader.member_id.to_string(), assignment(&[0])),
        (follower.member_id.to_string(), assignment(&[1])),
    ];
    let sync_of = |j: &JoinGroupResponse, plan: Vec<(String, Bytes)>| {
        sync_request(g, j, plan).with_group_instance_id(None)
    };
    let (mut lc, mut fc) = if ja.leader == ja.member_id {
        (a, other)
    } else {
        (other, a)
    };
    let follower_sync = {
        let req = sync_of(follower, vec![]);
        tokio::spawn(async move {
            let r = fc.call(&req, 5).await;
            (fc, r)
        })
    };
    assert_eq!(
        lc.call(&sync_of(leader, plan), 5).await.assignment,
        assignment(&[0])
    );
    let (_fc, fs) = follower_sync.await.unwrap();
    assert_eq!(fs.assignment, assignment(&[1]));

    // The follower's process restarts: no member id, the same group.instance.id.
    let follower_instance = if follower.member_id.starts_with("notifier-1") {
        "notifier-1"
    } else {
        "notifier-2"
    };
    let mut restarted = Client::connect(&b).await;
    let rj = tokio::time::timeout(
        Duration::from_secs(2),
        restarted.call(&join_request(g, "", Some(follower_instance)), 5),
    )
    .await
    .expect("answered at once: no rebalance");
    assert_eq!(
        (rj.error_code, rj.generation_id),
        (0, follower.generation_id)
    );
    assert_ne!(rj.member_id, follower.member_id);
    assert_eq!(rj.leader, leader.member_id);
    let sync = sync_request(g, &rj, vec![]).with_group_instance_id(Some(s(follower_instance)));
    assert_eq!(
        restarted.call(&sync, 5).await.assignment,
        assignment(&[1]),
        "its assignment back"
    );
    // The leader saw no rebalance; the old incarnation is fenced.
    assert_eq!(heartbeat(&mut lc, g, leader, 4).await, 0);
    let stale = HeartbeatRequest::default()
        .with_group_id(group(g))
        .with_generation_id(follower.generation_id)
        .with_member_id(follower.member_id.clone())
        .with_group_instance_id(Some(s(follower_instance)));
    assert_eq!(
        restarted.call(&stale, 4).await.error_code,
        82,
        "FENCED_INSTANCE_ID"
    );
    assert_eq!(
        describe(&mut lc, g)
            .await
            .members
            .iter()
            .filter(|m| m.group_instance_id.is_some())
            .count(),
        2
    );
}

fn commit(
    group_id: &str,
    generation: i32,
    member_id: &str,
    offsets: &[(&str, i32, i64)],
) -> OffsetCommitRequest {
    let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
    for (t, p, o) in offsets {
        let partition = OffsetCommitRequestPartition::default()
            .with_partition_index(*p)
            .with_committed_offset(*o)
            .with_committed_metadata(Some(s("meta")));
        match topics.iter_mut().find(|x| x.name.as_str() == *t) {
            Some(topic) => topic.partitions.push(partition),
            None => topics.push(
                OffsetCommitRequestTopic::default()
                    .with_name(TopicName(s(t)))
                    .with_partitions(vec![partition]),
            ),
        }
    }
    OffsetCommitRequest::default()
        .with_group_id(group(group_id))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member_id))
        .with_topics(topics)
}

fn fetch_v1(group_id: &str, partitions: &[i32]) -> OffsetFetchRequest {
    OffsetFetchRequest::default()
        .with_group_id(group(group_id))
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(TopicName(s(TOPIC)))
            .with_partition_indexes(partitions.to_vec())]))
}

#[tokio::test]
async fn commit_and_fetch_offsets_without_and_with_membership() {
    let b = broker_with(None).await;
    let mut c = Client::connect(&b).await;
    // A simple consumer (kcat, admin tools): generation -1, no member id, group never joined.
    let resp = c
        .call(
            &commit(
                "simple",
                -1,
                "",
                &[
                    (TOPIC, 0, 42),
                    (TOPIC, 1, 7),
                    ("missing", 0, 1),
                    (TOPIC, 9, 1),
                ],
            ),
            2,
        )
        .await;
    let codes: Vec<Vec<i16>> = resp
        .topics
        .iter()
        .map(|t| t.partitions.iter().map(|p| p.error_code).collect())
        .collect();
    assert_eq!(
        codes,
        vec![vec![0, 0, 3], vec![3]],
        "unknown topics and partitions fail alone"
    );
    // OffsetFetch v1 (kafka-go), v5 all topics, v8 several groups at once.
    let resp = c.call(&fetch_v1("simple", &[0, 1, 5]), 1).await;
    let p = &resp.topics[0].partitions;
    assert_eq!(
        (
            p[0].committed_offset,
            p[1].committed_offset,
            p[2].committed_offset
        ),
        (42, 7, -1)
    );
    assert_eq!(p[0].metadata.as_ref().map(|m| m.as_str()), Some("meta"));
    let resp = c
        .call(
            &OffsetFetchRequest::default()
                .with_group_id(group("simple"))
                .with_topics(None),
            5,
        )
        .await;
    assert_eq!(resp.error_code, 0);
    assert_eq!(resp.topics.len(), 1);
    assert_eq!(resp.topics[0].partitions.len(), 2);
    let multi = OffsetFetchRequest::default().with_groups(vec![
        OffsetFetchRequestGroup::default()
            .with_group_id(group("simple"))
            .with_topics(None),
        OffsetFetchRequestGroup::default()
            .with_group_id(group("nobody"))
            .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                .with_name(TopicName(s(TOPIC)))
                .with_partition_indexes(vec![0])])),
    ]);
    let resp = c.call(&multi, 8).await;
    assert_eq!(resp.groups.len(), 2);
    assert_eq!(resp.groups[0].topics[0].partitions[0].committed_offset, 42);
    assert_eq!(resp.groups[1].topics[0].partitions[0].committed_offset, -1);
    // The simple group shows up as an Empty group without a protocol type.
    let d = describe(&mut c, "simple").await;
    assert_eq!(
        (d.group_state.as_str(), d.protocol_type.as_str()),
        ("Empty", "")
    );

    // With membership: the member's generation counts.
    let j = join(&mut c, "members", "", 9).await;
    let s0 = c
        .call(
            &sync_request(
                "members",
                &j,
                vec![(j.member_id.to_string(), assignment(&[0, 1]))],
            ),
            5,
        )
        .await;
    assert_eq!(s0.error_code, 0);
    let ok = c
        .call(
            &commit("members", j.generation_id, &j.member_id, &[(TOPIC, 0, 100)]),
            8,
        )
        .await;
    assert_eq!(ok.topics[0].partitions[0].error_code, 0);
    let stale = c
        .call(
            &commit(
                "members",
                j.generation_id - 1,
                &j.member_id,
                &[(TOPIC, 0, 1)],
            ),
            8,
        )
        .await;
    assert_eq!(
        stale.topics[0].partitions[0].error_code, 22,
        "ILLEGAL_GENERATION"
    );
    let stranger = c
        .call(
            &commit("members", j.generation_id, "who", &[(TOPIC, 0, 1)]),
            8,
        )
        .await;
    assert_eq!(stranger.topics[0].partitions[0].error_code, 25);
    let admin = c
        .call(&commit("members", -1, "", &[(TOPIC, 0, 1)]), 8)
        .await;
    assert_eq!(
        admin.topics[0].partitions[0].error_code, 25,
        "admin commits only to empty groups"
    );
    let unknown = c
        .call(&commit("never-joined", 3, "m", &[(TOPIC, 0, 1)]), 9)
        .await;
    assert_eq!(
        unknown.topics[0].partitions[0].error_code, 69,
        "v9: GROUP_ID_NOT_FOUND"
    );
    let unknown = c
        .call(&commit("never-joined", 3, "m", &[(TOPIC, 0, 1)]), 8)
        .await;
    assert_eq!(
        unknown.topics[0].partitions[0].error_code, 22,
        "before v9: ILLEGAL_GENERATION"
    );
    let big = commit("members", j.generation_id, &j.member_id, &[(TOPIC, 1, 5)]);
    let mut big = big;
    big.topics[0].partitions[0].committed_metadata = Some(s(&"x".repeat(5000)));
    assert_eq!(
        c.call(&big, 8).await.topics[0].partitions[0].error_code,
        12,
        "OFFSET_METADATA_TOO_LARGE"
    );
    let resp = c.call(&fetch_v1("members", &[0]), 7).await;
    assert_eq!(resp.topics[0].partitions[0].committed_offset, 100);

    // OffsetDelete and DeleteGroups refuse a group with members, work once it is empty.
    let del = OffsetDeleteRequest::default()
        .with_group_id(group("members"))
        .with_topics(vec![OffsetDeleteRequestTopic::default()
            .with_name(TopicName(s(TOPIC)))
            .with_partitions(vec![
                OffsetDeleteRequestPartition::default().with_partition_index(0)
            ])]);
    let resp = c.call(&del, 0).await;
    assert_eq!(
        resp.topics[0].partitions[0].error_code, 86,
        "GROUP_SUBSCRIBED_TO_TOPIC"
    );
    let resp = c
        .call(
            &DeleteGroupsRequest::default()
                .with_groups_names(vec![group("members"), group("nobody")]),
            2,
        )
        .await;
    assert_eq!(
        resp.results
            .iter()
            .map(|r| r.error_code)
            .collect::<Vec<_>>(),
        vec![68, 69]
    );
    let leave = LeaveGroupRequest::default()
        .with_group_id(group("members"))
        .with_member_id(j.member_id.clone());
    assert_eq!(c.call(&leave, 0).await.error_code, 0);
    assert_eq!(
        describe(&mut c, "members").await.group_state.as_str(),
        "Empty"
    );
    let resp = c.call(&del, 0).await;
    assert_eq!(
        (resp.error_code, resp.topics[0].partitions[0].error_code),
        (0, 0)
    );
    assert_eq!(
        c.call(&fetch_v1("members", &[0]), 7).await.topics[0].partitions[0].committed_offset,
        -1
    );
    let resp = c
        .call(
            &DeleteGroupsRequest::default()
                .with_groups_names(vec![group("members"), group("simple")]),
            2,
        )
        .await;
    assert_eq!(
        resp.results
            .iter()
            .map(|r| r.error_code)
            .collect::<Vec<_>>(),
        vec![0, 0]
    );
    assert_eq!(
        describe(&mut c, "simple").await.group_state.as_str(),
        "Dead"
    );
    assert_eq!(
        c.call(&fetch_v1("simple", &[0]), 7).await.topics[0].partitions[0].committed_offset,
        -1
    );
}

#[tokio::test]
async fn offsets_and_group_state_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker_with(Some(dir.path())).await;
    let mut c = Client::connect(&b).await;
    let j = join(&mut c, "durable", "", 9).await;
    let sync = c
        .call(
            &sync_request(
                "durable",
                &j,
                vec![(j.member_id.to_string(), assignment(&[0, 1]))],
            ),
            5,
        )
        .await;
    assert_eq!(sync.error_code, 0);
    let resp = c
        .call(
            &commit(
                "durable",
                j.generation_id,
                &j.member_id,
                &[(TOPIC, 0, 123), (TOPIC, 1, 456)],
            ),
            8,
        )
        .await;
    assert!(resp.topics[0].partitions.iter().all(|p| p.error_code == 0));
    drop(c);
    b.shutdown().await;

    let b = broker_with(Some(dir.path())).await;
    let mut c = Client::connect(&b).await;
    let resp = c.call(&fetch_v1("durable", &[0, 1]), 7).await;
    let got: Vec<(i64, Option<&str>)> = resp.topics[0]
        .partitions
        .iter()
        .map(|p| (p.committed_offset, p.metadata.as_ref().map(|m| m.as_str())))
        .collect();
    assert_eq!(got, vec![(123, Some("meta")), (456, Some("meta"))]);
    // The group came back Stable with its member, which carries on where it was.
    let d = describe(&mut c, "durable").await;
    assert_eq!((d.group_state.as_str(), d.members.len()), ("Stable", 1));
    assert_eq!(d.members[0].member_assignment, assignment(&[0, 1]));
    assert_eq!(heartbeat(&mut c, "durable", &j, 4).await, 0);
    let resp = c.call(&sync_request("durable", &j, vec![]), 5).await;
    assert_eq!((resp.error_code, resp.assignment), (0, assignment(&[0, 1])));
    b.shutdown().await;
}

#[tokio::test]
async fn shutdown_answers_parked_joins_with_not_coordinator() {
    let b = broker_with(None).await;
    let mut c = Client::connect(&b).await;
    let j = join(&mut c, "parked", "", 4).await;
    assert_eq!(j.error_code, 0);
    // A second member parks in the join phase: the first never rejoins (rebalance 10 s).
    let mut d = Client::connect(&b).await;
    let parked = tokio::spawn(async move { join(&mut d, "parked", "", 4).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    b.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown did not wait for the rebalance"
    );
    let resp = parked.await.unwrap();
    assert_eq!(resp.error_code, 16, "NOT_COORDINATOR");
}

/// The real binary, killed with SIGKILL: committed offsets and the group are still there.
#[tokio::test]
async fn offsets_and_group_survive_kill_9() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_gregor"))
            .args([
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--group-initial-rebalance-delay-ms",
                "0",
                "--data-dir",
            ])
            .arg(dir.path())
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("gregor starts")
    };
    let connect = || async {
        for _ in 0..200 {
            if let Ok(stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                return Client::from_stream(stream);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("broker did not come up on port {port}");
    };
    let mut child = spawn();
    let mut c = connect().await;
    let j = join(&mut c, "notifier", "", 7).await;
    let plan = vec![(j.member_id.to_string(), assignment(&[0, 1]))];
    assert_eq!(
        c.call(&sync_request("notifier", &j, plan), 5)
            .await
            .error_code,
        0
    );
    let resp = c
        .call(
            &commit(
                "notifier",
                j.generation_id,
                &j.member_id,
                &[(TOPIC, 0, 500), (TOPIC, 1, 501)],
            ),
            8,
        )
        .await;
    assert!(resp.topics[0].partitions.iter().all(|p| p.error_code == 0));
    child.kill().unwrap();
    child.wait().unwrap();

    let mut child = spawn();
    let mut c = connect().await;
    let resp = c.call(&fetch_v1("notifier", &[0, 1]), 7).await;
    let got: Vec<i64> = resp.topics[0]
        .partitions
        .iter()
        .map(|p| p.committed_offset)
        .collect();
    assert_eq!(got, vec![500, 501]);
    assert_eq!(
        heartbeat(&mut c, "notifier", &j, 4).await,
        0,
        "the member carries on"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
