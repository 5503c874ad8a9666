//! A group's heartbeats end to end (pure: time and topics passed in).

use std::collections::BTreeMap;

use kafka_protocol::ResponseError as E;
use uuid::Uuid;

use super::*;

fn topic() -> Uuid {
    Uuid::from_u128(42)
}

fn lookup(partitions: i32) -> impl Fn(&str) -> Option<(Uuid, i32)> {
    move |name| (name == "t").then_some((topic(), partitions))
}

pub(super) fn join(id: &str) -> Heartbeat {
    Heartbeat {
        member_id: id.into(),
        epoch: 0,
        rebalance_timeout_ms: 30_000,
        subscribed_topic_names: Some(vec!["t".into()]),
        owned: Some(Assignment::new()),
        ..Heartbeat::default()
    }
}

fn beat(id: &str, epoch: i32, owned: &Assignment) -> Heartbeat {
    Heartbeat {
        member_id: id.into(),
        epoch,
        owned: Some(owned.clone()),
        ..Heartbeat::default()
    }
}

/// Heartbeat every member, each reporting what it was assigned, until nothing changes.
fn settle(g: &mut ConsumerGroup, partitions: i32, now: i64) -> BTreeMap<String, Assignment> {
    let mut owned: BTreeMap<String, (i32, Assignment)> = g
        .members
        .values()
        .map(|m| (m.id.clone(), (m.epoch, m.assigned.clone())))
        .collect();
    for _ in 0..10 {
        let ids: Vec<String> = owned.keys().cloned().collect();
        for id in ids {
            let (epoch, have) = owned[&id].clone();
            let (answer, _) = g
                .heartbeat(beat(&id, epoch, &have), &lookup(partitions), now)
                .unwrap();
            let mine = answer.assignment.unwrap_or(have);
            owned.insert(id, (answer.epoch, mine));
            // No partition owned by two members at any point.
            let mut seen = std::collections::BTreeSet::new();
            for m in g.members.values() {
                for (t, ps) in m.assigned.iter().chain(&m.pending_revocation) {
                    for p in ps {
                        assert!(seen.insert((*t, *p)), "partition {p} owned twice");
                    }
                }
            }
        }
    }
    owned.into_iter().map(|(id, (_, a))| (id, a)).collect()
}

#[test]
fn three_members_get_two_partitions_each_and_a_leave_moves_them() {
    let mut g = ConsumerGroup::default();
    for id in ["a", "b", "c"] {
        let (answer, changed) = g.heartbeat(join(id), &lookup(6), 0).unwrap();
        assert!(changed);
        assert_eq!(answer.member_id, id);
    }
    let owned = settle(&mut g, 6, 1);
    assert_eq!(g.state(), GroupState::Stable);
    assert_eq!(g.epoch, 3);
    for a in owned.values() {
        assert_eq!(assignor::count(a), 2, "{owned:?}");
    }
    // c leaves: the group epoch moves, a and b take its partitions.
    let (answer, _) = g
        .heartbeat(beat("c", LEAVE_EPOCH, &owned["c"]), &lookup(6), 2)
        .unwrap();
    assert_eq!(answer.epoch, LEAVE_EPOCH);
    assert_eq!(g.state(), GroupState::Assigning);
    let owned = settle(&mut g, 6, 3);
    assert_eq!(g.state(), GroupState::Stable);
    assert_eq!(owned.len(), 2);
    assert!(owned.values().all(|a| assignor::count(a) == 3));
}

#[test]
fn epochs_are_checked() {
    let mut g = ConsumerGroup::default();
    let (a, _) = g.heartbeat(join("a"), &lookup(2), 0).unwrap();
    assert_eq!(a.epoch, 1);
    assert_eq!(
        g.heartbeat(beat("a", 5, &Assignment::new()), &lookup(2), 0),
        Err(E::FencedMemberEpoch)
    );
    assert_eq!(
        g.heartbeat(beat("zz", 1, &Assignment::new()), &lookup(2), 0),
        Err(E::UnknownMemberId)
    );
    // b joins: a's epoch moves to 2 once it heartbeats.
    g.heartbeat(join("b"), &lookup(2), 0).unwrap();
    let owned = settle(&mut g, 2, 0);
    assert_eq!(g.members["a"].epoch, 2);
    // The previous epoch is accepted with a subset of the partitions (a lost answer).
    assert!(g
        .heartbeat(beat("a", 1, &owned["a"]), &lookup(2), 0)
        .is_ok());
    assert_eq!(
        g.heartbeat(beat("a", 0, &owned["a"]), &lookup(2), 0)
            .map(|_| ()),
        Err(E::FencedMemberEpoch)
    );
    // Offsets: the current epoch only.
    assert_eq!(g.validate_offset_commit("a", 2, 9), Ok(()));
    assert_eq!(
        g.validate_offset_commit("a", 1, 9),
        Err(E::StaleMemberEpoch)
    );
    assert_eq!(g.validate_offset_commit("x", 2, 9), Err(E::UnknownMemberId));
    assert_eq!(
        g.validate_offset_commit("a", 2, 8),
        Err(E::UnsupportedVersion)
    );
    assert_eq!(g.validate_offset_fetch(None, -1), Ok(()));
    assert_eq!(
        g.validate_offset_fetch(Some("a"), 1),
        Err(E::StaleMemberEpoch)
    );
}

