//! The share leader on one node: acquisitions, acknowledgements, lock expiry, dead letters,
//! failed writes and reopened partitions, over a key-value [`KvShareStates`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kafka_protocol::ResponseError as E;

use super::state::Leader;
use super::*;
use crate::coord::Machine;
use crate::group::configs::GroupConfigs;
use crate::group::record::{self, GroupRecord};
use crate::group::share::partition::{Ack, AcquireMode, Cause, RecordState, StateRecord, ACCEPT};
use crate::group::share::ShareGroup;
use crate::log::{Backing, LogConfig, PartitionLog};
use crate::meta::Durability;
use crate::store::flaky::Flaky;
use crate::store::{KvShareStates, KvStore, MemoryStore, ShareStateKey};

const TOPIC: uuid::Uuid = uuid::Uuid::from_u128(3);

fn partition(index: i32) -> Arc<Partition> {
    let log = PartitionLog::open(Backing::Memory, LogConfig::default()).unwrap();
    Arc::new(Partition::new("t", index, log, Durability::Deferred, Arc::default()).unwrap())
}

/// Group `g` recorded as a share group, with these configs.
fn share_group(kv: &Arc<dyn KvStore>, configs: &[(&str, &str)]) -> Arc<GroupConfigs> {
    let record = GroupRecord::of_share(&ShareGroup::default());
    kv.put(
        &record::group_key("g"),
        &serde_json::to_vec(&record).unwrap(),
    )
    .unwrap();
    let group_configs = Arc::new(GroupConfigs::open(kv.clone()).unwrap());
    let set: BTreeMap<String, String> = configs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    group_configs.set("g", set).unwrap();
    group_configs
}

const MAX_SESSIONS: usize = 3;

fn leader(kv: &Arc<dyn KvStore>, configs: Arc<GroupConfigs>) -> Leader {
    Leader::new(
        Arc::new(KvShareStates::new(kv.clone())),
        kv.clone(),
        configs,
        MAX_SESSIONS,
    )
}

fn flush(l: &mut Leader, kv: &Arc<dyn KvStore>) {
    crate::coord::runtime::flush(l, kv.as_ref(), "shares");
}

fn bounds(high_watermark: i64) -> LogBounds {
    LogBounds {
        log_start: 0,
        high_watermark,
    }
}

fn spans(first: i64, last: i64) -> Vec<Span> {
    vec![Span {
        first,
        last,
        skip: false,
    }]
}

const LIMIT: FetchLimit = FetchLimit {
    max_records: 10,
    mode: AcquireMode::BatchOptimized,
};

fn stored(kv: &Arc<dyn KvStore>, index: i32) -> Option<StateRecord> {
    let states = KvShareStates::new(kv.clone());
    let found = crate::store::ShareStates::load(&states, &ShareStateKey::new("g", TOPIC, index))
        .unwrap()?;
    Some(serde_json::from_slice(&found.state).unwrap())
}

fn accept(p: ShareKey, first: i64, last: i64) -> Vec<(ShareKey, Vec<Ack>)> {
    vec![(
        p,
        vec![Ack {
            first,
            last,
            types: vec![ACCEPT],
        }],
    )]
}

fn session(epoch: i32, acks: Vec<(ShareKey, Vec<Ack>)>) -> SessionRequest {
    SessionRequest {
        group_id: "g".into(),
        member_id: "m".into(),
        epoch,
        connection: 1,
        fetch: Some(vec![(TOPIC, 0)]),
        forgotten: Vec::new(),
        acks,
    }
}

