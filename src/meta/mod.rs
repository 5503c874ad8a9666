//! The topic catalog: which topics exist, under which ids, with which configs and partitions.

pub mod broker_configs;
pub mod config_view;
pub mod limits;
pub mod topic_config;

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard};

use uuid::Uuid;

use crate::error::BrokerError;

pub use crate::partition::{Durability, Partition};
pub use topic_config::TopicConfig;

pub struct Topic {
    pub name: String,
    pub id: Uuid,
    /// As created (1 when not given): cluster mode reports that many replicas.
    pub replication_factor: i16,
    pub config: RwLock<TopicConfig>,
    pub partitions: RwLock<Vec<Arc<Partition>>>,
}

impl Topic {
    pub fn partition(&self, index: i32) -> Option<Arc<Partition>> {
        let index = usize::try_from(index).ok()?;
        read(&self.partitions).get(index).cloned()
    }

    /// The partition, if this broker leads it: UNKNOWN_TOPIC_OR_PARTITION for one the topic
    /// does not have, NOT_LEADER_OR_FOLLOWER for one another broker leads.
    pub fn led_partition(&self, index: i32) -> Result<Arc<Partition>, BrokerError> {
        match self.partition(index) {
            Some(p) if p.is_led() => Ok(p),
            Some(_) => Err(BrokerError::NotLeaderOrFollower),
            None => Err(BrokerError::UnknownTopicOrPartition),
        }
    }

    pub fn partition_count(&self) -> i32 {
        read(&self.partitions).len() as i32
    }

    pub fn partitions(&self) -> Vec<Arc<Partition>> {
        read(&self.partitions).clone()
    }

    pub fn config(&self) -> TopicConfig {
        read(&self.config).clone()
    }
}

/// Read a lock that a panicking writer may have poisoned: our writers replace whole values.
pub fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

pub fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

/// Every topic by name and by id.
#[derive(Default)]
pub struct TopicRegistry {
    maps: RwLock<Maps>,
}

#[derive(Default)]
struct Maps {
    by_name: HashMap<String, Arc<Topic>>,
    by_id: HashMap<Uuid, Arc<Topic>>,
}

impl TopicRegistry {
    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        read(&self.maps).by_name.get(name).cloned()
    }

    pub fn by_id(&self, id: &Uuid) -> Option<Arc<Topic>> {
        read(&self.maps).by_id.get(id).cloned()
    }

    /// All topics, sorted by name.
    pub fn all(&self) -> Vec<Arc<Topic>> {
        let mut topics: Vec<_> = read(&self.maps).by_name.values().cloned().collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        topics
    }

    /// Insert unless the name is taken; returns false if it was.
    pub fn insert(&self, topic: Arc<Topic>) -> bool {
        let mut maps = write(&self.maps);
        if maps.by_name.contains_key(&topic.name) {
            return false;
        }
        maps.by_id.insert(topic.id, topic.clone());
        maps.by_name.insert(topic.name.clone(), topic);
        true
    }

    /// An existing topic whose name collides with `name` ('.' against '_', Kafka's rule).
    pub fn colliding(&self, name: &str) -> Option<String> {
        let maps = read(&self.maps);
        limits::colliding_topic(name, maps.by_name.keys().map(String::as_str)).map(str::to_string)
    }

    /// Partitions of every topic together.
    pub fn partition_total(&self) -> u64 {
        read(&self.maps)
            .by_name
            .values()
            .map(|t| u64::try_from(t.partition_count()).unwrap_or(0))
            .sum()
    }

    pub fn remove(&self, name: &str) -> Option<Arc<Topic>> {
        let mut maps = write(&self.maps);
        let topic = maps.by_name.remove(name)?;
        maps.by_id.remove(&topic.id);
        Some(topic)
    }
}
