//! Client metrics subscriptions (KIP-714): Kafka's ClientMetricsResource, a CLIENT_METRICS
//! config resource (type 16) set with IncrementalAlterConfigs/AlterConfigs, described with
//! DescribeConfigs and listed with ListConfigResources. Its configs are Kafka 4.4's
//! `ClientMetricsConfigs`: `metrics` (metric name prefixes, `*` for all), `interval.ms` (the
//! push interval, 100..=3600000, default 300000) and `match` (`attribute=regex` pairs, all of
//! which a client must match; none: every client). Kept in the metadata store
//! (`clientmetrics/<name>`) and in memory, so they survive a restart.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use regex::{Regex, RegexBuilder};

use crate::meta::config_view::{DescribedConfig, DEFAULT_CONFIG};
use crate::meta::topic_config::ConfigType;
use crate::store::{KvStore, WriteOp};

pub const METRICS: &str = "metrics";
pub const INTERVAL_MS: &str = "interval.ms";
pub const MATCH: &str = "match";

/// Kafka's ClientMetricsConfigs.INTERVAL_MS_DEFAULT: 5 minutes.
pub const INTERVAL_MS_DEFAULT: i32 = 300_000;
const MIN_INTERVAL_MS: i32 = 100;
const MAX_INTERVAL_MS: i32 = 3_600_000;

/// `metrics` naming every metric.
pub const ALL_METRICS: &str = "*";

/// DescribeConfigs' source of a config set on a client-metrics resource.
pub const CLIENT_METRICS_CONFIG: i8 = 7;

/// The client attributes a `match` may name.
pub const CLIENT_INSTANCE_ID: &str = "client_instance_id";
pub const CLIENT_ID: &str = "client_id";
pub const CLIENT_SOFTWARE_NAME: &str = "client_software_name";
pub const CLIENT_SOFTWARE_VERSION: &str = "client_software_version";
pub const CLIENT_SOURCE_ADDRESS: &str = "client_source_address";
pub const CLIENT_SOURCE_PORT: &str = "client_source_port";
const MATCH_ATTRIBUTES: [&str; 6] = [
    CLIENT_INSTANCE_ID,
    CLIENT_ID,
    CLIENT_SOFTWARE_NAME,
    CLIENT_SOFTWARE_VERSION,
    CLIENT_SOURCE_ADDRESS,
    CLIENT_SOURCE_PORT,
];

/// A compiled `match` pattern may take this much memory (a hostile pattern is refused).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

const PREFIX: &[u8] = b"clientmetrics/";

/// (name, type, default, documentation), as Kafka's ConfigDef.
const CATALOG: &[(&str, ConfigType, &str, &str)] = &[
    (
        INTERVAL_MS,
        ConfigType::Int,
        "300000",
        "Metrics push interval in milliseconds",
    ),
    (MATCH, ConfigType::List, "", "Client match criteria"),
    (
        METRICS,
        ConfigType::List,
        "",
        "Telemetry metric name prefix list",
    ),
];

/// Why a client-metrics config change is refused, as Kafka answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// INVALID_REQUEST: an unknown config, an interval out of range, an empty name.
    InvalidRequest(String),
    /// INVALID_CONFIG: a value that does not parse, an illegal match pattern.
    InvalidConfig(String),
}

/// One subscription, parsed.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub metrics: Vec<String>,
    pub interval_ms: i32,
    /// (attribute, anchored pattern): a client matches when every attribute matches.
    pub matches: Vec<(String, Regex)>,
}

impl Subscription {
    /// Whether a client with these attributes (by name) is subscribed.
    pub fn matches(&self, attribute: impl Fn(&str) -> Option<String>) -> bool {
        self.matches
            .iter()
            .all(|(name, re)| attribute(name).is_some_and(|v| re.is_match(&v)))
    }
}

/// Kafka's ConfigDef LIST: comma-separated, whitespace around items trimmed; "" is empty.
pub fn split_list(value: &str) -> Vec<String> {
    let value = value.trim();
    if value.is_empty() {
        return Vec::new();
    }
    value.split(',').map(|s| s.trim().to_string()).collect()
}

