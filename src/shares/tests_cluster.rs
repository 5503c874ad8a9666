//! The share leader in cluster mode: two brokers (node 1 and 2) on one PostgreSQL database,
//! each with its own `PgLogs` and `Shares` runtime over `PgShareStates`, as `app` wires them.
//! A partition moving from one to the other keeps what was accepted and redelivers what was
//! in flight; the old leader's late writes are refused; a reset of the group's offsets
//! reaches a copy held elsewhere; the coordinator's notices release a member's records.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::ResponseError as E;

use super::notices::{self, Announcer};
use super::*;
use crate::group::configs::GroupConfigs;
use crate::group::record::{self, GroupRecord};
use crate::group::share::partition::{Ack, AcquireMode, SharePartition, ACCEPT};
use crate::group::share::ShareGroup;
use crate::log::storage::postgres::PgLogs;
use crate::log::{Backing, LogConfig, PartitionLog};
use crate::meta::Durability;
use crate::pg::Db;
use crate::store::{KvStore, PgShareStates, PgStore, ShareStateKey, StoredState};

const TOPIC: Uuid = Uuid::from_u128(3);
const KEY: ShareKey = (TOPIC, 0);

/// The cluster's database, its key-value store holding share group `g` (earliest), the
/// group's configs, and a directory for the brokers' caches.
struct Cluster {
    db: Db,
    kv: Arc<dyn KvStore>,
    configs: Arc<GroupConfigs>,
    settings: ShareSettings,
    cache: tempfile::TempDir,
    _pg: crate::pg::testing::TestDb,
}

impl Cluster {
    fn new() -> Self {
        let pg = crate::pg::testing::database();
        let db = Db::open(&pg.url, Duration::from_secs(9)).unwrap();
        let kv: Arc<dyn KvStore> = Arc::new(PgStore::new(db.clone()));
        let group = GroupRecord::of_share(&ShareGroup::default());
        kv.put(
            &record::group_key("g"),
            &serde_json::to_vec(&group).unwrap(),
        )
        .unwrap();
        let configs = Arc::new(GroupConfigs::open(kv.clone()).unwrap());
        let earliest = [("share.auto.offset.reset", "earliest")];
        let set: BTreeMap<String, String> = earliest
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        configs.set("g", set).unwrap();
        let settings = configs.share_settings("g");
        Self {
            db,
            kv,
            configs,
            settings,
            cache: tempfile::TempDir::new().unwrap(),
            _pg: pg,
        }
    }

    /// Broker `node` takes partition t-0 (a new leader epoch, its own opening) and its share
    /// leader adopts it, as the cluster tick does.
    fn lead(&self, node: i32) -> (Arc<Shares>, Arc<Partition>) {
        let logs = PgLogs::new(
            self.db.clone(),
            node,
            self.cache.path().join(node.to_string()),
        )
        .unwrap();
        let log = PartitionLog::open(
            Backing::Storage(logs.open("t-0").unwrap()),
            LogConfig::default(),
        )
        .unwrap();
        let p = Arc::new(Partition::new("t", 0, log, Durability::Fsync, Arc::default()).unwrap());
        let states = Arc::new(PgShareStates::new(self.db.clone()));
        let shares = Shares::open(states, self.kv.clone(), self.configs.clone(), 2000).unwrap();
        shares
            .follow(vec![("t-0".into(), TOPIC, 0, p.clone())])
            .unwrap();
        (Arc::new(shares), p)
    }

    fn stored(&self) -> StoredState {
        let states = PgShareStates::new(self.db.clone());
        crate::store::ShareStates::load(&states, &ShareStateKey::new("g", TOPIC, 0))
            .unwrap()
            .expect("a stored state")
    }
}

/// Await `f` outside any runtime of the test thread's (the PostgreSQL client the test's own
/// calls use starts one of its own, which cannot run inside another).
fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn bounds(high_watermark: i64) -> LogBounds {
    LogBounds {
        log_start: 0,
        high_watermark,
    }
}

/// Where the member's fetch of t-0 reads, then what it acquires of `first..=last`.
async fn fetch(
    c: &Cluster,
    shares: &Shares,
    p: &Arc<Partition>,
    member: &str,
    (first, last): (i64, i64),
) -> Result<Vec<(i64, i64, i16)>, E> {
    let prepared = shares
        .prepare(
            "g".into(),
            vec![(KEY, p.clone(), bounds(last + 1))],
            c.settings,
        )
        .await?;
    let [offset] = prepared.as_slice() else {
        panic!("one partition prepared: {prepared:?}");
    };
    let offset = (*offset)?;
    let read = vec![(
        KEY,
        vec![Span {
            first: offset.max(first),
            last,
            skip: false,
        }],
    )];
    let limit = FetchLimit {
        max_records: 100,
        mode: AcquireMode::BatchOptimized,
    };
    let got = shares
        .acquire("g".into(), member.into(), read, limit, c.settings)
        .await?;
    let [got] = <[_; 1]>::try_from(got).expect("one partition acquired");
    Ok(got?
        .iter()
        .map(|a| (a.first, a.last, a.delivery_count))
        .collect())
}

