//! Dynamic broker configs: what IncrementalAlterConfigs and AlterConfigs set on a BROKER
//! resource, for this node (Kafka's DYNAMIC_BROKER_CONFIG) or as the cluster-wide default
//! (DYNAMIC_DEFAULT_BROKER_CONFIG). Which names may change, their checks, and what they make
//! of a topic's configs. Pure: the topics service keeps and applies them.
//!
//! gregor takes the configs Kafka reconfigures at run time and gregor acts on: the broker
//! synonyms of topic configs (Kafka's `DynamicLogConfig`: `log.retention.ms`,
//! `message.max.bytes`, ...) and `log.cleaner.backoff.ms`. Kafka's other dynamic configs
//! (thread pools, listeners, TLS stores) name machinery gregor does not have; they are
//! refused as Kafka refuses a static config.

use std::collections::BTreeMap;

use super::topic_config::{ConfigDef, ConfigType, Rule, CATALOG};
use crate::error::BrokerError;

/// The pause between log cleaner passes.
pub const CLEANER_BACKOFF_MS: &str = "log.cleaner.backoff.ms";

/// Where a dynamic config is set: the cluster-wide default (resource name "") or this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    ClusterDefault,
    ThisNode,
}

/// A dynamic broker config: its type and check, and the topic config it is the default of.
#[derive(Debug, Clone, Copy)]
pub struct BrokerDef {
    pub kind: ConfigType,
    rule: Rule,
    /// The topic config this broker config supplies the default of, if any.
    pub topic: Option<&'static ConfigDef>,
}

/// The dynamic broker config of that name, if gregor reconfigures it at run time.
pub fn lookup(name: &str) -> Option<BrokerDef> {
    if name == CLEANER_BACKOFF_MS {
        return Some(BrokerDef {
            kind: ConfigType::Long,
            rule: Rule::AtLeast(0),
            topic: None,
        });
    }
    let def = CATALOG.iter().find(|d| d.synonym == Some(name))?;
    // Kafka checks the broker config's own definition, which differs from the topic's here:
    // `log.retention.ms` takes any number (a negative one keeps segments forever).
    let rule = match name {
        "log.retention.ms" => Rule::Any,
        _ => def.rule,
    };
    Some(BrokerDef {
        kind: def.kind,
        rule,
        topic: Some(def),
    })
}

/// Check configs before they are set, as Kafka's `DynamicBrokerConfig.validateConfigs`: every
/// name must be dynamic (else INVALID_REQUEST naming all that are not), then every value must
/// fit its type and range.
pub fn check(configs: &BTreeMap<String, String>) -> Result<(), BrokerError> {
    let fixed: Vec<&str> = configs
        .keys()
        .map(String::as_str)
        .filter(|name| lookup(name).is_none())
        .collect();
    if !fixed.is_empty() {
        return Err(refuse(&fixed));
    }
    for (name, value) in configs {
        if let Some(def) = lookup(name) {
            super::topic_config::check_value(name, def.kind, def.rule, value)
                .map_err(BrokerError::InvalidRequest)?;
        }
    }
    Ok(())
}

/// Kafka's answer to setting configs that do not change at run time.
pub fn refuse(names: &[&str]) -> BrokerError {
    BrokerError::InvalidRequest(format!(
        "Cannot update these configs dynamically: [{}]. gregor reconfigures at run time the \
         broker defaults of topic configs and {CLEANER_BACKOFF_MS}; its other settings are \
         static (flags, GREGOR_* environment, config file)",
        names.join(", ")
    ))
}

/// The dynamic configs in force on this node: the cluster-wide defaults and this node's own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DynamicConfigs {
    pub cluster: BTreeMap<String, String>,
    pub node: BTreeMap<String, String>,
}

impl DynamicConfigs {
    pub fn of(&self, scope: Scope) -> &BTreeMap<String, String> {
        match scope {
            Scope::ClusterDefault => &self.cluster,
            Scope::ThisNode => &self.node,
        }
    }

    /// The value in force, if set dynamically at all.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.node
            .get(name)
            .or_else(|| self.cluster.get(name))
            .map(String::as_str)
    }

    /// The topic configs the dynamic broker configs give every topic that does not override
    /// them, under the topic configs' names.
    pub fn topic_defaults(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for name in self.cluster.keys().chain(self.node.keys()) {
            let (Some(def), Some(value)) = (lookup(name).and_then(|d| d.topic), self.value(name))
            else {
                continue;
            };
            out.insert(def.name.to_string(), value.to_string());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn only_reconfigurable_names_are_accepted() {
        assert!(check(&map(&[
            ("log.retention.ms", "-7"),
            ("message.max.bytes", "2000000"),
            ("log.cleanup.policy", ""),
            (CLEANER_BACKOFF_MS, "20000"),
        ]))
        .is_ok());
        let err = check(&map(&[
            ("num.partitions", "3"),
            ("log.retention.hours", "2"),
            ("message.max.bytes", "2000000"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains(
                "Cannot update these configs dynamically: [log.retention.hours, num.partitions]"
            ),
            "{err}"
        );
    }

    #[test]
    fn values_are_checked_under_the_broker_name() {
        let err = check(&map(&[("log.retention.ms", "abc")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "Invalid value abc for configuration log.retention.ms: Not a number of type LONG"
            ),
            "{err}"
        );
        let err = check(&map(&[("log.segment.bytes", "100")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("Invalid value 100 for configuration log.segment.bytes: Value must be at least 1048576"),
            "{err}"
        );
        assert!(check(&map(&[("log.cleanup.policy", "foo")])).is_err());
        assert!(check(&map(&[(CLEANER_BACKOFF_MS, "-1")])).is_err());
    }

    #[test]
    fn this_node_wins_over_the_cluster_default() {
        let dynamic = DynamicConfigs {
            cluster: map(&[("log.retention.ms", "1000"), ("message.max.bytes", "5000")]),
            node: map(&[("log.retention.ms", "2000"), (CLEANER_BACKOFF_MS, "100")]),
        };
        assert_eq!(dynamic.value("log.retention.ms"), Some("2000"));
        assert_eq!(
            dynamic.topic_defaults(),
            map(&[("max.message.bytes", "5000"), ("retention.ms", "2000")])
        );
    }
}
