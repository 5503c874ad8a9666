//! AlterClientQuotas (49): every entry checked as Kafka's controller checks it
//! (`ClientQuotaControlManager.alterClientQuotas`), never by closing the connection:
//! - what Kafka refuses is refused with its code and message: INVALID_REQUEST for an empty
//!   entity, an unknown entity type, an empty name, IP combined with user/client-id, an IP
//!   entity that is not an address, an unknown quota key, a value ≤ 0, too large or fractional
//!   for an integral quota, a key twice in one entry or an entity twice in the request;
//! - the valid entries are stored together in one write of the metadata store (on the
//!   blocking pool) and take effect at once (`crate::quota`); removing a key the entity does
//!   not have changes nothing; `validate_only` stores nothing.
//!
//! As in Kafka, the answer has one entry per distinct entity (a type named twice in one entity
//! keeps its last name), in the order the entities first appear.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use kafka_protocol::messages::alter_client_quotas_request::EntryData;
use kafka_protocol::messages::alter_client_quotas_response::{
    EntityData as ResponseEntity, EntryData as ResponseEntry,
};
use kafka_protocol::messages::{AlterClientQuotasRequest, AlterClientQuotasResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::RequestContext;
use crate::quota::entity::{show, Entity, CLIENT_ID, IP, USER};
use crate::security::acl::AclOperation;

/// An entry's error: its code and message.
type Refusal = (ResponseError, String);

/// A quota key and its new value (None: remove it).
type Op = (String, Option<f64>);

pub async fn handle(
    ctx: RequestContext,
    req: AlterClientQuotasRequest,
) -> AlterClientQuotasResponse {
    // Kafka: ALTER_CONFIGS on the cluster, else every entry fails.
    let allowed = ctx.authorize_cluster(AclOperation::AlterConfigs);
    // Entities in first-seen order, with an index by entity: a request may carry as many
    // entries as its size allows, so duplicates are found by hashing, not by scanning.
    let mut results: Vec<(Entity, Option<Refusal>)> = Vec::new();
    let mut seen: HashMap<Entity, usize> = HashMap::new();
    // The valid entries' operations, by their index in `results`.
    let mut valid: Vec<(usize, Vec<Op>)> = Vec::new();
    for entry in &req.entries {
        let entity = entity_of(entry);
        let earlier = seen.get(&entity).copied();
        let outcome = match ops_of(entry) {
            _ if !allowed => Some((
                ResponseError::ClusterAuthorizationFailed,
                "Cluster authorization failed.".to_string(),
            )),
            Some(ops) if earlier.is_none() => {
                let refusal = check(&entity, &ops);
                if refusal.is_none() {
                    valid.push((results.len(), ops));
                }
                refusal
            }
            // Kafka: a key twice in one entry, or an entity already seen.
            _ => Some((
                ResponseError::InvalidRequest,
                format!("Ignoring duplicate entity {}", show(&entity)),
            )),
        };
        match earlier {
            // An entity named again is answered as refused; as in Kafka's controller, whose
            // records for the first entry are already in the batch, the first entry's changes
            // are still applied.
            Some(i) => results[i].1 = outcome,
            None => {
                seen.insert(entity.clone(), results.len());
                results.push((entity, outcome));
            }
        }
    }
    if !req.validate_only && !valid.is_empty() {
        let changes: Vec<_> = valid
            .iter()
            .map(|(i, ops)| (results[*i].0.clone(), ops.clone()))
            .collect();
        let quotas = ctx.quotas().clone();
        let stored = tokio::task::spawn_blocking(move || quotas.alter(&changes)).await;
        let failure = match stored {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(e) => Some(format!("storing client quotas: {e}")),
        };
        if let Some(message) = failure {
            tracing::warn!(error = %message, "AlterClientQuotas could not store the quotas");
            for (i, _) in &valid {
                results[*i].1 = Some((ResponseError::UnknownServerError, message.clone()));
            }
        }
    }
    let entries = results
        .into_iter()
        .map(|(entity, outcome)| {
            let entity = entity
                .into_iter()
                .map(|(kind, name)| {
                    ResponseEntity::default()
                        .with_entity_type(StrBytes::from_string(kind))
                        .with_entity_name(name.map(StrBytes::from_string))
                })
                .collect();
            let entry = ResponseEntry::default().with_entity(entity);
            match outcome {
                None => entry,
                Some((error, message)) => entry
                    .with_error_code(error.code())
                    .with_error_message(Some(StrBytes::from_string(message))),
            }
        })
        .collect();
    AlterClientQuotasResponse::default().with_entries(entries)
}

fn entity_of(entry: &EntryData) -> Entity {
    entry
        .entity
        .iter()
        .map(|e| {
            (
                e.entity_type.to_string(),
                e.entity_name.as_ref().map(|n| n.to_string()),
            )
        })
        .collect()
}

/// The entry's operations in request order (None: a value removes the quota), or None when a
/// key appears twice.
fn ops_of(entry: &EntryData) -> Option<Vec<Op>> {
    let mut ops: Vec<Op> = Vec::with_capacity(entry.ops.len());
    let mut keys = HashSet::with_capacity(entry.ops.len());
    for op in &entry.ops {
        if !keys.insert(op.key.as_str()) {
            return None;
        }
        ops.push((op.key.to_string(), (!op.remove).then_some(op.value)));
    }
    Some(ops)
}

/// The type of a quota's value, as Kafka's `QuotaConfig` defines it.
#[derive(Clone, Copy)]
enum QuotaType {
    Long,
    Int,
    Double,
}

/// One entry checked as Kafka checks it: None when it may be applied, else the refusal.
fn check(entity: &Entity, ops: &[Op]) -> Option<Refusal> {
    let invalid = |message: String| Some((ResponseError::InvalidRequest, message));
    if entity.is_empty() {
        return invalid("Invalid empty client quota entity".into());
    }
    for (kind, name) in entity {
        if ![USER, CLIENT_ID, IP].contains(&kind.as_str()) {
            return invalid(format!("Unhandled client quota entity type: {kind}"));
        }
        if name.as_deref() == Some("") {
            return invalid(format!("Empty {kind} not supported"));
        }
    }
    let keys: &[(&str, QuotaType)] = if let Some(ip) = entity.get(IP) {
        if entity.len() > 1 {
            // Kafka's message, its missing space included.
            return invalid(
                "Invalid quota entity combination, IP entity shouldnot be combined with User or \
                 ClientId"
                    .into(),
            );
        }
        // Kafka also accepts a host name it can resolve; gregor does not resolve names here.
        if let Some(ip) = ip.as_deref().filter(|ip| ip.parse::<IpAddr>().is_err()) {
            return invalid(format!("{ip} is not a valid IP or resolvable host."));
        }
        &[("connection_creation_rate", QuotaType::Int)]
    } else {
        &[
            ("producer_byte_rate", QuotaType::Long),
            ("consumer_byte_rate", QuotaType::Long),
            ("request_percentage", QuotaType::Double),
            ("controller_mutation_rate", QuotaType::Double),
        ]
    };
    for (key, value) in ops {
        // A removal is not checked further (Kafka: nothing to remove writes nothing).
        let Some(value) = *value else { continue };
        let Some(&(_, kind)) = keys.iter().find(|(k, _)| k == key) else {
            return invalid(format!("Invalid configuration key {key}"));
        };
        if let Some(message) = check_value(key, kind, value) {
            return invalid(message);
        }
    }
    None
}

/// Kafka's `validateQuotaKeyValue` (NaN passes it, as there).
fn check_value(key: &str, kind: QuotaType, value: f64) -> Option<String> {
    if value <= 0.0 {
        return Some(format!("Quota {key} must be greater than 0"));
    }
    let (max, name) = match kind {
        QuotaType::Double => return None,
        QuotaType::Int => (i32::MAX as f64, "an INT"),
        QuotaType::Long => (i64::MAX as f64, "a LONG"),
    };
    if value > max {
        return Some(format!("Proposed value for {key} is too large for {name}."));
    }
    if (value % 1.0).abs() > 1e-6 {
        return Some(format!("{key} cannot be a fractional value."));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::entity::entity;

    fn set(key: &str, value: f64) -> Op {
        (key.to_string(), Some(value))
    }

    fn message(r: Option<Refusal>) -> (i16, String) {
        r.map(|(e, m)| (e.code(), m)).unwrap_or((0, String::new()))
    }

    #[test]
    fn refusals_carry_kafkas_messages() {
        let user = entity(&[(USER, Some("alice"))]);
        let cases: Vec<(Entity, Vec<Op>, &str)> = vec![
            (entity(&[]), vec![], "Invalid empty client quota entity"),
            (
                entity(&[("group", Some("g"))]),
                vec![],
                "Unhandled client quota entity type: group",
            ),
            (
                entity(&[(CLIENT_ID, Some(""))]),
                vec![],
                "Empty client-id not supported",
            ),
            (
                entity(&[(IP, Some("1.2.3.4")), (USER, None)]),
                vec![],
                "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId",
            ),
            (
                entity(&[(IP, Some("not an ip"))]),
                vec![],
                "not an ip is not a valid IP or resolvable host.",
            ),
            (
                user.clone(),
                vec![set("connection_creation_rate", 5.0)],
                "Invalid configuration key connection_creation_rate",
            ),
            (
                user.clone(),
                vec![set("producer_byte_rate", 0.0)],
                "Quota producer_byte_rate must be greater than 0",
            ),
            (
                user.clone(),
                vec![set("consumer_byte_rate", 1.5)],
                "consumer_byte_rate cannot be a fractional value.",
            ),
            (
                user.clone(),
                vec![set("producer_byte_rate", 1e19)],
                "Proposed value for producer_byte_rate is too large for a LONG.",
            ),
            (
                entity(&[(IP, None)]),
                vec![set("connection_creation_rate", 3e9)],
                "Proposed value for connection_creation_rate is too large for an INT.",
            ),
        ];
        for (e, ops, want) in cases {
            assert_eq!(message(check(&e, &ops)), (42, want.to_string()));
        }
    }

    #[test]
    fn removals_and_valid_settings_pass() {
        let e = entity(&[(USER, Some("alice")), (CLIENT_ID, None)]);
        // Removing anything (even an unknown key) is valid: there is nothing to remove.
        assert_eq!(check(&e, &[("bogus".into(), None)]), None);
        assert_eq!(check(&e, &[]), None);
        assert_eq!(
            check(&e, &[set("request_percentage", 12.5), ("x".into(), None)]),
            None
        );
        let ip = entity(&[(IP, Some("::1"))]);
        assert_eq!(check(&ip, &[set("connection_creation_rate", 10.0)]), None);
    }
}
