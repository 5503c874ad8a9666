//! Topic configs: the catalog of Kafka's topic config names (type, default, validation,
//! broker synonym, documentation), a topic's validated overrides, and what the log and the
//! produce path derive from them.
//!
//! Defaults and synonyms are what Apache Kafka 4.4 reports in DescribeConfigs for a topic
//! without overrides on a broker with default settings.

use std::collections::BTreeMap;

use crate::error::BrokerError;
use crate::log::LogConfig;

/// Kafka's ConfigType as DescribeConfigs (v3+) reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i8)]
pub enum ConfigType {
    Boolean = 1,
    String = 2,
    Int = 3,
    Short = 4,
    Long = 5,
    Double = 6,
    List = 7,
}

/// What values a config accepts beyond its type.
#[derive(Debug, Clone, Copy)]
pub enum Rule {
    Any,
    AtLeast(i64),
    Between(f64, f64),
    OneOf(&'static [&'static str]),
    /// A comma-separated list, each item one of these.
    ListOf(&'static [&'static str]),
    /// gzip levels: 1..=9, or -1 for the codec's default.
    GzipLevel,
    IntRange(i64, i64),
    /// Throttled replicas: `*` or `partition:broker` pairs.
    ThrottledReplicas,
}

/// One topic config of the catalog.
#[derive(Debug)]
pub struct ConfigDef {
    pub name: &'static str,
    pub kind: ConfigType,
    /// Kafka's default ("" for an empty list).
    pub default: &'static str,
    /// The broker setting that supplies the default (reported as a synonym when it is set or
    /// has a default of its own), if any.
    pub synonym: Option<&'static str>,
    pub rule: Rule,
    pub doc: &'static str,
    /// Kafka's internal configs (`defineInternal`): accepted, no default, and described only
    /// when a topic sets them.
    pub internal: bool,
}

const fn def(
    name: &'static str,
    kind: ConfigType,
    default: &'static str,
    synonym: Option<&'static str>,
    rule: Rule,
    doc: &'static str,
) -> ConfigDef {
    ConfigDef {
        name,
        kind,
        default,
        synonym,
        rule,
        doc,
        internal: false,
    }
}

/// An internal config: no default (described only when set), no broker synonym.
const fn internal(
    name: &'static str,
    kind: ConfigType,
    rule: Rule,
    doc: &'static str,
) -> ConfigDef {
    ConfigDef {
        name,
        kind,
        default: "",
        synonym: None,
        rule,
        doc,
        internal: true,
    }
}

/// Kafka's minimum `segment.bytes` (and `log.segment.bytes`): 1 MiB (`LogConfig`, since 4.0).
pub const MIN_SEGMENT_BYTES: i64 = 1024 * 1024;

use ConfigType::{Boolean, Double, Int, List, Long, String as Str};

const LONG_MAX: &str = "9223372036854775807";
const CODECS: &[&str] = &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];

