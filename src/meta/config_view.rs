//! What DescribeConfigs and CreateTopics report: the broker's settings under Kafka's names
//! and a topic's effective configs, each with its source and synonyms (topic override →
//! broker setting → Kafka default), as Apache Kafka describes them.

use super::broker_configs::{self, DynamicConfigs};
use super::topic_config::{ConfigType, CATALOG};
use super::TopicConfig;
use crate::config::{AuthorizerKind, Config, SecurityProtocol};

/// Kafka's ConfigSource codes.
pub const DYNAMIC_TOPIC_CONFIG: i8 = 1;
pub const DYNAMIC_BROKER_CONFIG: i8 = 2;
pub const DYNAMIC_DEFAULT_BROKER_CONFIG: i8 = 3;
pub const DYNAMIC_BROKER_LOGGER_CONFIG: i8 = 6;
pub const STATIC_BROKER_CONFIG: i8 = 4;
pub const DEFAULT_CONFIG: i8 = 5;

/// The metadata.version gregor reports (feature level 30 = 4.3-IV0, what Kafka 4.3 finalizes)
/// and the inter.broker.protocol.version string tools such as kafka-ui read as a version signal.
pub const METADATA_VERSION_LEVEL: i16 = 30;
pub const METADATA_VERSION_NAME: &str = "4.3-IV0";

/// One config as described: its effective value, where it comes from, and the chain behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct DescribedConfig {
    pub name: String,
    pub value: Option<String>,
    pub source: i8,
    pub read_only: bool,
    pub kind: ConfigType,
    pub doc: &'static str,
    /// (name, value, source), most specific first.
    pub synonyms: Vec<(String, Option<String>, i8)>,
}

/// A broker setting under its Kafka name: Kafka's default and, when gregor's configuration
/// sets something else, gregor's value (reported as a static broker config); above them the
/// values set at run time (dynamic broker configs), most specific first.
struct BrokerSetting {
    name: &'static str,
    kind: ConfigType,
    default: Option<String>,
    configured: Option<String>,
    doc: &'static str,
    dynamic: Vec<(String, i8)>,
}

fn setting(
    name: &'static str,
    kind: ConfigType,
    default: Option<&str>,
    value: Option<String>,
    doc: &'static str,
) -> BrokerSetting {
    let default = default.map(str::to_string);
    // A value equal to Kafka's default is reported as the default, as Kafka does when a
    // setting is absent from server.properties.
    let configured = value.filter(|v| Some(v) != default.as_ref());
    BrokerSetting {
        name,
        kind,
        default,
        configured,
        doc,
        dynamic: Vec::new(),
    }
}

impl BrokerSetting {
    fn describe(&self) -> DescribedConfig {
        let mut synonyms: Vec<_> = self
            .dynamic
            .iter()
            .map(|(v, source)| (self.name.to_string(), Some(v.clone()), *source))
            .collect();
        if let Some(v) = &self.configured {
            synonyms.push((self.name.to_string(), Some(v.clone()), STATIC_BROKER_CONFIG));
        }
        if let Some(d) = &self.default {
            synonyms.push((self.name.to_string(), Some(d.clone()), DEFAULT_CONFIG));
        }
        let (value, source) = match synonyms.first() {
            Some((_, v, source)) => (v.clone(), *source),
            None => (None, DEFAULT_CONFIG),
        };
        DescribedConfig {
            name: self.name.to_string(),
            value,
            source,
            // Only the dynamic broker configs change at run time; the rest come from gregor's
            // flags, file and environment.
            read_only: broker_configs::lookup(self.name).is_none(),
            kind: self.kind,
            doc: self.doc,
            synonyms,
        }
    }
}