/// Sessions are capped (group.share.max.share.sessions: SHARE_SESSION_LIMIT_REACHED beyond,
/// a member reopening its own still fits); a session holds each partition once, in the order
/// first named, however often a request names it, and forgets what it is told to.
#[test]
fn share_sessions_are_capped_and_hold_each_partition_once() {
    let kv: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let configs = share_group(&kv, &[]);
    let settings = configs.share_settings("g");
    let mut l = leader(&kv, configs);
    let open = |member: &str, fetch: Vec<ShareKey>| SessionRequest {
        member_id: member.into(),
        fetch: Some(fetch),
        ..session(OPEN_EPOCH, vec![])
    };
    let none = HashMap::new();
    let many: Vec<ShareKey> = (0..50_000)
        .rev()
        .chain(0..50_000)
        .map(|i| (TOPIC, i))
        .collect();
    let opened = l.session(open("m", many), &none, &settings, 0).unwrap();
    let expected: Vec<ShareKey> = (0..50_000).rev().map(|i| (TOPIC, i)).collect();
    assert_eq!(opened.fetch, expected);
    let next = SessionRequest {
        fetch: Some(vec![(TOPIC, 7), (TOPIC, 50_000)]),
        forgotten: (0..49_999).map(|i| (TOPIC, i)).collect(),
        ..session(1, vec![])
    };
    let fetched = l.session(next, &none, &settings, 0).unwrap().fetch;
    assert_eq!(fetched, vec![(TOPIC, 49_999), (TOPIC, 7), (TOPIC, 50_000)]);
    for member in ["m2", "m3"] {
        assert!(l.session(open(member, vec![]), &none, &settings, 0).is_ok());
    }
    let refused = l.session(open("m4", vec![]), &none, &settings, 0);
    assert_eq!(refused.unwrap_err(), E::ShareSessionLimitReached);
    assert!(l.session(open("m", vec![]), &none, &settings, 0).is_ok());
    let close = SessionRequest {
        member_id: "m3".into(),
        fetch: None,
        ..session(FINAL_EPOCH, vec![])
    };
    assert!(l.session(close, &none, &settings, 0).is_ok());
    assert!(l.session(open("m4", vec![]), &none, &settings, 0).is_ok());
}

/// Records given up on before a restart wait in the store as archiving; the dead-letter
/// writer attached after the start-up load gets them, and its answer archives them durably.
#[test]
fn dead_letters_waiting_at_a_restart_are_sent_again() {
    let kv: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let waiting = StateRecord {
        start_offset: 0,
        end_offset: 3,
        runs: vec![
            (0, 0, RecordState::Archiving, 1),
            (1, 1, RecordState::Acknowledged, 1),
            (2, 2, RecordState::Archiving, 5),
        ],
    };
    // As the coordinator wrote it before state epochs (JSON alone).
    let key = record::share_state_key("g", &TOPIC, 0);
    kv.put(&key, &serde_json::to_vec(&waiting).unwrap())
        .unwrap();
    let mut l = leader(&kv, share_group(&kv, &[]));
    let adopted = l.adopt(vec![("t-0".into(), TOPIC, 0, partition(0))]);
    assert_eq!(adopted.unwrap(), 1);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    l.attach_dead_letters(tx);
    let mut jobs = Vec::new();
    while let Ok(job) = rx.try_recv() {
        jobs.push(job);
    }
    let causes: Vec<_> = jobs
        .iter()
        .map(|j| (j.letter.first, j.letter.cause))
        .collect();
    // The default delivery limit is 5: offset 2 ran out, offset 0 was rejected.
    assert_eq!(
        causes,
        vec![(0, Cause::Rejected), (2, Cause::DeliveryLimit)]
    );
    for job in &jobs {
        l.dead_lettered(job, true);
    }
    flush(&mut l, &kv);
    let after = stored(&kv, 0).unwrap();
    assert_eq!((after.start_offset, after.runs.len()), (3, 0));
}

