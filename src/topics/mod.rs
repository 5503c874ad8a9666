//! The topics service: every topic with its partition logs, their administration (create,
//! grow, delete, alter configs; `admin`) and the log maintenance that runs over all of them
//! (flush, retention, cleaner, close).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use anyhow::Context;
use uuid::Uuid;

use crate::blocking::blocking_call;
use crate::config::{Config, FsyncPolicy};
use crate::error::{BrokerError, Result};
use crate::log::retention::Retention;
use crate::log::storage::postgres::PgLogs;
use crate::log::{Backing, LogConfig, LogError, PartitionLog};
use crate::meta::broker_configs::DynamicConfigs;
use crate::meta::{self, Durability, Partition, Topic, TopicConfig, TopicRegistry};
use crate::metrics::Histogram;
use crate::store::KvStore;

mod admin;
mod broker_configs;
mod cluster;
mod internal_create;
mod parallel;
pub use admin::NewTopic;

const TOPIC_PREFIX: &str = "topic/";

/// A topic as persisted in the metadata store.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct TopicRecord {
    id: Uuid,
    partitions: i32,
    #[serde(default)]
    configs: BTreeMap<String, String>,
    #[serde(default = "one")]
    replication_factor: i16,
}

fn one() -> i16 {
    1
}

/// Where a broker's partition logs live.
#[derive(Debug)]
pub enum LogMedia {
    /// A directory of partition directories.
    Disk(PathBuf),
    /// Process memory.
    Memory,
    /// The cluster's database (cluster mode).
    Postgres(PgLogs),
}

/// A partition log's name: its directory on disk, its key in the database.
pub use crate::pg::placement::log_name;

pub struct Topics {
    config: Arc<Config>,
    registry: TopicRegistry,
    store: Arc<dyn KvStore>,
    /// Where partition logs live.
    media: LogMedia,
    log_defaults: LogConfig,
    /// The dynamic broker configs in force (`broker_configs`).
    dynamic: RwLock<Arc<DynamicConfigs>>,
    /// What those give every topic without an override, under topic config names: derived
    /// once per change, since produce reads it for every request.
    topic_defaults: RwLock<Arc<BTreeMap<String, String>>>,
    /// Every group-commit fsync's duration, shared by all partitions (for /metrics).
    fsync_latency: Arc<Histogram>,
    /// Serialises topic creation, deletion and growth (they touch files and the store).
    admin: Mutex<()>,
    /// Most partitions this broker holds (`max_broker_partitions`, or derived from the
    /// descriptor limit).
    max_partitions: u64,
    /// Cluster mode: the partition logs this broker leads, with the epoch it opened each at.
    led: Mutex<HashMap<String, i32>>,
    /// Cluster mode: how many catalog changes this broker announced.
    announced: std::sync::atomic::AtomicU64,
    /// Cluster mode: the catalog version (`pg::catalog`) the topics held here were last
    /// taken in at; None when they must be read again whatever the version says.
    catalog_seen: Mutex<Option<i64>>,
    /// Streams groups' internal topics being created, and recent failures.
    internal: internal_create::InternalTopicCreator,
}

