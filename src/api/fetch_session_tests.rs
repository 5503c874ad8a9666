use proptest::prelude::*;

use super::*;

fn key(p: i32) -> PartitionKey {
    PartitionKey {
        topic: TopicKey::Name(TopicName("t".into())),
        partition: p,
    }
}

fn params(offset: i64) -> FetchParams {
    FetchParams {
        fetch_offset: offset,
        max_bytes: 1 << 20,
        log_start_offset: -1,
        current_leader_epoch: -1,
        last_fetched_epoch: -1,
    }
}

fn wanted(parts: &[i32]) -> Vec<Wanted> {
    parts.iter().map(|p| (key(*p), params(0))).collect()
}

fn answer(hw: i64) -> Answer {
    Answer {
        has_records: false,
        high_watermark: hw,
        log_start_offset: 0,
        error: false,
    }
}

fn records(hw: i64) -> Answer {
    Answer {
        has_records: true,
        ..answer(hw)
    }
}

fn error() -> Answer {
    Answer {
        has_records: false,
        high_watermark: -1,
        log_start_offset: -1,
        error: true,
    }
}

/// A full fetch of `parts` (all at high watermark 5) that opens a session: its id.
fn open(cache: &FetchSessions, parts: &[i32], privileged: bool, now: i64) -> i32 {
    let ctx = cache.new_context((0, 0), false, privileged, wanted(parts), vec![], now);
    let answers = vec![answer(5); parts.len()];
    cache.finish(&ctx, &answers, now).session_id
}

fn incremental(cache: &FetchSessions, id: i32, epoch: i32, parts: &[i32]) -> Context {
    cache.new_context((id, epoch), false, false, wanted(parts), vec![], 1)
}

fn error_of(ctx: &Context) -> Option<ResponseError> {
    match ctx {
        Context::Error(e) => Some(*e),
        _ => None,
    }
}

fn order(ctx: &Context) -> Vec<i32> {
    ctx.wanted().iter().map(|(k, _)| k.partition).collect()
}

#[test]
fn epochs_advance_and_wrap() {
    assert_eq!(next_epoch(0), 1);
    assert_eq!(next_epoch(41), 42);
    assert_eq!(next_epoch(i32::MAX), 1);
    assert_eq!(next_epoch(-1), -1);
    assert_eq!(next_epoch(-7), -1);
}

#[test]
fn full_fetch_opens_a_session_and_incremental_fetches_follow_its_epoch() {
    let cache = FetchSessions::new(10);
    let id = open(&cache, &[0, 1, 2], false, 0);
    assert!(id > 0);
    assert_eq!((cache.len(), cache.partitions()), (1, 3));
    // The session reads every partition even when the request names none.
    let ctx = incremental(&cache, id, 1, &[]);
    assert_eq!(order(&ctx), vec![0, 1, 2]);
    let out = cache.finish(&ctx, &[answer(5), answer(5), answer(5)], 1);
    assert_eq!((out.error, out.session_id), (None, id));
    assert_eq!(out.keep, vec![false; 3], "nothing changed");
    // Epoch 1 again (a retry): the session expects 2.
    assert_eq!(
        error_of(&incremental(&cache, id, 1, &[])),
        Some(ResponseError::InvalidFetchSessionEpoch)
    );
    assert!(error_of(&incremental(&cache, id, 2, &[])).is_none());
    assert_eq!(
        error_of(&incremental(&cache, id + 1, 3, &[])),
        Some(ResponseError::FetchSessionIdNotFound)
    );
    assert_eq!(
        error_of(&incremental(&cache, 0, 5, &[])),
        Some(ResponseError::FetchSessionIdNotFound)
    );
    // A session made by name cannot be used by id (Fetch v13+) and back.
    let by_id = cache.new_context((id, 3), true, false, vec![], vec![], 1);
    assert_eq!(
        error_of(&by_id),
        Some(ResponseError::FetchSessionTopicIdError)
    );
    let err = cache.finish(&by_id, &[], 1);
    assert_eq!(err.session_id, INVALID_SESSION_ID);
}

#[test]
fn sessionless_and_closing_fetches() {
    let cache = FetchSessions::new(10);
    let ctx = cache.new_context((0, FINAL_EPOCH), false, false, wanted(&[0]), vec![], 0);
    assert!(matches!(ctx, Context::Sessionless(_)));
    let out = cache.finish(&ctx, &[answer(1)], 0);
    assert_eq!((out.session_id, out.keep), (0, vec![true]));
    assert!(cache.is_empty());
    // kafka-go: session id -1, epoch -1.
    let ctx = cache.new_context((-1, FINAL_EPOCH), false, false, wanted(&[0]), vec![], 0);
    assert!(matches!(ctx, Context::Sessionless(_)));

    let id = open(&cache, &[0, 1], false, 0);
    let ctx = cache.new_context((id, FINAL_EPOCH), false, false, wanted(&[0]), vec![], 0);
    assert!(matches!(ctx, Context::Sessionless(_)));
    assert_eq!((cache.len(), cache.partitions()), (0, 0));
    assert_eq!(
        error_of(&incremental(&cache, id, 1, &[])),
        Some(ResponseError::FetchSessionIdNotFound)
    );
    // A full fetch naming a session closes it and opens another.
    let id = open(&cache, &[0, 1], false, 0);
    let ctx = cache.new_context((id, INITIAL_EPOCH), false, false, wanted(&[3]), vec![], 0);
    let next = cache.finish(&ctx, &[answer(1)], 0).session_id;
    assert!(next > 0 && next != id);
    assert_eq!((cache.len(), cache.partitions()), (1, 1));
}

