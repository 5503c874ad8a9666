//! What DescribeConfigs, AlterConfigs and IncrementalAlterConfigs share: Kafka's config
//! resource types and the checks of a resource name.

use kafka_protocol::ResponseError;

use super::RequestContext;
use crate::error::{BrokerError, Result};
use crate::log_levels::{LogLevels, Refused};
use crate::meta::broker_configs::Scope;
use crate::meta::config_view::{self, DescribedConfig};
use crate::meta::topic_config::ConfigType;
use crate::security::acl::AclOperation;

/// Kafka's ConfigResource.Type codes.
pub const TOPIC: i8 = 2;
pub const BROKER: i8 = 4;
pub const BROKER_LOGGER: i8 = 8;
pub const CLIENT_METRICS: i8 = 16;
pub const GROUP: i8 = 32;

/// Check a BROKER resource name as Kafka does: this node's id, or "" for the cluster-wide
/// defaults.
pub fn broker_scope(name: &str, node_id: i32) -> Result<Scope> {
    if name.is_empty() {
        return Ok(Scope::ClusterDefault);
    }
    match name.parse::<i32>() {
        Ok(id) if id == node_id => Ok(Scope::ThisNode),
        Ok(id) => Err(BrokerError::InvalidRequest(format!(
            "Unexpected broker id, expected {node_id} or empty string, but received {id}"
        ))),
        Err(_) => Err(BrokerError::InvalidRequest(format!(
            "Broker id must be an integer, but it is: {name}"
        ))),
    }
}

pub fn unsupported_resource(resource_type: i8) -> BrokerError {
    BrokerError::InvalidRequest(format!(
        "Unsupported resource type {resource_type} for configs"
    ))
}

/// A BROKER_LOGGER resource names this node by id (Kafka's `RuntimeLoggerManager`).
pub fn check_logger_node(name: &str, node_id: i32) -> Result<()> {
    match name.parse::<i32>() {
        Ok(id) if id == node_id => Ok(()),
        Ok(id) => Err(BrokerError::InvalidRequest(format!(
            "Unexpected node id. Expected {node_id}, but received {id}"
        ))),
        Err(_) => Err(BrokerError::InvalidRequest(format!(
            "Node id must be an integer, but it is: {name}"
        ))),
    }
}

/// The log levels, as DescribeConfigs of a BROKER_LOGGER resource reports them.
pub fn describe_loggers(levels: &LogLevels) -> Vec<DescribedConfig> {
    levels
        .describe()
        .into_iter()
        .map(|(name, level)| DescribedConfig {
            name,
            value: Some(level),
            source: config_view::DYNAMIC_BROKER_LOGGER_CONFIG,
            read_only: false,
            kind: ConfigType::String,
            doc: "",
            synonyms: Vec::new(),
        })
        .collect()
}

/// IncrementalAlterConfigs of a BROKER_LOGGER resource: every op checked, then all applied.
pub fn alter_loggers(
    levels: &LogLevels,
    ops: impl Iterator<Item = (String, i8, Option<String>)>,
    validate_only: bool,
) -> Result<()> {
    const SET: i8 = 0;
    const DELETE: i8 = 1;
    let refused = |r: Refused| match r {
        Refused::Config(m) => BrokerError::InvalidConfig(m),
        Refused::Request(m) => BrokerError::InvalidRequest(m),
    };
    let mut changes = Vec::new();
    for (logger, op, value) in ops {
        match op {
            SET => LogLevels::check_set(&logger, value.as_deref()).map_err(refused)?,
            DELETE => LogLevels::check_unset(&logger).map_err(refused)?,
            2 | 3 => {
                let name = if op == 2 { "APPEND" } else { "SUBTRACT" };
                return Err(BrokerError::InvalidRequest(format!(
                    "{name} operation is not allowed for the BROKER_LOGGER resource"
                )));
            }
            other => {
                return Err(BrokerError::InvalidRequest(format!(
                    "Unknown operation type {other} is not allowed for the BROKER_LOGGER resource"
                )))
            }
        }
        changes.push((logger, if op == SET { value } else { None }));
    }
    if validate_only {
        return Ok(());
    }
    levels.change(&changes).map_err(BrokerError::InvalidConfig)
}

/// Kafka's check before describing (DESCRIBE_CONFIGS) or changing (ALTER_CONFIGS) a resource's
/// configs: on the topic for a topic, on the group for a group, on the cluster for a broker,
/// broker logger or client-metrics resource.
pub fn authorize(
    ctx: &RequestContext,
    op: AclOperation,
    resource_type: i8,
    name: &str,
) -> Result<()> {
    let denied = match resource_type {
        TOPIC if !ctx.authorize_topic(op, name) => ResponseError::TopicAuthorizationFailed,
        GROUP if !ctx.authorize_group(op, name) => ResponseError::GroupAuthorizationFailed,
        BROKER | BROKER_LOGGER | CLIENT_METRICS if !ctx.authorize_cluster(op) => {
            ResponseError::ClusterAuthorizationFailed
        }
        _ => return Ok(()),
    };
    Err(BrokerError::NotAuthorized(denied))
}

/// A client-metrics resource's config refusal as Kafka answers it.
pub fn client_metrics_error(e: crate::telemetry::subscriptions::ConfigError) -> BrokerError {
    use crate::telemetry::subscriptions::ConfigError;
    match e {
        ConfigError::InvalidRequest(m) => BrokerError::InvalidRequest(m),
        ConfigError::InvalidConfig(m) => BrokerError::InvalidConfig(m),
    }
}

/// Check and (unless `validate_only`) keep a client-metrics resource's new configs.
pub fn set_client_metrics(
    ctx: &RequestContext,
    name: &str,
    configs: std::collections::BTreeMap<String, String>,
    validate_only: bool,
) -> Result<()> {
    use crate::telemetry::subscriptions::Subscriptions;
    Subscriptions::check(name, &configs).map_err(client_metrics_error)?;
    if validate_only {
        return Ok(());
    }
    ctx.telemetry()
        .subscriptions()
        .set(name, configs)
        .map_err(|e| BrokerError::UnknownServer(e.to_string()))
}
