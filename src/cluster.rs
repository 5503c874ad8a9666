//! Who is in the cluster and who leads what, as the handlers see it.
//!
//! A broker on its own ([`SingleNode`]) is every broker, the controller, the leader and only
//! replica of every partition and the coordinator of every group and transactional id. In
//! cluster mode ([`SharedView`]) the answers come from the database's placement (live
//! brokers with their listeners, each partition's leader and epoch, the coordinator), as a
//! snapshot the broker refreshes on its tick.

use std::sync::{Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::pg::placement::Snapshot;

/// The cluster as one node sees it.
pub trait ClusterView: Send + Sync {
    /// The cluster's id (persisted, Kafka's base64url form).
    fn cluster_id(&self) -> &str;
    /// The node this process is.
    fn this_node(&self) -> i32;
    /// Every live broker's id, ascending.
    fn brokers(&self) -> Vec<i32>;
    /// The active controller's id.
    fn controller(&self) -> i32;
    /// The partition's leader, if one is known.
    fn leader(&self, topic: &str, partition: i32) -> Option<i32>;
    /// The partition's leader epoch.
    fn leader_epoch(&self, topic: &str, partition: i32) -> i32;
    /// The brokers said to hold a copy of a partition of `factor` replicas: the leader first,
    /// then the live brokers after it (the database holds the copies; every live broker can
    /// take the partition over, so all of them are in sync).
    fn replicas(&self, topic: &str, partition: i32, factor: i16) -> Vec<i32>;
    /// The coordinator of a group or transactional id, if a live broker is.
    fn coordinator(&self, key: &str) -> Option<i32>;
    /// Where another broker is reached on listener `listener` (this node's own address is
    /// the listener's the request came through).
    fn endpoint(&self, node: i32, listener: &str) -> Option<(String, u16)>;
    /// Registered brokers that are not live (Kafka's fenced brokers), ascending: none on a
    /// single node.
    fn fenced_brokers(&self) -> Vec<i32> {
        Vec::new()
    }
    /// Whether the view has a leader (live or not) for each of a topic's `partitions`: a
    /// topic taken in by a tick still running is held before the view has its leaders.
    fn places(&self, _topic: &str, _partitions: i32) -> bool {
        true
    }
    /// The refreshes of this view, where it has any (cluster mode's ticks).
    fn ticks(&self) -> Option<&Ticks> {
        None
    }
}

/// Counts the view's refreshes (ticks) begun and finished, so that a request which took in
/// a catalog change can wait for a refresh begun after it: only that one has the new
/// partitions placed, opened and in the view.
#[derive(Default)]
pub struct Ticks {
    /// (begun, finished); ticks run one at a time.
    counts: Mutex<(u64, u64)>,
    finished: Condvar,
}

impl Ticks {
    fn counts(&self) -> std::sync::MutexGuard<'_, (u64, u64)> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn begin(&self) {
        self.counts().0 += 1;
    }

    pub fn end(&self) {
        self.counts().1 += 1;
        self.finished.notify_all();
    }

    /// How many ticks have begun.
    pub fn begun(&self) -> u64 {
        self.counts().0
    }

    /// Wait up to `timeout` until a tick begun after `begun` were counted has finished
    /// (false if none did in time). Blocks: not on the async runtime.
    pub fn wait_after(&self, begun: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut counts = self.counts();
        while counts.1 <= begun {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            counts = self
                .finished
                .wait_timeout(counts, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }
}

/// A cluster of one: this node answers for everything.
pub struct SingleNode {
    node_id: i32,
    cluster_id: String,
}

impl SingleNode {
    pub fn new(node_id: i32, cluster_id: String) -> Self {
        Self {
            node_id,
            cluster_id,
        }
    }
}

impl ClusterView for SingleNode {
    fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    fn this_node(&self) -> i32 {
        self.node_id
    }

    fn brokers(&self) -> Vec<i32> {
        vec![self.node_id]
    }

    fn controller(&self) -> i32 {
        self.node_id
    }

    fn leader(&self, _topic: &str, _partition: i32) -> Option<i32> {
        Some(self.node_id)
    }

    fn leader_epoch(&self, _topic: &str, _partition: i32) -> i32 {
        0
    }

    fn replicas(&self, _topic: &str, _partition: i32, _factor: i16) -> Vec<i32> {
        vec![self.node_id]
    }

    fn coordinator(&self, _key: &str) -> Option<i32> {
        Some(self.node_id)
    }

    fn endpoint(&self, _node: i32, _listener: &str) -> Option<(String, u16)> {
        None
    }
}

/// A member of a cluster sharing one database: the view is the last snapshot of its
/// placement, replaced whole on every refresh.
pub struct SharedView {
    node_id: i32,
    cluster_id: String,
    snapshot: RwLock<Snapshot>,
    ticks: Ticks,
}

impl SharedView {
    pub fn new(node_id: i32, cluster_id: String, snapshot: Snapshot) -> Self {
        Self {
            node_id,
            cluster_id,
            snapshot: RwLock::new(snapshot),
            ticks: Ticks::default(),
        }
    }

    /// Replace the view with a newer snapshot.
    pub fn update(&self, snapshot: Snapshot) {
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = snapshot;
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Snapshot> {
        self.snapshot.read().unwrap_or_else(|e| e.into_inner())
    }

    fn leader_of(&self, topic: &str, partition: i32) -> Option<crate::pg::placement::Leader> {
        self.read()
            .leaders
            .get(&crate::pg::placement::log_name(topic, partition))
            .copied()
    }
}

impl ClusterView for SharedView {
    fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    fn this_node(&self) -> i32 {
        self.node_id
    }

    fn brokers(&self) -> Vec<i32> {
        let mut brokers: Vec<i32> = self.read().members.keys().copied().collect();
        if !brokers.contains(&self.node_id) {
            // This broker serves, so it is live, even if the snapshot predates it.
            brokers.push(self.node_id);
            brokers.sort_unstable();
        }
        brokers
    }

    /// Kafka's clients only need some broker that answers admin requests: the lowest live.
    fn controller(&self) -> i32 {
        self.brokers()[0]
    }

    /// Only a live broker leads: a dead one's partitions are moving.
    fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        let leader = self.leader_of(topic, partition)?.node_id;
        self.brokers().contains(&leader).then_some(leader)
    }

    fn leader_epoch(&self, topic: &str, partition: i32) -> i32 {
        self.leader_of(topic, partition).map_or(0, |l| l.epoch)
    }

    fn replicas(&self, topic: &str, partition: i32, factor: i16) -> Vec<i32> {
        let brokers = self.brokers();
        let Some(leader) = self.leader(topic, partition) else {
            return Vec::new();
        };
        let start = brokers.iter().position(|b| *b == leader).unwrap_or(0);
        let count = usize::try_from(factor).unwrap_or(1).clamp(1, brokers.len());
        brokers
            .iter()
            .cycle()
            .skip(start)
            .take(count)
            .copied()
            .collect()
    }

    fn coordinator(&self, _key: &str) -> Option<i32> {
        self.read().coordinator
    }

    fn fenced_brokers(&self) -> Vec<i32> {
        let live = self.brokers();
        self.read()
            .fenced
            .keys()
            .copied()
            .filter(|n| !live.contains(n))
            .collect()
    }

    fn endpoint(&self, node: i32, listener: &str) -> Option<(String, u16)> {
        let snapshot = self.read();
        snapshot
            .members
            .get(&node)
            .or_else(|| snapshot.fenced.get(&node))?
            .endpoints
            .iter()
            .find(|e| e.name == listener)
            .map(|e| (e.host.clone(), e.port))
    }

    fn places(&self, topic: &str, partitions: i32) -> bool {
        let snapshot = self.read();
        (0..partitions).all(|i| {
            let log = crate::pg::placement::log_name(topic, i);
            snapshot.leaders.contains_key(&log)
        })
    }

    fn ticks(&self) -> Option<&Ticks> {
        Some(&self.ticks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_needs_a_tick_begun_after_it() {
        let ticks = std::sync::Arc::new(Ticks::default());
        ticks.begin();
        let begun = ticks.begun();
        // The tick running when the wait began does not count.
        ticks.end();
        assert!(!ticks.wait_after(begun, Duration::from_millis(20)));
        let t = ticks.clone();
        let next = std::thread::spawn(move || {
            t.begin();
            t.end();
        });
        assert!(ticks.wait_after(begun, Duration::from_secs(10)));
        next.join().unwrap();
    }

    #[test]
    fn a_single_node_answers_for_everything() {
        let view = SingleNode::new(7, "abc".into());
        assert_eq!(view.cluster_id(), "abc");
        assert_eq!(view.brokers(), vec![7]);
        assert_eq!(view.controller(), 7);
        assert_eq!(view.leader("t", 3), Some(7));
        assert_eq!(view.replicas("t", 0, 3), vec![7]);
        assert_eq!(view.coordinator("group"), Some(7));
    }

    #[test]
    fn a_shared_view_answers_from_its_snapshot() {
        use crate::pg::placement::{Endpoint, Leader, Member};
        let member = |node_id| Member {
            node_id,
            endpoints: vec![Endpoint {
                name: "PLAINTEXT".into(),
                host: format!("h{node_id}"),
                port: 9092,
            }],
            registered_ms: 0,
        };
        let mut snapshot = Snapshot::default();
        for n in [1, 2, 3] {
            snapshot.members.insert(n, member(n));
        }
        snapshot.leaders.insert(
            "t-0".into(),
            Leader {
                node_id: 3,
                epoch: 12,
            },
        );
        snapshot.leaders.insert(
            "t-1".into(),
            Leader {
                node_id: 4,
                epoch: 2,
            },
        );
        snapshot.coordinator = Some(2);
        let view = SharedView::new(1, "abc".into(), snapshot);
        assert_eq!(view.brokers(), vec![1, 2, 3]);
        assert_eq!(view.controller(), 1);
        assert_eq!(view.leader("t", 0), Some(3));
        assert_eq!(view.leader_epoch("t", 0), 12);
        assert_eq!(view.replicas("t", 0, 3), vec![3, 1, 2]);
        assert_eq!(view.replicas("t", 0, 2), vec![3, 1]);
        assert_eq!(view.leader("t", 1), None, "broker 4 is not live");
        assert_eq!(view.replicas("t", 1, 3), Vec::<i32>::new());
        assert_eq!(view.coordinator("g"), Some(2));
        assert_eq!(view.endpoint(2, "PLAINTEXT"), Some(("h2".into(), 9092)));
        assert_eq!(view.endpoint(2, "SSL"), None);
        assert_eq!(view.endpoint(4, "PLAINTEXT"), None);
        assert_eq!(view.fenced_brokers(), Vec::<i32>::new());
    }

    #[test]
    fn fenced_brokers_are_the_registered_ones_not_live() {
        use crate::pg::placement::{Endpoint, Member};
        let member = |node_id| Member {
            node_id,
            endpoints: vec![Endpoint {
                name: "PLAINTEXT".into(),
                host: format!("h{node_id}"),
                port: 9092,
            }],
            registered_ms: 0,
        };
        let mut snapshot = Snapshot::default();
        snapshot.members.insert(2, member(2));
        // 1 is this broker, which serves (live) though the snapshot saw its lease expired.
        for n in [1, 3, 5] {
            snapshot.fenced.insert(n, member(n));
        }
        let view = SharedView::new(1, "abc".into(), snapshot);
        assert_eq!(view.brokers(), vec![1, 2]);
        assert_eq!(view.fenced_brokers(), vec![3, 5]);
        assert_eq!(view.endpoint(5, "PLAINTEXT"), Some(("h5".into(), 9092)));
        assert_eq!(
            SingleNode::new(7, "abc".into()).fenced_brokers(),
            Vec::<i32>::new()
        );
    }
}
