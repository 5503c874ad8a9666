use std::collections::BTreeSet;

use kafka_protocol::ResponseError as E;
use proptest::prelude::*;
use uuid::Uuid;

use super::partition::{
    Ack, AcquireMode, Acquired, Cause, DeadLetter, Limits, RecordState, SharePartition, Span,
    ACCEPT, REJECT, RELEASE, RENEW,
};
use super::tests_v2::five_record_batches;
use super::*;

const T: Uuid = Uuid::from_u128(7);

fn lookup(name: &str) -> Option<(Uuid, i32)> {
    (name == "t").then_some((T, 2))
}

fn join(g: &mut ShareGroup, id: &str) -> ShareAnswer {
    let req = ShareHeartbeat {
        member_id: id.into(),
        epoch: 0,
        subscribed_topic_names: Some(vec!["t".into()]),
        ..Default::default()
    };
    g.heartbeat(req, &lookup, 0).unwrap().0
}

fn beat(g: &mut ShareGroup, id: &str, epoch: i32) -> Result<ShareAnswer, E> {
    let req = ShareHeartbeat {
        member_id: id.into(),
        epoch,
        ..Default::default()
    };
    g.heartbeat(req, &lookup, 0).map(|(a, _)| a)
}

fn partitions(a: &Assignment) -> BTreeSet<i32> {
    a.get(&T).cloned().unwrap_or_default()
}

#[test]
fn three_members_share_two_partitions() {
    let mut g = ShareGroup::default();
    let a = join(&mut g, "a");
    assert_eq!(a.epoch, 1);
    assert_eq!(partitions(&a.assignment.unwrap()), BTreeSet::from([0, 1]));
    join(&mut g, "b");
    join(&mut g, "c");
    // a learns of its new assignment on its next heartbeat, at the group's epoch.
    let a = beat(&mut g, "a", 1).unwrap();
    assert_eq!(a.epoch, 3);
    // As Kafka's SimpleAssignor: each partition shared by ceil(3 / 2) = 2 members, so one
    // member has both.
    let mut sizes: Vec<usize> = g
        .members
        .values()
        .map(|m| partitions(&m.assigned).len())
        .collect();
    sizes.sort();
    assert_eq!(sizes, vec![1, 1, 2]);
    for p in [0, 1] {
        let sharing = g
            .members
            .values()
            .filter(|m| partitions(&m.assigned).contains(&p))
            .count();
        assert_eq!(sharing, 2, "partition {p}");
    }
    assert_eq!(g.describe().state, "Stable");
}

#[test]
fn heartbeat_errors() {
    let mut g = ShareGroup::default();
    join(&mut g, "a");
    assert_eq!(beat(&mut g, "a", 7), Err(E::FencedMemberEpoch));
    assert_eq!(beat(&mut g, "zz", 1), Err(E::UnknownMemberId));
    assert_eq!(beat(&mut g, "zz", -1), Err(E::UnknownMemberId));
    let leave = beat(&mut g, "a", -1).unwrap();
    assert_eq!(leave.epoch, -1);
    assert!(g.is_empty());
    assert_eq!(g.state(), "Empty");
    let bad = |epoch, names: Option<Vec<String>>, id: &str| {
        validate(&ShareHeartbeat {
            member_id: id.into(),
            epoch,
            subscribed_topic_names: names,
            ..Default::default()
        })
    };
    assert_eq!(bad(0, None, "m"), Err(E::InvalidRequest));
    assert_eq!(bad(0, Some(vec![]), "m"), Err(E::InvalidRequest));
    assert_eq!(bad(1, None, ""), Err(E::InvalidRequest));
    assert_eq!(bad(-2, None, "m"), Err(E::InvalidRequest));
    assert_eq!(bad(3, None, "m"), Ok(()));
}

#[test]
fn session_timeout_removes_the_member() {
    let mut g = ShareGroup::default();
    join(&mut g, "a");
    join(&mut g, "b");
    assert_eq!(
        g.next_deadline(),
        Some(MemberTimeouts::default().session_ms)
    );
    let req = ShareHeartbeat {
        member_id: "a".into(),
        epoch: 1,
        ..Default::default()
    };
    g.heartbeat(req, &lookup, 10).unwrap();
    assert_eq!(
        g.tick(MemberTimeouts::default().session_ms),
        vec!["b".to_string()]
    );
    let a = beat(&mut g, "a", 2).unwrap();
    assert_eq!(partitions(&a.assignment.unwrap()), BTreeSet::from([0, 1]));
}

