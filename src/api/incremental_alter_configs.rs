//! IncrementalAlterConfigs (44): SET, DELETE, APPEND and SUBTRACT single topic configs and
//! dynamic broker configs (a BROKER resource: this node, or "" for the cluster-wide
//! defaults), persisted and applied at once; SET and DELETE of a group's configs (GROUP).

use std::collections::BTreeMap;

use kafka_protocol::messages::incremental_alter_configs_request::AlterConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::config_resource as resource;
use super::RequestContext;
use crate::error::{BrokerError, Result};
use crate::group::configs as group_configs;
use crate::meta::broker_configs;
use crate::meta::config_view;
use crate::meta::topic_config::{self, ConfigType};
use crate::meta::TopicConfig;
use crate::security::acl::AclOperation;

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

pub async fn handle(
    ctx: RequestContext,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let keys: Vec<_> = req
        .resources
        .iter()
        .map(|r| (r.resource_type, r.resource_name.clone()))
        .collect();
    // Persisting a topic's configs is a store write (fsync): off the async workers.
    let outcomes = tokio::task::spawn_blocking(move || {
        req.resources
            .iter()
            .map(|r| alter(&ctx, r, req.validate_only))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_else(|e| {
        tracing::error!(error = %e, "altering configs failed");
        keys.iter()
            .map(|_| Err(BrokerError::UnknownServer(String::new())))
            .collect()
    });
    let responses = keys
        .into_iter()
        .zip(outcomes)
        .map(|((resource_type, resource_name), outcome)| {
            let response = AlterConfigsResourceResponse::default()
                .with_resource_type(resource_type)
                .with_resource_name(resource_name);
            match outcome {
                Ok(()) => response,
                Err(e) => response
                    .with_error_code(e.code())
                    .with_error_message(Some(StrBytes::from_string(e.to_string()))),
            }
        })
        .collect();
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

fn alter(ctx: &RequestContext, r: &AlterConfigsResource, validate_only: bool) -> Result<()> {
    resource::authorize(
        ctx,
        AclOperation::AlterConfigs,
        r.resource_type,
        &r.resource_name,
    )?;
    let mut names: Vec<&str> = r.configs.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(BrokerError::InvalidRequest(format!(
            "Error due to duplicate config keys: {}",
            w[0]
        )));
    }
    match r.resource_type {
        resource::TOPIC => {
            let describe = |current: &TopicConfig| {
                config_view::describe_topic(current, ctx.config(), &ctx.topics().broker_configs())
            };
            ctx.topics().alter_topic_config(
                &r.resource_name,
                |current| {
                    apply(current.0.clone(), r, |name| {
                        let def = topic_config::lookup(name).ok_or_else(|| {
                            BrokerError::InvalidConfig(format!("Unknown topic config name: {name}"))
                        })?;
                        Ok((def.kind, value_of(&describe(current), name)))
                    })
                },
                validate_only,
            )
        }
        resource::BROKER => {
            let scope = resource::broker_scope(&r.resource_name, ctx.cluster().this_node())?;
            let topics = ctx.topics();
            topics.alter_broker_configs(
                scope,
                |current| {
                    apply(current.clone(), r, |name| {
                        let def = broker_configs::lookup(name)
                            .ok_or_else(|| broker_configs::refuse(&[name]))?;
                        let described =
                            config_view::describe_broker(ctx.config(), &topics.broker_configs());
                        Ok((def.kind, value_of(&described, name)))
                    })
                },
                validate_only,
            )
        }
        resource::BROKER_LOGGER => {
            resource::check_logger_node(&r.resource_name, ctx.cluster().this_node())?;
            resource::alter_loggers(
                ctx.log_levels(),
                r.configs.iter().map(|c| {
                    (
                        c.name.to_string(),
                        c.config_operation,
                        c.value.as_ref().map(|v| v.to_string()),
                    )
                }),
                validate_only,
            )
        }
        resource::GROUP => alter_group(ctx, r, validate_only),
        resource::CLIENT_METRICS => alter_client_metrics(ctx, r, validate_only),
        other => Err(resource::unsupported_resource(other)),
    }
}

/// A group's configs (Kafka's `GroupConfig`: the share group ones gregor applies).
fn alter_group(ctx: &RequestContext, r: &AlterConfigsResource, validate_only: bool) -> Result<()> {
    if r.resource_name.is_empty() {
        return Err(BrokerError::InvalidRequest(
            "Group name must not be empty".into(),
        ));
    }
    let store = ctx.groups().group_configs();
    let mut configs = store.get(&r.resource_name);
    for c in &r.configs {
        let name = c.name.to_string();
        match (c.config_operation, c.value.as_deref()) {
            (SET, Some(value)) => {
                group_configs::check(&name, value).map_err(BrokerError::InvalidConfig)?;
                configs.insert(name, value.to_string());
            }
            (SET, None) => {
                return Err(BrokerError::InvalidRequest(format!(
                    "Null value not supported for : {name}"
                )))
            }
            (DELETE, _) => {
                configs.remove(&name);
            }
            _ => {
                return Err(BrokerError::InvalidConfig(format!(
                    "Config value append or subtract is not allowed for config key: {name}"
                )))
            }
        }
    }
    if validate_only {
        return Ok(());
    }
    store
        .set(&r.resource_name, configs)
        .map_err(|e| BrokerError::UnknownServer(e.to_string()))
}

/// A config's value as described (its effective value), "" when it has none.
fn value_of(described: &[config_view::DescribedConfig], name: &str) -> String {
    described
        .iter()
        .find(|d| d.name == name)
        .and_then(|d| d.value.clone())
        .unwrap_or_default()
}

/// A client-metrics resource (KIP-714's subscription): SET and DELETE, APPEND and SUBTRACT
/// on its lists (`metrics`, `match`); the result checked whole, as Kafka does.
fn alter_client_metrics(
    ctx: &RequestContext,
    r: &AlterConfigsResource,
    validate_only: bool,
) -> Result<()> {
    use crate::telemetry::subscriptions::{MATCH, METRICS};
    let current = ctx.telemetry().subscriptions().get(&r.resource_name);
    // APPEND and SUBTRACT start from the resource's own list: a subscription has no defaults.
    let configs = apply(current, r, |name| {
        if name == METRICS || name == MATCH {
            Ok((ConfigType::List, String::new()))
        } else {
            Err(BrokerError::InvalidConfig(format!(
                "Config value append or subtract is not allowed for config key: {name}"
            )))
        }
    })?;
    resource::set_client_metrics(ctx, &r.resource_name, configs, validate_only)
}

/// The configs after the operations. `list_config` gives a name's type and effective value
/// (what APPEND and SUBTRACT start from), or the error for a name the resource lacks.
fn apply(
    mut configs: BTreeMap<String, String>,
    r: &AlterConfigsResource,
    list_config: impl Fn(&str) -> Result<(ConfigType, String)>,
) -> Result<BTreeMap<String, String>> {
    for c in &r.configs {
        let name = c.name.to_string();
        let value = c.value.as_ref().map(|v| v.to_string());
        match c.config_operation {
            SET => {
                let value = value.ok_or_else(|| {
                    BrokerError::InvalidRequest(format!("Null value not supported for : {name}"))
                })?;
                configs.insert(name, value);
            }
            DELETE => {
                configs.remove(&name);
            }
            APPEND | SUBTRACT => {
                let (kind, effective) = list_config(&name)?;
                if kind != ConfigType::List {
                    let op = if c.config_operation == APPEND {
                        "append"
                    } else {
                        "subtract"
                    };
                    return Err(BrokerError::InvalidConfig(format!(
                        "Config value {op} is not allowed for config key: {name}"
                    )));
                }
                let current = configs.get(&name).cloned().unwrap_or(effective);
                let mut items: Vec<String> = split_list(&current);
                for item in split_list(value.as_deref().unwrap_or("")) {
                    if c.config_operation == APPEND {
                        if !items.contains(&item) {
                            items.push(item);
                        }
                    } else {
                        items.retain(|i| *i != item);
                    }
                }
                configs.insert(name, items.join(","));
            }
            other => {
                return Err(BrokerError::InvalidRequest(format!(
                    "Unknown config operation {other} for {name}"
                )))
            }
        }
    }
    Ok(configs)
}

fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}