/// Acquisition locks run out on the leader's timer, not only when a consumer comes back:
/// released, and at the delivery limit given up on (here to the dead-letter topic).
#[test]
fn expired_locks_release_records_without_a_fetch() {
    let kv: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let configs = share_group(
        &kv,
        &[
            ("share.auto.offset.reset", "earliest"),
            ("share.record.lock.duration.ms", "100"),
            ("share.delivery.count.limit", "2"),
            ("errors.deadletterqueue.topic.name", "dlq.t"),
        ],
    );
    let settings = configs.share_settings("g");
    let mut l = leader(&kv, configs);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    l.attach_dead_letters(tx);
    let (key, p) = ((TOPIC, 0), partition(0));
    for (round, start) in [(1, 0), (2, 200)] {
        let offsets = l.prepare("g", &[(key, p.clone(), bounds(3))], &settings, start);
        assert_eq!(offsets, Ok(vec![Ok(0)]));
        let got = l.acquire("g", "m", vec![(key, spans(0, 2))], LIMIT, &settings, start);
        assert_eq!(got[0][0].delivery_count, round);
        flush(&mut l, &kv);
        assert!(l.next_deadline().is_some_and(|d| d <= start + 100));
        l.fire_timers(start + 150);
        flush(&mut l, &kv);
    }
    // Released after the first lock, given up on after the second: no fetch in between.
    let counts = l.slots[&("g".to_string(), key)].sp.counts();
    assert_eq!((counts.acquired, counts.archiving), (0, 3));
    let job = rx.try_recv().expect("a dead letter");
    assert_eq!(
        (job.letter.first, job.letter.last, job.letter.cause),
        (0, 2, Cause::DeliveryLimit)
    );
}

/// A group that is not a share group gets no share-partition (as the coordinator answered).
#[test]
fn a_group_that_is_not_a_share_group_is_not_found() {
    let kv: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let configs = Arc::new(GroupConfigs::open(kv.clone()).unwrap());
    let settings = configs.share_settings("g");
    let mut l = leader(&kv, configs);
    let parts = [((TOPIC, 0), partition(0), bounds(3))];
    assert_eq!(
        l.prepare("g", &parts, &settings, 0),
        Err(E::GroupIdNotFound)
    );
    let record = GroupRecord::of_consumer(&Default::default());
    kv.put(
        &record::group_key("g"),
        &serde_json::to_vec(&record).unwrap(),
    )
    .unwrap();
    assert_eq!(
        l.prepare("g", &parts, &settings, 0),
        Err(E::GroupIdNotFound)
    );
    assert!(l.slots.is_empty());
}

/// A partition opened again (another copy) is loaded again from the store: what the old
/// copy held in memory only (its locks) is gone, what it stored stays.
#[test]
fn a_reopened_partition_reloads_its_share_state() {
    let kv: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let configs = share_group(&kv, &[("share.auto.offset.reset", "earliest")]);
    let settings = configs.share_settings("g");
    let mut l = leader(&kv, configs);
    let key = (TOPIC, 0);
    let first = partition(0);
    l.prepare("g", &[(key, first.clone(), bounds(5))], &settings, 0)
        .unwrap();
    let got = l.acquire("g", "m", vec![(key, spans(0, 4))], LIMIT, &settings, 0);
    assert_eq!(got[0].len(), 1);
    flush(&mut l, &kv);
    let second = partition(0);
    let offsets = l.prepare("g", &[(key, second.clone(), bounds(5))], &settings, 1);
    assert_eq!(
        offsets,
        Ok(vec![Ok(0)]),
        "the stored records are available again"
    );
    let got = l.acquire("g", "n", vec![(key, spans(0, 4))], LIMIT, &settings, 1);
    assert_eq!(got[0][0].delivery_count, 2);
    assert!(Arc::ptr_eq(
        &l.slots[&("g".to_string(), key)].partition,
        &second
    ));
}

