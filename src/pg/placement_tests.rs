use super::*;
use crate::pg::lease::Lease;
use crate::pg::notify::{self, Listener};
use crate::pg::testing;

const SESSION: Duration = Duration::from_millis(600);

fn endpoint(port: u16) -> Vec<Endpoint> {
    vec![Endpoint {
        name: "PLAINTEXT".into(),
        host: "127.0.0.1".into(),
        port,
    }]
}

/// Broker `node` registered and live (its lease held, not renewed).
fn join(db: &Db, node: i32) -> Lease {
    let lease = Lease::broker(db.clone(), node, SESSION);
    lease.try_acquire().unwrap();
    register(db, node, &endpoint(9000 + node as u16)).unwrap();
    lease
}

fn logs(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn partitions_are_spread_over_live_brokers_and_move_when_one_dies() {
    let pg = testing::database();
    let db = Db::open(&pg.url, Duration::from_secs(9)).unwrap();
    let leases: Vec<Lease> = (1..=3).map(|n| join(&db, n)).collect();
    let names = logs(&["t-0", "t-1", "t-2", "t-3", "t-4", "t-5"]);
    let placed = place(&db, &names, 1).unwrap();
    let mut per_node = BTreeMap::new();
    for leader in placed.values() {
        *per_node.entry(leader.node_id).or_insert(0) += 1;
    }
    assert_eq!(per_node, BTreeMap::from([(1, 2), (2, 2), (3, 2)]));
    // Placing again changes nothing (a second broker creating the same topic).
    assert_eq!(place(&db, &names, 1).unwrap(), placed);

    let snap = snapshot(&db).unwrap();
    assert_eq!(
        snap.members.keys().copied().collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(snap.members[&2].endpoints, endpoint(9002));
    assert_eq!(snap.leaders["t-0"], placed["t-0"]);
    assert_eq!(snap.coordinator, None);

    // Broker 2 stops renewing: once its lease expired, its partitions go to 1 and 3, each at
    // a newer epoch; the others stay where they are.
    for lease in [&leases[0], &leases[2]] {
        lease.renew().unwrap();
    }
    std::thread::sleep(SESSION / 2);
    for lease in [&leases[0], &leases[2]] {
        lease.renew().unwrap();
    }
    std::thread::sleep(SESSION / 2 + Duration::from_millis(100));
    let mut notices = Listener::new(db.clone(), notify::CATALOG);
    assert!(
        !notices.wait(Duration::from_millis(10)),
        "listening from now on"
    );
    let moves = rebalance(&db, Duration::from_secs(3600)).unwrap();
    assert_eq!(moves.len(), 2, "{moves:?}");
    // Every broker hears of the moves at once (the one they left stops answering for them).
    assert!(notices.wait(Duration::from_secs(30)));
    assert!(moves.iter().all(|(_, from, to)| *from == 2 && *to != 2));
    let after = snapshot(&db).unwrap();
    assert!(!after.members.contains_key(&2));
    for (log, before) in &placed {
        let now = after.leaders[log];
        if before.node_id == 2 {
            assert!(now.epoch > before.epoch);
            assert_ne!(now.node_id, 2);
        } else {
            assert_eq!(now, *before);
        }
    }
    // Nothing more to move, and nothing said.
    assert!(rebalance(&db, Duration::from_secs(3600))
        .unwrap()
        .is_empty());
    assert!(!notices.wait(Duration::from_millis(200)));

    // Broker 2 comes back: once settled, its preferred partitions return to it.
    let _back = join(&db, 2);
    for lease in [&leases[0], &leases[2]] {
        lease.renew().unwrap();
    }
    assert!(rebalance(&db, Duration::from_secs(3600))
        .unwrap()
        .is_empty());
    let moves = rebalance(&db, Duration::ZERO).unwrap();
    assert_eq!(moves.len(), 2, "{moves:?}");
    assert!(moves.iter().all(|(_, _, to)| *to == 2));

    // A new run of broker 3 fences what the earlier run led.
    let before = snapshot(&db).unwrap().leaders;
    assert_eq!(refence(&db, 3).unwrap(), 2);
    let after = snapshot(&db).unwrap().leaders;
    for (log, leader) in &after {
        if leader.node_id == 3 {
            assert!(leader.epoch > before[log].epoch);
        } else {
            assert_eq!(*leader, before[log]);
        }
    }
}

#[test]
fn a_registered_broker_whose_lease_expired_is_fenced() {
    let pg = testing::database();
    let db = Db::open(&pg.url, Duration::from_secs(9)).unwrap();
    let one = join(&db, 1);
    let _two = join(&db, 2);
    let snap = snapshot(&db).unwrap();
    assert_eq!(snap.members.keys().copied().collect::<Vec<_>>(), vec![1, 2]);
    assert!(snap.fenced.is_empty());
    // 2 stops renewing; 1 renews across its session.
    one.renew().unwrap();
    std::thread::sleep(SESSION / 2);
    one.renew().unwrap();
    std::thread::sleep(SESSION / 2 + Duration::from_millis(100));
    let snap = snapshot(&db).unwrap();
    assert_eq!(snap.members.keys().copied().collect::<Vec<_>>(), vec![1]);
    assert_eq!(snap.fenced.keys().copied().collect::<Vec<_>>(), vec![2]);
    assert_eq!(snap.fenced[&2].endpoints, endpoint(9002));
}

#[test]
fn the_coordinator_is_the_live_holder_of_its_lease() {
    let pg = testing::database();
    let db = Db::open(&pg.url, Duration::from_secs(9)).unwrap();
    let _one = join(&db, 1);
    let coordinator = Lease::coordinator(db.clone(), 1, SESSION);
    coordinator.try_acquire().unwrap();
    assert_eq!(snapshot(&db).unwrap().coordinator, Some(1));
    coordinator.release();
    assert_eq!(snapshot(&db).unwrap().coordinator, None);
}

/// A log's end is read from the last row's last whole batch (a row may hold several).
#[test]
fn a_log_ends_after_the_last_whole_batch_of_its_last_row() {
    fn batch(base: i64, delta: i32, body: usize) -> Vec<u8> {
        let length = i32::try_from(49 + body).unwrap();
        let mut b = Vec::new();
        b.extend(base.to_be_bytes());
        b.extend(length.to_be_bytes());
        b.extend([0u8; 11]); // leader epoch, magic, crc, attributes
        b.extend(delta.to_be_bytes());
        b.resize(12 + 49 + body, 0);
        b
    }
    let mut two = batch(10, 4, 3);
    two.extend(batch(15, 0, 0));
    assert_eq!(last_batch_end(&two), Some(16));
    let mut torn = batch(10, 4, 3);
    torn.extend(&batch(15, 0, 0)[..30]);
    assert_eq!(last_batch_end(&torn), Some(15));
    assert_eq!(last_batch_end(&[]), None);
}