impl Topics {
    /// Load every topic recorded in `store` (recovering its logs, in `logs_dir` or in memory)
    /// and create the configured topics that do not exist yet. Blocks on files and the store.
    pub fn open(
        config: Arc<Config>,
        store: Arc<dyn KvStore>,
        media: LogMedia,
        fsync_latency: Arc<Histogram>,
    ) -> anyhow::Result<Self> {
        let log_defaults = LogConfig {
            segment_bytes: config.segment_bytes,
            segment_ms: config.segment_ms,
            ..LogConfig::default()
        };
        let topics = Self {
            registry: TopicRegistry::default(),
            store,
            media,
            log_defaults,
            dynamic: RwLock::default(),
            topic_defaults: RwLock::default(),
            fsync_latency,
            admin: Mutex::new(()),
            led: Mutex::new(HashMap::new()),
            announced: Default::default(),
            catalog_seen: Mutex::new(None),
            internal: Default::default(),
            max_partitions: config.max_broker_partitions.unwrap_or_else(|| {
                meta::limits::default_max_broker_partitions(meta::limits::fd_limit())
            }),
            config,
        };
        if let LogMedia::Disk(dir) = &topics.media {
            remove_deleted_logs(dir);
        }
        topics.reload_broker_configs()?;
        topics.load()?;
        tracing::info!(
            max_broker_partitions = topics.max_partitions,
            fd_limit = meta::limits::fd_limit(),
            "partition cap"
        );
        for spec in topics.config.topics()? {
            if topics.get(&spec.name).is_none() {
                match topics.create_topic(&spec.name, spec.partitions, BTreeMap::new(), false) {
                    Ok(_) => {
                        tracing::info!(topic = %spec.name, partitions = spec.partitions, "created topic")
                    }
                    // Another broker of the cluster made it meanwhile.
                    Err(BrokerError::TopicAlreadyExists(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(topics)
    }

    /// The topic of that name.
    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.registry.get(name)
    }

    /// The topic of that id.
    pub fn by_id(&self, id: &Uuid) -> Option<Arc<Topic>> {
        self.registry.by_id(id)
    }

    /// All topics, sorted by name.
    pub fn all(&self) -> Vec<Arc<Topic>> {
        self.registry.all()
    }

    /// How far the broker's metadata has come, never going back: the metadata store's write
    /// sequence (see [`KvStore::sequence`]); None for a store that keeps none (cluster mode's
    /// shared one). DescribeQuorum's high watermark.
    pub fn metadata_offset(&self) -> Option<i64> {
        self.store
            .sequence()
            .map(|seq| i64::try_from(seq).unwrap_or(i64::MAX))
    }

    /// The topic defaults a partition's log starts from (broker settings).
    pub fn log_defaults(&self) -> &LogConfig {
        &self.log_defaults
    }

    fn durability(&self) -> Durability {
        match self.config.fsync {
            FsyncPolicy::Always => Durability::Fsync,
            _ => Durability::Deferred,
        }
    }

    /// Every topic recorded in the store. In cluster mode their partitions start as
    /// stand-ins: the broker opens those placed on it once it has joined (`cluster`).
    fn load(&self) -> anyhow::Result<()> {
        for (name, record) in self.records()? {
            let topic = self
                .topic_from(name, record)
                .with_context(|| "opening the logs of a topic")?;
            self.registry.insert(Arc::new(topic));
        }
        Ok(())
    }

    /// Every topic record in the store, by name.
    fn records(&self) -> anyhow::Result<BTreeMap<String, TopicRecord>> {
        let mut records = BTreeMap::new();
        for (key, value) in self.store.scan_prefix(TOPIC_PREFIX.as_bytes())? {
            let name = String::from_utf8_lossy(&key[TOPIC_PREFIX.len()..]).into_owned();
            let record: TopicRecord = serde_json::from_slice(&value)
                .with_context(|| format!("reading the metadata of topic {name}"))?;
            records.insert(name, record);
        }
        Ok(records)
    }

    fn topic_from(&self, name: String, record: TopicRecord) -> Result<Topic> {
        let config = TopicConfig(record.configs);
        // On disk each opening waits on I/O; elsewhere a topic read here is in memory (a
        // stand-in for partitions led by another broker, or the memory medium): no threads.
        let workers = match self.media {
            LogMedia::Disk(_) => parallel::WORKERS,
            LogMedia::Memory | LogMedia::Postgres(_) => 1,
        };
        let partitions = parallel::map(0..record.partitions, workers, |i| {
            self.open_partition(&name, i, &config, None)
        })?;
        Ok(Topic {
            name,
            id: record.id,
            replication_factor: record.replication_factor,
            config: RwLock::new(config),
            partitions: RwLock::new(partitions),
        })
    }

    /// The partition's directory on the disk medium.
    fn partition_dir(&self, topic: &str, index: i32) -> Option<PathBuf> {
        match &self.media {
            LogMedia::Disk(dir) => Some(dir.join(log_name(topic, index))),
            _ => None,
        }
    }

    /// Open partition `index` of `topic`. In cluster mode only at the epoch placement gave
    /// this broker (`lead`); without one it is a stand-in for a partition led elsewhere.
    fn open_partition(
        &self,
        topic: &str,
        index: i32,
        config: &TopicConfig,
        lead: Option<i32>,
    ) -> Result<Arc<Partition>> {
        let backing = match (&self.media, lead) {
            (LogMedia::Disk(dir), _) => Backing::Disk(dir.join(log_name(topic, index))),
            (LogMedia::Memory, _) => Backing::Memory,
            (LogMedia::Postgres(logs), Some(epoch)) => {
                let name = log_name(topic, index);
                let storage = logs.open_led(&name, epoch).map_err(LogError::Io)?;
                lock(&self.led).insert(name, epoch);
                Backing::Storage(storage)
            }
            (LogMedia::Postgres(_), None) => {
                return Ok(Arc::new(Partition::led_elsewhere(
                    topic,
                    index,
                    self.fsync_latency.clone(),
                )?))
            }
        };
        let log = PartitionLog::open(backing, self.log_config_of(config))?;
        Ok(Arc::new(Partition::new(
            topic,
            index,
            log,
            self.durability(),
            self.fsync_latency.clone(),
        )?))
    }

    fn record_of(topic: &Topic, partitions: i32) -> Result<Vec<u8>> {
        let record = TopicRecord {
            id: topic.id,
            partitions,
            configs: topic.config().0,
            replication_factor: topic.replication_factor,
        };
        serde_json::to_vec(&record).map_err(|e| BrokerError::InvalidRequest(e.to_string()))
    }

    fn persist(&self, topic: &Topic) -> Result<()> {
        let value = Self::record_of(topic, topic.partition_count())?;
        self.store.put(topic_key(&topic.name).as_bytes(), &value)?;
        self.announce();
        Ok(())
    }

    /// Every administration (files and the store) starts here, off the async workers.
    #[track_caller]
    fn admin_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        blocking_call("topic administration");
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
        let topic = self.get(name).ok_or(BrokerError::UnknownTopicOrPartition)?;
        let config = TopicConfig::new(change(&topic.config())?)?;
        if validate_only {
            return Ok(());
        }
        let previous = std::mem::replace(&mut *meta::write(&topic.config), config.clone());
        if let Err(e) = self.persist(&topic) {
            *meta::write(&topic.config) = previous;
            return Err(e);
        }
        let log_config = self.log_config_of(&config);
        for partition in topic.partitions() {
            partition.set_config(log_config.clone());
        }
        tracing::info!(topic = name, configs = ?config.0, "altered topic configs");
        Ok(())
    }

    /// The partition if this broker leads it: else UNKNOWN_TOPIC_OR_PARTITION, or
    /// NOT_LEADER_OR_FOLLOWER in cluster mode for one another broker leads.
    pub fn partition(&self, topic: &str, index: i32) -> Result<Arc<Partition>> {
        self.get(topic)
            .ok_or(BrokerError::UnknownTopicOrPartition)?
            .led_partition(index)
    }

    /// Fsync every partition (interval flusher and shutdown).
    pub async fn flush_all(&self) {
        for topic in self.all() {
            for p in topic.partitions() {
                if let Err(e) = p.flush().await {
                    tracing::error!(topic = %p.topic, partition = p.index, error = %e, "flush failed");
                }
            }
        }
    }

    /// Retention (cleanup.policy with delete): drop old segments of every partition.
    pub fn enforce_retention(&self, now_ms: i64) {
        blocking_call("retention");
        let defaults = Retention {
            ms: self.config.log_retention_ms,
            bytes: self.config.log_retention_bytes,
        };
        for topic in self.all() {
            let config = self.effective_config(&topic);
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
        blocking_call("the log cleaner");
        for topic in self.all() {
            let config = self.effective_config(&topic);
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
        self.flush_all().await;
        let partitions: Vec<_> = self.all().iter().flat_map(|t| t.partitions()).collect();
        // Closing writes indexes and markers (files, or the database in cluster mode, whose
        // client must not run inside the runtime): on the blocking pool.
        let closed = tokio::task::spawn_blocking(move || {
            for p in partitions {
                if let Err(e) = p.close() {
                    tracing::error!(topic = %p.topic, partition = p.index, error = %e, "close failed");
                }
            }
        })
        .await;
        if let Err(e) = closed {
            tracing::error!(error = %e, "closing the partitions failed");
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn topic_key(name: &str) -> String {
    format!("{TOPIC_PREFIX}{name}")
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