/// Every topic config gregor accepts, in Kafka's (alphabetical) order.
pub static CATALOG: &[ConfigDef] = &[
    def("cleanup.policy", List, "delete", Some("log.cleanup.policy"), Rule::ListOf(&["compact", "delete"]),
        "The retention policy for old log segments: \"delete\" discards segments past their retention time or size, \"compact\" keeps the latest value of each key; both may be given. An empty list means infinite retention: no cleanup policy is applied and segments are kept indefinitely."),
    def("compression.gzip.level", Int, "-1", Some("compression.gzip.level"), Rule::GzipLevel,
        "The compression level to use if compression.type is set to gzip."),
    def("compression.lz4.level", Int, "9", Some("compression.lz4.level"), Rule::IntRange(1, 17),
        "The compression level to use if compression.type is set to lz4."),
    def("compression.type", Str, "producer", Some("compression.type"), Rule::OneOf(CODECS),
        "The final compression type for the topic: a codec, \"uncompressed\", or \"producer\" to keep the codec the producer chose."),
    def("compression.zstd.level", Int, "3", Some("compression.zstd.level"), Rule::IntRange(-131072, 22),
        "The compression level to use if compression.type is set to zstd."),
    def("delete.retention.ms", Long, "86400000", Some("log.cleaner.delete.retention.ms"), Rule::AtLeast(0),
        "How long delete tombstones are kept for compacted topics."),
    def("errors.deadletterqueue.group.enable", Boolean, "false", None, Rule::Any,
        "Whether share groups may write records they give up on to this topic as their dead-letter queue (KIP-1191); false refuses it."),
    def("file.delete.delay.ms", Long, "60000", Some("log.segment.delete.delay.ms"), Rule::AtLeast(0),
        "The time to wait before deleting a file from the filesystem."),
    def("flush.messages", Long, LONG_MAX, Some("log.flush.interval.messages"), Rule::AtLeast(1),
        "The number of messages written to the log between forced fsyncs (gregor's --fsync policy governs durability)."),
    def("flush.ms", Long, LONG_MAX, Some("log.flush.interval.ms"), Rule::AtLeast(0),
        "The time between forced fsyncs of the log (gregor's --fsync policy governs durability)."),
    def("follower.replication.throttled.replicas", List, "", None, Rule::ThrottledReplicas,
        "Replicas whose log replication is throttled on the follower side (partition:broker pairs, or *)."),
    def("index.interval.bytes", Int, "4096", Some("log.index.interval.bytes"), Rule::AtLeast(0),
        "How often an entry is added to the offset index, in bytes of log."),
    internal("internal.segment.bytes", Int, Rule::AtLeast(14),
        "The maximum size of a single log file, overriding segment.bytes without its 1 MiB minimum. This should be used for testing only."),
    def("leader.replication.throttled.replicas", List, "", None, Rule::ThrottledReplicas,
        "Replicas whose log replication is throttled on the leader side (partition:broker pairs, or *)."),
    def("local.retention.bytes", Long, "-2", Some("log.local.retention.bytes"), Rule::AtLeast(-2),
        "The maximum local size of a partition before old segments are deleted when tiered storage is on (-2: retention.bytes)."),
    def("local.retention.ms", Long, "-2", Some("log.local.retention.ms"), Rule::AtLeast(-2),
        "How long a local segment is kept when tiered storage is on (-2: retention.ms)."),
    def("max.compaction.lag.ms", Long, LONG_MAX, Some("log.cleaner.max.compaction.lag.ms"), Rule::AtLeast(1),
        "The maximum time a message stays ineligible for compaction."),
    def("max.message.bytes", Int, "1048588", Some("message.max.bytes"), Rule::AtLeast(0),
        "The largest record batch size allowed for this topic."),
    def("message.timestamp.after.max.ms", Long, "3600000", Some("log.message.timestamp.after.max.ms"), Rule::AtLeast(0),
        "How far a record's timestamp may be ahead of the broker's clock (CreateTime topics)."),
    def("message.timestamp.before.max.ms", Long, LONG_MAX, Some("log.message.timestamp.before.max.ms"), Rule::AtLeast(0),
        "How far a record's timestamp may be behind the broker's clock (CreateTime topics)."),
    def("message.timestamp.type", Str, "CreateTime", Some("log.message.timestamp.type"), Rule::OneOf(&["CreateTime", "LogAppendTime"]),
        "Whether a record's timestamp is the producer's (CreateTime) or the broker's append time (LogAppendTime)."),
    def("min.cleanable.dirty.ratio", Double, "0.5", Some("log.cleaner.min.cleanable.ratio"), Rule::Between(0.0, 1.0),
        "How much of the log may be uncompacted before the cleaner compacts it."),
    def("min.compaction.lag.ms", Long, "0", Some("log.cleaner.min.compaction.lag.ms"), Rule::AtLeast(0),
        "The minimum time a message stays uncompacted in the log."),
    def("min.insync.replicas", Int, "1", Some("min.insync.replicas"), Rule::AtLeast(1),
        "The minimum number of in-sync replicas that must acknowledge an acks=all write."),
    def("preallocate", Boolean, "false", Some("log.preallocate"), Rule::Any,
        "Whether segment files are preallocated on disk when created."),
    def("remote.copy.lag.bytes", Long, "-1", Some("log.remote.copy.lag.bytes"), Rule::AtLeast(-1),
        "How many bytes of newer local log make a segment eligible for upload to tiered storage (0: at once, -1: from local.retention.bytes)."),
    def("remote.copy.lag.ms", Long, "0", Some("log.remote.copy.lag.ms"), Rule::AtLeast(-1),
        "How long after its newest record a segment becomes eligible for upload to tiered storage (0: at once, -1: from local.retention.ms)."),
    def("remote.log.copy.disable", Boolean, "false", None, Rule::Any,
        "Whether copying segments to tiered storage is disabled for this topic."),
    def("remote.log.delete.on.disable", Boolean, "false", None, Rule::Any,
        "Whether tiered data is deleted when tiered storage is turned off for this topic."),
    def("remote.storage.enable", Boolean, "false", None, Rule::Any,
        "Whether tiered storage is enabled for this topic."),
    def("retention.bytes", Long, "-1", Some("log.retention.bytes"), Rule::Any,
        "The maximum size a partition's log can grow to before old segments are discarded (-1: no limit)."),
    def("retention.ms", Long, "604800000", Some("log.retention.ms"), Rule::AtLeast(-1),
        "How long a log segment is kept before it is discarded (-1: no time limit)."),
    def("segment.bytes", Int, "1073741824", Some("log.segment.bytes"), Rule::AtLeast(MIN_SEGMENT_BYTES),
        "The segment file size of the log: a new segment is rolled when the active one reaches it."),
    def("segment.index.bytes", Int, "10485760", Some("log.index.size.max.bytes"), Rule::AtLeast(4),
        "The size of the index that maps offsets to file positions."),
    def("segment.jitter.ms", Long, "0", Some("log.roll.jitter.ms"), Rule::AtLeast(0),
        "The maximum random jitter subtracted from segment.ms to avoid thundering herds of segment rolling."),
    def("segment.ms", Long, "604800000", Some("log.roll.ms"), Rule::AtLeast(1),
        "The time after which the log rolls a new segment even if the active one is not full."),
    def("unclean.leader.election.enable", Boolean, "false", Some("unclean.leader.election.enable"), Rule::Any,
        "Whether replicas outside the in-sync set may be elected leader as a last resort."),
];

