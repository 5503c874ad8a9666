//! Online migration between the classic and the consumer protocol (pure).

use std::collections::BTreeSet;

use bytes::Bytes;
use kafka_protocol::ResponseError as E;
use uuid::Uuid;

use super::embedded::{self, Subscription};
use super::tests::join;
use super::*;
use crate::group::classic::{self, JoinRequest, Protocol, SyncRequest};

/// group.consumer.max.size's default: no limit in practice.
const NO_LIMIT: usize = i32::MAX as usize;

fn topic() -> Uuid {
    Uuid::from_u128(42)
}

fn lookup(name: &str) -> Option<(Uuid, i32)> {
    (name == "t").then_some((topic(), 4))
}

fn protocols(owned: &[i32]) -> Vec<Protocol> {
    let sub = Subscription {
        topics: vec!["t".into()],
        owned: vec![("t".into(), owned.to_vec())],
        rack_id: None,
    };
    vec![Protocol {
        name: "range".into(),
        metadata: embedded::encode_subscription(&sub, 3),
    }]
}

fn classic_join(id: &str, owned: &[i32]) -> JoinRequest {
    JoinRequest {
        member_id: id.into(),
        instance_id: None,
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 30_000,
        protocol_type: "consumer".into(),
        protocols: protocols(owned),
        fresh_member_id: format!("fresh-{id}"),
        require_known_member_id: true,
        supports_skip_assignment: true,
    }
}

fn sync(id: &str, generation: i32) -> SyncRequest {
    SyncRequest {
        member_id: id.into(),
        instance_id: None,
        generation,
        protocol_type: Some("consumer".into()),
        protocol_name: Some("range".into()),
        assignments: Vec::new(),
    }
}

fn partitions(bytes: &Bytes) -> Vec<i32> {
    let named = embedded::decode_assignment(bytes).expect("an assignment");
    named.into_iter().flat_map(|(_, ps)| ps).collect()
}

/// A Stable classic group at generation 5: a owns 0 and 1, b owns 2 and 3.
fn classic_group() -> classic::Group {
    let member = |id: &str, ps: Vec<i32>| {
        classic::Member::restored(
            id.into(),
            None,
            "c".into(),
            "/127.0.0.1".into(),
            30_000,
            10_000,
            "consumer".into(),
            protocols(&ps),
            embedded::encode_assignment(&vec![("t".into(), ps)], 3),
        )
    };
    let members = vec![member("a", vec![0, 1]), member("b", vec![2, 3])];
    classic::Group::restore(
        "g",
        5,
        Some("consumer".into()),
        Some("range".into()),
        Some("a".into()),
        0,
        members,
        0,
    )
}

#[test]
fn an_upgraded_group_moves_partitions_from_classic_members_to_a_consumer_member() {
    let mut g = ConsumerGroup::from_classic(&classic_group(), &lookup, 0).expect("converted");
    assert_eq!((g.epoch, g.assignment_epoch, g.members.len()), (5, 5, 2));
    assert_eq!(g.members["a"].assigned[&topic()], BTreeSet::from([0, 1]));
    assert!(g
        .members
        .values()
        .all(|m| m.classic.is_some() && m.epoch == 5));
    assert_eq!(g.state(), GroupState::Stable);
    // Nothing changed yet: a classic heartbeat at its generation is fine.
    assert_eq!(g.classic_heartbeat("a", None, 5, 1), Ok(()));

    // A consumer-protocol member joins: epoch 6, but the partitions it is given are still
    // held by the classic members, so it gets none yet.
    let (answer, _) = g.heartbeat(join("x"), &lookup, 2).unwrap();
    assert_eq!(g.epoch, 6);
    assert_eq!(answer.assignment, Some(Assignment::new()));
    // The classic members learn of it from their heartbeats and rejoin (eager: owning
    // nothing), getting the new epoch and their share; SyncGroup carries it.
    assert_eq!(
        g.classic_heartbeat("a", None, 5, 3),
        Err(E::RebalanceInProgress)
    );
    let mut classic_owned = BTreeSet::new();
    for id in ["a", "b"] {
        let (joined, changed) = g.classic_join(&classic_join(id, &[]), &lookup, NO_LIMIT, 4);
        assert!(changed);
        assert_eq!(joined.error, None);
        assert_eq!((joined.generation, joined.leader.as_str()), (6, ""));
        assert_eq!(joined.protocol_name.as_deref(), Some("range"));
        let synced = g.classic_sync(&sync(id, 6), 5);
        assert_eq!(synced.error, None);
        let mine = partitions(&synced.assignment);
        assert!(!mine.is_empty(), "{id} gets partitions");
        classic_owned.extend(mine);
        assert_eq!(g.classic_heartbeat(id, None, 6, 6), Ok(()));
    }
    // Once they let go, the consumer member gets the rest.
    let (answer, _) = g
        .heartbeat(
            Heartbeat {
                member_id: "x".into(),
                epoch: 6,
                owned: Some(Assignment::new()),
                ..Heartbeat::default()
            },
            &lookup,
            7,
        )
        .unwrap();
    let x: BTreeSet<i32> = answer.assignment.unwrap_or_default()[&topic()].clone();
    assert!(!x.is_empty());
    assert!(x.is_disjoint(&classic_owned));
    assert_eq!(x.len() + classic_owned.len(), 4);
}

