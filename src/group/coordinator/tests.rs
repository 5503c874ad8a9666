use super::*;
use crate::coord::Machine;
use crate::group::classic::Protocol;
use crate::group::record;
use crate::store::MemoryStore;
use bytes::Bytes;

/// Offsets kept 1 s past their expiry point, for the cleanup tests.
fn short_retention() -> GroupConfig {
    GroupConfig {
        offsets_retention_ms: 1_000,
        ..config()
    }
}

fn join_request(member_id: &str) -> JoinRequest {
    JoinRequest {
        member_id: member_id.into(),
        instance_id: None,
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 10_000,
        protocol_type: "consumer".into(),
        protocols: vec![Protocol {
            name: "range".into(),
            metadata: Bytes::from_static(b"m"),
        }],
        fresh_member_id: format!("fresh-{member_id}"),
        require_known_member_id: false,
        supports_skip_assignment: false,
    }
}

fn no_topics() -> TopicLookup {
    Arc::new(|_: &str| None)
}

fn config() -> GroupConfig {
    GroupConfig {
        initial_rebalance_delay_ms: 0,
        ..GroupConfig::default()
    }
}

fn configs(store: &Arc<dyn KvStore>) -> Arc<GroupConfigs> {
    Arc::new(GroupConfigs::open(store.clone()).unwrap())
}

fn share_states(store: &Arc<dyn KvStore>) -> Arc<dyn ShareStates> {
    Arc::new(crate::store::KvShareStates::new(store.clone()))
}

fn offset(commit_timestamp: i64) -> CommittedOffset {
    CommittedOffset {
        offset: 1,
        leader_epoch: -1,
        metadata: String::new(),
        commit_timestamp,
        expire_timestamp: None,
    }
}

#[test]
fn cleanup_expires_offsets_and_removes_empty_groups_and_deleted_topics() {
    let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let cfg = short_retention();
    let mut c = Coordinator::new(store.clone(), cfg, configs(&store), share_states(&store), 0);
    let now = 10_000;
    for (group, topic, committed) in [
        ("old", "t", 0),
        ("fresh", "t", 9_500),
        ("fresh", "u", 0),
        ("gone", "doomed", 9_900),
    ] {
        let commit = CommitRequest {
            group_id: group.into(),
            member_id: String::new(),
            instance_id: None,
            generation: -1,
            retention_ms: -1,
            version: 8,
            offsets: vec![OffsetToCommit {
                topic: topic.into(),
                partition: 0,
                offset: 1,
                leader_epoch: -1,
                metadata: None,
            }],
        };
        assert!(c.apply_commit(&commit, committed, true).is_ok());
    }
    c.flush();
    assert_eq!(store.scan_prefix(record::OFFSET_PREFIX).unwrap().len(), 4);
    c.topic_deleted("doomed");
    c.cleanup(now);
    c.flush();
    // Simple groups expire offsets from their commit time; groups left with none go.
    assert!(!c.groups.contains_key("old"));
    assert!(!c.groups.contains_key("gone"));
    let fresh = &c.groups["fresh"].offsets;
    assert_eq!(
        fresh.keys().cloned().collect::<Vec<_>>(),
        vec![("t".to_string(), 0)]
    );
    assert_eq!(
        fresh[&("t".to_string(), 0)],
        CommittedOffset {
            commit_timestamp: 9_500,
            ..offset(0)
        }
    );
    assert_eq!(store.scan_prefix(record::OFFSET_PREFIX).unwrap().len(), 1);
}

#[test]
fn an_empty_consumer_groups_offsets_expire_from_when_it_became_empty() {
    let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let cfg = short_retention();
    let mut c = Coordinator::new(store.clone(), cfg, configs(&store), share_states(&store), 0);
    let (tx, mut rx) = oneshot::channel();
    c.join("g".into(), join_request(""), &no_topics(), tx, 0);
    c.fire_timers(1);
    c.flush();
    let joined = rx.try_recv().expect("joined");
    assert_eq!(joined.error, None);
    let (tx, mut rx) = oneshot::channel();
    let sync = SyncRequest {
        member_id: joined.member_id.clone(),
        instance_id: None,
        generation: joined.generation,
        protocol_type: None,
        protocol_name: None,
        assignments: vec![(joined.member_id.clone(), Bytes::from_static(b"a"))],
    };
    c.sync("g".into(), sync, tx, 2);
    c.flush();
    assert_eq!(rx.try_recv().expect("synced").error, None);
    let commit = CommitRequest {
        group_id: "g".into(),
        member_id: joined.member_id.clone(),
        instance_id: None,
        generation: joined.generation,
        retention_ms: -1,
        version: 8,
        offsets: vec![OffsetToCommit {
            topic: "t".into(),
            partition: 0,
            offset: 7,
            leader_epoch: -1,
            metadata: None,
        }],
    };
    assert!(c.apply_commit(&commit, 10, true).is_ok());
    // Long after the commit but while the member is there: kept.
    c.cleanup(50_000);
    assert_eq!(c.groups["g"].offsets.len(), 1);
    let members = [(joined.member_id.clone(), None)];
    assert!(c.leave("g", &members, 60_000).is_ok());
    c.flush();
    // Empty since 60 000: the retention counts from then.
    c.cleanup(60_999);
    assert_eq!(c.groups["g"].offsets.len(), 1);
    c.cleanup(61_000);
    c.flush();
    assert!(
        !c.groups.contains_key("g"),
        "an empty group without offsets goes"
    );
    assert!(store.scan_prefix(record::OFFSET_PREFIX).unwrap().is_empty());
}