/// The catalog entry of a topic config name.
pub fn lookup(name: &str) -> Option<&'static ConfigDef> {
    CATALOG.iter().find(|d| d.name == name)
}

impl ConfigDef {
    /// Check a value against this config's type and rule; the error reads like Kafka's.
    pub fn validate(&self, value: &str) -> Result<(), String> {
        check_value(self.name, self.kind, self.rule, value)
    }
}

/// Check a value of config `name` against a type and rule; the error reads like Kafka's.
pub fn check_value(name: &str, kind: ConfigType, rule: Rule, value: &str) -> Result<(), String> {
    let invalid = |why: String| {
        Err(format!(
            "Invalid value {value} for configuration {name}: {why}"
        ))
    };
    let trimmed = value.trim();
    let number = match kind {
        Int => match trimmed.parse::<i32>() {
            Ok(n) => Some(n as f64),
            Err(_) => return invalid("Not a number of type INT".into()),
        },
        ConfigType::Short => match trimmed.parse::<i16>() {
            Ok(n) => Some(n as f64),
            Err(_) => return invalid("Not a number of type SHORT".into()),
        },
        Long => match trimmed.parse::<i64>() {
            Ok(n) => Some(n as f64),
            Err(_) => return invalid("Not a number of type LONG".into()),
        },
        Double => match trimmed.parse::<f64>() {
            Ok(n) if n.is_finite() => Some(n),
            _ => return invalid("Not a number of type DOUBLE".into()),
        },
        Boolean => {
            if !trimmed.eq_ignore_ascii_case("true") && !trimmed.eq_ignore_ascii_case("false") {
                return invalid("Expected value to be either true or false".into());
            }
            None
        }
        Str | List => None,
    };
    match (rule, number) {
        (Rule::AtLeast(min), Some(n)) if n < min as f64 => {
            invalid(format!("Value must be at least {min}"))
        }
        (Rule::Between(lo, hi), Some(n)) if n < lo || n > hi => invalid(format!(
            "Value must be no less than {lo} and no more than {hi}"
        )),
        (Rule::IntRange(lo, hi), Some(n)) if n < lo as f64 || n > hi as f64 => {
            invalid(format!("Value must be between {lo} and {hi}"))
        }
        (Rule::GzipLevel, Some(n)) if !(n == -1.0 || (1.0..=9.0).contains(&n)) => {
            invalid("Value must be between 1 and 9, or -1 for the default level".into())
        }
        (Rule::OneOf(allowed), _) if !allowed.contains(&trimmed) => {
            invalid(format!("String must be one of: {}", allowed.join(", ")))
        }
        // Kafka 4's `ValidList.in`: the empty list is allowed (cleanup.policy: no cleanup,
        // segments kept indefinitely); items are neither repeated nor empty.
        (Rule::ListOf(_), _) if trimmed.is_empty() => Ok(()),
        (Rule::ListOf(allowed), _) => {
            let items: Vec<&str> = trimmed.split(',').map(str::trim).collect();
            let mut unique = items.clone();
            unique.sort_unstable();
            unique.dedup();
            if unique.len() != items.len() {
                return Err(format!(
                    "Configuration '{name}' values must not be duplicated."
                ));
            }
            for item in items {
                if item.is_empty() {
                    return Err(format!("Configuration '{name}' values must not be empty."));
                }
                if !allowed.contains(&item) {
                    return Err(format!(
                        "Invalid value {item} for configuration {name}: String must be one of: {}",
                        allowed.join(", ")
                    ));
                }
            }
            Ok(())
        }
        (Rule::ThrottledReplicas, _) => {
            let ok = trimmed.is_empty()
                || trimmed == "*"
                || trimmed.split(',').all(|pair| {
                    pair.trim()
                        .split_once(':')
                        .is_some_and(|(p, b)| p.parse::<u32>().is_ok() && b.parse::<u32>().is_ok())
                });
            if ok {
                Ok(())
            } else {
                invalid("Must be the literal '*' or a list of replicas in the form [PartitionId]:[BrokerId],[PartitionId]:[BrokerId],...".into())
            }
        }
        _ => Ok(()),
    }
}

