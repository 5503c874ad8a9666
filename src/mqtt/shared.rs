//! Shared subscriptions (`$share/GROUP/FILTER`, MQTT 5 §4.8.2; Mosquitto takes them in 3.1.1
//! too): each message reaches one member of the group. gregor shares by Kafka partition, as a
//! consumer group does: every partition the group's filters read has one owner among the
//! members, which reads it from the group's committed offsets (the Kafka group
//! `mqtt-share-<GROUP>`) and commits as it goes. Ownership is sticky: a partition changes owner
//! only when its owner leaves the group (it commits first, so the next owner carries on where
//! it stopped); a new member gets the partitions nobody owns (those that appear later, those a
//! leaving member gave up). So messages of one partition (one MQTT topic: its key) go to one
//! member at a time, and a topic of one partition to one member while it stays.
//!
//! The owners live in this broker's memory (one broker; cluster mode would need them in the
//! database).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use super::kafka::Tp;

/// The Kafka group whose offsets a share group's positions are.
pub fn kafka_group(group: &str) -> String {
    format!("mqtt-share-{group}")
}

/// Who owns each partition of each share group.
#[derive(Default)]
pub struct Owners {
    groups: Mutex<HashMap<String, BTreeMap<Tp, u64>>>,
}

impl Owners {
    /// Give `member` those of `wanted` that nobody in `group` owns; returns them.
    pub fn claim(&self, group: &str, member: u64, wanted: impl IntoIterator<Item = Tp>) -> Vec<Tp> {
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        let owners = groups.entry(group.to_string()).or_default();
        let mut claimed = Vec::new();
        for tp in wanted {
            if let std::collections::btree_map::Entry::Vacant(v) = owners.entry(tp.clone()) {
                v.insert(member);
                claimed.push(tp);
            }
        }
        claimed
    }

    /// `member` leaves `group`: its partitions are free for the others.
    pub fn release(&self, group: &str, member: u64) {
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(owners) = groups.get_mut(group) {
            owners.retain(|_, m| *m != member);
            if owners.is_empty() {
                groups.remove(group);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_stay_with_their_owner_until_it_leaves() {
        let owners = Owners::default();
        let tp = |p: i32| ("sensors".to_string(), p);
        assert_eq!(owners.claim("g", 1, [tp(0), tp(1)]), [tp(0), tp(1)]);
        assert_eq!(owners.claim("g", 2, [tp(0), tp(1), tp(2)]), [tp(2)]);
        assert_eq!(
            owners.claim("other", 2, [tp(0)]),
            [tp(0)],
            "groups are apart"
        );
        owners.release("g", 1);
        assert_eq!(owners.claim("g", 2, [tp(0), tp(1)]), [tp(0), tp(1)]);
        assert!(owners.claim("g", 3, [tp(0), tp(1), tp(2)]).is_empty());
        owners.release("g", 2);
        owners.release("g", 3);
        assert_eq!(owners.claim("g", 3, [tp(2)]), [tp(2)]);
        assert_eq!(kafka_group("g"), "mqtt-share-g");
    }
}