/// The coordinator's word that a member left releases its records here.
#[test]
fn a_member_that_left_has_its_records_released() {
    let kv: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let configs = share_group(&kv, &[("share.auto.offset.reset", "earliest")]);
    let settings = configs.share_settings("g");
    let mut l = leader(&kv, configs);
    let (key, p) = ((TOPIC, 0), partition(0));
    l.prepare("g", &[(key, p, bounds(5))], &settings, 0)
        .unwrap();
    l.acquire("g", "m", vec![(key, spans(0, 4))], LIMIT, &settings, 0);
    flush(&mut l, &kv);
    let counts = |l: &Leader| l.slots[&("g".to_string(), key)].sp.counts();
    assert_eq!(counts(&l).acquired, 5);
    l.member_left("g", "other");
    assert_eq!(counts(&l).acquired, 5);
    l.member_left("g", "m");
    flush(&mut l, &kv);
    assert_eq!((counts(&l).acquired, counts(&l).available), (0, 5));
    // A deleted group's copies go (the next fetch loads what the store holds).
    l.forget_group("g", None);
    assert!(l.slots.is_empty());
}

/// A batch whose state write fails: its changes answer COORDINATOR_NOT_AVAILABLE (Kafka's
/// answer when its persister cannot write) and memory goes back to what the store holds.
#[tokio::test]
async fn a_failed_write_answers_share_changes_unavailable_and_rolls_memory_back() {
    let flaky = Arc::new(Flaky::default());
    let kv: Arc<dyn KvStore> = flaky.clone();
    let configs = share_group(&kv, &[("share.auto.offset.reset", "earliest")]);
    let settings = configs.share_settings("g");
    let shares = Shares::open(Arc::new(KvShareStates::new(kv.clone())), kv, configs, 2000).unwrap();
    let (p0, p1) = ((TOPIC, 0), (TOPIC, 1));
    let (part0, part1) = (partition(0), partition(1));
    let led = vec![(p0, part0.clone())];
    let prepare = |key: ShareKey, p: &Arc<Partition>| {
        shares.prepare("g".into(), vec![(key, p.clone(), bounds(3))], settings)
    };
    let acquire = || {
        let read = vec![(p0, spans(0, 2))];
        shares.acquire("g".into(), "m".into(), read, LIMIT, settings)
    };
    let got = |r: Vec<Result<Vec<Acquired>, E>>| -> Vec<(i64, i64, i16)> {
        r.into_iter()
            .flatten()
            .flatten()
            .map(|a| (a.first, a.last, a.delivery_count))
            .collect()
    };
    let opened = shares.session(session(0, vec![]), vec![], settings).await;
    assert_eq!(opened.unwrap().fetch, vec![p0]);
    assert_eq!(prepare(p0, &part0).await, Ok(vec![Ok(0)]));
    assert_eq!(got(acquire().await.unwrap()), vec![(0, 2, 1)]);

    flaky.set_failing(true);
    // The acknowledgement is not stored: not done, and memory does not claim it.
    let outcome = shares
        .session(session(1, accept(p0, 0, 1)), led.clone(), settings)
        .await;
    assert_eq!(
        outcome.unwrap().acks,
        vec![(p0, Err(E::CoordinatorNotAvailable))]
    );
    assert_eq!(stored(&flaky_kv(&flaky), 0).unwrap().start_offset, 0);
    // Nor is a new partition's start, nor an acquisition.
    assert_eq!(
        prepare(p1, &part1).await,
        Ok(vec![Err(E::CoordinatorNotAvailable)])
    );
    assert_eq!(prepare(p0, &part0).await, Ok(vec![Ok(0)]));
    assert_eq!(acquire().await, Ok(vec![Err(E::CoordinatorNotAvailable)]));
    assert!(stored(&flaky_kv(&flaky), 1).is_none());

    flaky.set_failing(false);
    // What the store holds: records 0-2 available after one delivery (the acquisition that
    // failed to be stored is gone with its locks), so they come again as the second.
    assert_eq!(prepare(p0, &part0).await, Ok(vec![Ok(0)]));
    assert_eq!(got(acquire().await.unwrap()), vec![(0, 2, 2)]);
    let outcome = shares
        .session(session(2, accept(p0, 0, 1)), led, settings)
        .await;
    assert_eq!(outcome.unwrap().acks, vec![(p0, Ok(()))]);
    assert_eq!(stored(&flaky_kv(&flaky), 0).unwrap().start_offset, 2);
    shares.shutdown();
}

