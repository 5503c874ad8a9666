//! Group configs (Kafka's `GroupConfig`, set with IncrementalAlterConfigs on a GROUP
//! resource): the share group settings gregor applies, kept in the metadata store
//! (`groupconfig/<group>`) and in memory. A group's configs may be set before it exists.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use super::consumer::MemberTimeouts;
use super::share::partition::Limits;
use super::streams::group::Settings as StreamsSettings;
use crate::meta::config_view::{DescribedConfig, DEFAULT_CONFIG};
use crate::meta::topic_config::ConfigType;
use crate::store::{KvStore, WriteOp};

/// The share settings of a group (its configs over the broker's defaults).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShareSettings {
    /// share.auto.offset.reset=earliest (else latest).
    pub earliest: bool,
    /// share.isolation.level=read_committed: records up to the last stable offset only, none
    /// of an aborted transaction (else read_uncommitted).
    pub read_committed: bool,
    pub limits: Limits,
}

/// DescribeConfigs' source of a config set on the group (Kafka's GROUP_CONFIG).
pub const GROUP_CONFIG: i8 = 8;

/// The group configs gregor takes: name, type, default, documentation.
const CATALOG: &[(&str, ConfigType, &str, &str)] = &[
    (CONSUMER_HEARTBEAT_INTERVAL_MS, ConfigType::Int, "5000",
        "The heartbeat interval given to the consumer group's members."),
    (CONSUMER_SESSION_TIMEOUT_MS, ConfigType::Int, "45000",
        "How long the coordinator waits for a consumer group member's heartbeat before it fences the member."),
    (DLQ_COPY_RECORD_ENABLE, ConfigType::Boolean, "false",
        "Whether a dead letter carries the original record's key and value, or only the context headers."),
    (DLQ_TOPIC_NAME, ConfigType::String, "",
        "The share group's dead-letter topic; blank: the group has none."),
    (SHARE_AUTO_OFFSET_RESET, ConfigType::String, "latest",
        "Where a share partition the group has not consumed starts: latest or earliest."),
    (SHARE_HEARTBEAT_INTERVAL_MS, ConfigType::Int, "5000",
        "The heartbeat interval given to the share group's members."),
    (SHARE_SESSION_TIMEOUT_MS, ConfigType::Int, "45000",
        "How long the coordinator waits for a share group member's heartbeat before it removes the member."),
    (SHARE_DELIVERY_COUNT_LIMIT, ConfigType::Int, "5",
        "Deliveries of a record before it is given up on."),
    (SHARE_ISOLATION_LEVEL, ConfigType::String, "read_uncommitted",
        "Which records of transactions the share group reads: read_uncommitted, or read_committed (those of committed transactions, up to the last stable offset)."),
    (SHARE_PARTITION_MAX_RECORD_LOCKS, ConfigType::Int, "2000",
        "How many records of one share partition may be in flight (acquired) at once."),
    (SHARE_RECORD_LOCK_DURATION_MS, ConfigType::Int, "30000",
        "How long a consumer holds the records it acquired before they are released."),
    (SHARE_RENEW_ACKNOWLEDGE_ENABLE, ConfigType::Boolean, "true",
        "Whether the group's consumers may renew their records' acquisition locks (RENEW)."),
    (STREAMS_HEARTBEAT_INTERVAL_MS, ConfigType::Int, "5000",
        "The heartbeat interval given to the streams group's members."),
    (STREAMS_INITIAL_REBALANCE_DELAY_MS, ConfigType::Int, "3000",
        "How long a streams group waits for more members after the first joins before it assigns tasks."),
    (STREAMS_NUM_STANDBY_REPLICAS, ConfigType::Int, "0",
        "How many standby copies of each stateful task the streams group's assignor places."),
    (STREAMS_SESSION_TIMEOUT_MS, ConfigType::Int, "45000",
        "How long the coordinator waits for a streams group member's heartbeat before it fences the member."),
];

const PREFIX: &[u8] = b"groupconfig/";

