//! DescribeConfigs (32): a topic's effective configs (override, broker setting or Kafka's
//! default, with synonyms and documentation when asked), this broker's settings, and a
//! group's configs (set on the group, or the default).

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::config_resource as resource;
use super::RequestContext;
use crate::error::{BrokerError, Result};
use crate::meta::broker_configs::Scope;
use crate::meta::config_view::{self, DescribedConfig};
use crate::security::acl::AclOperation;

pub async fn handle(ctx: RequestContext, req: DescribeConfigsRequest) -> DescribeConfigsResponse {
    let results = req
        .resources
        .iter()
        .map(|r| {
            let result = DescribeConfigsResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            let described = resource::authorize(
                &ctx,
                AclOperation::DescribeConfigs,
                r.resource_type,
                &r.resource_name,
            )
            .and_then(|()| describe(&ctx, r));
            match described {
                Ok(configs) => result.with_configs(
                    configs
                        .into_iter()
                        .filter(|c| wanted(r, &c.name))
                        .map(|c| entry(c, &ctx, &req))
                        .collect(),
                ),
                Err(e) => result
                    .with_error_code(e.code())
                    .with_error_message(Some(StrBytes::from_string(e.to_string()))),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

fn describe(ctx: &RequestContext, r: &DescribeConfigsResource) -> Result<Vec<DescribedConfig>> {
    let dynamic = ctx.topics().broker_configs();
    match r.resource_type {
        resource::TOPIC => {
            let topic = ctx
                .topics()
                .get(&r.resource_name)
                .ok_or(BrokerError::UnknownTopicOrPartition)?;
            Ok(config_view::describe_topic(
                &topic.config(),
                ctx.config(),
                &dynamic,
            ))
        }
        resource::BROKER => {
            match resource::broker_scope(&r.resource_name, ctx.cluster().this_node())? {
                Scope::ThisNode => Ok(config_view::describe_broker(ctx.config(), &dynamic)),
                Scope::ClusterDefault => Ok(config_view::describe_broker_defaults(
                    ctx.config(),
                    &dynamic,
                )),
            }
        }
        resource::BROKER_LOGGER => {
            resource::check_logger_node(&r.resource_name, ctx.cluster().this_node())?;
            Ok(resource::describe_loggers(ctx.log_levels()))
        }
        resource::GROUP => Ok(ctx.groups().group_configs().describe(&r.resource_name)),
        resource::CLIENT_METRICS if r.resource_name.is_empty() => Err(BrokerError::InvalidRequest(
            "Subscription name can't be empty".into(),
        )),
        resource::CLIENT_METRICS => Ok(ctx.telemetry().subscriptions().describe(&r.resource_name)),
        other => Err(resource::unsupported_resource(other)),
    }
}

/// `configuration_keys` null or empty means every config (as Kafka reads it).
fn wanted(r: &DescribeConfigsResource, name: &str) -> bool {
    match &r.configuration_keys {
        Some(keys) if !keys.is_empty() => keys.iter().any(|k| k.as_str() == name),
        _ => true,
    }
}

fn entry(
    c: DescribedConfig,
    ctx: &RequestContext,
    req: &DescribeConfigsRequest,
) -> DescribeConfigsResourceResult {
    let mut e = DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_string(c.name))
        .with_value(c.value.map(StrBytes::from_string))
        .with_read_only(c.read_only)
        .with_config_source(c.source)
        .with_is_sensitive(false);
    if req.include_synonyms {
        e = e.with_synonyms(
            c.synonyms
                .into_iter()
                .map(|(name, value, source)| {
                    DescribeConfigsSynonym::default()
                        .with_name(StrBytes::from_string(name))
                        .with_value(value.map(StrBytes::from_string))
                        .with_source(source)
                })
                .collect(),
        );
    }
    if ctx.version() >= 3 {
        e = e.with_config_type(c.kind as i8);
        if req.include_documentation {
            e = e.with_documentation(Some(StrBytes::from_static_str(c.doc)));
        }
    }
    e
}
