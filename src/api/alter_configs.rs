//! AlterConfigs (33): replace every config override of a topic with the given set (configs
//! left out fall back to their defaults), persisted and applied at once.

use std::collections::BTreeMap;

use kafka_protocol::messages::alter_configs_request::AlterConfigsResource;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::config_resource as resource;
use super::RequestContext;
use crate::error::{BrokerError, Result};
use crate::security::acl::AclOperation;

pub async fn handle(ctx: RequestContext, req: AlterConfigsRequest) -> AlterConfigsResponse {
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
    AlterConfigsResponse::default().with_responses(responses)
}

fn alter(ctx: &RequestContext, r: &AlterConfigsResource, validate_only: bool) -> Result<()> {
    resource::authorize(
        ctx,
        AclOperation::AlterConfigs,
        r.resource_type,
        &r.resource_name,
    )?;
    let mut configs = BTreeMap::new();
    for c in &r.configs {
        let value = c.value.as_ref().ok_or_else(|| {
            BrokerError::InvalidRequest(format!("Null value not supported for : {}", c.name))
        })?;
        if configs
            .insert(c.name.to_string(), value.to_string())
            .is_some()
        {
            return Err(BrokerError::InvalidRequest(format!(
                "Error due to duplicate config keys: {}",
                c.name
            )));
        }
    }
    match r.resource_type {
        resource::TOPIC => {
            ctx.topics()
                .alter_topic_config(&r.resource_name, |_| Ok(configs), validate_only)
        }
        // As Kafka: the resource's dynamic configs become exactly these.
        resource::BROKER => {
            let scope = resource::broker_scope(&r.resource_name, ctx.cluster().this_node())?;
            ctx.topics()
                .alter_broker_configs(scope, |_| Ok(configs), validate_only)
        }
        resource::CLIENT_METRICS => {
            resource::set_client_metrics(ctx, &r.resource_name, configs, validate_only)
        }
        other => Err(resource::unsupported_resource(other)),
    }
}