pub const CONSUMER_SESSION_TIMEOUT_MS: &str = "consumer.session.timeout.ms";
pub const CONSUMER_HEARTBEAT_INTERVAL_MS: &str = "consumer.heartbeat.interval.ms";
pub const SHARE_SESSION_TIMEOUT_MS: &str = "share.session.timeout.ms";
pub const SHARE_HEARTBEAT_INTERVAL_MS: &str = "share.heartbeat.interval.ms";
pub const SHARE_AUTO_OFFSET_RESET: &str = "share.auto.offset.reset";
pub const SHARE_RECORD_LOCK_DURATION_MS: &str = "share.record.lock.duration.ms";
pub const SHARE_DELIVERY_COUNT_LIMIT: &str = "share.delivery.count.limit";
pub const SHARE_PARTITION_MAX_RECORD_LOCKS: &str = "share.partition.max.record.locks";
pub const SHARE_ISOLATION_LEVEL: &str = "share.isolation.level";
/// Whether RENEW acknowledgements are allowed (ShareFetch/ShareAcknowledge v2).
pub const SHARE_RENEW_ACKNOWLEDGE_ENABLE: &str = "share.renew.acknowledge.enable";
pub const STREAMS_SESSION_TIMEOUT_MS: &str = "streams.session.timeout.ms";
pub const STREAMS_HEARTBEAT_INTERVAL_MS: &str = "streams.heartbeat.interval.ms";
pub const STREAMS_NUM_STANDBY_REPLICAS: &str = "streams.num.standby.replicas";
pub const STREAMS_INITIAL_REBALANCE_DELAY_MS: &str = "streams.initial.rebalance.delay.ms";
/// KIP-1191: the share group's dead-letter topic ("" or absent: none).
pub const DLQ_TOPIC_NAME: &str = "errors.deadletterqueue.topic.name";
/// KIP-1191: whether a dead letter carries the record's key and value (else headers only).
pub const DLQ_COPY_RECORD_ENABLE: &str = "errors.deadletterqueue.copy.record.enable";

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
        // The broker's group.{consumer,share}.{min,max}.{session.timeout,heartbeat.interval}.ms
        // (fixed here: any interval in range is below any session timeout in range, so Kafka's
        // check that the session timeout exceeds the interval always holds).
        CONSUMER_SESSION_TIMEOUT_MS | SHARE_SESSION_TIMEOUT_MS | STREAMS_SESSION_TIMEOUT_MS => {
            int_in(45_000, 60_000)
        }
        CONSUMER_HEARTBEAT_INTERVAL_MS
        | SHARE_HEARTBEAT_INTERVAL_MS
        | STREAMS_HEARTBEAT_INTERVAL_MS => int_in(5_000, 15_000),
        // Kafka: group.streams.max.standby.replicas (2); the delay is any int >= 0.
        STREAMS_NUM_STANDBY_REPLICAS => int_in(0, 2),
        STREAMS_INITIAL_REBALANCE_DELAY_MS => int_in(0, i64::from(i32::MAX)),
        SHARE_AUTO_OFFSET_RESET => match value {
            "latest" | "earliest" => Ok(()),
            _ => Err(format!(
                "Invalid value {value} for configuration {name}: gregor takes latest or earliest"
            )),
        },
        SHARE_RECORD_LOCK_DURATION_MS => int_in(15_000, 60_000),
        SHARE_DELIVERY_COUNT_LIMIT => int_in(2, 10),
        SHARE_PARTITION_MAX_RECORD_LOCKS => int_in(100, 4_000),
        SHARE_ISOLATION_LEVEL => match value {
            "read_uncommitted" | "read_committed" => Ok(()),
            _ => Err(format!(
                "Invalid value {value} for configuration {name}: String must be one of: read_committed, read_uncommitted"
            )),
        },
        DLQ_TOPIC_NAME if value.starts_with("__") => Err(format!(
            "{DLQ_TOPIC_NAME}: DLQ topic name must not start with '__'"
        )),
        DLQ_TOPIC_NAME => Ok(()),
        DLQ_COPY_RECORD_ENABLE | SHARE_RENEW_ACKNOWLEDGE_ENABLE => match value
            .trim()
            .to_ascii_lowercase()
            .as_str()
        {
            "true" | "false" => Ok(()),
            _ => Err(format!(
                "Invalid value {value} for configuration {name}: Expected value to be either true or false"
            )),
        },
        _ => Err(format!("Unknown group config name: {name}")),
    }
}

/// Where a share group's dead letters go (KIP-1191), if it has a dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterTopic {
    pub name: String,
    /// Copy the record's key and value (else a record of headers only).
    pub copy_record: bool,
}

