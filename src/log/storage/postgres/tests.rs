//! Pure helpers of the PostgreSQL medium, and the fence between two openings of one log (the
//! medium itself runs the conformance suite).

use super::*;

#[test]
fn batches_are_split_at_their_lengths() {
    let mut data = vec![0u8; 12 + 3];
    data[8..12].copy_from_slice(&3i32.to_be_bytes());
    let mut second = vec![0u8; 12 + 1];
    second[..8].copy_from_slice(&7i64.to_be_bytes());
    second[8..12].copy_from_slice(&1i32.to_be_bytes());
    data.extend_from_slice(&second);
    data.extend_from_slice(&[0, 0, 0]); // torn
    let split = split_batches(&data);
    assert_eq!(split.len(), 2);
    assert_eq!((split[0].0, split[0].1.len()), (0, 15));
    assert_eq!((split[1].0, split[1].1.len()), (15, 13));
    assert_eq!(base_offset_of(&split[1].1), 7);
    assert_eq!(base_offset_of(&[1, 2]), -1);
}

/// Broker 1's logs over a fresh database (kept while the first two live).
fn node_logs() -> (crate::pg::testing::TestDb, tempfile::TempDir, PgLogs) {
    let pg = crate::pg::testing::database();
    let db = Db::open(&pg.url, std::time::Duration::from_secs(9)).unwrap();
    let cache = tempfile::TempDir::new().unwrap();
    let logs = PgLogs::new(db, 1, cache.path().join("cache")).unwrap();
    (pg, cache, logs)
}

/// The leader opening a log again at the same epoch (a reopened partition) fences the copy it
/// opened before: that one's next commit is refused, the new one's goes through, and nothing
/// of the refused commit reaches the database.
#[test]
fn a_second_opening_at_one_epoch_fences_the_first() {
    let (_pg, _cache, logs) = node_logs();
    let first = logs.open("t-0").unwrap();
    first.write_checkpoint("kept", b"1").unwrap();
    let second = logs.open_led("t-0", first.leader_epoch()).unwrap();
    assert_eq!(second.leader_epoch(), first.leader_epoch());
    let refused = first.write_checkpoint("lost", b"2").unwrap_err();
    assert!(
        refused.get_ref().is_some_and(|e| e.is::<Fenced>()),
        "{refused}"
    );
    second.write_checkpoint("later", b"3").unwrap();
    let third = logs.open_led("t-0", first.leader_epoch()).unwrap();
    assert_eq!(third.read_checkpoint("kept").unwrap(), Some(b"1".to_vec()));
    assert_eq!(third.read_checkpoint("later").unwrap(), Some(b"3".to_vec()));
    assert_eq!(third.read_checkpoint("lost").unwrap(), None);
}

fn checkpoint(name: &str, value: &[u8]) -> Change {
    Change::Checkpoint {
        name: name.into(),
        value: Some(Bytes::copy_from_slice(value)),
    }
}

/// Two partitions in one group commit: a fenced one (opened again since) commits nothing and
/// keeps its queue, the other commits and its queue drains.
#[test]
fn a_fenced_partition_in_a_group_commit_leaves_the_others_committed() {
    let (_pg, _cache, logs) = node_logs();
    let (a, b) = (logs.open("a-0").unwrap(), logs.open("b-0").unwrap());
    let newer_a = logs.open_led("a-0", a.leader_epoch()).unwrap();
    a.shared.push(checkpoint("x", b"from the fenced copy"));
    b.shared.push(checkpoint("x", b"kept"));
    let outcomes = group_commit::run(&[a.shared.clone(), b.shared.clone()]);
    assert!(matches!(
        outcomes[&group_commit::key(&a.shared)],
        group_commit::Outcome::Fenced { leader: 1, .. }
    ));
    assert!(matches!(
        outcomes[&group_commit::key(&b.shared)],
        group_commit::Outcome::Committed
    ));
    assert_eq!(lock(&a.shared.queue).len(), 1);
    assert!(lock(&b.shared.queue).is_empty());
    drop(newer_a);
    let (a, b) = (
        logs.open_led("a-0", a.leader_epoch()).unwrap(),
        logs.open_led("b-0", b.leader_epoch()).unwrap(),
    );
    assert_eq!(a.read_checkpoint("x").unwrap(), None);
    assert_eq!(b.read_checkpoint("x").unwrap(), Some(b"kept".to_vec()));
}