pub(super) fn spans(first: i64, last: i64) -> Vec<Span> {
    vec![Span {
        first,
        last,
        skip: false,
    }]
}

pub(super) fn ack(first: i64, last: i64, t: i8) -> Ack {
    Ack {
        first,
        last,
        types: vec![t],
    }
}

pub(super) const L: Limits = Limits {
    lock_ms: 100,
    delivery_limit: 3,
    max_in_flight: 1000,
    dead_letters: false,
    renew: true,
};

/// The mode the tests written before ShareAcquireMode use (exactly MaxRecords).
pub(super) const RL: AcquireMode = AcquireMode::RecordLimit;

/// A group with a dead-letter topic.
const DLQ: Limits = Limits {
    dead_letters: true,
    ..L
};

#[test]
fn acquire_ack_release_reject() {
    let mut p = SharePartition::new(0);
    let got = p.acquire("a", &spans(0, 9), 4, RL, 0, &L);
    assert_eq!(
        got,
        vec![Acquired {
            first: 0,
            last: 3,
            delivery_count: 1
        }]
    );
    // b gets the rest; nothing is acquired twice.
    let got = p.acquire("b", &spans(0, 9), 100, RL, 0, &L);
    assert_eq!((got[0].first, got[0].last), (4, 9));
    assert_eq!(p.next_fetch_offset(), 10);
    p.acknowledge("a", &[ack(0, 1, ACCEPT)], 0, &L).unwrap();
    assert_eq!(p.start_offset(), 2);
    p.acknowledge("a", &[ack(2, 2, RELEASE), ack(3, 3, REJECT)], 0, &L)
        .unwrap();
    assert_eq!(p.next_fetch_offset(), 2);
    let got = p.acquire("b", &spans(0, 9), 100, RL, 0, &L);
    assert_eq!(
        got,
        vec![Acquired {
            first: 2,
            last: 2,
            delivery_count: 2
        }]
    );
    // 3 was rejected: not b's to acknowledge.
    assert_eq!(
        p.acknowledge("b", &[ack(2, 9, ACCEPT)], 0, &L),
        Err(E::InvalidRecordState)
    );
    p.acknowledge("b", &[ack(2, 2, ACCEPT), ack(4, 9, ACCEPT)], 0, &L)
        .unwrap();
    assert_eq!((p.start_offset(), p.end_offset()), (10, 10));
}

#[test]
fn records_done_with_past_the_start_are_counted_for_the_lag() {
    let mut p = SharePartition::new(0);
    p.acquire("a", &spans(0, 4), 100, RL, 0, &L);
    assert_eq!(p.delivery_complete_count(), 0);
    // 1 and 3 done with, 0 and 2 still held: the start stays at 0.
    p.acknowledge("a", &[ack(1, 1, ACCEPT), ack(3, 3, REJECT)], 0, &L)
        .unwrap();
    assert_eq!((p.start_offset(), p.delivery_complete_count()), (0, 2));
    // 0 accepted: the start moves to 2, past 1, which no longer counts.
    p.acknowledge("a", &[ack(0, 0, ACCEPT)], 0, &L).unwrap();
    assert_eq!((p.start_offset(), p.delivery_complete_count()), (2, 1));
}

#[test]
fn bad_acks_change_nothing() {
    let mut p = SharePartition::new(0);
    p.acquire("a", &spans(0, 4), 100, RL, 0, &L);
    let before = p.clone();
    let cases: Vec<(&str, Vec<Ack>, E)> = vec![
        ("b", vec![ack(0, 0, ACCEPT)], E::InvalidRecordState),
        ("a", vec![ack(3, 7, ACCEPT)], E::InvalidRecordState),
        (
            "a",
            vec![ack(0, 2, ACCEPT), ack(2, 3, ACCEPT)],
            E::InvalidRequest,
        ),
        (
            "a",
            vec![ack(2, 3, ACCEPT), ack(0, 1, ACCEPT)],
            E::InvalidRequest,
        ),
        ("a", vec![ack(3, 1, ACCEPT)], E::InvalidRequest),
        ("a", vec![ack(0, 1, 9)], E::InvalidRequest),
        (
            "a",
            vec![Ack {
                first: 0,
                last: 2,
                types: vec![1, 1],
            }],
            E::InvalidRequest,
        ),
        // The first batch is fine, the second is not: neither is applied.
        (
            "a",
            vec![ack(0, 0, ACCEPT), ack(9, 9, ACCEPT)],
            E::InvalidRecordState,
        ),
    ];
    for (member, acks, err) in cases {
        assert_eq!(p.acknowledge(member, &acks, 0, &L), Err(err), "{acks:?}");
        assert_eq!(p, before);
    }
}

