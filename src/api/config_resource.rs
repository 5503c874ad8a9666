//! What DescribeConfigs, AlterConfigs and IncrementalAlterConfigs share: Kafka's config
//! resource types and the checks of a resource name.

use kafka_protocol::ResponseError;

use super::RequestContext;
use crate::error::{BrokerError, Result};
use crate::meta::broker_configs::Scope;
use crate::security::acl::AclOperation;

/// Kafka's ConfigResource.Type codes.
pub const TOPIC: i8 = 2;
pub const BROKER: i8 = 4;
pub const BROKER_LOGGER: i8 = 8;
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
    BrokerError::InvalidRequest(match resource_type {
        BROKER_LOGGER => {
            "gregor has no broker loggers to configure (its log filter is the --log setting)".into()
        }
        other => format!("Unsupported resource type {other} for configs"),
    })
}

/// Kafka's check before describing (DESCRIBE_CONFIGS) or changing (ALTER_CONFIGS) a resource's
/// configs: on the topic for a topic, on the group for a group, on the cluster for a broker
/// or broker logger.
pub fn authorize(
    ctx: &RequestContext,
    op: AclOperation,
    resource_type: i8,
    name: &str,
) -> Result<()> {
    let denied = match resource_type {
        TOPIC if !ctx.authorize_topic(op, name) => ResponseError::TopicAuthorizationFailed,
        GROUP if !ctx.authorize_group(op, name) => ResponseError::GroupAuthorizationFailed,
        BROKER | BROKER_LOGGER if !ctx.authorize_cluster(op) => {
            ResponseError::ClusterAuthorizationFailed
        }
        _ => return Ok(()),
    };
    Err(BrokerError::NotAuthorized(denied))
}
