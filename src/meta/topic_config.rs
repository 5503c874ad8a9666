//! Topic-level configuration overrides (Kafka's topic config names) and what the log and
//! the produce path derive from them.

use std::collections::BTreeMap;

use crate::error::BrokerError;
use crate::log::LogConfig;

/// Topic configs gregor accepts, with a check of each value. Kafka's broker defaults apply
/// where a topic sets nothing.
/// Whether a value is acceptable for a config.
type Check = fn(&str) -> bool;

const KNOWN: &[(&str, Check)] = &[
    ("cleanup.policy", |v| {
        v.split(',')
            .all(|p| matches!(p.trim(), "delete" | "compact"))
    }),
    ("compression.type", |v| {
        matches!(
            v,
            "producer" | "uncompressed" | "gzip" | "snappy" | "lz4" | "zstd"
        )
    }),
    ("delete.retention.ms", is_long),
    ("file.delete.delay.ms", is_long),
    ("flush.messages", is_long),
    ("flush.ms", is_long),
    ("index.interval.bytes", is_int),
    ("max.compaction.lag.ms", is_long),
    ("max.message.bytes", is_int),
    ("message.timestamp.type", |v| {
        matches!(v, "CreateTime" | "LogAppendTime")
    }),
    ("min.cleanable.dirty.ratio", |v| v.parse::<f64>().is_ok()),
    ("min.compaction.lag.ms", is_long),
    ("min.insync.replicas", is_int),
    ("retention.bytes", is_long),
    ("retention.ms", is_long),
    ("segment.bytes", is_int),
    ("segment.ms", is_long),
    ("unclean.leader.election.enable", |v| {
        matches!(v, "true" | "false")
    }),
];

fn is_long(v: &str) -> bool {
    v.parse::<i64>().is_ok()
}

fn is_int(v: &str) -> bool {
    v.parse::<i32>().is_ok()
}

/// A topic's config overrides, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TopicConfig(pub BTreeMap<String, String>);

impl TopicConfig {
    pub fn new(entries: BTreeMap<String, String>) -> Result<Self, BrokerError> {
        for (name, value) in &entries {
            let check = KNOWN
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, check)| check)
                .ok_or_else(|| {
                    BrokerError::InvalidConfig(format!("unknown topic config '{name}'"))
                })?;
            if !check(value) {
                return Err(BrokerError::InvalidConfig(format!(
                    "invalid value '{value}' for topic config '{name}'"
                )));
            }
        }
        Ok(Self(entries))
    }

    fn get<T: std::str::FromStr>(&self, name: &str) -> Option<T> {
        self.0.get(name).and_then(|v| v.parse().ok())
    }

    /// The largest record batch a producer may append, given the broker default.
    pub fn max_message_bytes(&self, broker_default: usize) -> usize {
        self.get::<usize>("max.message.bytes")
            .unwrap_or(broker_default)
    }

    /// The log settings, given the broker defaults.
    pub fn log_config(&self, defaults: &LogConfig) -> LogConfig {
        LogConfig {
            segment_bytes: self.get("segment.bytes").unwrap_or(defaults.segment_bytes),
            segment_ms: self.get("segment.ms").unwrap_or(defaults.segment_ms),
            index_interval_bytes: self
                .get("index.interval.bytes")
                .unwrap_or(defaults.index_interval_bytes),
            log_append_time: self
                .0
                .get("message.timestamp.type")
                .map(|v| v == "LogAppendTime")
                .unwrap_or(defaults.log_append_time),
        }
    }
}

/// Log lifecycle: what retention and the cleaner read from a topic's config.
impl TopicConfig {
    /// `cleanup.policy` (default `delete`): (delete, compact).
    pub fn cleanup_policy(&self) -> (bool, bool) {
        let policy = self
            .0
            .get("cleanup.policy")
            .map_or("delete", |v| v.as_str());
        let has = |p: &str| policy.split(',').any(|x| x.trim() == p);
        (has("delete"), has("compact"))
    }

    pub fn is_compacted(&self) -> bool {
        self.cleanup_policy().1
    }

    /// `retention.ms` and `retention.bytes`, given the broker defaults.
    pub fn retention(
        &self,
        defaults: crate::log::retention::Retention,
    ) -> crate::log::retention::Retention {
        crate::log::retention::Retention {
            ms: self.get("retention.ms").unwrap_or(defaults.ms),
            bytes: self.get("retention.bytes").unwrap_or(defaults.bytes),
        }
    }

    /// `delete.retention.ms`, `min.cleanable.dirty.ratio`, `min.compaction.lag.ms` and
    /// `max.compaction.lag.ms`, with Kafka's defaults.
    pub fn compaction(&self) -> crate::log::cleaner::Compaction {
        let d = crate::log::cleaner::Compaction::default();
        crate::log::cleaner::Compaction {
            delete_retention_ms: self
                .get("delete.retention.ms")
                .unwrap_or(d.delete_retention_ms),
            min_cleanable_dirty_ratio: self
                .get("min.cleanable.dirty.ratio")
                .unwrap_or(d.min_cleanable_dirty_ratio),
            min_compaction_lag_ms: self
                .get("min.compaction.lag.ms")
                .unwrap_or(d.min_compaction_lag_ms),
            max_compaction_lag_ms: self
                .get("max.compaction.lag.ms")
                .unwrap_or(d.max_compaction_lag_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<TopicConfig, BrokerError> {
        TopicConfig::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn accepts_known_and_rejects_unknown_or_bad_values() {
        assert!(config(&[("cleanup.policy", "compact,delete"), ("retention.ms", "-1")]).is_ok());
        let err = config(&[("no.such.config", "1")]).unwrap_err();
        assert_eq!(err.code(), 40);
        assert!(err.to_string().contains("no.such.config"));
        assert!(config(&[("segment.bytes", "abc")]).is_err());
        assert!(config(&[("message.timestamp.type", "Wrong")]).is_err());
    }

    #[test]
    fn derives_log_settings() {
        let c = config(&[
            ("segment.bytes", "1000"),
            ("message.timestamp.type", "LogAppendTime"),
            ("max.message.bytes", "500"),
        ])
        .unwrap();
        let log = c.log_config(&LogConfig::default());
        assert_eq!(log.segment_bytes, 1000);
        assert!(log.log_append_time);
        assert_eq!(c.max_message_bytes(1 << 20), 500);
        assert_eq!(TopicConfig::default().max_message_bytes(77), 77);
    }
}