#[test]
fn only_changes_are_answered() {
    let cache = FetchSessions::new(10);
    let id = open(&cache, &[0, 1, 2, 3, 4], false, 0);
    let ctx = incremental(&cache, id, 1, &[]);
    let moved_lso = Answer {
        log_start_offset: 3,
        ..answer(5)
    };
    let answers = [answer(5), records(7), answer(6), moved_lso, error()];
    let out = cache.finish(&ctx, &answers, 1);
    assert_eq!(out.keep, vec![false, true, true, true, true]);
    // What was told is remembered; the error keeps being answered, and once it is gone the
    // partition is answered again even at the high watermark it had before.
    let ctx = incremental(&cache, id, 2, &[]);
    // Partition 1 returned records: it went to the end.
    assert_eq!(order(&ctx), vec![0, 2, 3, 4, 1]);
    let answers = [answer(5), answer(6), moved_lso, error(), answer(7)];
    assert_eq!(
        cache.finish(&ctx, &answers, 1).keep,
        vec![false, false, false, true, false]
    );
    let ctx = incremental(&cache, id, 3, &[]);
    let answers = [answer(5), answer(6), moved_lso, answer(5), answer(7)];
    assert_eq!(
        cache.finish(&ctx, &answers, 1).keep,
        vec![false, false, false, true, false]
    );
}

#[test]
fn requests_add_update_and_forget_partitions() {
    let cache = FetchSessions::new(10);
    let id = open(&cache, &[0, 1], false, 0);
    let changed = vec![(key(1), params(42)), (key(7), params(3))];
    let ctx = cache.new_context((id, 1), false, false, changed, vec![key(0)], 1);
    let got: Vec<(i32, i64)> = ctx
        .wanted()
        .iter()
        .map(|(k, p)| (k.partition, p.fetch_offset))
        .collect();
    assert_eq!(got, vec![(1, 42), (7, 3)]);
    assert_eq!(cache.partitions(), 2);
    // The new partition is answered (its high watermark was never told).
    let out = cache.finish(&ctx, &[answer(5), answer(5)], 1);
    assert_eq!(out.keep, vec![false, true]);
    // Forgetting a partition the session does not have changes nothing.
    let ctx = cache.new_context((id, 2), false, false, vec![], vec![key(9)], 1);
    assert_eq!(order(&ctx), vec![1, 7]);
    // Forgetting the rest closes the session: answered without one.
    let ctx = cache.new_context((id, 3), false, false, vec![], vec![key(1), key(7)], 1);
    assert!(matches!(ctx, Context::Sessionless(_)));
    assert_eq!((cache.len(), cache.partitions()), (0, 0));
}

#[test]
fn a_duplicate_request_loses_the_session_epoch() {
    let cache = FetchSessions::new(10);
    let id = open(&cache, &[0], false, 0);
    let first = incremental(&cache, id, 1, &[]);
    let second = incremental(&cache, id, 2, &[]);
    let out = cache.finish(&first, &[records(9)], 1);
    assert_eq!(out.error, Some(ResponseError::InvalidFetchSessionEpoch));
    assert_eq!((out.session_id, out.keep), (id, vec![false]));
    assert_eq!(
        cache.throttled(&first),
        (Some(ResponseError::InvalidFetchSessionEpoch), id)
    );
    assert_eq!(cache.throttled(&second), (None, id));
    assert_eq!(cache.finish(&second, &[records(9)], 1).keep, vec![true]);
}

