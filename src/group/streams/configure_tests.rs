use std::collections::BTreeMap;

use super::*;
use crate::group::streams::topology::tests::{info, word_count};
use crate::group::streams::topology::CopartitionGroup;

fn topics(existing: &[(&str, i32)]) -> impl Fn(&str) -> Option<i32> {
    let map: BTreeMap<String, i32> = existing.iter().map(|(n, p)| (n.to_string(), *p)).collect();
    move |name: &str| map.get(name).copied()
}

fn status(c: &Configured) -> Option<(i8, &str)> {
    c.problem.as_ref().map(|s| (s.code, s.detail.as_str()))
}

#[test]
fn word_count_gets_a_task_per_input_partition_and_its_internal_topics() {
    let t = word_count();
    let c = configure(&t, &topics(&[("words", 4)])).unwrap();
    assert_eq!(c.tasks, Some([("0".into(), 4), ("1".into(), 4)].into()));
    assert_eq!(
        status(&c),
        Some((
            MISSING_INTERNAL_TOPICS,
            "Internal topics are missing: app-counts-changelog, app-counts-repartition"
        ))
    );
    assert!(!c.ready());
    let changelog = &c.to_create[0];
    assert_eq!(
        (
            changelog.name.as_str(),
            changelog.partitions,
            changelog.replication_factor
        ),
        ("app-counts-changelog", 4, -1)
    );
    assert_eq!(
        changelog.configs,
        [("cleanup.policy".into(), "compact".into())]
    );
    assert_eq!(
        (c.to_create[1].name.as_str(), c.to_create[1].partitions),
        ("app-counts-repartition", 4)
    );
    // Once they exist the topology is ready.
    let all = topics(&[
        ("words", 4),
        ("app-counts-repartition", 4),
        ("app-counts-changelog", 4),
    ]);
    let c = configure(&t, &all).unwrap();
    assert!(c.ready() && c.to_create.is_empty());
}

#[test]
fn missing_sources_and_misfits_are_statuses_not_errors() {
    let t = word_count();
    let c = configure(&t, &topics(&[])).unwrap();
    assert_eq!(
        status(&c),
        Some((MISSING_SOURCE_TOPICS, "Source topics words are missing."))
    );
    assert_eq!(c.tasks, None);
    let c = configure(&t, &topics(&[("words", 4), ("app-counts-changelog", 2)])).unwrap();
    assert_eq!(
        status(&c),
        Some((
            INCORRECTLY_PARTITIONED_TOPICS,
            "Existing topic app-counts-changelog has different number of partitions: expected 4, found 2"
        ))
    );
    assert_eq!(c.tasks, None);
    assert!(c.to_create.is_empty());
}

#[test]
fn unresolvable_repartition_topics_are_invalid_topologies() {
    // Two subtopologies feeding each other through repartition topics, with no user input.
    let a = Subtopology {
        repartition_source_topics: vec![info("r1", 0)],
        repartition_sink_topics: vec!["r2".into()],
        ..Subtopology::default()
    };
    let b = Subtopology {
        repartition_source_topics: vec![info("r2", 0)],
        repartition_sink_topics: vec!["r1".into()],
        ..Subtopology::default()
    };
    let looped = Topology {
        epoch: 0,
        subtopologies: [("0".into(), a), ("1".into(), b)].into(),
    };
    let err = configure(&looped, &topics(&[])).unwrap_err();
    assert_eq!(err.0, E::StreamsInvalidTopology);
    assert!(err.1.contains("There may be loops"), "{}", err.1);
    // A repartition topic read but never written.
    let orphan = Topology {
        epoch: 0,
        subtopologies: [(
            "0".into(),
            Subtopology {
                repartition_source_topics: vec![info("r", 0)],
                ..Subtopology::default()
            },
        )]
        .into(),
    };
    let err = configure(&orphan, &topics(&[])).unwrap_err();
    assert!(err.1.contains("never used as a sink topic"), "{}", err.1);
}

/// "0" reads `left` and writes `r`; "1" joins `right` with `r` (copartitioned).
fn join(r_partitions: i32) -> Topology {
    let read = Subtopology {
        source_topics: vec!["left".into()],
        repartition_sink_topics: vec!["r".into()],
        ..Subtopology::default()
    };
    let joined = Subtopology {
        source_topics: vec!["right".into()],
        repartition_source_topics: vec![info("r", r_partitions)],
        copartition_groups: vec![CopartitionGroup {
            source_topics: vec![0],
            repartition_source_topics: vec![0],
            ..CopartitionGroup::default()
        }],
        ..Subtopology::default()
    };
    Topology {
        epoch: 0,
        subtopologies: [("0".into(), read), ("1".into(), joined)].into(),
    }
}

#[test]
fn copartitioned_topics_share_one_partition_count() {
    // The repartition topic follows the source it is joined with, not its own writer.
    let c = configure(&join(0), &topics(&[("left", 2), ("right", 6)])).unwrap();
    assert_eq!(c.tasks, Some([("0".into(), 2), ("1".into(), 6)].into()));
    assert_eq!(c.to_create[0].partitions, 6);
    // A declared count that differs from the source's is a misfit.
    let c = configure(&join(3), &topics(&[("left", 2), ("right", 6)])).unwrap();
    assert_eq!(
        status(&c),
        Some((
            INCORRECTLY_PARTITIONED_TOPICS,
            "Number of partitions [3] of repartition topic [r] doesn't match number of partitions [6] of the source topic."
        ))
    );
    // Two user topics of different counts in one group.
    let mut t = join(0);
    let s = t.subtopologies.get_mut("1").unwrap();
    s.source_topics.push("other".into());
    s.copartition_groups[0].source_topics.push(1);
    let c = configure(&t, &topics(&[("left", 2), ("right", 6), ("other", 3)])).unwrap();
    assert_eq!(
        status(&c),
        Some((
            INCORRECTLY_PARTITIONED_TOPICS,
            "Following topics do not have the same number of partitions: [{other=3, right=6}]"
        ))
    );
}

#[test]
fn a_declared_repartition_count_is_kept() {
    let mut t = word_count();
    t.subtopologies
        .get_mut("1")
        .unwrap()
        .repartition_source_topics[0]
        .partitions = 8;
    let c = configure(&t, &topics(&[("words", 4)])).unwrap();
    assert_eq!(c.tasks, Some([("0".into(), 4), ("1".into(), 8)].into()));
    let counts: Vec<(&str, i32)> = c
        .to_create
        .iter()
        .map(|t| (t.name.as_str(), t.partitions))
        .collect();
    assert_eq!(
        counts,
        [("app-counts-changelog", 8), ("app-counts-repartition", 8)]
    );
}