/// The broker's settings under Kafka's names (sorted by name), with their dynamic values.
fn broker_settings(config: &Config, dynamic: &DynamicConfigs) -> Vec<BrokerSetting> {
    use ConfigType::*;
    let s = |v: &dyn ToString| Some(v.to_string());
    let mut settings = vec![
        setting(
            "advertised.listeners",
            List,
            None,
            Some(listeners(&config.advertised_listener)),
            "Listeners (NAME://HOST:PORT) that clients are told to use.",
        ),
        setting(
            "auto.create.topics.enable",
            Boolean,
            Some("true"),
            s(&config.auto_create_topics),
            "Whether Metadata and Produce requests create unknown topics.",
        ),
        setting(
            "broker.id",
            Int,
            Some("-1"),
            s(&config.node_id()),
            "This broker's id.",
        ),
        setting(
            "connections.max.idle.ms",
            Long,
            Some("600000"),
            s(&config.connections_max_idle_ms),
            "How long a connection may stay idle before the broker closes it.",
        ),
        setting(
            "default.replication.factor",
            Int,
            Some("1"),
            s(&1),
            "The replication factor of automatically created topics (gregor is a single node).",
        ),
        setting(
            "delete.topic.enable",
            Boolean,
            Some("true"),
            s(&true),
            "Whether topics can be deleted.",
        ),
        setting(
            "group.initial.rebalance.delay.ms",
            Int,
            Some("3000"),
            s(&config.group_initial_rebalance_delay_ms),
            "How long a new consumer group waits for more members before its first rebalance.",
        ),
        setting(
            "group.max.session.timeout.ms",
            Int,
            Some("1800000"),
            s(&config.group_max_session_timeout_ms),
            "The longest session timeout a consumer may ask for.",
        ),
        setting(
            "group.consumer.max.size",
            Int,
            Some("2147483647"),
            s(&config.group_consumer_max_size),
            "The maximum number of members a consumer group (the consumer protocol) can accommodate.",
        ),
        setting(
            "group.max.size",
            Int,
            Some("2147483647"),
            s(&config.group_max_size),
            "The maximum number of members a classic group can accommodate.",
        ),
        setting(
            "group.share.max.share.sessions",
            Int,
            Some("2000"),
            s(&config.group_share_max_share_sessions),
            "The maximum number of share sessions per broker.",
        ),
        setting(
            "group.share.max.size",
            Int,
            Some("200"),
            s(&config.group_share_max_size),
            "The maximum number of members a share group can accommodate.",
        ),
        setting(
            "group.min.session.timeout.ms",
            Int,
            Some("6000"),
            s(&config.group_min_session_timeout_ms),
            "The shortest session timeout a consumer may ask for.",
        ),
        setting(
            "inter.broker.protocol.version",
            String,
            Some(METADATA_VERSION_NAME),
            None,
            "The protocol level this broker speaks (the metadata.version it reports).",
        ),
        setting(
            "listeners",
            List,
            Some("PLAINTEXT://:9092"),
            Some(listeners(&config.listen)),
            "Addresses the broker accepts clients on.",
        ),
        setting(
            "log.cleaner.backoff.ms",
            Long,
            Some("15000"),
            s(&config.log_cleaner_backoff_ms),
            "The pause between log cleaner (compaction) passes.",
        ),
        setting(
            "log.cleaner.enable",
            Boolean,
            Some("true"),
            None,
            "Whether the log cleaner (compaction) runs.",
        ),
        setting(
            "log.dirs",
            String,
            None,
            Some(config.data_dir.join("logs").display().to_string()),
            "The directory the partition logs are kept in.",
        ),
        setting(
            "log.flush.interval.ms",
            Long,
            None,
            None,
            "The time between forced fsyncs (gregor: see --fsync).",
        ),
        setting(
            "log.retention.check.interval.ms",
            Long,
            Some("300000"),
            s(&config.log_retention_check_interval_ms),
            "How often logs are checked for segments to delete.",
        ),
        setting(
            "log.retention.hours",
            Int,
            Some("168"),
            None,
            "How long segments are kept, in hours.",
        ),
        setting(
            "log.retention.minutes",
            Int,
            None,
            None,
            "How long segments are kept, in minutes.",
        ),
        setting(
            "log.retention.ms",
            Long,
            None,
            (config.log_retention_ms != 604_800_000).then(|| config.log_retention_ms.to_string()),
            "How long segments are kept, in milliseconds.",
        ),
        setting(
            "log.roll.hours",
            Int,
            Some("168"),
            None,
            "The age after which a new segment is rolled, in hours.",
        ),
        setting(
            "log.roll.jitter.ms",
            Long,
            None,
            None,
            "The maximum random jitter subtracted from the roll time.",
        ),
        setting(
            "log.roll.ms",
            Long,
            None,
            (config.segment_ms != 604_800_000).then(|| config.segment_ms.to_string()),
            "The age after which a new segment is rolled, in milliseconds.",
        ),
        setting(
            "max.connections",
            Int,
            Some("2147483647"),
            s(&config.max_connections),
            "The number of connections the broker accepts at once.",
        ),
        setting("node.id", Int, None, s(&config.node_id()), "This node's id."),
        setting(
            "num.partitions",
            Int,
            Some("1"),
            s(&config.num_partitions),
            "The number of partitions of automatically created topics.",
        ),
        setting(
            "offsets.retention.minutes",
            Int,
            Some("10080"),
            s(&config.offsets_retention_minutes),
            "How long committed offsets of an empty group are kept.",
        ),
        setting(
            "offsets.topic.replication.factor",
            Short,
            Some("3"),
            s(&1),
            "The replication factor of committed offsets (gregor keeps them in its local store).",
        ),
        setting(
            "process.roles",
            List,
            None,
            s(&"broker,controller"),
            "The roles this node plays.",
        ),
        setting(
            "queued.max.request.bytes",
            Long,
            Some("-1"),
            s(&config.queued_max_request_bytes),
            "Bytes of requests read and not yet answered, over all connections, before reading waits.",
        ),
        setting(
            "socket.request.max.bytes",
            Int,
            Some("104857600"),
            s(&config.max_request_bytes),
            "The largest request the broker reads; a larger frame closes the connection.",
        ),
        setting(
            "transaction.state.log.replication.factor",
            Short,
            Some("3"),
            s(&1),
            "The replication factor of transaction state (gregor keeps it in its local store).",
        ),
    ];
    settings.extend(security_settings(config));
    // The broker synonyms of topic configs (log.segment.bytes, message.max.bytes, ...).
    for def in CATALOG {
        let Some(name) = def.synonym else { continue };
        if settings.iter().any(|s| s.name == name) {
            continue;
        }
        let value = match name {
            "message.max.bytes" => s(&config.max_message_bytes),
            "log.segment.bytes" => s(&config.segment_bytes),
            "log.retention.bytes" => s(&config.log_retention_bytes),
            _ => None,
        };
        settings.push(setting(name, def.kind, Some(def.default), value, def.doc));
    }
    settings.sort_by_key(|s| s.name);
    for s in &mut settings {
        s.dynamic = [
            (dynamic.node.get(s.name), DYNAMIC_BROKER_CONFIG),
            (dynamic.cluster.get(s.name), DYNAMIC_DEFAULT_BROKER_CONFIG),
        ]
        .into_iter()
        .filter_map(|(value, source)| Some((value?.clone(), source)))
        .collect();
    }
    settings
}