#[test]
fn a_full_cache_evicts_stale_then_less_valuable_sessions() {
    let cache = FetchSessions::new(2);
    let small = open(&cache, &[0, 1], false, 0);
    let large = open(&cache, &[0, 1, 2, 3], false, 0);
    // Both are young: a consumer's session cannot take their place, whatever its size.
    assert_eq!(open(&cache, &[0], false, 10), 0);
    assert_eq!(open(&cache, &(0..9).collect::<Vec<_>>(), false, 10), 0);
    // A follower's (privileged) session may evict a consumer's, the smallest.
    let follower = open(&cache, &[0], true, 10);
    assert!(follower > 0);
    assert_eq!(cache.evictions(), 1);
    assert_eq!(
        error_of(&incremental(&cache, small, 1, &[])),
        Some(ResponseError::FetchSessionIdNotFound)
    );
    // Used after the eviction time since creation, a session can be evicted by any larger one.
    let at = EVICTION_MS + 100;
    let ctx = cache.new_context((large, 1), false, false, vec![], vec![], at);
    cache.finish(&ctx, &[answer(5); 4], at);
    let ctx = cache.new_context((follower, 1), false, true, vec![], vec![], at);
    cache.finish(&ctx, &[answer(5)], at);
    assert_eq!(
        open(&cache, &[0, 1, 2, 3], false, at + 1),
        0,
        "a tie keeps the old"
    );
    let larger = open(&cache, &[0, 1, 2, 3, 4], false, at + 1);
    assert!(larger > 0);
    assert_eq!(cache.evictions(), 2);
    assert_eq!(
        error_of(&incremental(&cache, large, 2, &[])),
        Some(ResponseError::FetchSessionIdNotFound)
    );
    // A session idle past the eviction time goes first, to any new session.
    let later = at + 1 + EVICTION_MS + 1;
    let ctx = cache.new_context((larger, 1), false, false, vec![], vec![], later - 5);
    cache.finish(&ctx, &[answer(5); 5], later - 5);
    assert!(open(&cache, &[0], false, later) > 0);
    assert!(error_of(&incremental(&cache, larger, 2, &[])).is_none());
    assert_eq!(cache.evictions(), 3);
    assert_eq!(cache.len(), 2);
    assert_eq!(cache.partitions(), 6);
}

#[test]
fn no_slots_no_sessions() {
    let cache = FetchSessions::new(0);
    assert_eq!(open(&cache, &[0], true, 0), INVALID_SESSION_ID);
    assert!(cache.is_empty());
}

#[derive(Debug, Clone)]
enum Op {
    Open(u8, bool),
    Incremental(usize, u8, u8),
    Close(usize),
    Wait(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..6, any::<bool>()).prop_map(|(n, p)| Op::Open(n, p)),
        (0usize..8, 0u8..4, 0u8..4).prop_map(|(s, a, f)| Op::Incremental(s, a, f)),
        (0usize..8).prop_map(Op::Close),
        (0i64..200_000).prop_map(Op::Wait),
    ]
}

proptest! {
    /// Whatever the clients do: at most max sessions, the partition count is the sum of the
    /// sessions' sizes, and every session answers its next epoch and no other.
    #[test]
    fn the_cache_stays_consistent(ops in prop::collection::vec(op(), 1..60), max in 0usize..4) {
        let cache = FetchSessions::new(max);
        let mut now = 0;
        let mut known: Vec<(i32, i32, usize)> = Vec::new(); // (id, next epoch, size)
        for op in ops {
            match op {
                Op::Open(n, privileged) => {
                    let parts: Vec<i32> = (0..n as i32).collect();
                    let id = open(&cache, &parts, privileged, now);
                    if id != 0 {
                        known.push((id, 1, parts.len()));
                    }
                }
                Op::Incremental(i, add, forget) if !known.is_empty() => {
                    let i = i % known.len();
                    let (id, epoch, size) = known[i];
                    let added: Vec<i32> = (100..100 + add as i32).collect();
                    let forgotten: Vec<PartitionKey> = (0..forget as i32).map(key).collect();
                    let ctx = cache.new_context(
                        (id, epoch), false, false, wanted(&added), forgotten.clone(), now);
                    match &ctx {
                        Context::Error(e) => {
                            // Only an evicted session is missing.
                            prop_assert_eq!(*e, ResponseError::FetchSessionIdNotFound);
                            known.remove(i);
                        }
                        Context::Sessionless(_) => {
                            known.remove(i);
                        }
                        Context::Incremental { .. } => {
                            let answers = vec![answer(1); ctx.wanted().len()];
                            let out = cache.finish(&ctx, &answers, now);
                            prop_assert_eq!(out.error, None);
                            let _ = size;
                            known[i] = (id, epoch + 1, ctx.wanted().len());
                        }
                        Context::Full { .. } => prop_assert!(false, "incremental became full"),
                    }
                }
                Op::Incremental(..) => {}
                Op::Close(i) if !known.is_empty() => {
                    let (id, _, _) = known.remove(i % known.len());
                    cache.new_context((id, FINAL_EPOCH), false, false, vec![], vec![], now);
                }
                Op::Close(_) => {}
                Op::Wait(ms) => now += ms,
            }
            prop_assert!(cache.len() <= max);
            // Sessions evicted meanwhile are found missing when next used; the rest agree.
            known.retain(|(id, _, _)| lock(&cache.inner).slots.contains_key(id));
            prop_assert_eq!(cache.len(), known.len());
            let sizes: usize = known.iter().map(|(_, _, s)| s).sum();
            prop_assert_eq!(cache.partitions(), sizes);
        }
    }
}