/// A statement of one partition that fails (a batch of a segment that does not exist) does not
/// hold the others back: they are committed each on its own, and the bad one stays queued.
#[test]
fn a_failing_partition_in_a_group_commit_leaves_the_others_committed() {
    let (_pg, _cache, logs) = node_logs();
    let (a, b, c) = (
        logs.open("a-0").unwrap(),
        logs.open("b-0").unwrap(),
        logs.open("c-0").unwrap(),
    );
    a.shared.push(checkpoint("x", b"a"));
    b.shared.push(Change::Batch {
        segment: 999,
        pos: 0,
        data: Bytes::from_static(&[0; 61]),
    });
    c.shared.push(checkpoint("x", b"c"));
    let outcomes = group_commit::run(&[a.shared.clone(), b.shared.clone(), c.shared.clone()]);
    let of = |s: &Arc<PgLogStorage>| outcomes[&group_commit::key(&s.shared)].clone();
    assert!(matches!(of(&a), group_commit::Outcome::Committed));
    assert!(matches!(of(&b), group_commit::Outcome::Failed(_)));
    assert!(matches!(of(&c), group_commit::Outcome::Committed));
    assert_eq!(lock(&b.shared.queue).len(), 1);
    for (s, value) in [(&a, b"a"), (&c, b"c")] {
        let again = logs.open_led(&s.shared.log, s.leader_epoch()).unwrap();
        assert_eq!(again.read_checkpoint("x").unwrap(), Some(value.to_vec()));
    }
}

/// Many partitions syncing from many threads at once: every sync returns only once its
/// changes are committed, and all of them are there when the logs are opened again.
#[test]
fn concurrent_syncs_of_many_partitions_all_commit() {
    let (_pg, _cache, logs) = node_logs();
    let parts: Vec<_> = (0..8)
        .map(|i| logs.open(&format!("t-{i}")).unwrap())
        .collect();
    std::thread::scope(|s| {
        for (i, p) in parts.iter().enumerate() {
            for t in 0..2 {
                s.spawn(move || {
                    for n in 0..20 {
                        let name = format!("n{t}-{n}");
                        p.write_checkpoint(&name, format!("{i}").as_bytes())
                            .unwrap();
                    }
                });
            }
        }
    });
    for (i, p) in parts.iter().enumerate() {
        let again = logs.open_led(&p.shared.log, p.leader_epoch()).unwrap();
        for t in 0..2 {
            for n in 0..20 {
                let got = again.read_checkpoint(&format!("n{t}-{n}")).unwrap();
                assert_eq!(got, Some(format!("{i}").into_bytes()), "t-{i} n{t}-{n}");
            }
        }
    }
}

/// A batch-shaped record: base offset, then the length of what follows.
fn batch(base: i64, body: &[u8]) -> Vec<u8> {
    let mut b = base.to_be_bytes().to_vec();
    b.extend_from_slice(&(body.len() as i32).to_be_bytes());
    b.extend_from_slice(body);
    b
}

/// A roll in the append path (an async worker, which may not wait on the database) seals the
/// old segment without committing it; the next sync of the new segment commits both.
#[test]
fn a_segment_sealed_on_an_async_worker_is_committed_by_the_next_sync() {
    let (_pg, _cache, logs) = node_logs();
    let log = logs.open("t-0").unwrap();
    let (first, second) = (batch(0, b"sealed"), batch(1, b"active"));
    let sealed = std::thread::scope(|s| {
        s.spawn(|| {
            crate::blocking::mark_async_worker();
            let old = log.create_segment(0).unwrap();
            old.write_at(0, &[&first]).unwrap();
            let sealed = old.sync_sealed();
            let new = log.create_segment(1).unwrap();
            new.write_at(0, &[&second]).unwrap();
            assert!(
                new.sync().is_err(),
                "an acknowledgement's sync refuses an async worker"
            );
            sealed
        })
        .join()
        .unwrap()
    });
    sealed.unwrap();
    assert!(!lock(&log.shared.queue).is_empty(), "queued, not committed");
    log.open_segment(1).unwrap().sync().unwrap();
    let again = logs.open_led("t-0", log.leader_epoch()).unwrap();
    assert_eq!(again.list_segments().unwrap(), vec![0, 1]);
    for (base, want) in [(0, &first), (1, &second)] {
        let data = again.open_segment(base).unwrap();
        let mut got = vec![0; want.len()];
        data.read_exact_at(0, &mut got).unwrap();
        assert_eq!(&got, want, "segment {base}");
    }
}