#[test]
fn sessions_expire_and_partition_growth_rebalances() {
    let mut g = ConsumerGroup::default();
    g.heartbeat(join("a"), &lookup(2), 0).unwrap();
    g.heartbeat(join("b"), &lookup(2), 1_000).unwrap();
    settle(&mut g, 2, 1_000);
    // More partitions: a new group epoch and target.
    let epoch = g.epoch;
    let owned = settle(&mut g, 4, 2_000);
    assert_eq!(g.epoch, epoch + 1);
    assert!(owned.values().all(|a| assignor::count(a) == 2));
    // b stops heartbeating.
    g.heartbeat(
        beat("a", g.members["a"].epoch, &owned["a"]),
        &lookup(4),
        40_000,
    )
    .unwrap();
    assert_eq!(g.next_deadline(), Some(2_000 + SESSION_TIMEOUT_MS));
    assert!(g.tick(2_000 + SESSION_TIMEOUT_MS));
    assert!(!g.members.contains_key("b"));
    assert!(g.members.contains_key("a"));
}

#[test]
fn the_groups_configured_timeouts_apply_from_the_next_heartbeat() {
    let mut g = ConsumerGroup::default();
    let (a, _) = g.heartbeat(join("a"), &lookup(2), 0).unwrap();
    assert_eq!(a.heartbeat_interval_ms, HEARTBEAT_INTERVAL_MS);
    assert_eq!(g.next_deadline(), Some(SESSION_TIMEOUT_MS));
    g.set_timeouts(MemberTimeouts {
        session_ms: 60_000,
        heartbeat_ms: 12_000,
    });
    let owned = settle(&mut g, 2, 1_000);
    let (a, _) = g
        .heartbeat(
            beat("a", g.members["a"].epoch, &owned["a"]),
            &lookup(2),
            2_000,
        )
        .unwrap();
    assert_eq!(a.heartbeat_interval_ms, 12_000);
    assert_eq!(g.next_deadline(), Some(2_000 + 60_000));
    assert!(
        !g.tick(2_000 + SESSION_TIMEOUT_MS),
        "not fenced at the default timeout"
    );
    assert!(g.tick(2_000 + 60_000));
}

#[test]
fn static_members_keep_their_partitions_across_a_rejoin() {
    let mut g = ConsumerGroup::default();
    let mut s = join("s1");
    s.instance_id = Some("i".into());
    g.heartbeat(s.clone(), &lookup(2), 0).unwrap();
    g.heartbeat(join("d"), &lookup(2), 0).unwrap();
    let owned = settle(&mut g, 2, 0);
    let epoch = g.epoch;
    // Leaves for now (-2): keeps its partitions, no rebalance.
    let mut leave = beat("s1", STATIC_LEAVE_EPOCH, &owned["s1"]);
    leave.instance_id = Some("i".into());
    let (a, _) = g.heartbeat(leave, &lookup(2), 0).unwrap();
    assert_eq!(a.epoch, STATIC_LEAVE_EPOCH);
    assert_eq!(g.epoch, epoch);
    // Rejoins under a new member id: same partitions, at the group's epoch.
    let mut back = join("s2");
    back.instance_id = Some("i".into());
    let (a, _) = g.heartbeat(back.clone(), &lookup(2), 0).unwrap();
    assert_eq!(a.member_id, "s2");
    assert!(!g.members.contains_key("s1"));
    assert_eq!(a.assignment.as_ref(), Some(&owned["s1"]));
    // Another member with the same instance id while it is in: UNRELEASED_INSTANCE_ID.
    let mut again = join("s4");
    again.instance_id = Some("i".into());
    assert_eq!(
        g.heartbeat(again, &lookup(2), 0).map(|_| ()),
        Err(E::UnreleasedInstanceId)
    );
    // The old member id is fenced by the new one.
    let mut old = beat("s1", 1, &Assignment::new());
    old.instance_id = Some("i".into());
    assert_eq!(
        g.heartbeat(old, &lookup(2), 0).map(|_| ()),
        Err(E::FencedInstanceId)
    );
}