#[test]
fn delivery_limit_archives_and_locks_expire() {
    let mut p = SharePartition::new(0);
    for round in 1..=3 {
        let got = p.acquire("a", &spans(0, 0), 10, RL, 0, &L);
        assert_eq!(got[0].delivery_count, round);
        assert_eq!(p.next_deadline(), Some(100));
        assert!(p.expire(100, &L));
    }
    // The third delivery was the last: archived, and the start offset moved past it.
    assert!(p.acquire("a", &spans(0, 0), 10, RL, 0, &L).is_empty());
    assert_eq!(p.start_offset(), 1);
}

#[test]
fn a_member_that_goes_releases_its_records() {
    let mut p = SharePartition::new(5);
    p.acquire("a", &spans(0, 7), 10, RL, 0, &L);
    assert!(p.release_member("a", &L));
    assert_eq!(p.counts().available, 3);
    let got = p.acquire("b", &spans(5, 7), 10, RL, 0, &L);
    assert_eq!(got[0].delivery_count, 2);
}

#[test]
fn control_batches_and_gaps_are_not_delivered() {
    let mut p = SharePartition::new(0);
    let log = [
        Span {
            first: 0,
            last: 1,
            skip: false,
        },
        Span {
            first: 2,
            last: 2,
            skip: true,
        },
        Span {
            first: 5,
            last: 5,
            skip: false,
        },
    ];
    let got = p.acquire("a", &log, 10, RL, 0, &L);
    let offsets: Vec<(i64, i64)> = got.iter().map(|a| (a.first, a.last)).collect();
    assert_eq!(offsets, vec![(0, 1), (5, 5)]);
    p.acknowledge("a", &[ack(0, 1, ACCEPT)], 0, &L).unwrap();
    assert_eq!(p.start_offset(), 5);
}

/// A released record met again in a skipped span (an aborted transaction's batch seen by a
/// read_committed group) is archived, not delivered again.
#[test]
fn available_records_of_a_skipped_span_are_archived() {
    let mut p = SharePartition::new(0);
    let plain = |skip| Span {
        first: 0,
        last: 1,
        skip,
    };
    p.acquire("a", &[plain(false)], 10, RL, 0, &L);
    p.acknowledge("a", &[ack(0, 1, RELEASE)], 0, &L).unwrap();
    assert!(p.acquire("b", &[plain(true)], 10, RL, 0, &L).is_empty());
    assert_eq!((p.start_offset(), p.next_fetch_offset()), (2, 2));
}

#[test]
fn in_flight_records_are_bounded() {
    let mut p = SharePartition::new(0);
    let limits = Limits {
        max_in_flight: 3,
        ..L
    };
    assert_eq!(p.acquire("a", &spans(0, 9), 10, RL, 0, &limits)[0].last, 2);
    assert!(p.acquire("b", &spans(3, 9), 10, RL, 0, &limits).is_empty());
}

#[test]
fn given_up_records_wait_for_the_dead_letter_topic() {
    let mut p = SharePartition::new(0);
    p.acquire("a", &spans(0, 5), 10, RL, 0, &DLQ);
    p.acknowledge(
        "a",
        &[ack(0, 1, REJECT), ack(2, 2, ACCEPT), ack(3, 4, REJECT)],
        0,
        &DLQ,
    )
    .unwrap();
    let letter = |first, last, delivery_count, cause| DeadLetter {
        first,
        last,
        delivery_count,
        cause,
    };
    assert_eq!(
        p.take_dead_letters(),
        vec![
            letter(0, 1, 1, Cause::Rejected),
            letter(3, 4, 1, Cause::Rejected)
        ]
    );
    assert!(p.take_dead_letters().is_empty());
    // Archiving holds the start offset until the dead letters are written.
    assert_eq!(p.start_offset(), 0);
    assert_eq!(p.counts().archiving, 4);
    // Offset 5 runs out of deliveries: a lock expiry, then a release, then a member leaving.
    p.expire(100, &DLQ);
    p.acquire("b", &spans(5, 5), 10, RL, 200, &DLQ);
    p.acknowledge("b", &[ack(5, 5, RELEASE)], 0, &DLQ).unwrap();
    p.acquire("b", &spans(5, 5), 10, RL, 300, &DLQ);
    assert!(p.release_member("b", &DLQ));
    assert_eq!(
        p.take_dead_letters(),
        vec![letter(5, 5, 3, Cause::DeliveryLimit)]
    );
    // A restart keeps them waiting; the cause comes back from the delivery count.
    let restored = SharePartition::from_record(&p.to_record());
    assert_eq!(
        restored.pending_dead_letters(&DLQ),
        vec![
            letter(0, 1, 1, Cause::Rejected),
            letter(3, 4, 1, Cause::Rejected),
            letter(5, 5, 3, Cause::DeliveryLimit),
        ]
    );
    assert!(p.dead_lettered(0, 1, true));
    assert_eq!(p.start_offset(), 3);
    assert!(!p.dead_lettered(0, 1, true));
    assert!(p.dead_lettered(3, 5, false));
    // Five given up on, two of them written to the dead-letter topic.
    assert_eq!(p.given_up(), (5, 2));
    assert_eq!((p.start_offset(), p.end_offset()), (6, 6));
    assert_eq!(p.counts().archiving, 0);
}

