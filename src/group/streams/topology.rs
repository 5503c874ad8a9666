//! A streams group's topology as its members declare it in StreamsGroupHeartbeat (Kafka's
//! `StreamsGroupTopologyValue`): subtopologies keyed by id, each with the topics it reads,
//! writes for repartitioning and keeps state changelogs in. The broker never runs it; it
//! derives the tasks from it and creates the internal topics it names.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::ResponseError as E;

/// An internal topic as the client describes it (Kafka's `TopicInfo`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TopicInfo {
    pub name: String,
    /// 0: left to the broker (always so for changelogs).
    pub partitions: i32,
    /// 0: the broker's default.
    pub replication_factor: i16,
    /// Passed through to topic creation as the client wrote them.
    pub configs: Vec<(String, String)>,
}

/// Topics whose partitions must line up (indexes into the subtopology's lists).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CopartitionGroup {
    pub source_topics: Vec<i16>,
    pub source_topic_regex: Vec<i16>,
    pub repartition_source_topics: Vec<i16>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Subtopology {
    /// User topics read (never repartition topics: those are below).
    pub source_topics: Vec<String>,
    pub source_topic_regex: Vec<String>,
    pub changelog_topics: Vec<TopicInfo>,
    pub repartition_sink_topics: Vec<String>,
    pub repartition_source_topics: Vec<TopicInfo>,
    pub copartition_groups: Vec<CopartitionGroup>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Topology {
    pub epoch: i32,
    /// By subtopology id ("0", "1", ...).
    pub subtopologies: BTreeMap<String, Subtopology>,
}

/// A refusal with Kafka's error code and message.
pub type Refusal = (E, String);

impl Subtopology {
    /// The topics a task of this subtopology reads: its source and repartition-source topics.
    pub fn input_topics(&self) -> impl Iterator<Item = &str> {
        self.source_topics.iter().map(String::as_str).chain(
            self.repartition_source_topics
                .iter()
                .map(|t| t.name.as_str()),
        )
    }

    /// Each copartition group as topic names; indexes out of range are skipped.
    pub fn copartition_names(&self) -> Vec<BTreeSet<String>> {
        let pick = |names: &[String], idx: &[i16]| -> Vec<String> {
            idx.iter()
                .filter_map(|&i| usize::try_from(i).ok().and_then(|i| names.get(i)).cloned())
                .collect()
        };
        let repartition: Vec<String> = self
            .repartition_source_topics
            .iter()
            .map(|t| t.name.clone())
            .collect();
        self.copartition_groups
            .iter()
            .map(|g| {
                let mut set: BTreeSet<String> = pick(&self.source_topics, &g.source_topics)
                    .into_iter()
                    .collect();
                set.extend(pick(&self.source_topic_regex, &g.source_topic_regex));
                set.extend(pick(&repartition, &g.repartition_source_topics));
                set
            })
            .collect()
    }
}

impl Topology {
    /// Every topic the topology names, as the broker checks them before anything else
    /// (authorization, validity, Kafka-internal names).
    pub fn topic_names(&self) -> BTreeSet<&str> {
        let mut names = BTreeSet::new();
        for s in self.subtopologies.values() {
            names.extend(s.source_topics.iter().map(String::as_str));
            names.extend(s.repartition_sink_topics.iter().map(String::as_str));
            names.extend(s.repartition_source_topics.iter().map(|t| t.name.as_str()));
            names.extend(s.changelog_topics.iter().map(|t| t.name.as_str()));
        }
        names
    }

    /// The topics whose metadata decides the tasks: source, repartition-source and
    /// changelog topics.
    pub fn required_topics(&self) -> BTreeSet<&str> {
        let mut names = BTreeSet::new();
        for s in self.subtopologies.values() {
            names.extend(s.input_topics());
            names.extend(s.changelog_topics.iter().map(|t| t.name.as_str()));
        }
        names
    }

    /// Source and repartition-source topic → the subtopologies reading it (what offset
    /// commits and offset expiry look at).
    pub fn source_topic_map(&self) -> BTreeMap<&str, BTreeSet<&str>> {
        let mut map: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (id, s) in &self.subtopologies {
            for t in s.input_topics() {
                map.entry(t).or_default().insert(id.as_str());
            }
        }
        map
    }

    /// Kafka 4.4 does not serve topologies with pattern subscriptions over this protocol.
    pub fn check_supported(&self) -> Result<(), Refusal> {
        if self
            .subtopologies
            .values()
            .any(|s| !s.source_topic_regex.is_empty())
        {
            return Err((
                E::InvalidRequest,
                "Regular expressions for source topics are not supported yet.".into(),
            ));
        }
        Ok(())
    }

    /// A joining member's topology: changelog partition counts are the broker's to decide.
    pub fn check_changelogs(&self) -> Result<(), Refusal> {
        for s in self.subtopologies.values() {
            if let Some(t) = s.changelog_topics.iter().find(|t| t.partitions != 0) {
                return Err((
                    E::StreamsInvalidTopology,
                    format!(
                        "Changelog topic {} must have an undefined partition count, but it is set to {}.",
                        t.name, t.partitions
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Kafka's summary of topic names in statuses: the first three, then how many more.
pub fn summarize<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.into_iter().collect();
    match names.len() {
        0 => "<none>".into(),
        n if n <= 3 => names.join(", "),
        n => format!("{} and {} additional topics", names[..3].join(", "), n - 3),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub fn info(name: &str, partitions: i32) -> TopicInfo {
        TopicInfo {
            name: name.into(),
            partitions,
            replication_factor: 0,
            configs: Vec::new(),
        }
    }

    /// Word count: "0" reads `words` and repartitions by word, "1" counts into a store.
    pub fn word_count() -> Topology {
        let read = Subtopology {
            source_topics: vec!["words".into()],
            repartition_sink_topics: vec!["app-counts-repartition".into()],
            ..Subtopology::default()
        };
        let count = Subtopology {
            repartition_source_topics: vec![info("app-counts-repartition", 0)],
            changelog_topics: vec![TopicInfo {
                configs: vec![("cleanup.policy".into(), "compact".into())],
                ..info("app-counts-changelog", 0)
            }],
            ..Subtopology::default()
        };
        Topology {
            epoch: 0,
            subtopologies: [("0".into(), read), ("1".into(), count)].into(),
        }
    }

    #[test]
    fn names_required_topics_and_sources() {
        let t = word_count();
        assert_eq!(
            t.topic_names().into_iter().collect::<Vec<_>>(),
            ["app-counts-changelog", "app-counts-repartition", "words"]
        );
        assert_eq!(t.required_topics(), t.topic_names());
        let map = t.source_topic_map();
        assert_eq!(map["words"], ["0"].into());
        assert_eq!(map["app-counts-repartition"], ["1"].into());
        assert!(!map.contains_key("app-counts-changelog"));
    }

    #[test]
    fn refuses_what_kafka_refuses() {
        let mut t = word_count();
        assert!(t.check_supported().is_ok() && t.check_changelogs().is_ok());
        t.subtopologies.get_mut("1").unwrap().changelog_topics[0].partitions = 3;
        assert_eq!(
            t.check_changelogs(),
            Err((
                E::StreamsInvalidTopology,
                "Changelog topic app-counts-changelog must have an undefined partition count, but it is set to 3.".into()
            ))
        );
        t.subtopologies.get_mut("0").unwrap().source_topic_regex = vec!["w.*".into()];
        assert_eq!(t.check_supported().unwrap_err().0, E::InvalidRequest);
    }

    #[test]
    fn copartition_groups_resolve_to_names() {
        let s = Subtopology {
            source_topics: vec!["a".into(), "b".into()],
            repartition_source_topics: vec![info("r", 0)],
            copartition_groups: vec![CopartitionGroup {
                source_topics: vec![1, 7],
                repartition_source_topics: vec![0],
                ..CopartitionGroup::default()
            }],
            ..Subtopology::default()
        };
        assert_eq!(
            s.copartition_names(),
            vec![BTreeSet::from(["b".to_string(), "r".to_string()])]
        );
    }

    #[test]
    fn summaries_name_three_then_count() {
        assert_eq!(summarize([]), "<none>");
        assert_eq!(summarize(["a", "b"]), "a, b");
        assert_eq!(
            summarize(["a", "b", "c", "d", "e"]),
            "a, b, c and 2 additional topics"
        );
    }
}
