//! The ACL set and its decision, after Kafka's `StandardAuthorizerData`: super users may do
//! anything; otherwise every binding whose pattern covers the resource (the literal name, the
//! literal wildcard `*`, a PREFIXED name the resource starts with) is looked at; one that
//! matches the principal (or `User:*`), the host (or `*`) and the operation decides — a
//! DENY beats any ALLOW; no matching binding denies, unless no binding covers the resource
//! at all, then `allow.everyone.if.no.acl.found` decides.

use std::collections::{BTreeSet, HashMap};

use super::{AclBinding, AclFilter, AclOperation, PatternType, Permission, ResourceType, WILDCARD};
use crate::security::Principal;

/// Who asks: the principal and the client's address as Java prints it (None: not known, so
/// only `*` hosts match).
#[derive(Debug, Clone, Copy)]
pub struct Requester<'a> {
    pub principal: &'a Principal,
    pub host: Option<&'a str>,
}

/// Bindings of one pattern type by (resource type, name): looked up by `&str`, no allocation.
type Index = HashMap<ResourceType, HashMap<String, Vec<AclBinding>>>;

/// Every binding, indexed for the decision: per resource type, literal names and prefixes.
#[derive(Debug, Default, Clone)]
pub struct AclSet {
    all: BTreeSet<AclBinding>,
    literal: Index,
    prefixed: Index,
}

/// What a lookup found (Kafka's `MatchingRuleBuilder`).
#[derive(Default)]
struct Found {
    allow: bool,
    deny: bool,
    resource_has_acls: bool,
}

impl AclSet {
    pub fn new(bindings: impl IntoIterator<Item = AclBinding>) -> Self {
        let mut set = Self::default();
        for b in bindings {
            set.insert(b);
        }
        set
    }

    pub fn len(&self) -> usize {
        self.all.len()
    }

    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    pub fn contains(&self, b: &AclBinding) -> bool {
        self.all.contains(b)
    }

    /// The same bindings as `other` (the indexes follow from them).
    pub fn same_as(&self, other: &AclSet) -> bool {
        self.all == other.all
    }

    /// Add a binding; false if it was there already.
    pub fn insert(&mut self, b: AclBinding) -> bool {
        if !self.all.insert(b.clone()) {
            return false;
        }
        self.index(&b)
            .entry(b.resource_type)
            .or_default()
            .entry(b.resource_name.clone())
            .or_default()
            .push(b);
        true
    }

    pub fn remove(&mut self, b: &AclBinding) -> bool {
        if !self.all.remove(b) {
            return false;
        }
        let index = self.index(b);
        if let Some(names) = index.get_mut(&b.resource_type) {
            if let Some(list) = names.get_mut(&b.resource_name) {
                list.retain(|x| x != b);
                if list.is_empty() {
                    names.remove(&b.resource_name);
                }
            }
            if names.is_empty() {
                index.remove(&b.resource_type);
            }
        }
        true
    }

    fn index(&mut self, b: &AclBinding) -> &mut Index {
        match b.pattern_type {
            PatternType::Literal => &mut self.literal,
            PatternType::Prefixed => &mut self.prefixed,
        }
    }

    /// Every binding a filter selects, in a stable order.
    pub fn matching<'a>(&'a self, filter: &'a AclFilter) -> impl Iterator<Item = &'a AclBinding> {
        self.all.iter().filter(|b| filter.matches(b))
    }

