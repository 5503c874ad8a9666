//! The dynamic broker configs (`meta::broker_configs`) the topics service keeps: persisted in
//! the metadata store (shared by the cluster in cluster mode), read again on every cluster
//! tick, and applied at once to every topic that does not override them.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::Topics;
use crate::error::{BrokerError, Result};
use crate::log::LogConfig;
use crate::meta::broker_configs::{self, DynamicConfigs, Scope, CLEANER_BACKOFF_MS};
use crate::meta::{self, Topic, TopicConfig};
use crate::store::StoreError;

const CLUSTER_KEY: &str = "broker-config/default";

fn node_key(node_id: i32) -> String {
    format!("broker-config/node/{node_id}")
}

impl Topics {
    fn scope_key(&self, scope: Scope) -> String {
        match scope {
            Scope::ClusterDefault => CLUSTER_KEY.to_string(),
            Scope::ThisNode => node_key(self.config.node_id()),
        }
    }

    /// The dynamic broker configs in force here.
    pub fn broker_configs(&self) -> Arc<DynamicConfigs> {
        meta::read(&self.dynamic).clone()
    }

    /// A topic's configs as they apply: its overrides, then what the dynamic broker configs
    /// give (the static broker settings come after, as each reader's default).
    pub fn effective_config(&self, topic: &Topic) -> TopicConfig {
        self.with_broker_defaults(topic.config())
    }

    pub(super) fn with_broker_defaults(&self, overrides: TopicConfig) -> TopicConfig {
        let mut config = overrides;
        let defaults = meta::read(&self.topic_defaults).clone();
        for (name, value) in defaults.iter() {
            if !config.0.contains_key(name) {
                config.0.insert(name.clone(), value.clone());
            }
        }
        config
    }

    /// A partition log's settings under these topic overrides.
    pub(super) fn log_config_of(&self, overrides: &TopicConfig) -> LogConfig {
        self.with_broker_defaults(overrides.clone())
            .log_config(&self.log_defaults)
    }

    /// The pause between log cleaner passes (`log.cleaner.backoff.ms`).
    pub fn cleaner_backoff_ms(&self) -> u64 {
        self.broker_configs()
            .value(CLEANER_BACKOFF_MS)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(self.config.log_cleaner_backoff_ms)
    }

    /// Change the dynamic configs of one scope (IncrementalAlterConfigs, AlterConfigs on a
    /// BROKER resource): what changed is checked as Kafka checks it, persisted, then applied.
    pub fn alter_broker_configs(
        &self,
        scope: Scope,
        change: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>>,
        validate_only: bool,
    ) -> Result<()> {
        let _admin = self.admin_lock();
        let current = self.broker_configs();
        let was = current.of(scope);
        let next = change(was)?;
        let changed: BTreeMap<String, String> = next
            .iter()
            .filter(|(name, value)| was.get(*name) != Some(*value))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        broker_configs::check(&changed)?;
        if validate_only || next == *was {
            return Ok(());
        }
        let value =
            serde_json::to_vec(&next).map_err(|e| BrokerError::UnknownServer(e.to_string()))?;
        self.store.put(self.scope_key(scope).as_bytes(), &value)?;
        self.announce();
        let mut all = (*current).clone();
        match scope {
            Scope::ClusterDefault => all.cluster = next,
            Scope::ThisNode => all.node = next,
        }
        tracing::info!(?scope, configs = ?all.of(scope), "altered dynamic broker configs");
        self.apply_broker_configs(all);
        Ok(())
    }

    /// Read the dynamic configs from the store (again: in cluster mode other brokers change
    /// the cluster-wide defaults) and apply them when they changed. Blocks on the store.
    pub fn reload_broker_configs(&self) -> std::result::Result<(), StoreError> {
        let read = |key: String| -> std::result::Result<BTreeMap<String, String>, StoreError> {
            match self.store.get(key.as_bytes())? {
                None => Ok(BTreeMap::new()),
                Some(value) => serde_json::from_slice(&value)
                    .map_err(|e| StoreError(format!("dynamic broker configs {key}: {e}"))),
            }
        };
        let stored = DynamicConfigs {
            cluster: read(self.scope_key(Scope::ClusterDefault))?,
            node: read(self.scope_key(Scope::ThisNode))?,
        };
        if stored != *self.broker_configs() {
            self.apply_broker_configs(stored);
        }
        Ok(())
    }

    /// Put new dynamic configs in force and give every partition its log settings under them.
    fn apply_broker_configs(&self, configs: DynamicConfigs) {
        *meta::write(&self.topic_defaults) = Arc::new(configs.topic_defaults());
        *meta::write(&self.dynamic) = Arc::new(configs);
        for topic in self.all() {
            let log_config = self.log_config_of(&topic.config());
            for partition in topic.partitions() {
                partition.set_config(log_config.clone());
            }
        }
    }
}
