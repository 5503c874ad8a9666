//! Group size limits (group.max.size, group.consumer.max.size, group.share.max.size) as
//! Kafka's GroupMetadataManager applies them, through the coordinator.

use bytes::Bytes;
use kafka_protocol::ResponseError as E;
use tokio::sync::oneshot;
use uuid::Uuid;

use super::state::{Coordinator, Entry};
use super::*;
use crate::coord::Machine;
use crate::group::classic::{Group, Member, Protocol};
use crate::group::consumer::{Heartbeat, TopicLookup};
use crate::group::share::ShareHeartbeat;
use crate::store::MemoryStore;

fn config(classic: usize, consumer: usize, share: usize) -> GroupConfig {
    GroupConfig {
        initial_rebalance_delay_ms: 0,
        classic_max_size: classic,
        consumer_max_size: consumer,
        share_max_size: share,
        ..GroupConfig::default()
    }
}

fn coordinator(store: &Arc<dyn KvStore>, cfg: GroupConfig) -> Coordinator {
    let configs = Arc::new(GroupConfigs::open(store.clone()).unwrap());
    let states = Arc::new(crate::store::KvShareStates::new(store.clone()));
    Coordinator::new(store.clone(), cfg, configs, states, 0)
}

fn topics() -> TopicLookup {
    Arc::new(|name: &str| (name == "t").then_some((Uuid::from_u128(7), 2)))
}

/// A classic JoinGroup; a new member (empty `member_id`) gets `fresh`.
fn classic_join(member_id: &str, fresh: &str) -> JoinRequest {
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
            // Consumer protocol v0 subscription to "t".
            metadata: Bytes::from_static(&[0, 0, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 0]),
        }],
        fresh_member_id: fresh.into(),
        require_known_member_id: false,
        supports_skip_assignment: false,
    }
}

fn join(c: &mut Coordinator, req: JoinRequest, now: i64) -> oneshot::Receiver<JoinResponse> {
    let (tx, rx) = oneshot::channel();
    c.join("g".into(), req, &topics(), tx, now);
    c.flush();
    rx
}

fn consumer_join(id: &str, instance: Option<&str>) -> Heartbeat {
    Heartbeat {
        member_id: id.into(),
        epoch: 0,
        instance_id: instance.map(str::to_string),
        rebalance_timeout_ms: 30_000,
        subscribed_topic_names: Some(vec!["t".into()]),
        owned: Some(Default::default()),
        ..Heartbeat::default()
    }
}

fn share_beat(id: &str, epoch: i32) -> ShareHeartbeat {
    ShareHeartbeat {
        member_id: id.into(),
        epoch,
        rack_id: None,
        subscribed_topic_names: (epoch == 0).then(|| vec!["t".into()]),
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
    }
}

#[test]
fn a_classic_group_at_its_size_refuses_a_new_member_and_keeps_its_own() {
    let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let mut c = coordinator(&store, config(2, 10, 10));
    let mut a = join(&mut c, classic_join("", "a"), 0);
    let mut b = join(&mut c, classic_join("", "b"), 0);
    // The group rebalances: a third member is refused while two have joined.
    let refused = join(&mut c, classic_join("", "x"), 0).try_recv().unwrap();
    assert_eq!(refused.error, Some(E::GroupMaxSizeReached));
    assert_eq!(refused.member_id, "", "Kafka gives a refused member no id");
    for now in 1..3 {
        c.fire_timers(now);
    }
    c.flush();
    let (a, b) = (a.try_recv().unwrap(), b.try_recv().unwrap());
    assert_eq!((a.error, b.error), (None, None));
    assert_eq!(c.groups["g"].group.members().count(), 2);
    // Settled (CompletingRebalance): still two at most, but a member rejoins.
    let refused = join(&mut c, classic_join("", "y"), 3).try_recv().unwrap();
    assert_eq!(refused.error, Some(E::GroupMaxSizeReached));
    // (same metadata while CompletingRebalance: its JoinGroup answer again)
    let again = join(&mut c, classic_join("a", ""), 4).try_recv().unwrap();
    assert_eq!((again.error, again.member_id.as_str()), (None, "a"));
    assert!(c.groups["g"].group.member("y").is_none());
}