/// A topic's config overrides, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TopicConfig(pub BTreeMap<String, String>);

impl TopicConfig {
    /// Validate every override: an unknown name or a bad value is INVALID_CONFIG naming it.
    pub fn new(entries: BTreeMap<String, String>) -> Result<Self, BrokerError> {
        for (name, value) in &entries {
            let def = lookup(name).ok_or_else(|| {
                BrokerError::InvalidConfig(format!("Unknown topic config name: {name}"))
            })?;
            def.validate(value).map_err(BrokerError::InvalidConfig)?;
        }
        Ok(Self(entries))
    }

    fn get<T: std::str::FromStr>(&self, name: &str) -> Option<T> {
        self.0.get(name).and_then(|v| v.trim().parse().ok())
    }

    /// The largest record batch a producer may append, given the broker default.
    pub fn max_message_bytes(&self, broker_default: usize) -> usize {
        self.get::<usize>("max.message.bytes")
            .unwrap_or(broker_default)
    }

    /// `errors.deadletterqueue.group.enable`: share groups may use it as their dead-letter
    /// topic (KIP-1191).
    pub fn dead_letters_allowed(&self) -> bool {
        self.0
            .get("errors.deadletterqueue.group.enable")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }

    /// `message.timestamp.before.max.ms` and `message.timestamp.after.max.ms`: how far a
    /// CreateTime record's timestamp may be behind and ahead of the broker's clock.
    pub fn timestamp_bounds(&self) -> (i64, i64) {
        (
            self.get("message.timestamp.before.max.ms")
                .unwrap_or(i64::MAX),
            self.get("message.timestamp.after.max.ms")
                .unwrap_or(3_600_000),
        )
    }

    /// The log settings, given the broker defaults.
    pub fn log_config(&self, defaults: &LogConfig) -> LogConfig {
        LogConfig {
            // Kafka's LogConfig.segmentSize(): internal.segment.bytes, when set, wins.
            segment_bytes: self
                .get("internal.segment.bytes")
                .or_else(|| self.get("segment.bytes"))
                .unwrap_or(defaults.segment_bytes),
            segment_ms: self.get("segment.ms").unwrap_or(defaults.segment_ms),
            index_interval_bytes: self
                .get("index.interval.bytes")
                .unwrap_or(defaults.index_interval_bytes),
            log_append_time: self
                .0
                .get("message.timestamp.type")
                .map(|v| v.trim() == "LogAppendTime")
                .unwrap_or(defaults.log_append_time),
            compacted: self.cleanup_policy().1,
        }
    }
}