/// Kafka's `ClientMetricsConfigs.validate` of a resource's full configs, and their meaning.
pub fn parse(name: &str, configs: &BTreeMap<String, String>) -> Result<Subscription, ConfigError> {
    if name.is_empty() {
        return Err(ConfigError::InvalidRequest(
            "Subscription name can't be empty".into(),
        ));
    }
    if let Some(unknown) = configs.keys().find(|k| !CATALOG.iter().any(|c| c.0 == *k)) {
        return Err(ConfigError::InvalidRequest(format!(
            "Unknown client metrics configuration: {unknown}"
        )));
    }
    let interval_ms = match configs.get(INTERVAL_MS) {
        None => INTERVAL_MS_DEFAULT,
        Some(v) => {
            let ms: i32 = v.trim().parse().map_err(|_| {
                ConfigError::InvalidConfig(format!(
                    "Invalid value {v} for configuration {INTERVAL_MS}: Not a number of type INT"
                ))
            })?;
            if !(MIN_INTERVAL_MS..=MAX_INTERVAL_MS).contains(&ms) {
                return Err(ConfigError::InvalidRequest(format!(
                    "Invalid value {ms} for {INTERVAL_MS}, interval must be between 100 and 3600000 (1 hour)"
                )));
            }
            ms
        }
    };
    let matches = parse_patterns(&split_list(
        configs.get(MATCH).map(String::as_str).unwrap_or(""),
    ))?;
    Ok(Subscription {
        metrics: split_list(configs.get(METRICS).map(String::as_str).unwrap_or("")),
        interval_ms,
        matches,
    })
}

/// Kafka's `parseMatchingPatterns`: `attribute=regex`, split at `=` (exactly two parts, as
/// Java's `String.split` leaves them), a known attribute, a pattern matching the whole value.
pub fn parse_patterns(patterns: &[String]) -> Result<Vec<(String, Regex)>, ConfigError> {
    let mut parsed: Vec<(String, Regex)> = Vec::new();
    for pattern in patterns {
        let illegal =
            || ConfigError::InvalidConfig(format!("Illegal client matching pattern: {pattern}"));
        let mut parts: Vec<&str> = pattern.split('=').collect();
        while parts.last().is_some_and(|p| p.is_empty()) {
            parts.pop();
        }
        let [param, value] = parts[..] else {
            return Err(illegal());
        };
        let param = param.trim();
        if !MATCH_ATTRIBUTES.contains(&param) {
            return Err(illegal());
        }
        let re = RegexBuilder::new(&format!("^(?:{})$", value.trim()))
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|_| illegal())?;
        // A later pattern for the same attribute replaces the earlier (Kafka's map).
        parsed.retain(|(p, _)| p != param);
        parsed.push((param.to_string(), re));
    }
    Ok(parsed)
}

struct State {
    configs: BTreeMap<String, BTreeMap<String, String>>,
    parsed: BTreeMap<String, Subscription>,
    /// Bumped on every change: client instances made before it are re-evaluated.
    version: u64,
}

/// Every client-metrics resource's configs.
pub struct Subscriptions {
    store: Arc<dyn KvStore>,
    state: RwLock<State>,
}

impl Subscriptions {
    pub fn open(store: Arc<dyn KvStore>) -> anyhow::Result<Self> {
        let subscriptions = Self {
            store,
            state: RwLock::new(State {
                configs: BTreeMap::new(),
                parsed: BTreeMap::new(),
                version: 0,
            }),
        };
        subscriptions.reload()?;
        Ok(subscriptions)
    }

    /// Read every resource's configs from the store (again: in cluster mode other brokers
    /// change the shared store); a change re-evaluates the client instances. Blocks on the
    /// store.
    pub fn reload(&self) -> anyhow::Result<()> {
        let mut configs = BTreeMap::new();
        let mut parsed = BTreeMap::new();
        for (key, value) in self.store.scan_prefix(PREFIX)? {
            let name = String::from_utf8_lossy(&key[PREFIX.len()..]).into_owned();
            let read: Result<BTreeMap<String, String>, _> = serde_json::from_slice(&value);
            match read.map_err(|e| e.to_string()).and_then(|c| {
                parse(&name, &c)
                    .map(|s| (c, s))
                    .map_err(|e| format!("{e:?}"))
            }) {
                Ok((c, s)) => {
                    configs.insert(name.clone(), c);
                    parsed.insert(name, s);
                }
                Err(e) => {
                    tracing::warn!(subscription = %name, error = %e, "skipping unreadable client metrics configs")
                }
            }
        }
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        if state.configs != configs {
            state.configs = configs;
            state.parsed = parsed;
            state.version += 1;
        }
        Ok(())
    }

