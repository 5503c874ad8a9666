//! Topics to ensure at start-up: the `topic` values (`NAME:PARTITIONS[:RF]`) as
//! [`TopicSpec`]s, and Kafka's topic name rule.

use super::{invalid, Config, ConfigError};

/// A topic to ensure at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
    /// Always 1: a single broker holds one replica.
    pub replication_factor: i16,
}

/// Kafka's topic name rule: 1 to 249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn valid_topic_name(name: &str) -> bool {
    (1..=249).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl Config {
    /// The topics to ensure at start-up.
    pub fn topics(&self) -> Result<Vec<TopicSpec>, ConfigError> {
        let mut specs: Vec<TopicSpec> = Vec::new();
        for entry in &self.topic {
            let spec = parse_topic(entry).map_err(|m| invalid(format!("topic {entry:?}: {m}")))?;
            if specs.iter().any(|s| s.name == spec.name) {
                return Err(invalid(format!("topic: {} is given twice", spec.name)));
            }
            specs.push(spec);
        }
        Ok(specs)
    }
}

/// `NAME:PARTITIONS[:REPLICATION_FACTOR]` (topic names cannot contain ':').
fn parse_topic(s: &str) -> Result<TopicSpec, String> {
    const FORMAT: &str = "expected NAME:PARTITIONS[:REPLICATION_FACTOR]";
    let parts: Vec<&str> = s.split(':').collect();
    let (name, partitions, rf) = match parts[..] {
        [name, partitions] => (name, partitions, "1"),
        [name, partitions, rf] => (name, partitions, rf),
        _ => return Err(FORMAT.into()),
    };
    if !valid_topic_name(name) {
        return Err(format!(
            "invalid topic name {name:?}: 1 to 249 of a-z A-Z 0-9 . _ -, and not . or .."
        ));
    }
    let partitions = partitions
        .parse::<i32>()
        .ok()
        .filter(|p| *p >= 1)
        .ok_or_else(|| format!("partitions must be a number of at least 1, not {partitions:?}"))?;
    let replication_factor = rf.parse::<i16>().map_err(|_| FORMAT.to_string())?;
    if replication_factor != 1 {
        return Err(format!(
            "replication factor {replication_factor} is impossible with a single broker; use 1"
        ));
    }
    Ok(TopicSpec {
        name: name.into(),
        partitions,
        replication_factor,
    })
}