pub struct GroupConfigs {
    store: Arc<dyn KvStore>,
    configs: RwLock<HashMap<String, BTreeMap<String, String>>>,
}

impl GroupConfigs {
    pub fn open(store: Arc<dyn KvStore>) -> anyhow::Result<Self> {
        let configs = Self {
            store,
            configs: RwLock::default(),
        };
        configs.reload()?;
        Ok(configs)
    }

    /// Read every group's configs from the store (again: in cluster mode other brokers change
    /// the shared store). Blocks on the store.
    pub fn reload(&self) -> anyhow::Result<()> {
        let mut configs = HashMap::new();
        for (key, value) in self.store.scan_prefix(PREFIX)? {
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
        *self.configs.write().unwrap_or_else(|e| e.into_inner()) = configs;
        Ok(())
    }

    pub fn get(&self, group: &str) -> BTreeMap<String, String> {
        let configs = self.configs.read().unwrap_or_else(|e| e.into_inner());
        configs.get(group).cloned().unwrap_or_default()
    }

    /// The groups that have configs set, sorted (ListConfigResources).
    pub fn groups(&self) -> Vec<String> {
        let configs = self.configs.read().unwrap_or_else(|e| e.into_inner());
        let mut groups: Vec<String> = configs.keys().cloned().collect();
        groups.sort();
        groups
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
        // Cluster mode: the other brokers read them again at once.
        self.store.announce();
        let mut all = self.configs.write().unwrap_or_else(|e| e.into_inner());
        if configs.is_empty() {
            all.remove(group);
        } else {
            all.insert(group.to_string(), configs);
        }
        Ok(())
    }

    /// DescribeConfigs of the GROUP resource: every config gregor takes, set or default.
    pub fn describe(&self, group: &str) -> Vec<DescribedConfig> {
        let set = self.get(group);
        CATALOG
            .iter()
            .map(|(name, kind, default, doc)| {
                let (value, source) = match set.get(*name) {
                    Some(v) => (v.clone(), GROUP_CONFIG),
                    None => (default.to_string(), DEFAULT_CONFIG),
                };
                DescribedConfig {
                    name: name.to_string(),
                    value: Some(value.clone()),
                    source,
                    read_only: false,
                    kind: *kind,
                    doc,
                    synonyms: vec![(name.to_string(), Some(value), source)],
                }
            })
            .collect()
    }

    /// The group's dead-letter topic, if it has one.
    pub fn dead_letter_topic(&self, group: &str) -> Option<DeadLetterTopic> {
        let configs = self.configs.read().unwrap_or_else(|e| e.into_inner());
        let c = configs.get(group)?;
        let name = c
            .get(DLQ_TOPIC_NAME)
            .map(|n| n.trim())
            .filter(|n| !n.is_empty())?;
        Some(DeadLetterTopic {
            name: name.to_string(),
            copy_record: c
                .get(DLQ_COPY_RECORD_ENABLE)
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("true")),
        })
    }

    /// A consumer group's (`share`: a share group's) member timeouts: its configs over the
    /// broker's defaults.
    pub fn member_timeouts(&self, group: &str, share: bool) -> MemberTimeouts {
        let (session, heartbeat) = if share {
            (SHARE_SESSION_TIMEOUT_MS, SHARE_HEARTBEAT_INTERVAL_MS)
        } else {
            (CONSUMER_SESSION_TIMEOUT_MS, CONSUMER_HEARTBEAT_INTERVAL_MS)
        };
        let configs = self.configs.read().unwrap_or_else(|e| e.into_inner());
        let c = configs.get(group);
        let get = |name: &str| c.and_then(|c| c.get(name)?.trim().parse().ok());
        let defaults = MemberTimeouts::default();
        MemberTimeouts {
            session_ms: get(session).unwrap_or(defaults.session_ms),
            heartbeat_ms: get(heartbeat)
                .and_then(|v: i64| i32::try_from(v).ok())
                .unwrap_or(defaults.heartbeat_ms),
        }
    }

