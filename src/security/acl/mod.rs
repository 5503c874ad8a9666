//! Access control lists as Kafka's StandardAuthorizer keeps them: the binding types with
//! their wire codes (`ResourceType`, `PatternType`, `AclOperation`, `AclPermissionType`), the
//! filters DescribeAcls and DeleteAcls send, and (`matcher`) the set of bindings that answers
//! whether a principal from a host may do an operation on a resource. Pure logic: the
//! service that persists bindings is `security::authorizer`.

mod matcher;
#[cfg(test)]
mod tests;

pub use matcher::{AclSet, Requester};

use serde::{Deserialize, Serialize};

/// Kafka's `ResourceType`, the concrete ones (codes 2..=7). UNKNOWN (0) and ANY (1) exist only
/// in filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ResourceType {
    Topic = 2,
    Group = 3,
    Cluster = 4,
    TransactionalId = 5,
    DelegationToken = 6,
    User = 7,
}

/// Kafka's `PatternType` of a binding: LITERAL (3) or PREFIXED (4). ANY (1) and MATCH (2)
/// exist only in filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PatternType {
    Literal = 3,
    Prefixed = 4,
}

/// Kafka's `AclOperation` (codes 2..=15). UNKNOWN (0) and ANY (1) exist only in filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AclOperation {
    All = 2,
    Read = 3,
    Write = 4,
    Create = 5,
    Delete = 6,
    Alter = 7,
    Describe = 8,
    ClusterAction = 9,
    DescribeConfigs = 10,
    AlterConfigs = 11,
    IdempotentWrite = 12,
    CreateTokens = 13,
    DescribeTokens = 14,
    TwoPhaseCommit = 15,
}

/// Kafka's `AclPermissionType`: DENY (2) or ALLOW (3). ANY (1) exists only in filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Permission {
    Deny = 2,
    Allow = 3,
}

/// The name of the one CLUSTER resource (Kafka's `kafka-cluster`).
pub const CLUSTER_NAME: &str = "kafka-cluster";
/// The resource name, host and principal name that match any (Kafka's `*`).
pub const WILDCARD: &str = "*";

/// A field's code as a request carries it: a concrete value, ANY, MATCH (pattern types only)
/// or one gregor does not know (UNKNOWN or out of range), which Kafka refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code<T> {
    Is(T),
    Any,
    Match,
    Unknown,
}

impl ResourceType {
    pub const ALL: [ResourceType; 6] = [
        Self::Topic,
        Self::Group,
        Self::Cluster,
        Self::TransactionalId,
        Self::DelegationToken,
        Self::User,
    ];

    pub fn code(self) -> i8 {
        self as i8
    }

    pub fn from_code(code: i8) -> Code<Self> {
        match code {
            1 => Code::Any,
            c => Self::ALL
                .into_iter()
                .find(|t| t.code() == c)
                .map_or(Code::Unknown, Code::Is),
        }
    }

    /// The operations a binding on this resource type can grant (Kafka's
    /// `AclEntry.supportedOperations`): what authorized-operations fields report.
    pub fn supported_operations(self) -> &'static [AclOperation] {
        use AclOperation::*;
        match self {
            Self::Topic => &[
                Read,
                Write,
                Create,
                Describe,
                Delete,
                Alter,
                DescribeConfigs,
                AlterConfigs,
            ],
            Self::Group => &[Read, Describe, Delete, DescribeConfigs, AlterConfigs],
            Self::Cluster => &[
                Create,
                ClusterAction,
                DescribeConfigs,
                AlterConfigs,
                IdempotentWrite,
                Alter,
                Describe,
            ],
            Self::TransactionalId => &[Describe, Write, TwoPhaseCommit],
            Self::DelegationToken => &[Describe],
            Self::User => &[CreateTokens, DescribeTokens],
        }
    }
}

impl PatternType {
    pub fn code(self) -> i8 {
        self as i8
    }

    pub fn from_code(code: i8) -> Code<Self> {
        match code {
            1 => Code::Any,
            2 => Code::Match,
            3 => Code::Is(Self::Literal),
            4 => Code::Is(Self::Prefixed),
            _ => Code::Unknown,
        }
    }
}

impl AclOperation {
    const EVERY: [AclOperation; 14] = [
        Self::All,
        Self::Read,
        Self::Write,
        Self::Create,
        Self::Delete,
        Self::Alter,
        Self::Describe,
        Self::ClusterAction,
        Self::DescribeConfigs,
        Self::AlterConfigs,
        Self::IdempotentWrite,
        Self::CreateTokens,
        Self::DescribeTokens,
        Self::TwoPhaseCommit,
    ];

