//! The broker's shared state: identity, topics with their partition logs, the metadata
//! store, and the topic administration every API handler goes through.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use anyhow::Context;
use uuid::Uuid;

use crate::config::{Config, FsyncPolicy, StorageKind};
use crate::error::{BrokerError, Result};
use crate::group::{GroupConfig, GroupCoordinator};
use crate::log::retention::Retention;
use crate::log::{Backing, LogConfig, PartitionLog};
use crate::meta::{self, Durability, Partition, Topic, TopicConfig, TopicRegistry};
use crate::metrics::Metrics;
use crate::store::{self, KvStore, MemoryStore};
use crate::txn::coordinator::TxnCoordinator;

mod topic_admin;
mod txn_io;
pub use topic_admin::NewTopic;

const CLUSTER_ID_KEY: &[u8] = b"cluster/id";
const TOPIC_PREFIX: &str = "topic/";

/// A topic as persisted in the metadata store.
#[derive(serde::Serialize, serde::Deserialize)]
struct TopicRecord {
    id: Uuid,
    partitions: i32,
    #[serde(default)]
    configs: BTreeMap<String, String>,
}

pub struct Broker {
    pub config: Config,
    pub node_id: i32,
    pub cluster_id: String,
    pub topics: TopicRegistry,
    store: Arc<dyn KvStore>,
    /// Consumer groups and committed offsets.
    pub groups: GroupCoordinator,
    /// Counters and histograms for /metrics (see src/metrics).
    pub metrics: Arc<Metrics>,
    /// Transactions (transactional ids, markers, timeouts) and producer ids.
    pub txns: TxnCoordinator,
    /// Where partition logs live; None keeps them in memory.
    logs_dir: Option<PathBuf>,
    pub(crate) log_defaults: LogConfig,
    /// Serialises topic creation, deletion and growth (they touch files and the store).
    admin: Mutex<()>,
    /// Most partitions this broker holds (`max_broker_partitions`, or derived from the
    /// descriptor limit).
    pub max_partitions: u64,
}

impl Broker {
    /// Open the store, load every topic (recovering its logs) and ensure the configured
    /// topics exist.
    pub fn open(config: Config) -> anyhow::Result<Arc<Self>> {
        let (store, logs_dir): (Arc<dyn KvStore>, _) = match config.storage {
            StorageKind::Memory => (Arc::new(MemoryStore::new()), None),
            StorageKind::Disk => {
                let meta = config.data_dir.join("meta");
                let logs = config.data_dir.join("logs");
                std::fs::create_dir_all(&meta)
                    .with_context(|| format!("creating {}", meta.display()))?;
                std::fs::create_dir_all(&logs)
                    .with_context(|| format!("creating {}", logs.display()))?;
                (store::open_disk(&meta)?, Some(logs))
            }
        };
        let cluster_id = cluster_id(store.as_ref(), config.cluster_id.as_deref())?;
        let log_defaults = LogConfig {
            segment_bytes: config.segment_bytes,
            segment_ms: config.segment_ms,
            ..LogConfig::default()
        };
        let groups = GroupCoordinator::open(store.clone(), GroupConfig::from_config(&config))?;
        let txns = TxnCoordinator::open(
            store.clone(),
            config.transaction_max_timeout_ms,
            config.transactional_id_expiration_ms,
        )?;
        let broker = Self {
            groups,
            txns,
            node_id: config.node_id,
            cluster_id,
            topics: TopicRegistry::default(),
            store,
            logs_dir,
            log_defaults,
            admin: Mutex::new(()),
            max_partitions: config.max_broker_partitions.unwrap_or_else(|| {
                meta::limits::default_max_broker_partitions(meta::limits::fd_limit())
            }),
            metrics: Arc::default(),
            config,
        };
        if let Some(dir) = &broker.logs_dir {
            remove_deleted_logs(dir);
        }
        broker.load_topics()?;
        tracing::info!(
            max_broker_partitions = broker.max_partitions,
            fd_limit = meta::limits::fd_limit(),
            "partition cap"
        );
        for spec in broker.config.topics()? {
            if broker.topics.get(&spec.name).is_none() {
                broker.create_topic(&spec.name, spec.partitions, BTreeMap::new(), false)?;
                tracing::info!(topic = %spec.name, partitions = spec.partitions, "created topic");
            }
        }
        let broker = Arc::new(broker);
        broker
            .txns
            .attach(Arc::new(txn_io::BrokerTxnIo(Arc::downgrade(&broker))));
        Ok(broker)
    }

    fn durability(&self) -> Durability {
        match self.config.fsync {
            FsyncPolicy::Always => Durability::Fsync,
            _ => Durability::Deferred,
        }
    }

    fn load_topics(&self) -> anyhow::Result<()> {
        for (key, value) in self.store.scan_prefix(TOPIC_PREFIX.as_bytes())? {
            let name = String::from_utf8_lossy(&key[TOPIC_PREFIX.len()..]).into_owned();
            let record: TopicRecord = serde_json::from_slice(&value)
                .with_context(|| format!("reading the metadata of topic {name}"))?;
            let config = TopicConfig(record.configs);
            let partitions = (0..record.partitions)
                .map(|i| self.open_partition(&name, i, &config))
                .collect::<Result<Vec<_>>>()
                .with_context(|| format!("opening the logs of topic {name}"))?;
            self.topics.insert(Arc::new(Topic {
                name,
                id: record.id,
                config: RwLock::new(config),
                partitions: RwLock::new(partitions),
            }));
        }
        Ok(())
    }

    fn partition_dir(&self, topic: &str, index: i32) -> Option<PathBuf> {
        self.logs_dir
            .as_ref()
            .map(|d| d.join(format!("{topic}-{index}")))
    }