#[test]
fn classic_requests_are_checked_as_kafka_checks_them() {
    let mut g = ConsumerGroup::from_classic(&classic_group(), &lookup, 0).unwrap();
    g.heartbeat(join("x"), &lookup, 1).unwrap();
    assert_eq!(
        g.classic_sync(&sync("a", 4), 2).error,
        Some(E::IllegalGeneration)
    );
    assert_eq!(
        g.classic_sync(&sync("zz", 5), 2).error,
        Some(E::UnknownMemberId)
    );
    // A consumer-protocol member is not a classic one.
    assert_eq!(
        g.classic_heartbeat("x", None, 1, 2),
        Err(E::UnknownMemberId)
    );
    assert_eq!(
        g.classic_heartbeat("a", None, 4, 2),
        Err(E::IllegalGeneration)
    );
    let mut other = sync("a", 5);
    other.protocol_name = Some("roundrobin".into());
    // (a is behind the group epoch: a rebalance, after the protocol check)
    assert_eq!(
        g.classic_sync(&other, 2).error,
        Some(E::InconsistentGroupProtocol)
    );
    assert_eq!(
        g.classic_sync(&sync("a", 5), 2).error,
        Some(E::RebalanceInProgress)
    );
    // A protocol no classic member offers.
    let mut join = classic_join("a", &[]);
    join.protocols[0].name = "custom".into();
    let (answer, changed) = g.classic_join(&join, &lookup, NO_LIMIT, 2);
    assert_eq!(
        (answer.error, answer.member_id.as_str(), changed),
        (Some(E::InconsistentGroupProtocol), "", false)
    );
    // A consumer-protocol member is not a classic one: refused, with no member id, as Kafka
    // throws the error.
    let (answer, _) = g.classic_join(&classic_join("x", &[]), &lookup, NO_LIMIT, 2);
    assert_eq!(
        (answer.error, answer.member_id.as_str()),
        (Some(E::UnknownMemberId), "")
    );
    // A new dynamic member first gets its id.
    let (answer, _) = g.classic_join(&classic_join("", &[]), &lookup, NO_LIMIT, 2);
    assert_eq!(answer.error, Some(E::MemberIdRequired));
    assert_eq!(answer.member_id, "fresh-");
    // Offsets: a classic member commits with its generation, at any version.
    assert_eq!(g.validate_offset_commit("a", 5, 8), Ok(()));
    assert_eq!(
        g.validate_offset_commit("a", 4, 8),
        Err(E::IllegalGeneration)
    );
    assert_eq!(
        g.validate_offset_commit("x", 1, 8),
        Err(E::UnsupportedVersion)
    );
    assert_eq!(
        g.classic_leave(&[("a".into(), None), ("x".into(), None)]),
        vec![Ok(()), Err(E::UnknownMemberId)]
    );
    assert!(!g.members.contains_key("a"));
}

#[test]
fn the_last_consumer_member_leaving_gives_a_classic_group_with_the_partitions() {
    let mut g = ConsumerGroup::from_classic(&classic_group(), &lookup, 0).unwrap();
    assert!(g.only_classic_besides(""));
    g.heartbeat(join("x"), &lookup, 1).unwrap();
    assert!(!g.only_classic_besides(""));
    assert!(g.only_classic_besides("x"));
    // Stored and reloaded, the classic members are still classic.
    let json = serde_json::to_vec(&g).unwrap();
    let g: ConsumerGroup = serde_json::from_slice(&json).unwrap();
    assert!(g.members["a"].classic.is_some() && g.members["x"].classic.is_none());

    let classic = g.to_classic("g", "x", 9);
    assert_eq!(classic.generation(), g.epoch);
    assert_eq!(classic.protocol_name(), Some("range"));
    let members: Vec<&classic::Member> = classic.members().collect();
    assert_eq!(members.len(), 2);
    let a = classic.member("a").unwrap();
    assert_eq!(partitions(&a.assignment), vec![0, 1]);
    assert_eq!(a.session_timeout_ms, 10_000);
}

#[test]
fn a_malformed_embedded_protocol_is_no_upgrade() {
    let bad = classic::Member::restored(
        "a".into(),
        None,
        "c".into(),
        "h".into(),
        1,
        1,
        "consumer".into(),
        vec![Protocol {
            name: "range".into(),
            metadata: Bytes::from_static(&[0, 1, 0x7f, 0xff, 0xff, 0xff]),
        }],
        Bytes::new(),
    );
    let group = classic::Group::restore(
        "g",
        1,
        Some("consumer".into()),
        Some("range".into()),
        None,
        0,
        vec![bad],
        0,
    );
    assert!(ConsumerGroup::from_classic(&group, &lookup, 0).is_none());
}