#[test]
fn a_classic_group_over_a_lowered_limit_rebalances_and_the_last_to_rejoin_is_left_out() {
    let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let member = |id: &str| {
        Member::restored(
            id.into(),
            None,
            "c".into(),
            "/127.0.0.1".into(),
            10_000,
            10_000,
            "consumer".into(),
            classic_join("", "").protocols,
            Bytes::new(),
        )
    };
    // Stored while the limit was 3.
    let mut before = coordinator(&store, config(3, 10, 10));
    let group = Group::restore(
        "g",
        4,
        Some("consumer".into()),
        Some("range".into()),
        Some("a".into()),
        0,
        vec![member("a"), member("b"), member("c")],
        0,
    );
    before.groups.insert("g".into(), Entry::classic(group));
    before.persist_group("g");
    before.flush();

    // Loaded with group.max.size 2: it rebalances at once.
    let mut c = coordinator(&store, config(2, 10, 10));
    c.load(100).unwrap();
    assert_eq!(c.groups["g"].group.state(), State::PreparingRebalance);
    let mut a = join(&mut c, classic_join("a", ""), 101);
    let mut b = join(&mut c, classic_join("b", ""), 102);
    let late = join(&mut c, classic_join("c", ""), 103).try_recv().unwrap();
    assert_eq!(
        (late.error, late.member_id.as_str()),
        (Some(E::GroupMaxSizeReached), "")
    );
    assert!(
        c.groups["g"].group.member("c").is_none(),
        "refused: removed"
    );
    // The join phase ends (rebalance timeout) with the two that rejoined.
    c.fire_timers(100 + 10_000);
    c.flush();
    let (a, b) = (a.try_recv().unwrap(), b.try_recv().unwrap());
    assert_eq!((a.error, b.error), (None, None));
    assert_eq!(a.generation, 5);
    let leader = if a.members.is_empty() { &b } else { &a };
    assert_eq!(leader.members.len(), 2);
}

#[test]
fn a_consumer_group_at_its_size_refuses_new_members_classic_ones_too() {
    let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let mut c = coordinator(&store, config(10, 1, 10));
    let a = c.consumer_heartbeat("g", consumer_join("a", Some("i")), &topics(), 0);
    assert!(a.is_ok(), "{a:?}");
    let b = c.consumer_heartbeat("g", consumer_join("b", None), &topics(), 1);
    assert_eq!(b, Err(E::GroupMaxSizeReached));
    // Even an unknown member with an epoch: Kafka checks the size first.
    let mut unknown = consumer_join("b", None);
    unknown.epoch = 3;
    let b = c.consumer_heartbeat("g", unknown, &topics(), 1);
    assert_eq!(b, Err(E::GroupMaxSizeReached));
    // A classic member joining it (online migration) counts as well.
    let refused = join(&mut c, classic_join("", "x"), 2).try_recv().unwrap();
    assert_eq!(
        (refused.error, refused.member_id.as_str()),
        (Some(E::GroupMaxSizeReached), "")
    );
    // The member itself heartbeats on; a static member's replacement takes its place.
    let a_epoch = a.unwrap().epoch;
    let mut beat = consumer_join("a", Some("i"));
    beat.epoch = a_epoch;
    assert!(c.consumer_heartbeat("g", beat, &topics(), 3).is_ok());
    let mut pause = consumer_join("a", Some("i"));
    pause.epoch = crate::group::consumer::STATIC_LEAVE_EPOCH;
    assert!(c.consumer_heartbeat("g", pause, &topics(), 4).is_ok());
    let back = c.consumer_heartbeat("g", consumer_join("a2", Some("i")), &topics(), 5);
    assert!(back.is_ok(), "{back:?}");
    assert_eq!(c.groups["g"].consumer.as_ref().unwrap().members.len(), 1);
}

