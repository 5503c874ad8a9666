//! Quota entities as AlterClientQuotas and DescribeClientQuotas name them, how they are kept in
//! the metadata store, and Kafka's describe filter (`ClientQuotasImage.describe`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub const USER: &str = "user";
pub const CLIENT_ID: &str = "client-id";
pub const IP: &str = "ip";

/// Entity type → name (None: the type's default entity, `<default>`), ordered by type.
pub type Entity = BTreeMap<String, Option<String>>;

/// An entity's quotas: key → value.
pub type Values = BTreeMap<String, f64>;

/// Store key prefix of quota records.
pub const PREFIX: &[u8] = b"quota/";

/// One store record: an entity and its quotas (the key is `quota/` + the entity as JSON, so
/// each entity has exactly one record).
#[derive(Serialize, Deserialize)]
pub struct Record {
    pub entity: Vec<(String, Option<String>)>,
    pub values: Values,
}

pub fn store_key(entity: &Entity) -> Vec<u8> {
    let pairs: Vec<(&String, &Option<String>)> = entity.iter().collect();
    let mut key = PREFIX.to_vec();
    // Serialising strings and options cannot fail.
    key.extend(serde_json::to_vec(&pairs).unwrap_or_default());
    key
}

/// How one filter component matches an entity's name of its type (DescribeClientQuotas'
/// match types 0, 1, 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// MATCH_TYPE_EXACT: this name.
    Exact(String),
    /// MATCH_TYPE_DEFAULT: the default entity.
    Default,
    /// MATCH_TYPE_SPECIFIED: any entity that has this type (a name or the default, as
    /// Kafka's image matches it).
    Specified,
}

/// A checked filter: at most one component per entity type.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub components: Vec<(String, Match)>,
    /// Only entities with exactly the filter's types.
    pub strict: bool,
}

impl Filter {
    /// Kafka's `ClientQuotasImage.matches`.
    pub fn matches(&self, entity: &Entity) -> bool {
        if self.strict && entity.len() != self.components.len() {
            return false;
        }
        self.components
            .iter()
            .all(|(kind, m)| match (m, entity.get(kind)) {
                (_, None) => false,
                (Match::Specified, Some(_)) => true,
                (Match::Default, Some(name)) => name.is_none(),
                (Match::Exact(want), Some(name)) => name.as_deref() == Some(want.as_str()),
            })
    }
}

/// An entity from (type, name) pairs (None: the default entity), for tests.
#[cfg(test)]
pub(crate) fn entity(pairs: &[(&str, Option<&str>)]) -> Entity {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
        .collect()
}

/// Kafka's `ClientQuotaEntity.toString`, with the types in a fixed order.
pub fn show(entity: &Entity) -> String {
    let entries: Vec<String> = entity
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or("null")))
        .collect();
    format!("ClientQuotaEntity(entries={{{}}})", entries.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(components: &[(&str, Match)], strict: bool) -> Filter {
        Filter {
            components: components
                .iter()
                .map(|(k, m)| (k.to_string(), m.clone()))
                .collect(),
            strict,
        }
    }

    #[test]
    fn filters_match_as_kafkas_image() {
        let alice = entity(&[(USER, Some("alice"))]);
        let default_user = entity(&[(USER, None)]);
        let alice_app = entity(&[(USER, Some("alice")), (CLIENT_ID, Some("app"))]);
        let app = entity(&[(CLIENT_ID, Some("app"))]);
        let exact = filter(&[(USER, Match::Exact("alice".into()))], false);
        assert!(exact.matches(&alice));
        assert!(exact.matches(&alice_app));
        assert!(!exact.matches(&default_user));
        assert!(!exact.matches(&app));
        let strict = filter(&[(USER, Match::Exact("alice".into()))], true);
        assert!(strict.matches(&alice));
        assert!(!strict.matches(&alice_app));
        let default = filter(&[(USER, Match::Default)], false);
        assert!(default.matches(&default_user));
        assert!(!default.matches(&alice));
        // SPECIFIED: any entity having the type, the default included (Kafka's image).
        let specified = filter(&[(USER, Match::Specified)], true);
        assert!(specified.matches(&alice));
        assert!(specified.matches(&default_user));
        assert!(!specified.matches(&alice_app));
        // No components: everything (strict: nothing, as no entity is empty).
        assert!(filter(&[], false).matches(&app));
        assert!(!filter(&[], true).matches(&app));
    }

    #[test]
    fn store_keys_differ_by_entity() {
        let a = store_key(&entity(&[(USER, None)]));
        let b = store_key(&entity(&[(USER, Some("null"))]));
        let c = store_key(&entity(&[(USER, None), (CLIENT_ID, None)]));
        assert!(a != b && b != c && a != c);
        assert!(a.starts_with(PREFIX));
    }
}
