//! Group configs (Kafka's `GroupConfig`, set with IncrementalAlterConfigs on a GROUP
//! resource): the share group settings gregor applies, kept in the metadata store
//! (`groupconfig/<group>`) and in memory. A group's configs may be set before it exists.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use super::coordinator::ShareSettings;
use super::share::partition::Limits;
use crate::store::{KvStore, WriteOp};

const PREFIX: &[u8] = b"groupconfig/";

pub const SHARE_AUTO_OFFSET_RESET: &str = "share.auto.offset.reset";
pub const SHARE_RECORD_LOCK_DURATION_MS: &str = "share.record.lock.duration.ms";
pub const SHARE_DELIVERY_COUNT_LIMIT: &str = "share.delivery.count.limit";
pub const SHARE_ISOLATION_LEVEL: &str = "share.isolation.level";

/// The configs gregor takes, with Kafka's bounds (the broker's `group.share.min/max.*`
/// defaults): Err is the message of INVALID_CONFIG.
pub fn check(name: &str, value: &str) -> Result<(), String> {
    let int_in = |lo: i64, hi: i64| match value.trim().parse::<i64>() {
        Ok(v) if (lo..=hi).contains(&v) => Ok(()),
        Ok(_) => Err(format!(
            "Invalid value {value} for configuration {name}: Value must be between {lo} and {hi}"
        )),
        Err(_) => Err(format!(
            "Invalid value {value} for configuration {name}: Not a number of type INT"
        )),
    };
    match name {
        SHARE_AUTO_OFFSET_RESET => match value {
            "latest" | "earliest" => Ok(()),
            _ => Err(format!(
                "Invalid value {value} for configuration {name}: gregor takes latest or earliest"
            )),
        },
        SHARE_RECORD_LOCK_DURATION_MS => int_in(15_000, 60_000),
        SHARE_DELIVERY_COUNT_LIMIT => int_in(2, 10),
        SHARE_ISOLATION_LEVEL => match value {
            "read_uncommitted" => Ok(()),
            _ => Err(format!(
                "Invalid value {value} for configuration {name}: gregor's share groups read uncommitted"
            )),
        },
        _ => Err(format!("Unknown group config name: {name}")),
    }
}

pub struct GroupConfigs {
    store: Arc<dyn KvStore>,
    configs: RwLock<HashMap<String, BTreeMap<String, String>>>,
}

impl GroupConfigs {
    pub fn open(store: Arc<dyn KvStore>) -> anyhow::Result<Self> {
        let mut configs = HashMap::new();
        for (key, value) in store.scan_prefix(PREFIX)? {
            let id = String::from_utf8_lossy(&key[PREFIX.len()..]).into_owned();
            match serde_json::from_slice(&value) {
                Ok(c) => {
                    configs.insert(id, c);
                }
                Err(e) => {
                    tracing::warn!(group = %id, error = %e, "skipping unreadable group configs")
                }
            }
        }
        Ok(Self {
            store,
            configs: RwLock::new(configs),
        })
    }

    pub fn get(&self, group: &str) -> BTreeMap<String, String> {
        let configs = self.configs.read().unwrap_or_else(|e| e.into_inner());
        configs.get(group).cloned().unwrap_or_default()
    }

    /// Replace a group's configs (checked by the caller). Blocks on the store.
    pub fn set(&self, group: &str, configs: BTreeMap<String, String>) -> anyhow::Result<()> {
        let key = [PREFIX, group.as_bytes()].concat();
        let op = if configs.is_empty() {
            WriteOp::Delete(key)
        } else {
            WriteOp::Put(key, serde_json::to_vec(&configs)?)
        };
        self.store.write(vec![op])?;
        let mut all = self.configs.write().unwrap_or_else(|e| e.into_inner());
        if configs.is_empty() {
            all.remove(group);
        } else {
            all.insert(group.to_string(), configs);
        }
        Ok(())
    }

    /// The share settings of a group: its configs over Kafka's defaults.
    pub fn share_settings(&self, group: &str) -> ShareSettings {
        let configs = self.configs.read().unwrap_or_else(|e| e.into_inner());
        let c = configs.get(group);
        let get = |name: &str| c.and_then(|c| c.get(name));
        let defaults = Limits::default();
        ShareSettings {
            earliest: get(SHARE_AUTO_OFFSET_RESET).is_some_and(|v| v == "earliest"),
            limits: Limits {
                lock_ms: get(SHARE_RECORD_LOCK_DURATION_MS)
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(defaults.lock_ms),
                delivery_limit: get(SHARE_DELIVERY_COUNT_LIMIT)
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(defaults.delivery_limit),
                ..defaults
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_are_checked_and_kept() {
        let store: Arc<dyn KvStore> = Arc::new(crate::store::MemoryStore::new());
        let configs = GroupConfigs::open(store.clone()).unwrap();
        assert!(check(SHARE_AUTO_OFFSET_RESET, "earliest").is_ok());
        assert!(check(SHARE_AUTO_OFFSET_RESET, "sideways").is_err());
        assert!(check(SHARE_DELIVERY_COUNT_LIMIT, "11").is_err());
        assert!(check(SHARE_RECORD_LOCK_DURATION_MS, "15000").is_ok());
        assert!(check("share.nonsense", "1").is_err());
        let set = BTreeMap::from([
            (SHARE_AUTO_OFFSET_RESET.to_string(), "earliest".to_string()),
            (SHARE_DELIVERY_COUNT_LIMIT.to_string(), "2".to_string()),
        ]);
        configs.set("g", set).unwrap();
        let reopened = GroupConfigs::open(store).unwrap();
        let s = reopened.share_settings("g");
        assert!(s.earliest);
        assert_eq!(s.limits.delivery_limit, 2);
        assert_eq!(s.limits.lock_ms, 30_000);
        assert_eq!(reopened.share_settings("other"), ShareSettings::default());
    }
}
