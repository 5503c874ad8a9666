//! Who is in the cluster and who leads what, as the handlers see it.
//!
//! Today gregor is one node: it is every broker, the controller, the leader and only replica
//! of every partition and the coordinator of every group and transactional id. Handlers ask
//! this view instead of assuming so, which is the seam a cluster of brokers (sharing a store)
//! answers through.

/// The cluster as one node sees it.
pub trait ClusterView: Send + Sync {
    /// The cluster's id (persisted, Kafka's base64url form).
    fn cluster_id(&self) -> &str;
    /// The node this process is.
    fn this_node(&self) -> i32;
    /// Every broker's id, ascending.
    fn brokers(&self) -> Vec<i32>;
    /// The active controller's id.
    fn controller(&self) -> i32;
    /// The partition's leader, if one is known.
    fn leader(&self, topic: &str, partition: i32) -> Option<i32>;
    /// The brokers holding a copy of the partition (the in-sync ones too, for now).
    fn replicas(&self, topic: &str, partition: i32) -> Vec<i32>;
    /// The coordinator of a group or transactional id.
    fn coordinator(&self, key: &str) -> i32;
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

    fn replicas(&self, _topic: &str, _partition: i32) -> Vec<i32> {
        vec![self.node_id]
    }

    fn coordinator(&self, _key: &str) -> i32 {
        self.node_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_node_answers_for_everything() {
        let view = SingleNode::new(7, "abc".into());
        assert_eq!(view.cluster_id(), "abc");
        assert_eq!(view.brokers(), vec![7]);
        assert_eq!(view.controller(), 7);
        assert_eq!(view.leader("t", 3), Some(7));
        assert_eq!(view.replicas("t", 0), vec![7]);
        assert_eq!(view.coordinator("group"), 7);
    }
}