#[test]
fn a_share_group_at_its_size_refuses_new_members() {
    let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let mut c = coordinator(&store, config(10, 10, 1));
    let a = c
        .share_heartbeat("g", share_beat("a", 0), &topics(), 0)
        .unwrap();
    let b = c.share_heartbeat("g", share_beat("b", 0), &topics(), 1);
    assert_eq!(b, Err(E::GroupMaxSizeReached));
    let a_again = c.share_heartbeat("g", share_beat("a", a.epoch), &topics(), 2);
    assert!(a_again.is_ok(), "{a_again:?}");
    // Once a leaves there is room.
    let left = c.share_heartbeat("g", share_beat("a", -1), &topics(), 3);
    assert!(left.is_ok(), "{left:?}");
    let b = c.share_heartbeat("g", share_beat("b", 0), &topics(), 4);
    assert!(b.is_ok(), "{b:?}");
}

/// Two classic members of group "g", settled (CompletingRebalance).
fn classic_pair(c: &mut Coordinator) {
    let mut a = join(c, classic_join("", "a"), 0);
    let mut b = join(c, classic_join("", "b"), 0);
    for now in 1..3 {
        c.fire_timers(now);
    }
    c.flush();
    assert_eq!(
        (a.try_recv().unwrap().error, b.try_recv().unwrap().error),
        (None, None)
    );
}

#[test]
fn the_online_upgrade_is_refused_past_the_consumer_group_limit() {
    for (limit, refused) in [(1, E::GroupIdNotFound), (2, E::GroupMaxSizeReached)] {
        let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
        let mut c = coordinator(&store, config(10, limit, 10));
        classic_pair(&mut c);
        // Limit 1: the two classic members alone exceed it, so Kafka does not convert the
        // group ("Cannot upgrade classic group g to consumer group because the group size
        // exceeds the consumer group maximum size."). Limit 2: it converts, but the joining
        // member would be a third, so the heartbeat fails and nothing of it is kept.
        let x = c.consumer_heartbeat("g", consumer_join("x", None), &topics(), 5);
        assert_eq!(x, Err(refused), "limit {limit}");
        let entry = &c.groups["g"];
        assert!(
            entry.consumer.is_none(),
            "limit {limit}: still a classic group"
        );
        assert_eq!(entry.group.members().count(), 2);
    }
    // With room for all three, the same heartbeat converts it.
    let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let mut c = coordinator(&store, config(10, 3, 10));
    classic_pair(&mut c);
    let x = c.consumer_heartbeat("g", consumer_join("x", None), &topics(), 5);
    assert!(x.is_ok(), "{x:?}");
    assert_eq!(c.groups["g"].consumer.as_ref().unwrap().members.len(), 3);
}

#[test]
fn the_online_downgrade_waits_while_the_classic_members_exceed_the_classic_limit() {
    let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let mut c = coordinator(&store, config(1, 10, 10));
    // A classic group of one converts when a consumer-protocol member joins...
    let mut a = join(&mut c, classic_join("", "a"), 0);
    for now in 1..3 {
        c.fire_timers(now);
    }
    c.flush();
    assert_eq!(a.try_recv().unwrap().error, None);
    let x = c.consumer_heartbeat("g", consumer_join("x", None), &topics(), 5);
    assert!(x.is_ok(), "{x:?}");
    // ...then a second classic member joins the consumer group (classic members count
    // towards group.consumer.max.size only).
    let b = join(&mut c, classic_join("", "b"), 6).try_recv().unwrap();
    assert_eq!(b.error, None, "{b:?}");
    // x leaves: two classic members remain, over group.max.size (1), so the group stays a
    // consumer group of classic members instead of becoming a classic group.
    let mut leave = consumer_join("x", None);
    leave.epoch = crate::group::consumer::LEAVE_EPOCH;
    assert!(c.consumer_heartbeat("g", leave, &topics(), 7).is_ok());
    let entry = &c.groups["g"];
    let consumer = entry.consumer.as_ref().expect("still a consumer group");
    assert_eq!(consumer.members.len(), 2);
    assert!(consumer.members.values().all(|m| m.classic.is_some()));
}