/// Log lifecycle: what retention and the cleaner read from a topic's config.
impl TopicConfig {
    /// `cleanup.policy` (default `delete`): (delete, compact). Empty (Kafka 4): neither —
    /// nothing is deleted by retention or compacted; DeleteRecords still moves the log start.
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
        assert_eq!(err.to_string(), "Unknown topic config name: no.such.config");
        let err = config(&[("segment.bytes", "abc")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Invalid value abc for configuration segment.bytes: Not a number of type INT"
        );
        let err = config(&[("retention.ms", "-5")]).unwrap_err();
        assert!(
            err.to_string().ends_with("Value must be at least -1"),
            "{err}"
        );
        assert!(config(&[("message.timestamp.type", "Wrong")]).is_err());
        let err = config(&[("cleanup.policy", "compact,wipe")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Invalid value wipe for configuration cleanup.policy: String must be one of: compact, delete"
        );
        // Kafka 4: the empty list is no cleanup at all; items neither repeated nor empty.
        for empty in ["", " "] {
            let c = config(&[("cleanup.policy", empty)]).unwrap();
            assert_eq!(c.cleanup_policy(), (false, false));
        }
        let err = config(&[("cleanup.policy", "delete, delete")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Configuration 'cleanup.policy' values must not be duplicated."
        );
        let err = config(&[("cleanup.policy", "delete,")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Configuration 'cleanup.policy' values must not be empty."
        );
        assert!(config(&[("min.cleanable.dirty.ratio", "1.5")]).is_err());
        assert!(config(&[("compression.gzip.level", "0")]).is_err());
        assert!(config(&[("compression.gzip.level", "-1")]).is_ok());
        assert!(config(&[("preallocate", "maybe")]).is_err());
        assert!(config(&[("leader.replication.throttled.replicas", "0:1,1:1")]).is_ok());
        assert!(config(&[("leader.replication.throttled.replicas", "x")]).is_err());
    }

    #[test]
    fn every_default_passes_its_own_validation() {
        for def in CATALOG.iter().filter(|d| !d.internal) {
            assert!(def.validate(def.default).is_ok(), "{}", def.name);
        }
        let mut names: Vec<_> = CATALOG.iter().map(|d| d.name).collect();
        names.sort();
        assert_eq!(names, CATALOG.iter().map(|d| d.name).collect::<Vec<_>>());
    }

    #[test]
    fn has_the_topic_configs_kafka_4_4_added() {
        let get = |name| lookup(name).map(|d| (d.default, d.synonym));
        assert_eq!(
            get("remote.copy.lag.bytes"),
            Some(("-1", Some("log.remote.copy.lag.bytes")))
        );
        assert_eq!(
            get("remote.copy.lag.ms"),
            Some(("0", Some("log.remote.copy.lag.ms")))
        );
        assert_eq!(
            get("errors.deadletterqueue.group.enable"),
            Some(("false", None))
        );
        assert!(config(&[
            ("remote.copy.lag.ms", "-1"),
            ("remote.copy.lag.bytes", "-1")
        ])
        .is_ok());
        let err = config(&[("remote.copy.lag.ms", "-2")]).unwrap_err();
        assert!(
            err.to_string().ends_with("Value must be at least -1"),
            "{err}"
        );
        assert!(config(&[("errors.deadletterqueue.group.enable", "maybe")]).is_err());
    }

    #[test]
    fn segment_bytes_has_kafkas_minimum_and_the_internal_override_does_not() {
        let err = config(&[("segment.bytes", "200")]).unwrap_err();
        assert_eq!(err.code(), 40);
        assert_eq!(
            err.to_string(),
            "Invalid value 200 for configuration segment.bytes: Value must be at least 1048576"
        );
        assert!(config(&[("segment.bytes", "1048576")]).is_ok());
        let c = config(&[
            ("internal.segment.bytes", "300"),
            ("segment.bytes", "1048576"),
        ])
        .unwrap();
        assert_eq!(c.log_config(&LogConfig::default()).segment_bytes, 300);
        assert!(config(&[("internal.segment.bytes", "13")]).is_err());
    }

    #[test]
    fn derives_log_settings() {
        let c = config(&[
            ("internal.segment.bytes", "1000"),
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
