//! From a topology and the topics that exist to tasks (Kafka's `InternalTopicManager
//! .configureTopics`): the partition count of every repartition and changelog topic, the
//! number of tasks of each subtopology, the internal topics still to create, and why the
//! topology cannot run yet. Pure: the topic metadata comes in as a lookup.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::ResponseError as E;

use super::topology::{summarize, Refusal, Subtopology, Topology};
use super::{
    Status, INCORRECTLY_PARTITIONED_TOPICS, MISSING_INTERNAL_TOPICS, MISSING_SOURCE_TOPICS,
};

/// An internal topic the broker creates for the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalTopic {
    pub name: String,
    pub partitions: i32,
    /// -1: the broker's default.
    pub replication_factor: i16,
    pub configs: Vec<(String, String)>,
}

/// What the broker makes of a topology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Configured {
    /// Tasks per subtopology, when the partition counts could be decided.
    pub tasks: Option<BTreeMap<String, i32>>,
    /// Internal topics that do not exist yet.
    pub to_create: Vec<InternalTopic>,
    /// Why members get no tasks yet (none: ready).
    pub problem: Option<Status>,
}

impl Configured {
    pub fn ready(&self) -> bool {
        self.problem.is_none() && self.tasks.is_some()
    }

    fn problem(code: i8, detail: String) -> Self {
        Self {
            tasks: None,
            to_create: Vec::new(),
            problem: Some(Status { code, detail }),
        }
    }
}

/// Configure `topology` against the topics that exist (`partitions`: a topic's partition
/// count, None when it does not exist). An error is a topology that can never run
/// (STREAMS_INVALID_TOPOLOGY with Kafka's message); the member's heartbeat fails with it.
pub fn configure(
    topology: &Topology,
    partitions: &dyn Fn(&str) -> Option<i32>,
) -> Result<Configured, Refusal> {
    let subs = &topology.subtopologies;
    let missing: BTreeSet<&str> = subs
        .values()
        .flat_map(|s| s.source_topics.iter().map(String::as_str))
        .filter(|t| partitions(t).is_none())
        .collect();
    if !missing.is_empty() {
        return Ok(Configured::problem(
            MISSING_SOURCE_TOPICS,
            format!("Source topics {} are missing.", summarize(missing)),
        ));
    }
    let mut counts = repartition_counts(subs, partitions)?;
    if let Err(detail) = copartition(subs, partitions, &mut counts)? {
        return Ok(Configured::problem(INCORRECTLY_PARTITIONED_TOPICS, detail));
    }
    // A task count over the inputs (user topics as they exist, repartition topics as
    // decided).
    let count_of = |s: &Subtopology| {
        s.input_topics()
            .filter_map(|t| counts.get(t).copied().or_else(|| partitions(t)))
            .max()
    };
    let mut wanted: BTreeMap<&str, (i32, &super::topology::TopicInfo)> = BTreeMap::new();
    for (id, s) in subs {
        for t in &s.repartition_source_topics {
            let n = counts.get(t.name.as_str()).copied().unwrap_or(t.partitions);
            wanted.insert(&t.name, (n, t));
        }
        if s.changelog_topics.is_empty() {
            continue;
        }
        let Some(n) = count_of(s) else {
            return Err((
                E::StreamsInvalidTopology,
                format!("No source topics found for subtopology {id}"),
            ));
        };
        for t in &s.changelog_topics {
            wanted.insert(&t.name, (n, t));
        }
    }
    let tasks = subs
        .iter()
        .map(|(id, s)| (id.clone(), count_of(s).unwrap_or(0)))
        .collect();
    let mut to_create = Vec::new();
    for (name, (n, info)) in wanted {
        match partitions(name) {
            Some(found) if found != n => {
                return Ok(Configured::problem(
                    INCORRECTLY_PARTITIONED_TOPICS,
                    format!(
                        "Existing topic {name} has different number of partitions: expected {n}, found {found}"
                    ),
                ))
            }
            Some(_) => {}
            None => to_create.push(InternalTopic {
                name: name.to_string(),
                partitions: n,
                replication_factor: if info.replication_factor == 0 {
                    -1
                } else {
                    info.replication_factor
                },
                configs: info.configs.clone(),
            }),
        }
    }
    let problem = (!to_create.is_empty()).then(|| Status {
        code: MISSING_INTERNAL_TOPICS,
        detail: format!(
            "Internal topics are missing: {}",
            summarize(to_create.iter().map(|t| t.name.as_str()))
        ),
    });
    Ok(Configured {
        tasks: Some(tasks),
        to_create,
        problem,
    })
}