#[test]
fn requests_are_validated_as_kafka_does() {
    assert_eq!(validate(&join("a"), 1), Ok(()));
    assert_eq!(validate(&join(""), 1), Err(E::InvalidRequest));
    assert_eq!(validate(&join(""), 0), Ok(()));
    let mut no_topics = join("a");
    no_topics.subscribed_topic_names = None;
    assert_eq!(validate(&no_topics, 1), Err(E::InvalidRequest));
    let mut bad_assignor = join("a");
    bad_assignor.server_assignor = Some("sticky".into());
    assert_eq!(validate(&bad_assignor, 1), Err(E::UnsupportedAssignor));
    assert_eq!(
        validate(&beat("a", -3, &Assignment::new()), 1),
        Err(E::InvalidRequest)
    );
    let mut static_leave = beat("a", STATIC_LEAVE_EPOCH, &Assignment::new());
    assert_eq!(validate(&static_leave, 1), Err(E::InvalidRequest));
    static_leave.instance_id = Some("i".into());
    assert_eq!(validate(&static_leave, 1), Ok(()));
    // librdkafka sends an empty regex beside its topic names: no regex.
    let mut empty_regex = join("a");
    empty_regex.subscribed_topic_regex = Some(String::new());
    assert_eq!(validate(&empty_regex, 1), Ok(()));
    empty_regex.subscribed_topic_regex = Some("t.*".into());
    assert_eq!(validate(&empty_regex, 1), Ok(()));
    empty_regex.subscribed_topic_regex = Some("t(".into());
    assert_eq!(validate(&empty_regex, 1), Err(E::InvalidRegularExpression));
}

/// Topics by name, with 2 partitions each; a regex sees them all.
struct Named(Vec<&'static str>);

impl TopicView for Named {
    fn lookup(&self, name: &str) -> Option<(Uuid, i32)> {
        let i = self.0.iter().position(|n| *n == name)?;
        Some((Uuid::from_u128(100 + i as u128), 2))
    }

    fn matching(&self, regex: &regex::Regex) -> Vec<String> {
        let mut names: Vec<String> = self
            .0
            .iter()
            .filter(|n| regex.is_match(n))
            .map(|n| n.to_string())
            .collect();
        names.sort();
        names
    }
}

#[test]
fn a_regex_subscription_takes_the_matching_topics_and_later_ones() {
    let mut g = ConsumerGroup::default();
    let mut req = join("a");
    req.subscribed_topic_names = None;
    req.subscribed_topic_regex = Some("orders-.*".into());
    let before = Named(vec!["orders-eu", "orders-us", "payments", "xorders-eu"]);
    let (answer, _) = g.heartbeat(req, &before, 0).unwrap();
    let assigned = answer.assignment.unwrap();
    let id = |n: &str| before.lookup(n).unwrap().0;
    // The whole name must match: not "xorders-eu", not "payments".
    assert_eq!(assigned.keys().copied().collect::<Vec<_>>(), {
        let mut ids = vec![id("orders-eu"), id("orders-us")];
        ids.sort();
        ids
    });
    assert_eq!(g.members["a"].regex_topics, ["orders-eu", "orders-us"]);
    assert_eq!(g.subscribed_topics().len(), 2);
    // A topic created later is matched at the next heartbeat, which bumps the group epoch.
    let epoch = g.epoch;
    let after = Named(vec![
        "orders-eu",
        "orders-us",
        "payments",
        "xorders-eu",
        "orders-apac",
    ]);
    let (answer, changed) = g
        .heartbeat(beat("a", answer.epoch, &assigned), &after, 1)
        .unwrap();
    assert!(changed && g.epoch > epoch);
    let now = answer.assignment.unwrap();
    assert!(now.contains_key(&after.lookup("orders-apac").unwrap().0));
    assert_eq!(now.len(), 3);
}
