//! UpdateFeatures' checks, as Kafka 4.4's controller makes them (`QuorumController.
//! updateFeatures` → `FeatureControlManager.updateFeature`, `QuorumFeatures.reasonNotSupported`,
//! `Feature.validateVersion`, `MetadataVersion.checkIfMetadataChanged`), with its messages.
//! Pure: the levels in force and the request in, the levels to finalize (or the refusal) out.

use std::collections::BTreeMap;

use indexmap::IndexMap;

use super::{Range, METADATA_VERSION};

/// Kafka's `FeatureUpdate.UpgradeType` codes.
pub const UPGRADE: i8 = 1;
pub const SAFE_DOWNGRADE: i8 = 2;
pub const UNSAFE_DOWNGRADE: i8 = 3;

/// Every feature Kafka 4.4 knows (`Feature.FEATURES`) besides metadata.version: one gregor
/// does not support can still be "set" to level 0 (nothing to do), as in Kafka.
const KAFKA_FEATURES: &[&str] = &[
    "kraft.version",
    "transaction.version",
    "group.version",
    "eligible.leader.replicas.version",
    "share.version",
    "streams.version",
    "test.feature.version",
    "unit.test.feature.version.0",
    "unit.test.feature.version.1",
    "unit.test.feature.version.2",
    "unit.test.feature.version.3",
    "unit.test.feature.version.4",
    "unit.test.feature.version.5",
    "unit.test.feature.version.6",
    "unit.test.feature.version.7",
];

/// One requested change: feature, new level, upgrade type code.
pub type Update = (String, i16, i8);

/// metadata.version levels (3.3-IV3 = 7 … 4.4-IV2 = 33) whose `didMetadataChange` is set in
/// Kafka 4.4's `MetadataVersion`: a downgrade across one of them may lose metadata, so Kafka
/// refuses it.
const METADATA_CHANGED: &[i16] = &[7, 8, 11, 13, 14, 15, 17, 23, 30, 32, 33];

/// What the cluster may finalize and what it has finalized.
pub struct Cluster<'a> {
    /// This node's id: Kafka names the controller that checked ("Local controller N").
    pub node_id: i32,
    /// Supported range of each feature this broker knows (absent: not supported).
    pub supported: &'a BTreeMap<&'static str, Range>,
    /// Finalized levels (absent: 0).
    pub finalized: &'a BTreeMap<String, i16>,
}

/// Checks `updates` (in request order; a feature named twice counts once, with its last
/// level, as in Kafka's HashMap) against the cluster. Ok: every finalized level after them
/// (level-0 features dropped). Err: Kafka's INVALID_UPDATE_VERSION message of the first
/// failing feature in Kafka's order (its HashMap's iteration order).
pub fn check(cluster: &Cluster, updates: &[Update]) -> Result<BTreeMap<String, i16>, String> {
    // Keyed by name (a request may name many): the last level and type, the first position.
    let mut merged: IndexMap<&str, (i16, i8)> = IndexMap::new();
    for (name, level, kind) in updates {
        merged.insert(name.as_str(), (*level, *kind));
    }
    let mut proposed = cluster.finalized.clone();
    for (name, (level, _)) in &merged {
        proposed.insert(name.to_string(), *level);
    }
    let ordered = merged
        .into_iter()
        .map(|(name, (level, kind))| (name.to_string(), level, kind))
        .collect();
    for (name, level, kind) in java_hash_order(ordered) {
        check_one(cluster, &name, level, kind)?;
    }
    proposed.retain(|_, level| *level > 0);
    Ok(proposed)
}

fn check_one(cluster: &Cluster, name: &str, level: i16, kind: i8) -> Result<(), String> {
    let invalid = |why: &str| format!("Invalid update version {level} for feature {name}. {why}");
    if !matches!(kind, UPGRADE | SAFE_DOWNGRADE | UNSAFE_DOWNGRADE) {
        return Err(invalid(
            "The controller does not support the given upgrade type.",
        ));
    }
    let current = cluster.finalized.get(name).copied().unwrap_or(0);
    if level < 0 {
        return Err(invalid("A feature version cannot be less than 0."));
    }
    // QuorumFeatures.reasonNotSupported: an unknown feature supports level 0 only.
    let range = cluster
        .supported
        .get(name)
        .copied()
        .unwrap_or(Range { min: 0, max: 0 });
    if level < range.min || level > range.max {
        let controller = format!("Local controller {}", cluster.node_id);
        return Err(invalid(&if range.max == 0 {
            format!("{controller} does not support this feature.")
        } else {
            format!("{controller} only supports versions {range}")
        }));
    }
    if level < current && kind == UPGRADE {
        return Err(invalid(
            "Can't downgrade the version of this feature without setting the upgrade type to \
             either safe or unsafe downgrade.",
        ));
    }
    if level > current && kind != UPGRADE {
        return Err(invalid("Can't downgrade to a newer version."));
    }
    if name == METADATA_VERSION {
        return check_metadata_version(current, level, kind == UNSAFE_DOWNGRADE);
    }
    // Feature.featureFromName, then Feature.validateVersion: none of the features gregor
    // supports depends on another at any level (in Kafka 4.4 only
    // eligible.leader.replicas.version does, on metadata.version), and the one general
    // dependency, levels >= 1 on metadata.version >= 3.3-IV3, always holds (gregor's
    // metadata.version cannot go below it).
    if !KAFKA_FEATURES.contains(&name) {
        return Err(invalid(&format!("Feature {name} not found.")));
    }
    Ok(())
}

/// `FeatureControlManager.updateMetadataVersion`: a downgrade is refused when a version
/// between the two changed the metadata format (always, from gregor's 4.3-IV0).
fn check_metadata_version(current: i16, level: i16, unsafe_downgrade: bool) -> Result<(), String> {
    // (A level Kafka does not know is out of the supported range: refused before this.)
    if level < current && metadata_changed(current, level) {
        let why = if unsafe_downgrade {
            "Unsafe metadata downgrade is not supported in this version."
        } else {
            "Refusing to perform the requested downgrade because it might delete metadata \
             information."
        };
        return Err(format!(
            "Unsupported metadata.version downgrade from {current} to {level}. {why}"
        ));
    }
    Ok(())
}

/// `MetadataVersion.checkIfMetadataChangedOrdered(high, low)`: walking down from `high`, a
/// version that changed the metadata is met before `low`.
fn metadata_changed(high: i16, low: i16) -> bool {
    (low + 1..=high).any(|v| METADATA_CHANGED.contains(&v))
}

/// The order Java's `HashMap<String, _>` (default capacity, fewer than 13 entries) iterates
/// its keys in: by bucket `(h ^ h >>> 16) & (capacity - 1)` of `String.hashCode`, then by
/// insertion within a bucket. Kafka's controller checks the updates in this order and
/// reports the first that fails.
pub fn java_hash_order<T>(entries: Vec<(String, i16, T)>) -> Vec<(String, i16, T)> {
    // HashMap grows (doubling) past 0.75 of its capacity.
    let mut capacity = 16usize;
    while entries.len() * 4 > capacity * 3 {
        capacity *= 2;
    }
    let mut keyed: Vec<(usize, usize, (String, i16, T))> = entries
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let h = java_string_hash(&e.0) as u32;
            let spread = h ^ (h >> 16);
            ((spread as usize) & (capacity - 1), i, e)
        })
        .collect();
    keyed.sort_by_key(|(bucket, i, _)| (*bucket, *i));
    keyed.into_iter().map(|(_, _, e)| e).collect()
}

/// Java's `String.hashCode` (over UTF-16 code units).
fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