    /// The configs set on a resource (empty: none).
    pub fn get(&self, name: &str) -> BTreeMap<String, String> {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        state.configs.get(name).cloned().unwrap_or_default()
    }

    /// The resources that have configs, sorted (ListConfigResources).
    pub fn names(&self) -> Vec<String> {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        state.configs.keys().cloned().collect()
    }

    /// Check a resource's new configs (all of them) without keeping them.
    pub fn check(name: &str, configs: &BTreeMap<String, String>) -> Result<(), ConfigError> {
        if configs.is_empty() {
            return if name.is_empty() {
                Err(ConfigError::InvalidRequest(
                    "Subscription name can't be empty".into(),
                ))
            } else {
                Ok(())
            };
        }
        parse(name, configs).map(|_| ())
    }

    /// Replace a resource's configs (empty: remove it). Blocks on the store.
    pub fn set(&self, name: &str, configs: BTreeMap<String, String>) -> anyhow::Result<()> {
        let parsed = if configs.is_empty() {
            None
        } else {
            Some(parse(name, &configs).map_err(|e| anyhow::anyhow!("{e:?}"))?)
        };
        let key = [PREFIX, name.as_bytes()].concat();
        let op = match parsed {
            None => WriteOp::Delete(key),
            Some(_) => WriteOp::Put(key, serde_json::to_vec(&configs)?),
        };
        self.store.write(vec![op])?;
        // Cluster mode: the other brokers read them again at once.
        self.store.announce();
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        match parsed {
            None => {
                if state.configs.remove(name).is_none() {
                    return Ok(());
                }
                state.parsed.remove(name);
            }
            Some(s) => {
                state.configs.insert(name.to_string(), configs);
                state.parsed.insert(name.to_string(), s);
            }
        }
        state.version += 1;
        Ok(())
    }

    /// The subscriptions' version: it changes with every change of them.
    pub fn version(&self) -> u64 {
        self.state.read().unwrap_or_else(|e| e.into_inner()).version
    }

    /// What a client with these attributes is subscribed to: the union of the matching
    /// subscriptions' metrics (just `*` when one names every metric), sorted, and the
    /// shortest of their intervals (the default when none matches); with the version read.
    pub fn resolve(&self, attribute: impl Fn(&str) -> Option<String>) -> (Vec<String>, i32, u64) {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        let mut metrics: Vec<String> = Vec::new();
        let mut interval = INTERVAL_MS_DEFAULT;
        for s in state.parsed.values().filter(|s| s.matches(&attribute)) {
            metrics.extend(s.metrics.iter().cloned());
            interval = interval.min(s.interval_ms);
        }
        metrics.sort();
        metrics.dedup();
        if metrics.iter().any(|m| m == ALL_METRICS) {
            metrics = vec![ALL_METRICS.to_string()];
        }
        (metrics, interval, state.version)
    }

    /// DescribeConfigs of a CLIENT_METRICS resource: every config, set or default.
    pub fn describe(&self, name: &str) -> Vec<DescribedConfig> {
        let set = self.get(name);
        CATALOG
            .iter()
            .map(|(config, kind, default, doc)| {
                let (value, source) = match set.get(*config) {
                    // A list as Kafka shows it parsed: items joined by ",".
                    Some(v) if *kind == ConfigType::List => {
                        (split_list(v).join(","), CLIENT_METRICS_CONFIG)
                    }
                    Some(v) => (v.trim().to_string(), CLIENT_METRICS_CONFIG),
                    None => (default.to_string(), DEFAULT_CONFIG),
                };
                DescribedConfig {
                    name: config.to_string(),
                    value: Some(value.clone()),
                    source,
                    read_only: false,
                    kind: *kind,
                    doc,
                    synonyms: vec![(config.to_string(), Some(value), source)],
                }
            })
            .collect()
    }
}

#[cfg(test)]
#[path = "subscriptions_tests.rs"]
mod tests;