    fn open_partition(
        &self,
        topic: &str,
        index: i32,
        config: &TopicConfig,
    ) -> Result<Arc<Partition>> {
        let backing = match self.partition_dir(topic, index) {
            Some(dir) => Backing::Disk(dir),
            None => Backing::Memory,
        };
        let log = PartitionLog::open(backing, config.log_config(&self.log_defaults))?;
        Ok(Arc::new(Partition::new(
            topic,
            index,
            log,
            self.durability(),
            self.metrics.fsync.clone(),
        )?))
    }

    fn persist(&self, topic: &Topic) -> Result<()> {
        let record = TopicRecord {
            id: topic.id,
            partitions: topic.partition_count(),
            configs: topic.config().0,
        };
        let value =
            serde_json::to_vec(&record).map_err(|e| BrokerError::InvalidRequest(e.to_string()))?;
        self.store.put(topic_key(&topic.name).as_bytes(), &value)?;
        Ok(())
    }

    fn admin_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.admin.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replace a topic's config overrides (AlterConfigs / IncrementalAlterConfigs): validated,
    /// persisted in the topic record, then applied to every partition's log at once.
    pub fn alter_topic_config(
        &self,
        name: &str,
        change: impl FnOnce(&TopicConfig) -> Result<BTreeMap<String, String>>,
        validate_only: bool,
    ) -> Result<()> {
        let _admin = self.admin_lock();
        let topic = self
            .topics
            .get(name)
            .ok_or(BrokerError::UnknownTopicOrPartition)?;
        let config = TopicConfig::new(change(&topic.config())?)?;
        if validate_only {
            return Ok(());
        }
        let previous = std::mem::replace(&mut *meta::write(&topic.config), config.clone());
        if let Err(e) = self.persist(&topic) {
            *meta::write(&topic.config) = previous;
            return Err(e);
        }
        let log_config = config.log_config(&self.log_defaults);
        for partition in topic.partitions() {
            partition.set_config(log_config.clone());
        }
        tracing::info!(topic = name, configs = ?config.0, "altered topic configs");
        Ok(())
    }

    /// The partition, or UNKNOWN_TOPIC_OR_PARTITION.
    pub fn partition(&self, topic: &str, index: i32) -> Result<Arc<Partition>> {
        self.topics
            .get(topic)
            .and_then(|t| t.partition(index))
            .ok_or(BrokerError::UnknownTopicOrPartition)
    }

    /// Fsync every partition (interval flusher and shutdown).
    pub async fn flush_all(&self) {
        for topic in self.topics.all() {
            for p in topic.partitions() {
                if let Err(e) = p.flush().await {
                    tracing::error!(topic = %p.topic, partition = p.index, error = %e, "flush failed");
                }
            }
        }
    }

    /// Retention (cleanup.policy with delete): drop old segments of every partition.
    pub fn enforce_retention(&self, now_ms: i64) {
        let defaults = Retention {
            ms: self.config.log_retention_ms,
            bytes: self.config.log_retention_bytes,
        };
        for topic in self.topics.all() {
            let config = topic.config();
            if !config.cleanup_policy().0 {
                continue;
            }
            let limits = config.retention(defaults);
            for p in topic.partitions() {
                match p.enforce_retention(limits, now_ms) {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(topic = %p.topic, partition = p.index, segments = n, log_start_offset = p.log_start_offset(), "retention deleted old segments")
                    }
                    Err(e) => {
                        tracing::error!(topic = %p.topic, partition = p.index, error = %e, "retention failed")
                    }
                }
            }
        }
    }

    /// The log cleaner (cleanup.policy with compact): compact every partition dirty enough.
    pub fn clean_logs(&self, now_ms: i64) {
        for topic in self.topics.all() {
            let config = topic.config();
            if !config.is_compacted() {
                continue;
            }
            let compaction = config.compaction();
            for p in topic.partitions() {
                match p.compact(&compaction, now_ms) {
                    Ok(None) => {}
                    Ok(Some(s)) => {
                        tracing::info!(topic = %p.topic, partition = p.index, segments_before = s.segments_before, segments_after = s.segments_after, bytes_before = s.bytes_before, bytes_after = s.bytes_after, records_removed = s.records_removed, "compacted log")
                    }
                    Err(e) => {
                        tracing::error!(topic = %p.topic, partition = p.index, error = %e, "log clean failed")
                    }
                }
            }
        }
    }

    /// Make everything durable and mark logs cleanly closed.
    pub async fn close(&self) {
        self.txns.shutdown();
        self.groups.shutdown();
        self.flush_all().await;
        for topic in self.topics.all() {
            for p in topic.partitions() {
                if let Err(e) = p.close() {
                    tracing::error!(topic = %p.topic, partition = p.index, error = %e, "close failed");
                }
            }
        }
    }
}

fn topic_key(name: &str) -> String {
    format!("{TOPIC_PREFIX}{name}")
}

/// The persisted cluster id, generated (Kafka-style: base64url of a random UUID) on first start.
fn cluster_id(store: &dyn KvStore, configured: Option<&str>) -> anyhow::Result<String> {
    if let Some(id) = store.get(CLUSTER_ID_KEY)? {
        return Ok(String::from_utf8_lossy(&id).into_owned());
    }
    let id = match configured {
        Some(id) => id.to_string(),
        None => base64url(Uuid::new_v4().as_bytes()),
    };
    store.put(CLUSTER_ID_KEY, id.as_bytes())?;
    Ok(id)
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |acc, b| (acc << 8) | *b as u32) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// Finish removals that a crash interrupted.
fn remove_deleted_logs(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().ends_with("-delete") {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cluster_ids_look_like_kafkas() {
        let id = super::base64url(&[0xff; 16]);
        assert_eq!(id.len(), 22);
        assert_eq!(id, "_____________________w");
    }
}