/// The member's session step on t-0: epoch 0 opens it, later epochs accept `accept`.
async fn session(
    c: &Cluster,
    shares: &Shares,
    p: &Arc<Partition>,
    member: &str,
    epoch: i32,
    accept: Option<(i64, i64)>,
) -> Vec<Result<(), E>> {
    let acks: Vec<(ShareKey, Vec<Ack>)> = accept
        .map(|(first, last)| {
            let types = vec![ACCEPT];
            vec![(KEY, vec![Ack { first, last, types }])]
        })
        .unwrap_or_default();
    let req = SessionRequest {
        group_id: "g".into(),
        member_id: member.into(),
        epoch,
        connection: 1,
        fetch: Some(vec![KEY]),
        forgotten: Vec::new(),
        acks,
    };
    let outcome = shares
        .session(req, vec![(KEY, p.clone())], c.settings)
        .await
        .unwrap();
    outcome.acks.into_iter().map(|(_, r)| r).collect()
}

/// Node 1 leads t-0: m1 takes 0-9 and accepts 0-4, m2 takes 10-14. Node 1 stops writing (as
/// if killed) and node 2 takes the partition: it delivers 5-14 again (a second delivery),
/// never 0-4, then 15 onwards for the first time. Node 1's late acknowledgement of 5-9 is
/// refused by the database (NOT_LEADER_OR_FOLLOWER; the handler answers a partition it no
/// longer leads UNKNOWN_TOPIC_OR_PARTITION) and changes nothing stored.
#[test]
fn a_new_leader_keeps_accepted_records_and_redelivers_those_in_flight() {
    let c = Cluster::new();
    let (one, p1) = c.lead(1);
    assert_eq!(run(session(&c, &one, &p1, "m1", 0, None)), vec![]);
    assert_eq!(run(fetch(&c, &one, &p1, "m1", (0, 9))), Ok(vec![(0, 9, 1)]));
    assert_eq!(
        run(session(&c, &one, &p1, "m1", 1, Some((0, 4)))),
        vec![Ok(())]
    );
    assert_eq!(
        run(fetch(&c, &one, &p1, "m2", (0, 14))),
        Ok(vec![(10, 14, 1)])
    );

    let (two, p2) = c.lead(2);
    assert_eq!(
        run(fetch(&c, &two, &p2, "m3", (0, 19))),
        Ok(vec![(5, 14, 2), (15, 19, 1)])
    );
    let stored = c.stored();
    assert_eq!(stored.leader_epoch, p2.leader_epoch().unwrap());

    assert!(p1.is_led(), "node 1 has not heard yet");
    assert_eq!(
        run(session(&c, &one, &p1, "m1", 2, Some((5, 9)))),
        vec![Err(E::NotLeaderOrFollower)]
    );
    assert!(
        !p1.is_led(),
        "a fenced write tells the copy it lost the partition"
    );
    assert_eq!(c.stored(), stored);
    one.shutdown();
    two.shutdown();
}

/// The group's offsets are reset (AlterShareGroupOffsets through the store, as the
/// coordinator does) while node 2 holds a copy of the state and no notice reaches it: the
/// copy's next write is refused (NOT_LEADER_OR_FOLLOWER, the copy dropped) and the fetch
/// after it starts from the reset offset.
#[test]
fn a_reset_while_another_node_holds_a_copy_is_reloaded() {
    let c = Cluster::new();
    let (two, p2) = c.lead(2);
    assert_eq!(run(fetch(&c, &two, &p2, "m", (0, 4))), Ok(vec![(0, 4, 1)]));
    let fresh = serde_json::to_vec(&SharePartition::new(3).to_record()).unwrap();
    let states = PgShareStates::new(c.db.clone());
    let key = ShareStateKey::new("g", TOPIC, 0);
    crate::store::ShareStates::reset(&states, &key, "t-0", 3, fresh).unwrap();

    assert_eq!(
        run(fetch(&c, &two, &p2, "m", (0, 9))),
        Err(E::NotLeaderOrFollower)
    );
    assert_eq!(run(fetch(&c, &two, &p2, "m", (0, 9))), Ok(vec![(3, 9, 1)]));
    assert!(p2.is_led(), "a reset is not a lost leadership");
    two.shutdown();
}

/// The coordinator's news that a member left, sent as a PostgreSQL notice, reaches the
/// leader's listener and releases the member's records there at once.
#[test]
fn a_member_left_notice_releases_its_records_on_the_leader() {
    let c = Cluster::new();
    let (two, p2) = c.lead(2);
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    notices::listen(c.db.clone(), two.clone(), move || {
        stopped.load(Ordering::Relaxed)
    })
    .unwrap();
    assert_eq!(run(fetch(&c, &two, &p2, "m1", (0, 4))), Ok(vec![(0, 4, 1)]));
    assert_eq!(run(fetch(&c, &two, &p2, "m2", (0, 4))), Ok(vec![]));

    // The listener may not be listening yet when the first notice goes: announce again until
    // it is heard (a notice is a hint, repeating it changes nothing).
    let announcer: Arc<dyn crate::group::coordinator::ShareEvents> =
        Arc::new(Announcer::new(c.db.clone()));
    let mut got = Vec::new();
    for _ in 0..50 {
        announcer.member_left("g", "m1");
        std::thread::sleep(Duration::from_millis(100));
        got = run(fetch(&c, &two, &p2, "m2", (0, 4))).unwrap();
        if !got.is_empty() {
            break;
        }
    }
    assert_eq!(got, vec![(0, 4, 2)]);
    stop.store(true, Ordering::Relaxed);
    two.shutdown();
}