    /// The bindings whose pattern covers the literal resource `(rt, name)`.
    fn covering<'a>(
        &'a self,
        rt: ResourceType,
        name: &'a str,
    ) -> impl Iterator<Item = &'a AclBinding> + 'a {
        let literals = self.literal.get(&rt);
        let literal = literals.and_then(|l| l.get(name));
        let wildcard = literals
            .filter(|_| name != WILDCARD)
            .and_then(|l| l.get(WILDCARD));
        // Each prefix of the name, at character boundaries (none when no PREFIXED binding
        // of this type exists).
        let prefixed = self.prefixed.get(&rt);
        let prefixes = prefixed.into_iter().flat_map(move |names| {
            name.char_indices()
                .filter_map(move |(i, c)| names.get(&name[..i + c.len_utf8()]))
        });
        literal
            .into_iter()
            .chain(wildcard)
            .chain(prefixes)
            .flatten()
    }

    /// Whether `who` may do `op` on the literal resource `(rt, name)`, by the bindings alone
    /// (super users are the authorizer's business); `no_acl_allows` is
    /// allow.everyone.if.no.acl.found.
    pub fn allows(
        &self,
        who: Requester<'_>,
        op: AclOperation,
        rt: ResourceType,
        name: &str,
        no_acl_allows: bool,
    ) -> bool {
        let mut found = Found::default();
        for b in self.covering(rt, name) {
            found.resource_has_acls = true;
            match applies(b, who, op) {
                Some(Permission::Deny) => {
                    found.deny = true;
                    break;
                }
                Some(Permission::Allow) => found.allow = true,
                None => {}
            }
        }
        if found.deny {
            false
        } else if found.allow {
            true
        } else if !found.resource_has_acls {
            no_acl_allows
        } else {
            false
        }
    }

    /// Kafka's `Authorizer.authorizeByResourceType` after its check of a made-up resource
    /// name (`hardcode`, which the caller does): whether some `rt` resource exists that `who`
    /// may do `op` on, judged from the principal's and host's ALLOW and DENY bindings of that
    /// type (a literal ALLOW not denied literally nor by a DENY prefix of it; a PREFIXED ALLOW
    /// not under a DENY prefix; a wildcard DENY denies everything, a wildcard ALLOW allows).
    pub fn allows_some(&self, who: Requester<'_>, op: AclOperation, rt: ResourceType) -> bool {
        let relevant = self.all.iter().filter(|b| {
            b.resource_type == rt
                && host_matches(&b.host, who.host)
                && principal_matches(&b.principal, who.principal)
                && (b.operation == op || b.operation == AclOperation::All)
        });
        let mut deny_literal = BTreeSet::new();
        let mut deny_prefixed = BTreeSet::new();
        let mut allows = Vec::new();
        for b in relevant {
            match (b.permission, b.pattern_type) {
                (Permission::Deny, PatternType::Literal) if b.resource_name == WILDCARD => {
                    return false
                }
                (Permission::Deny, PatternType::Literal) => {
                    deny_literal.insert(b.resource_name.as_str());
                }
                (Permission::Deny, PatternType::Prefixed) => {
                    deny_prefixed.insert(b.resource_name.as_str());
                }
                (Permission::Allow, _) => allows.push(b),
            }
        }
        if allows
            .iter()
            .any(|b| b.pattern_type == PatternType::Literal && b.resource_name == WILDCARD)
        {
            return true;
        }
        allows.iter().any(|b| {
            let name = b.resource_name.as_str();
            if b.pattern_type == PatternType::Literal && deny_literal.contains(name) {
                return false;
            }
            !name
                .char_indices()
                .any(|(i, c)| deny_prefixed.contains(&name[..i + c.len_utf8()]))
        })
    }
}

/// Kafka's `StandardAuthorizerData.findResult`: what binding `b` (whose pattern covers the
/// resource) says about `who` doing `op`, or None if it does not apply. ALLOW bindings for
/// READ, WRITE, DELETE or ALTER imply DESCRIBE, and ALTER_CONFIGS implies DESCRIBE_CONFIGS;
/// DENY bindings imply nothing. ALL applies to every operation.
fn applies(b: &AclBinding, who: Requester<'_>, op: AclOperation) -> Option<Permission> {
    use AclOperation::*;
    if !principal_matches(&b.principal, who.principal) || !host_matches(&b.host, who.host) {
        return None;
    }
    let op_matches = b.operation == All
        || b.operation == op
        || (b.permission == Permission::Allow
            && match op {
                Describe => matches!(b.operation, Read | Write | Delete | Alter),
                DescribeConfigs => b.operation == AlterConfigs,
                _ => false,
            });
    op_matches.then_some(b.permission)
}

/// A binding's `Type:name` principal matches the requester's, or is the wildcard `User:*`.
fn principal_matches(acl: &str, p: &Principal) -> bool {
    match acl.split_once(':') {
        Some(("User", WILDCARD)) => true,
        Some((t, n)) => t == p.principal_type && n == p.name,
        None => false,
    }
}

fn host_matches(acl: &str, host: Option<&str>) -> bool {
    acl == WILDCARD || host == Some(acl)
}
