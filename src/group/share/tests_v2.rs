//! share.version 2 in the share partition: RENEW acknowledgements and ShareAcquireMode.

use kafka_protocol::ResponseError as E;

use super::partition::{
    Ack, AcquireMode, Acquired, Limits, SharePartition, Span, ACCEPT, RELEASE, RENEW,
};
use super::tests::{ack, spans, L, RL};

/// The log as `count` batches of 5 records: 0..=4, 5..=9, ...
pub(super) fn five_record_batches(count: i64) -> Vec<Span> {
    (0..count)
        .map(|b| Span {
            first: b * 5,
            last: b * 5 + 4,
            skip: false,
        })
        .collect()
}

fn ranges(got: &[Acquired]) -> Vec<(i64, i64, i16)> {
    got.iter()
        .map(|a| (a.first, a.last, a.delivery_count))
        .collect()
}

#[test]
fn renew_keeps_the_record_acquired_and_restarts_its_lock() {
    let mut p = SharePartition::new(0);
    p.acquire("a", &spans(0, 2), 10, RL, 0, &L);
    // At 80 of its 100 ms, offset 1 is renewed: its lock now runs to 180.
    p.acknowledge("a", &[ack(1, 1, RENEW)], 80, &L).unwrap();
    assert_eq!(p.counts().acquired, 3);
    assert!(p.expire(100, &L));
    assert_eq!(
        p.counts().acquired,
        1,
        "only the renewed record is still held"
    );
    assert_eq!(p.next_deadline(), Some(180));
    // Nobody else may take or acknowledge it; its holder renews it again and accepts it.
    assert_eq!(
        ranges(&p.acquire("b", &spans(0, 2), 10, RL, 120, &L)),
        vec![(0, 0, 2), (2, 2, 2)]
    );
    assert_eq!(
        p.acknowledge("b", &[ack(1, 1, ACCEPT)], 130, &L),
        Err(E::InvalidRecordState)
    );
    p.acknowledge("a", &[ack(1, 1, RENEW)], 150, &L).unwrap();
    assert!(!p.expire(200, &L), "renewed at 150: held until 250");
    p.acknowledge("a", &[ack(1, 1, ACCEPT)], 240, &L).unwrap();
    assert_eq!(p.counts().acquired, 2, "b's records 0 and 2");
    let back = p.acknowledge("b", &[ack(0, 0, ACCEPT), ack(2, 2, ACCEPT)], 250, &L);
    assert_eq!(back, Ok(()));
    assert_eq!(p.start_offset(), 3);
}

#[test]
fn renew_does_not_count_a_delivery() {
    let mut p = SharePartition::new(0);
    p.acquire("a", &spans(0, 0), 10, RL, 0, &L);
    p.acknowledge("a", &[ack(0, 0, RENEW)], 50, &L).unwrap();
    p.acknowledge("a", &[ack(0, 0, RENEW)], 90, &L).unwrap();
    // Its lock runs out at last: the next fetch is its second delivery, not its fourth.
    assert!(p.expire(190, &L));
    assert_eq!(
        ranges(&p.acquire("b", &spans(0, 0), 10, RL, 200, &L)),
        vec![(0, 0, 2)]
    );
}

#[test]
fn renew_needs_the_record_held_by_the_member_and_the_group_config() {
    let mut p = SharePartition::new(0);
    p.acquire("a", &spans(0, 3), 10, RL, 0, &L);
    p.acknowledge("a", &[ack(3, 3, ACCEPT)], 0, &L).unwrap();
    let before = p.clone();
    for (member, acks) in [
        ("b", vec![ack(0, 0, RENEW)]),
        // Accepted already.
        ("a", vec![ack(3, 3, RENEW)]),
        // Past the records ever fetched.
        ("a", vec![ack(4, 4, RENEW)]),
    ] {
        assert_eq!(
            p.acknowledge(member, &acks, 10, &L),
            Err(E::InvalidRecordState),
            "{member} {acks:?}"
        );
        assert_eq!(p, before);
    }
    let off = Limits { renew: false, ..L };
    let mixed = [ack(0, 0, ACCEPT), ack(1, 1, RENEW)];
    assert_eq!(
        p.acknowledge("a", &mixed, 10, &off),
        Err(E::InvalidRecordState)
    );
    assert_eq!(
        p, before,
        "share.renew.acknowledge.enable=false: nothing applied"
    );
    // Per-offset types may mix RENEW with the others.
    let per_offset = Ack {
        first: 0,
        last: 2,
        types: vec![RENEW, ACCEPT, RENEW],
    };
    p.acknowledge("a", &[per_offset], 60, &L).unwrap();
    assert!(!p.expire(100, &L), "both renewed at 60: held until 160");
    assert_eq!(p.counts().acquired, 2);
    assert_eq!(p.next_deadline(), Some(160));
}

#[test]
fn record_limit_acquires_exactly_max_records() {
    let mut p = SharePartition::new(0);
    let log = five_record_batches(3);
    let got = p.acquire("a", &log, 7, RL, 0, &L);
    assert_eq!(ranges(&got), vec![(0, 6, 1)], "cut inside the second batch");
    assert_eq!(p.next_fetch_offset(), 7);
    assert_eq!(
        ranges(&p.acquire("b", &log[1..], 7, RL, 0, &L)),
        vec![(7, 13, 1)]
    );
    assert_eq!(
        ranges(&p.acquire("b", &log[2..], 7, RL, 0, &L)),
        vec![(14, 14, 1)]
    );
}

#[test]
fn batch_optimized_takes_the_last_batch_to_its_end() {
    let log = five_record_batches(3);
    let batch = AcquireMode::BatchOptimized;
    let mut p = SharePartition::new(0);
    // The 7th record (offset 6) is in the batch 5..=9: all of it comes.
    assert_eq!(
        ranges(&p.acquire("a", &log, 7, batch, 0, &L)),
        vec![(0, 9, 1)]
    );
    // Exactly at a batch's end: the next batch is not started.
    let mut q = SharePartition::new(0);
    assert_eq!(
        ranges(&q.acquire("a", &log, 5, batch, 0, &L)),
        vec![(0, 4, 1)]
    );
    // Records released again are taken by the same rule.
    p.acknowledge("a", &[ack(0, 9, RELEASE)], 10, &L).unwrap();
    assert_eq!(
        ranges(&p.acquire("b", &log, 2, batch, 20, &L)),
        vec![(0, 4, 2)]
    );
    assert_eq!(
        ranges(&p.acquire("b", &log[1..], 1, batch, 20, &L)),
        vec![(5, 9, 2)]
    );
    // The in-flight bound still cuts a batch.
    let bounded = Limits {
        max_in_flight: 3,
        ..L
    };
    let mut r = SharePartition::new(0);
    assert_eq!(
        ranges(&r.acquire("a", &log, 1, batch, 0, &bounded)),
        vec![(0, 2, 1)]
    );
}