    /// A streams group's settings: its configs over Kafka's defaults (`max_size`: the
    /// broker's).
    pub fn streams_settings(&self, group: &str, max_size: usize) -> StreamsSettings {
        let configs = self.configs.read().unwrap_or_else(|e| e.into_inner());
        let c = configs.get(group);
        let get = |name: &str| -> Option<i64> { c.and_then(|c| c.get(name)?.trim().parse().ok()) };
        let d = StreamsSettings::default();
        StreamsSettings {
            session_ms: get(STREAMS_SESSION_TIMEOUT_MS).unwrap_or(d.session_ms),
            heartbeat_ms: get(STREAMS_HEARTBEAT_INTERVAL_MS)
                .and_then(|v| i32::try_from(v).ok())
                .unwrap_or(d.heartbeat_ms),
            standby_replicas: get(STREAMS_NUM_STANDBY_REPLICAS)
                .and_then(|v| usize::try_from(v).ok())
                .unwrap_or(d.standby_replicas),
            initial_delay_ms: get(STREAMS_INITIAL_REBALANCE_DELAY_MS).unwrap_or(d.initial_delay_ms),
            max_size,
            ..d
        }
    }

    /// The share settings of a group: its configs over Kafka's defaults.
    pub fn share_settings(&self, group: &str) -> ShareSettings {
        let configs = self.configs.read().unwrap_or_else(|e| e.into_inner());
        let c = configs.get(group);
        let get = |name: &str| c.and_then(|c| c.get(name));
        let defaults = Limits::default();
        ShareSettings {
            earliest: get(SHARE_AUTO_OFFSET_RESET).is_some_and(|v| v == "earliest"),
            read_committed: get(SHARE_ISOLATION_LEVEL).is_some_and(|v| v == "read_committed"),
            limits: Limits {
                lock_ms: get(SHARE_RECORD_LOCK_DURATION_MS)
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(defaults.lock_ms),
                delivery_limit: get(SHARE_DELIVERY_COUNT_LIMIT)
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(defaults.delivery_limit),
                max_in_flight: get(SHARE_PARTITION_MAX_RECORD_LOCKS)
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(defaults.max_in_flight),
                dead_letters: get(DLQ_TOPIC_NAME).is_some_and(|v| !v.trim().is_empty()),
                renew: get(SHARE_RENEW_ACKNOWLEDGE_ENABLE)
                    .is_none_or(|v| !v.trim().eq_ignore_ascii_case("false")),
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
        assert!(check(SHARE_PARTITION_MAX_RECORD_LOCKS, "99").is_err());
        assert!(check(SHARE_PARTITION_MAX_RECORD_LOCKS, "4000").is_ok());
        assert!(check(SHARE_RECORD_LOCK_DURATION_MS, "15000").is_ok());
        assert!(check("share.nonsense", "1").is_err());
        assert!(check(SHARE_ISOLATION_LEVEL, "read_committed").is_ok());
        assert!(check(SHARE_ISOLATION_LEVEL, "READ_COMMITTED").is_err());
        let set = BTreeMap::from([
            (SHARE_AUTO_OFFSET_RESET.to_string(), "earliest".to_string()),
            (SHARE_DELIVERY_COUNT_LIMIT.to_string(), "2".to_string()),
            (
                SHARE_PARTITION_MAX_RECORD_LOCKS.to_string(),
                "150".to_string(),
            ),
        ]);
        configs.set("g", set).unwrap();
        let reopened = GroupConfigs::open(store).unwrap();
        let s = reopened.share_settings("g");
        assert!(s.earliest);
        assert!(!s.read_committed, "read_uncommitted by default");
        assert_eq!(s.limits.delivery_limit, 2);
        assert_eq!(s.limits.lock_ms, 30_000);
        assert_eq!(s.limits.max_in_flight, 150);
        assert_eq!(reopened.share_settings("other"), ShareSettings::default());
        assert!(!s.limits.dead_letters);
        assert!(s.limits.renew, "RENEW is allowed unless turned off");
        assert_eq!(reopened.dead_letter_topic("g"), None);
        assert!(check(SHARE_RENEW_ACKNOWLEDGE_ENABLE, "False").is_ok());
        assert!(check(SHARE_RENEW_ACKNOWLEDGE_ENABLE, "0").is_err());
        let off = BTreeMap::from([(
            SHARE_RENEW_ACKNOWLEDGE_ENABLE.to_string(),
            "false".to_string(),
        )]);
        reopened.set("g", off).unwrap();
        assert!(!reopened.share_settings("g").limits.renew);
        let committed = BTreeMap::from([(
            SHARE_ISOLATION_LEVEL.to_string(),
            "read_committed".to_string(),
        )]);
        reopened.set("g", committed).unwrap();
        assert!(reopened.share_settings("g").read_committed);
    }

    #[test]
    fn member_timeouts_are_group_configs_within_the_brokers_bounds() {
        let store: Arc<dyn KvStore> = Arc::new(crate::store::MemoryStore::new());
        let configs = GroupConfigs::open(store).unwrap();
        assert!(check(CONSUMER_SESSION_TIMEOUT_MS, "60000").is_ok());
        assert!(check(CONSUMER_SESSION_TIMEOUT_MS, "44999").is_err());
        assert!(check(SHARE_SESSION_TIMEOUT_MS, "60001").is_err());
        assert!(check(CONSUMER_HEARTBEAT_INTERVAL_MS, "15000").is_ok());
        assert!(check(SHARE_HEARTBEAT_INTERVAL_MS, "4999").is_err());
        assert_eq!(
            configs.member_timeouts("g", false),
            MemberTimeouts::default()
        );
        let set = BTreeMap::from([
            (CONSUMER_SESSION_TIMEOUT_MS.to_string(), "50000".to_string()),
            (SHARE_HEARTBEAT_INTERVAL_MS.to_string(), "7000".to_string()),
        ]);
        configs.set("g", set).unwrap();
        let consumer = configs.member_timeouts("g", false);
        assert_eq!(
            (consumer.session_ms, consumer.heartbeat_ms),
            (50_000, 5_000)
        );
        let share = configs.member_timeouts("g", true);
        assert_eq!((share.session_ms, share.heartbeat_ms), (45_000, 7_000));
        let described: Vec<_> = configs
            .describe("g")
            .into_iter()
            .filter(|c| c.source == GROUP_CONFIG)
            .map(|c| (c.name, c.value))
            .collect();
        assert_eq!(described.len(), 2, "{described:?}");
    }

    #[test]
    fn a_dead_letter_topic_is_a_group_config() {
        let store: Arc<dyn KvStore> = Arc::new(crate::store::MemoryStore::new());
        let configs = GroupConfigs::open(store).unwrap();
        assert!(check(DLQ_TOPIC_NAME, "dlq.orders").is_ok());
        let internal = check(DLQ_TOPIC_NAME, "__consumer_offsets").unwrap_err();
        assert!(internal.contains("must not start with '__'"), "{internal}");
        assert!(check(DLQ_COPY_RECORD_ENABLE, "TRUE").is_ok());
        assert!(check(DLQ_COPY_RECORD_ENABLE, "yes").is_err());
        let set = BTreeMap::from([
            (DLQ_TOPIC_NAME.to_string(), "dlq.orders".to_string()),
            (DLQ_COPY_RECORD_ENABLE.to_string(), "true".to_string()),
        ]);
        configs.set("g", set).unwrap();
        assert!(configs.share_settings("g").limits.dead_letters);
        let dlq = configs.dead_letter_topic("g").unwrap();
        assert_eq!((dlq.name.as_str(), dlq.copy_record), ("dlq.orders", true));
        let blank = BTreeMap::from([(DLQ_TOPIC_NAME.to_string(), " ".to_string())]);
        configs.set("g", blank).unwrap();
        assert!(!configs.share_settings("g").limits.dead_letters);
        assert_eq!(configs.dead_letter_topic("g"), None);
        let described = configs.describe("g");
        let dlq = described.iter().find(|c| c.name == DLQ_TOPIC_NAME).unwrap();
        assert_eq!(
            (dlq.value.as_deref(), dlq.source),
            (Some(" "), GROUP_CONFIG)
        );
        let limit = described
            .iter()
            .find(|c| c.name == SHARE_DELIVERY_COUNT_LIMIT)
            .unwrap();
        assert_eq!(
            (limit.value.as_deref(), limit.source),
            (Some("5"), DEFAULT_CONFIG)
        );
        // Every config the catalog describes is one `check` takes, with its default.
        for (name, _, default, _) in CATALOG {
            assert!(check(name, default).is_ok() || default.is_empty(), "{name}");
        }
    }
}