    pub fn code(self) -> i8 {
        self as i8
    }

    pub fn from_code(code: i8) -> Code<Self> {
        match code {
            1 => Code::Any,
            c => Self::EVERY
                .into_iter()
                .find(|o| o.code() == c)
                .map_or(Code::Unknown, Code::Is),
        }
    }
}

impl Permission {
    pub fn code(self) -> i8 {
        self as i8
    }

    pub fn from_code(code: i8) -> Code<Self> {
        match code {
            1 => Code::Any,
            2 => Code::Is(Self::Deny),
            3 => Code::Is(Self::Allow),
            _ => Code::Unknown,
        }
    }
}

/// One ACL: a resource pattern and an entry (Kafka's `AclBinding`, `StandardAcl`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AclBinding {
    pub resource_type: ResourceType,
    pub resource_name: String,
    pub pattern_type: PatternType,
    /// `Type:name`, as the request gave it (`User:alice`, `User:*`).
    pub principal: String,
    /// A client address as Java prints it, or `*`.
    pub host: String,
    pub operation: AclOperation,
    pub permission: Permission,
}

/// What CreateAcls refuses, with Kafka's messages (all INVALID_REQUEST).
pub fn validate_new(binding: &AclBinding) -> Result<(), String> {
    if binding.resource_name.is_empty() {
        return Err("Invalid empty resource name".into());
    }
    if binding.resource_type == ResourceType::Cluster && binding.resource_name != CLUSTER_NAME {
        return Err(format!(
            "The only valid name for the CLUSTER resource is {CLUSTER_NAME}"
        ));
    }
    if !binding.principal.contains(':') {
        return Err(format!(
            "Could not parse principal from `{}` (no colon is present separating the principal type from the principal name)",
            binding.principal
        ));
    }
    Ok(())
}

/// Which patterns a filter selects (Kafka's `ResourcePatternFilter` pattern type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternFilter {
    /// Exactly this pattern type.
    Is(PatternType),
    /// Every pattern type; a name must then be equal.
    Any,
    /// Every binding that would apply to the named resource: the literal, the wildcard and
    /// the prefixes of the name.
    Match,
}

/// A DescribeAcls / DeleteAcls filter (Kafka's `AclBindingFilter`); None is ANY (a null
/// string or code 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclFilter {
    pub resource_type: Option<ResourceType>,
    pub resource_name: Option<String>,
    pub pattern: PatternFilter,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: Option<AclOperation>,
    pub permission: Option<Permission>,
}

impl AclFilter {
    /// Kafka's `AclBindingFilter.matches`.
    pub fn matches(&self, b: &AclBinding) -> bool {
        if self.resource_type.is_some_and(|t| t != b.resource_type) {
            return false;
        }
        if let PatternFilter::Is(p) = self.pattern {
            if p != b.pattern_type {
                return false;
            }
        }
        let name_ok = match (&self.resource_name, self.pattern) {
            (None, _) => true,
            (Some(n), PatternFilter::Any | PatternFilter::Is(_)) => *n == b.resource_name,
            (Some(n), PatternFilter::Match) => match b.pattern_type {
                PatternType::Literal => *n == b.resource_name || b.resource_name == WILDCARD,
                PatternType::Prefixed => n.starts_with(&b.resource_name),
            },
        };
        name_ok
            && self.principal.as_ref().is_none_or(|p| *p == b.principal)
            && self.host.as_ref().is_none_or(|h| *h == b.host)
            && self.operation.is_none_or(|o| o == b.operation)
            && self.permission.is_none_or(|p| p == b.permission)
    }
}

/// The authorized-operations bit field Kafka sends (`Utils.to32BitField`): bit `code` set
/// for each operation.
pub fn operations_bits(ops: impl IntoIterator<Item = AclOperation>) -> i32 {
    ops.into_iter().fold(0, |bits, op| bits | (1 << op.code()))
}

/// A client address as Java's `InetAddress.getHostAddress` prints it, which is what Kafka
/// compares an ACL's host with: IPv4 dotted, IPv4-mapped IPv6 as IPv4, other IPv6 as eight
/// uncompressed hex groups (`0:0:0:0:0:0:0:1`).
pub fn host_address(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6
                .segments()
                .iter()
                .map(|s| format!("{s:x}"))
                .collect::<Vec<_>>()
                .join(":"),
        },
    }
}