/// The security settings Kafka's broker config defines, under their names.
fn security_settings(config: &Config) -> Vec<BrokerSetting> {
    use ConfigType::*;
    // Every listener's protocol, as Kafka's listener.security.protocol.map lists them.
    let protocol_map = config.listeners().ok().map(|specs| {
        specs
            .iter()
            .map(|l| format!("{}:{}", l.name, l.protocol.name()))
            .collect::<Vec<_>>()
            .join(",")
    });
    let sasl_listener = config.listeners().is_ok_and(|specs| {
        specs.iter().any(|l| {
            matches!(
                l.protocol,
                SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
            )
        })
    });
    vec![
        setting(
            "authorizer.class.name",
            String,
            Some(""),
            matches!(config.authorizer, AuthorizerKind::Acl).then(|| "acl".to_string()),
            "The authorizer (gregor: `acl`, ACLs with Kafka's StandardAuthorizer semantics).",
        ),
        setting(
            "listener.security.protocol.map",
            List,
            Some("SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT"),
            protocol_map,
            "The security protocol of each listener name.",
        ),
        setting(
            "sasl.enabled.mechanisms",
            List,
            Some("GSSAPI"),
            sasl_listener.then(|| config.sasl_mechanisms.join(",")),
            "The SASL mechanisms SASL listeners offer.",
        ),
    ]
}

/// `NAME://HOST:PORT` list as Kafka writes it (listeners without a name are PLAINTEXT).
fn listeners(raw: &[String]) -> String {
    raw.iter()
        .map(|l| {
            if l.contains("://") {
                l.clone()
            } else {
                format!("PLAINTEXT://{l}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Every broker config, as DescribeConfigs of a BROKER resource reports them.
pub fn describe_broker(config: &Config, dynamic: &DynamicConfigs) -> Vec<DescribedConfig> {
    broker_settings(config, dynamic)
        .iter()
        .map(BrokerSetting::describe)
        .collect()
}

/// The cluster-wide dynamic defaults, as DescribeConfigs of the BROKER resource "" reports
/// them: only what is set there.
pub fn describe_broker_defaults(config: &Config, dynamic: &DynamicConfigs) -> Vec<DescribedConfig> {
    let defaults_only = DynamicConfigs {
        cluster: dynamic.cluster.clone(),
        node: Default::default(),
    };
    broker_settings(config, &defaults_only)
        .iter()
        .filter(|s| !s.dynamic.is_empty())
        .map(|s| {
            let mut d = s.describe();
            d.synonyms.truncate(1);
            d
        })
        .collect()
}

/// Every topic config with its effective value: the topic's override, else the broker's
/// setting of its synonym, else Kafka's default.
pub fn describe_topic(
    topic: &TopicConfig,
    config: &Config,
    dynamic: &DynamicConfigs,
) -> Vec<DescribedConfig> {
    let broker = broker_settings(config, dynamic);
    CATALOG
        .iter()
        .filter(|def| !def.internal || topic.0.contains_key(def.name))
        .map(|def| {
            let mut synonyms = Vec::new();
            if let Some(v) = topic.0.get(def.name) {
                synonyms.push((def.name.to_string(), Some(v.clone()), DYNAMIC_TOPIC_CONFIG));
            }
            let from_broker = def
                .synonym
                .and_then(|name| broker.iter().find(|s| s.name == name));
            if let Some(s) = from_broker {
                synonyms.extend(s.describe().synonyms);
            }
            let (value, source) = match synonyms.first() {
                Some((_, v, source)) => (v.clone(), *source),
                None => (Some(def.default.to_string()), DEFAULT_CONFIG),
            };
            DescribedConfig {
                name: def.name.to_string(),
                value,
                source,
                read_only: false,
                kind: def.kind,
                doc: def.doc,
                synonyms,
            }
        })
        .collect()
}

#[cfg(test)]
#[path = "config_view_tests.rs"]
mod tests;
