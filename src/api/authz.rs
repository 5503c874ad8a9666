//! The authorization checks handlers make, after Kafka's `AuthHelper`: each handler asks
//! `ctx.authorize(op, resource type, name)` where KafkaApis does; without an authorizer
//! (`--authorizer none`) every check passes, as in Kafka.

use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::security::acl::{
    operations_bits, AclFilter, AclOperation, Code, PatternFilter, PatternType, Permission,
    ResourceType, CLUSTER_NAME,
};

impl RequestContext {
    /// Whether the request's principal may do `op` on the resource `(rt, name)`.
    pub fn authorize(&self, op: AclOperation, rt: ResourceType, name: &str) -> bool {
        let Some(authorizer) = self.authorizer() else {
            return true;
        };
        let allowed = authorizer.authorize(self.session(), op, rt, name);
        if !allowed {
            tracing::debug!(principal = %self.session().principal, peer = ?self.peer(), ?op, ?rt, name, "denied");
        }
        allowed
    }

    /// [`Self::authorize`] on the cluster (`kafka-cluster`).
    pub fn authorize_cluster(&self, op: AclOperation) -> bool {
        self.authorize(op, ResourceType::Cluster, CLUSTER_NAME)
    }

    pub fn authorize_topic(&self, op: AclOperation, topic: &str) -> bool {
        self.authorize(op, ResourceType::Topic, topic)
    }

    pub fn authorize_group(&self, op: AclOperation, group: &str) -> bool {
        self.authorize(op, ResourceType::Group, group)
    }

    /// Kafka's `authorizeByResourceType`: may the principal do `op` on some `rt` resource.
    pub fn authorize_by_resource_type(&self, op: AclOperation, rt: ResourceType) -> bool {
        self.authorizer()
            .is_none_or(|a| a.authorize_by_resource_type(self.session(), op, rt))
    }

    /// The authorized-operations bit field of a resource (Kafka's
    /// `AuthHelper.authorizedOperations`): every operation the resource type supports that
    /// the principal may do (all of them without an authorizer).
    pub fn authorized_operations(&self, rt: ResourceType, name: &str) -> i32 {
        operations_bits(
            rt.supported_operations()
                .iter()
                .copied()
                .filter(|op| self.authorize(*op, rt, name)),
        )
    }

    /// [`Self::authorized_operations`] when the request asked for them, else Kafka's
    /// "omitted" value.
    pub fn authorized_operations_if(&self, asked: bool, rt: ResourceType, name: &str) -> i32 {
        if asked {
            self.authorized_operations(rt, name)
        } else {
            super::AUTHORIZED_OPERATIONS_OMITTED
        }
    }
}

/// A DescribeAcls / DeleteAcls filter from its wire fields; Err for an UNKNOWN (or unknown)
/// code, which Kafka refuses (INVALID_REQUEST).
pub fn acl_filter(
    resource_type: i8,
    resource_name: Option<&StrBytes>,
    pattern_type: i8,
    principal: Option<&StrBytes>,
    host: Option<&StrBytes>,
    operation: i8,
    permission: i8,
) -> Result<AclFilter, String> {
    fn any<T>(code: Code<T>, what: &str, raw: i8) -> Result<Option<T>, String> {
        match code {
            Code::Is(v) => Ok(Some(v)),
            Code::Any => Ok(None),
            Code::Match | Code::Unknown => {
                Err(format!("Filter contains an unknown {what} ({raw})"))
            }
        }
    }
    let pattern = match PatternType::from_code(pattern_type) {
        Code::Is(p) => PatternFilter::Is(p),
        Code::Any => PatternFilter::Any,
        Code::Match => PatternFilter::Match,
        Code::Unknown => {
            return Err(format!(
                "Filter contains an unknown pattern type ({pattern_type})"
            ))
        }
    };
    Ok(AclFilter {
        resource_type: any(
            ResourceType::from_code(resource_type),
            "resource type",
            resource_type,
        )?,
        resource_name: resource_name.map(|s| s.to_string()),
        pattern,
        principal: principal.map(|s| s.to_string()),
        host: host.map(|s| s.to_string()),
        operation: any(AclOperation::from_code(operation), "operation", operation)?,
        permission: any(
            Permission::from_code(permission),
            "permission type",
            permission,
        )?,
    })
}