fn flaky_kv(flaky: &Arc<Flaky>) -> Arc<dyn KvStore> {
    flaky.clone()
}

/// The group coordinator and the share leader on one store, as `app` wires them: a member
/// leaving the group (its heartbeat with epoch -1) has its records released here at once, and
/// a reset of the group's offsets replaces what the leader held.
#[tokio::test]
async fn the_coordinator_tells_the_leader_when_a_member_left_or_offsets_were_reset() {
    use crate::group::consumer::TopicLookup;
    use crate::group::share::ShareHeartbeat;
    use crate::group::{GroupConfig, GroupCoordinator};
    let kv: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let states: Arc<dyn crate::store::ShareStates> = Arc::new(KvShareStates::new(kv.clone()));
    let groups =
        GroupCoordinator::open(kv.clone(), GroupConfig::default(), states.clone()).unwrap();
    let earliest = [(
        "share.auto.offset.reset".to_string(),
        "earliest".to_string(),
    )];
    groups
        .group_configs()
        .set("g", BTreeMap::from(earliest))
        .unwrap();
    let settings = groups.share_settings("g");
    let shares = Arc::new(Shares::open(states, kv, groups.group_configs().clone(), 2000).unwrap());
    groups.set_share_events(shares.clone());
    let lookup: TopicLookup = Arc::new(|name: &str| (name == "t").then_some((TOPIC, 1)));
    let beat = |member: &str, epoch: i32| ShareHeartbeat {
        member_id: member.into(),
        epoch,
        subscribed_topic_names: (epoch == 0).then(|| vec!["t".to_string()]),
        ..Default::default()
    };
    let (key, p) = ((TOPIC, 0), partition(0));
    let fetch = |member: &str| {
        let (member, p) = (member.to_string(), p.clone());
        let shares = shares.clone();
        async move {
            let prepared = shares
                .prepare("g".into(), vec![(key, p, bounds(5))], settings)
                .await;
            assert!(matches!(prepared.as_deref(), Ok([Ok(_)])), "{prepared:?}");
            let read = vec![(key, spans(0, 4))];
            let got = shares
                .acquire("g".into(), member, read, LIMIT, settings)
                .await;
            let got: Vec<_> = got.unwrap().into_iter().flatten().flatten().collect();
            got.iter()
                .map(|a| (a.first, a.last, a.delivery_count))
                .collect::<Vec<_>>()
        }
    };
    let m = groups
        .share_heartbeat("g".into(), beat("m", 0), lookup.clone())
        .await;
    let n = groups
        .share_heartbeat("g".into(), beat("n", 0), lookup.clone())
        .await;
    let (m, n) = (m.unwrap(), n.unwrap());
    assert_eq!(fetch(&m.member_id).await, vec![(0, 4, 1)]);
    assert_eq!(fetch(&n.member_id).await, vec![], "all five are m's");
    let left = groups.share_heartbeat("g".into(), beat(&m.member_id, -1), lookup.clone());
    assert!(left.await.is_ok());
    assert_eq!(
        fetch(&n.member_id).await,
        vec![(0, 4, 2)],
        "released when m left"
    );

    // n leaves too; the offsets go back to 3 while the leader holds the old state.
    let gone = groups.share_heartbeat("g".into(), beat(&n.member_id, -1), lookup.clone());
    assert!(gone.await.is_ok());
    let reset = groups
        .share_alter_offsets("g".into(), vec![(key, "t-0".into(), 3)])
        .await;
    assert_eq!(reset, Ok(()));
    let prepared = shares
        .prepare("g".into(), vec![(key, p.clone(), bounds(5))], settings)
        .await;
    assert_eq!(prepared, Ok(vec![Ok(3)]));
    groups.shutdown();
    shares.shutdown();
}