#[test]
fn without_a_dead_letter_topic_records_are_archived_at_once() {
    let mut p = SharePartition::new(0);
    p.acquire("a", &spans(0, 1), 10, RL, 0, &L);
    p.acknowledge("a", &[ack(0, 1, REJECT)], 0, &L).unwrap();
    assert!(p.take_dead_letters().is_empty());
    assert_eq!(p.start_offset(), 2);
    assert_eq!(p.given_up(), (2, 0));
}

#[test]
fn partitions_are_shared_evenly() {
    // (members, partitions) → each partition's sharers and each member's partitions.
    for (members, count) in [(1, 4), (2, 5), (3, 2), (4, 2), (5, 3), (7, 1)] {
        let mut g = ShareGroup::default();
        let lookup = move |name: &str| (name == "t").then_some((T, count));
        for i in 0..members {
            let req = ShareHeartbeat {
                member_id: format!("m{i}"),
                epoch: 0,
                subscribed_topic_names: Some(vec!["t".into()]),
                ..Default::default()
            };
            g.heartbeat(req, &lookup, 0).unwrap();
        }
        let sharing = (members + count - 1) / count;
        for p in 0..count {
            let sharers = g
                .members
                .values()
                .filter(|m| partitions(&m.assigned).contains(&p))
                .count();
            assert_eq!(
                sharers as i32, sharing,
                "{members} members, {count} partitions"
            );
        }
        let sizes: Vec<usize> = g
            .members
            .values()
            .map(|m| partitions(&m.assigned).len())
            .collect();
        let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
        assert!(
            max - min <= 1,
            "{members} members, {count} partitions: {sizes:?}"
        );
    }
}

proptest! {
    /// Whatever members do, the durable form restores the same records (acquired ones as
    /// available), nothing below the start offset is held, and no record is held by two.
    #[test]
    fn state_survives_its_record(ops in proptest::collection::vec((0u8..5, 0u8..3, 0i64..20, 0i64..5), 1..60)) {
        let mut p = SharePartition::new(0);
        let mut now = 0;
        for (op, member, first, len) in ops {
            let m = ["a", "b", "c"][member as usize];
            now += 10;
            match op {
                0 => {
                    let mode = if member == 0 { AcquireMode::BatchOptimized } else { RL };
                    p.acquire(m, &five_record_batches(4), (len + 1) as usize, mode, now, &L);
                }
                1 => { let _ = p.acknowledge(m, &[ack(first, first + len, [ACCEPT, RELEASE, REJECT][member as usize])], now, &L); }
                2 => { p.expire(now - 50, &L); }
                3 => { let _ = p.acknowledge(m, &[ack(first, first + len, RENEW)], now, &L); }
                _ => { p.release_member(m, &L); }
            }
            prop_assert!(p.start_offset() <= p.end_offset());
            prop_assert!(p.next_fetch_offset() >= p.start_offset());
            let restored = SharePartition::from_record(&p.to_record());
            prop_assert_eq!(restored.start_offset(), p.start_offset());
            prop_assert_eq!(restored.end_offset(), p.end_offset());
            let c = p.counts();
            let r = restored.counts();
            prop_assert_eq!(r.available, c.available + c.acquired);
            prop_assert_eq!(r.acquired, 0);
            prop_assert_eq!(r.archived, c.archived);
        }
        let state = p.to_record();
        for run in &state.runs {
            prop_assert!(run.0 >= state.start_offset && run.1 < state.end_offset);
            prop_assert!(run.2 != RecordState::Acquired);
        }
    }
}