#[tokio::test]
async fn a_lone_member_becomes_stable_and_survives_a_reload() {
    let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let coordinator =
        GroupCoordinator::open(store.clone(), config(), share_states(&store)).unwrap();
    let joined = coordinator
        .join("g".into(), join_request(""), no_topics())
        .await;
    assert_eq!(joined.error, None);
    assert_eq!(joined.leader, joined.member_id);
    let sync = SyncRequest {
        member_id: joined.member_id.clone(),
        instance_id: None,
        generation: joined.generation,
        protocol_type: None,
        protocol_name: None,
        assignments: vec![(joined.member_id.clone(), Bytes::from_static(b"a"))],
    };
    let synced = coordinator.sync("g".into(), sync).await;
    assert_eq!(
        (synced.error, synced.assignment.as_ref()),
        (None, &b"a"[..])
    );
    let commit = CommitRequest {
        group_id: "g".into(),
        member_id: joined.member_id.clone(),
        instance_id: None,
        generation: joined.generation,
        retention_ms: -1,
        version: 8,
        offsets: vec![OffsetToCommit {
            topic: "t".into(),
            partition: 0,
            offset: 42,
            leader_epoch: 3,
            metadata: Some("m".into()),
        }],
    };
    assert_eq!(coordinator.commit_offsets(commit).await, Ok(vec![Ok(())]));
    coordinator.shutdown();
    assert_eq!(
        coordinator.list_groups().await.unwrap_err(),
        E::CoordinatorNotAvailable
    );

    let reopened = GroupCoordinator::open(store.clone(), config(), share_states(&store)).unwrap();
    let described = reopened.describe_groups(vec!["g".into()]).await.unwrap();
    let d = described[0].as_ref().unwrap();
    assert_eq!(d.state, State::Stable);
    assert_eq!(d.members[0].assignment.as_ref(), b"a");
    let fetched = reopened.fetch_offsets("g".into(), None).await.unwrap();
    assert_eq!(
        fetched[0].1[0]
            .1
            .as_ref()
            .map(|o| (o.offset, o.leader_epoch)),
        Some((42, 3))
    );
    assert_eq!(
        reopened
            .heartbeat("g".into(), joined.member_id, None, joined.generation)
            .await,
        Ok(())
    );
}

#[test]
fn cleanup_never_expires_a_share_group_or_its_state() {
    use crate::group::share::ShareHeartbeat;
    use crate::store::{ShareStateKey, ShareWrite};
    let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let cfg = short_retention();
    let states = share_states(&store);
    let mut c = Coordinator::new(store.clone(), cfg, configs(&store), states.clone(), 0);
    let topic = uuid::Uuid::from_u128(3);
    let lookup: TopicLookup = Arc::new(move |name: &str| (name == "t").then_some((topic, 1)));
    let join = ShareHeartbeat {
        member_id: "m".into(),
        epoch: 0,
        subscribed_topic_names: Some(vec!["t".into()]),
        ..Default::default()
    };
    let joined = c.share_heartbeat("g", join, &lookup, 0).unwrap();
    c.flush();
    let key = ShareStateKey::new("g", topic, 0);
    let write = ShareWrite {
        key: key.clone(),
        log: "t-0".into(),
        fence: None,
        expect: None,
        start_offset: 0,
        state: b"{}".to_vec(),
    };
    states.write(&[write]).unwrap();
    // Long past the offsets retention, with its member and after it left: Kafka's share
    // groups never expire (their progress is the share-partition state).
    c.cleanup(1_000_000);
    c.flush();
    assert!(c.groups.contains_key("g"));
    let leave = ShareHeartbeat {
        member_id: "m".into(),
        epoch: -1,
        ..Default::default()
    };
    assert!(joined.epoch > 0);
    c.share_heartbeat("g", leave, &lookup, 2_000_000).unwrap();
    c.cleanup(10_000_000);
    c.flush();
    assert!(c.groups.contains_key("g"), "an empty share group stays too");
    assert!(states.load(&key).unwrap().is_some());
    // Deleting the group takes its share state with it.
    assert_eq!(c.delete_group("g", 10_000_001), Ok(()));
    c.flush();
    assert_eq!(states.load(&key).unwrap(), None);
}