/// The partition count of every repartition topic: declared, or the largest input of the
/// subtopologies writing it, worked out until nothing changes.
fn repartition_counts<'a>(
    subs: &'a BTreeMap<String, Subtopology>,
    partitions: &dyn Fn(&str) -> Option<i32>,
) -> Result<BTreeMap<&'a str, i32>, Refusal> {
    let repartition: BTreeSet<&str> = subs
        .values()
        .flat_map(|s| s.repartition_source_topics.iter().map(|t| t.name.as_str()))
        .collect();
    let mut counts: BTreeMap<&str, i32> = subs
        .values()
        .flat_map(|s| s.repartition_source_topics.iter())
        .filter(|t| t.partitions != 0)
        .map(|t| (t.name.as_str(), t.partitions))
        .collect();
    let sinks: BTreeSet<&str> = subs
        .values()
        .flat_map(|s| s.repartition_sink_topics.iter().map(String::as_str))
        .collect();
    loop {
        let pending: Vec<&str> = sinks
            .iter()
            .copied()
            .filter(|t| !counts.contains_key(t))
            .collect();
        if pending.is_empty() {
            break;
        }
        let mut progress = false;
        for sink in pending {
            let known = subs
                .values()
                .filter(|s| s.repartition_sink_topics.iter().any(|t| t == sink))
                .flat_map(|s| s.input_topics())
                .filter_map(|t| match repartition.contains(t) {
                    true => counts.get(t).copied(),
                    false => partitions(t),
                })
                .max();
            if let Some(n) = known {
                counts.insert(sink, n);
                progress = true;
            }
        }
        if !progress {
            return Err((
                E::StreamsInvalidTopology,
                "Failed to compute number of partitions for all repartition topics. There may be loops in the topology that cannot be resolved.".into(),
            ));
        }
    }
    if repartition.iter().any(|t| !counts.contains_key(t)) {
        return Err((
            E::StreamsInvalidTopology,
            "Failed to compute number of partitions for all repartition topics, because a repartition source topic is never used as a sink topic.".into(),
        ));
    }
    Ok(counts)
}

/// Kafka's `CopartitionedTopicsEnforcer`: topics of a copartition group get one partition
/// count. The inner error is an INCORRECTLY_PARTITIONED_TOPICS detail.
fn copartition<'a>(
    subs: &'a BTreeMap<String, Subtopology>,
    partitions: &dyn Fn(&str) -> Option<i32>,
    counts: &mut BTreeMap<&'a str, i32>,
) -> Result<Result<(), String>, Refusal> {
    for s in subs.values() {
        let fixed_names: BTreeSet<&str> = s
            .repartition_source_topics
            .iter()
            .filter(|t| t.partitions != 0)
            .map(|t| t.name.as_str())
            .collect();
        let repartition: BTreeSet<&str> = s
            .repartition_source_topics
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        for group in s.copartition_names() {
            if group.is_empty() {
                continue;
            }
            let mut sources = BTreeMap::new();
            let mut fixed = BTreeMap::new();
            let mut flexible = Vec::new();
            for name in &group {
                let name = name.as_str();
                match repartition.get(name) {
                    None => {
                        sources.insert(name, partitions(name).unwrap_or(0));
                    }
                    Some(&n) if fixed_names.contains(n) => {
                        fixed.insert(n, counts.get(n).copied().unwrap_or(0));
                    }
                    Some(&n) => flexible.push(n),
                }
            }
            let one = |m: &BTreeMap<&str, i32>| -> Result<i32, String> {
                let values: BTreeSet<i32> = m.values().copied().collect();
                match values.len() {
                    1 => Ok(*values.iter().next().unwrap_or(&0)),
                    _ => Err(format!(
                        "Following topics do not have the same number of partitions: [{}]",
                        java_map(m)
                    )),
                }
            };
            let n = if !sources.is_empty() {
                let n = match one(&sources) {
                    Ok(n) => n,
                    Err(detail) => return Ok(Err(detail)),
                };
                if let Some((name, &c)) = fixed.iter().find(|(_, &c)| c != n) {
                    return Ok(Err(format!(
                        "Number of partitions [{c}] of repartition topic [{name}] doesn't match number of partitions [{n}] of the source topic."
                    )));
                }
                n
            } else if !fixed.is_empty() {
                match one(&fixed) {
                    Ok(n) => n,
                    Err(detail) => return Ok(Err(detail)),
                }
            } else {
                match flexible.iter().filter_map(|t| counts.get(t).copied()).max() {
                    Some(n) => n,
                    None => {
                        return Err((
                            E::StreamsInvalidTopology,
                            format!(
                                "All topics in the copartition group had undefined partition number: [{}]",
                                flexible.join(", ")
                            ),
                        ))
                    }
                }
            };
            for t in flexible {
                counts.insert(t, n);
            }
        }
    }
    Ok(Ok(()))
}

/// A map as Java's `TreeMap.toString` prints it: `{a=2, b=3}`.
fn java_map(m: &BTreeMap<&str, i32>) -> String {
    let inner: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{{{}}}", inner.join(", "))
}

#[cfg(test)]
#[path = "configure_tests.rs"]
mod tests;
