//! Consumer groups over the wire: raw JoinGroup/SyncGroup/Heartbeat/LeaveGroup and offset
//! scenarios against an in-process broker, at the versions real clients send.

mod offsets;
mod static_members;

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

/// SyncGroup (v5) as the group's only member, taking `partitions`; its error code.
async fn sync_alone(
    c: &mut Client,
    group_id: &str,
    joined: &JoinGroupResponse,
    partitions: &[i32],
) -> i16 {
    let plan = vec![(joined.member_id.to_string(), assignment(partitions))];
    c.call(&sync_request(group_id, joined, plan), 5)
        .await
        .error_code
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
