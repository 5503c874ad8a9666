//! KIP-1071's streams groups over the wire: StreamsGroupHeartbeat, StreamsGroupDescribe and
//! StreamsGroupTopologyDescriptionUpdate against an in-process broker, as a Kafka Streams
//! 4.4 application (`group.protocol=streams`) speaks them: a word-count topology whose
//! source topic appears late, the internal topics the broker creates, two members sharing
//! the tasks, leaving, the other group APIs on a streams group, and a restart (the
//! refusals are in streams_groups_errors.rs).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::common::*;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::streams_group_heartbeat_request::{
    KeyValue, Subtopology, TaskIds, TopicInfo, Topology,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError as E;

pub(crate) const WORDS: &str = "words";
const REPARTITION: &str = "app-counts-repartition";
const CHANGELOG: &str = "app-counts-changelog";
const GROUP_RESOURCE: i8 = 32;

pub(crate) fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

pub(crate) fn t(v: &str) -> TopicName {
    TopicName(s(v))
}

/// Kafka Streams' word count: read words, repartition by word, count into a store.
pub(crate) fn word_count() -> Topology {
    let info = |name: &str, configs: &[(&str, &str)]| {
        TopicInfo::default().with_name(t(name)).with_topic_configs(
            configs
                .iter()
                .map(|(k, v)| KeyValue::default().with_key(s(k)).with_value(s(v)))
                .collect(),
        )
    };
    Topology::default().with_subtopologies(vec![
        Subtopology::default()
            .with_subtopology_id(s("0"))
            .with_source_topics(vec![t(WORDS)])
            .with_repartition_sink_topics(vec![t(REPARTITION)]),
        Subtopology::default()
            .with_subtopology_id(s("1"))
            .with_repartition_source_topics(vec![info(
                REPARTITION,
                &[("cleanup.policy", "delete")],
            )])
            .with_state_changelog_topics(vec![info(CHANGELOG, &[("cleanup.policy", "compact")])]),
    ])
}

pub(crate) fn join(group: &str, member: &str, process: &str) -> StreamsGroupHeartbeatRequest {
    StreamsGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(30_000)
        .with_topology(Some(word_count()))
        .with_process_id(Some(s(process)))
        .with_active_tasks(Some(vec![]))
        .with_standby_tasks(Some(vec![]))
        .with_warmup_tasks(Some(vec![]))
}

pub(crate) type Tasks = BTreeMap<String, Vec<i32>>;

pub(crate) fn task_ids(tasks: &Tasks) -> Vec<TaskIds> {
    tasks
        .iter()
        .map(|(sub, ps)| {
            TaskIds::default()
                .with_subtopology_id(s(sub))
                .with_partitions(ps.clone())
        })
        .collect()
}

pub(crate) fn beat(
    group: &str,
    member: &str,
    epoch: i32,
    active: &Tasks,
) -> StreamsGroupHeartbeatRequest {
    StreamsGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member))
        .with_member_epoch(epoch)
        .with_rebalance_timeout_ms(-1)
        .with_active_tasks(Some(task_ids(active)))
        .with_standby_tasks(Some(vec![]))
        .with_warmup_tasks(Some(vec![]))
}

pub(crate) fn active_of(r: &StreamsGroupHeartbeatResponse) -> Option<Tasks> {
    r.active_tasks.as_ref().map(|list| {
        list.iter()
            .map(|t| (t.subtopology_id.to_string(), t.partitions.clone()))
            .collect()
    })
}

pub(crate) fn statuses(r: &StreamsGroupHeartbeatResponse) -> Vec<(i8, String)> {
    r.status
        .iter()
        .flatten()
        .map(|s| (s.status_code, s.status_detail.to_string()))
        .collect()
}

pub(crate) async fn hb(
    c: &mut Client,
    req: &StreamsGroupHeartbeatRequest,
) -> StreamsGroupHeartbeatResponse {
    c.call(req, 1).await
}

pub(crate) fn message(r: &StreamsGroupHeartbeatResponse) -> (i16, String) {
    (
        r.error_code,
        r.error_message.as_deref().unwrap_or_default().to_string(),
    )
}

pub(crate) async fn create_topic(c: &mut Client, name: &str, partitions: i32) {
    let r = c
        .call(
            &CreateTopicsRequest::default()
                .with_topics(vec![CreatableTopic::default()
                    .with_name(t(name))
                    .with_num_partitions(partitions)
                    .with_replication_factor(1)])
                .with_timeout_ms(5_000),
            7,
        )
        .await;
    assert_eq!(r.topics[0].error_code, 0, "{:?}", r.topics[0].error_message);
}

/// The partition count of each topic (None: it does not exist).
pub(crate) async fn partitions(c: &mut Client, names: &[&str]) -> Vec<Option<usize>> {
    let r = c
        .call(
            &MetadataRequest::default().with_topics(Some(
                names
                    .iter()
                    .map(|n| MetadataRequestTopic::default().with_name(Some(t(n))))
                    .collect(),
            )),
            12,
        )
        .await;
    r.topics
        .iter()
        .map(|tp| (tp.error_code == 0).then_some(tp.partitions.len()))
        .collect()
}

/// No initial rebalance delay for `group` (Kafka's default waits 3 s for more members).
pub(crate) async fn no_initial_delay(c: &mut Client, group: &str) {
    let r = c
        .call(
            &IncrementalAlterConfigsRequest::default().with_resources(vec![
                AlterConfigsResource::default()
                    .with_resource_type(GROUP_RESOURCE)
                    .with_resource_name(s(group))
                    .with_configs(vec![AlterableConfig::default()
                        .with_name(s("streams.initial.rebalance.delay.ms"))
                        .with_config_operation(0)
                        .with_value(Some(s("0")))]),
            ]),
            1,
        )
        .await;
    assert_eq!(
        r.responses[0].error_code, 0,
        "{:?}",
        r.responses[0].error_message
    );
}

/// Heartbeat every member (id, epoch, active tasks) until each has `per_member` active tasks
/// at one epoch with no status; the members as they end up.
pub(crate) async fn converge(
    c: &mut Client,
    group: &str,
    members: &mut [(String, i32, Tasks)],
    per_member: usize,
) {
    for _ in 0..60 {
        let mut settled = true;
        for m in members.iter_mut() {
            let r = hb(c, &beat(group, &m.0, m.1, &m.2)).await;
            assert_eq!(r.error_code, 0, "{:?}", r.error_message);
            m.1 = r.member_epoch;
            if let Some(a) = active_of(&r) {
                m.2 = a;
            }
            let count: usize = m.2.values().map(Vec::len).sum();
            settled &= count == per_member && statuses(&r).is_empty();
        }
        let epochs: BTreeSet<i32> = members.iter().map(|m| m.1).collect();
        if settled && epochs.len() == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the members did not converge: {members:?}");
}

/// A word-count group of one member once its topics exist; the member's epoch and tasks.
pub(crate) async fn ready_group(c: &mut Client, group: &str) -> (String, i32, Tasks) {
    no_initial_delay(c, group).await;
    let r = hb(c, &join(group, "m-a", "p-1")).await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    let mut members = vec![("m-a".to_string(), r.member_epoch, Tasks::new())];
    converge(c, group, &mut members, 8).await;
    members.remove(0)
}

#[tokio::test]
async fn streams_groups_are_advertised_with_streams_version_1() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let v = c.call(&api_versions(), 4).await;
    let range = |key: ApiKey| {
        v.api_keys
            .iter()
            .find(|k| k.api_key == key as i16)
            .map(|k| (k.min_version, k.max_version))
    };
    assert_eq!(range(ApiKey::StreamsGroupHeartbeat), Some((0, 1)));
    assert_eq!(range(ApiKey::StreamsGroupDescribe), Some((0, 1)));
    assert_eq!(
        range(ApiKey::StreamsGroupTopologyDescriptionUpdate),
        Some((0, 0))
    );
    let level = v
        .finalized_features
        .iter()
        .find(|f| f.name.as_str() == "streams.version")
        .map(|f| f.max_version_level);
    assert_eq!(level, Some(1));
    // API 93 without a topology-description plugin: Kafka 4.4's answer.
    let r = c
        .call(
            &StreamsGroupTopologyDescriptionUpdateRequest::default()
                .with_group_id(GroupId(s("app")))
                .with_member_id(s("m")),
            0,
        )
        .await;
    assert_eq!(r.error_code, E::UnsupportedVersion.code());
    assert_eq!(
        r.error_message.as_deref(),
        Some("The broker has no streams group topology description plugin configured.")
    );
    b.shutdown().await;
}

/// streams.version 0 turns the streams group APIs off (UNSUPPORTED_VERSION, the code alone,
/// as Kafka's KafkaApis answers), 1 on again.
#[tokio::test]
async fn streams_version_0_turns_the_streams_group_apis_off() {
    use kafka_protocol::messages::update_features_request::FeatureUpdateKey;
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let set = |level: i16, kind: i8| {
        UpdateFeaturesRequest::default().with_feature_updates(vec![FeatureUpdateKey::default()
            .with_feature(s("streams.version"))
            .with_max_version_level(level)
            .with_upgrade_type(kind)])
    };
    let r = c.call(&set(0, 2), 1).await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    let r = hb(&mut c, &join("off", "m-a", "p-1")).await;
    assert_eq!(message(&r), (E::UnsupportedVersion.code(), String::new()));
    let d = c
        .call(
            &StreamsGroupDescribeRequest::default().with_group_ids(vec![GroupId(s("off"))]),
            0,
        )
        .await;
    assert_eq!(d.groups[0].error_code, E::UnsupportedVersion.code());
    assert_eq!(d.groups[0].error_message, None);
    let r = c.call(&set(1, 1), 1).await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    let r = hb(&mut c, &join("off", "m-a", "p-1")).await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    b.shutdown().await;
}

#[tokio::test]
async fn a_word_count_group_gets_its_topics_and_tasks() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    no_initial_delay(&mut c, "app").await;

    // The source topic does not exist yet: members join, no tasks.
    let r = hb(&mut c, &join("app", "m-a", "p-1")).await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    assert_eq!(r.member_id.as_str(), "m-a");
    assert_eq!(r.heartbeat_interval_ms, 5_000);
    assert_eq!(
        statuses(&r),
        [(1, "Source topics words are missing.".to_string())]
    );
    assert_eq!(active_of(&r), Some(Tasks::new()));
    let epoch = r.member_epoch;

    // Once it exists, the broker creates the repartition and changelog topics.
    create_topic(&mut c, WORDS, 4).await;
    let r = hb(&mut c, &beat("app", "m-a", epoch, &Tasks::new())).await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    // (Within a second of the first assignment the new one may also be delayed.)
    let missing = (
        3,
        format!("Internal topics are missing: {CHANGELOG}, {REPARTITION}"),
    );
    assert!(statuses(&r).contains(&missing), "{:?}", statuses(&r));
    let mut created = Vec::new();
    for _ in 0..50 {
        created = partitions(&mut c, &[REPARTITION, CHANGELOG]).await;
        if created.iter().all(Option::is_some) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(created, [Some(4), Some(4)]);

    // All 8 tasks to the one member; then a second member takes half.
    let mut members = vec![("m-a".to_string(), r.member_epoch, Tasks::new())];
    converge(&mut c, "app", &mut members, 8).await;
    let r = hb(&mut c, &join("app", "m-b", "p-2")).await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    members.push(("m-b".to_string(), r.member_epoch, Tasks::new()));
    converge(&mut c, "app", &mut members, 4).await;
    let all: BTreeSet<(String, i32)> = members
        .iter()
        .flat_map(|m| {
            m.2.iter()
                .flat_map(|(sub, ps)| ps.iter().map(move |p| (sub.clone(), *p)))
        })
        .collect();
    assert_eq!(all.len(), 8, "every task active exactly once: {members:?}");
    let epoch = members[0].1;

    // StreamsGroupDescribe: Stable, the topology with the decided partition counts.
    let d = c
        .call(
            &StreamsGroupDescribeRequest::default()
                .with_group_ids(vec![GroupId(s("app")), GroupId(s("missing"))]),
            1,
        )
        .await;
    let g = &d.groups[0];
    assert_eq!(
        (
            g.error_code,
            g.group_state.as_str(),
            g.group_epoch,
            g.assignment_epoch
        ),
        (0, "Stable", epoch, epoch)
    );
    assert_eq!(g.assignor_name.as_deref(), Some("sticky"));
    let topology = g.topology.as_ref().expect("a topology");
    let subs = topology.subtopologies.as_ref().expect("subtopologies");
    assert_eq!(subs.len(), 2);
    assert_eq!(subs[1].state_changelog_topics[0].name.as_str(), CHANGELOG);
    assert_eq!(subs[1].state_changelog_topics[0].partitions, 4);
    assert_eq!(g.members.len(), 2);
    for m in &g.members {
        let active: usize = m
            .assignment
            .active_tasks
            .iter()
            .map(|t| t.partitions.len())
            .sum();
        assert_eq!(active, 4);
        assert_eq!(m.member_epoch, epoch);
    }
    assert_eq!(d.groups[1].error_code, E::GroupIdNotFound.code());
    assert_eq!(
        d.groups[1].error_message.as_deref(),
        Some("Group missing not found.")
    );

    // ListGroups shows a streams group; the other group APIs refuse it as Kafka does.
    let l = c
        .call(
            &ListGroupsRequest::default().with_types_filter(vec![s("streams")]),
            5,
        )
        .await;
    let listed: Vec<(&str, &str, &str)> = l
        .groups
        .iter()
        .map(|g| {
            (
                g.group_id.as_str(),
                g.group_type.as_str(),
                g.group_state.as_str(),
            )
        })
        .collect();
    assert_eq!(listed, [("app", "streams", "Stable")]);
    let dg = c
        .call(
            &DescribeGroupsRequest::default().with_groups(vec![GroupId(s("app"))]),
            6,
        )
        .await;
    assert_eq!(dg.groups[0].error_code, E::GroupIdNotFound.code());
    assert_eq!(
        dg.groups[0].error_message.as_deref(),
        Some("Group app is not a classic group.")
    );
    let cg = c
        .call(
            &ConsumerGroupHeartbeatRequest::default()
                .with_group_id(GroupId(s("app")))
                .with_member_id(s("x"))
                .with_rebalance_timeout_ms(30_000)
                .with_subscribed_topic_names(Some(vec![t(WORDS)]))
                .with_topic_partitions(Some(vec![])),
            1,
        )
        .await;
    assert_eq!(cg.error_code, E::GroupIdNotFound.code());

    // Offsets: members commit at their epoch (OffsetCommit v9+), as consumer groups.
    let (a, _, _) = members[0].clone();
    let commit = |member: &str, epoch: i32| {
        OffsetCommitRequest::default()
            .with_group_id(GroupId(s("app")))
            .with_member_id(s(member))
            .with_generation_id_or_member_epoch(epoch)
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(t(WORDS))
                .with_partitions(vec![OffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(42)])])
    };
    let code = |r: OffsetCommitResponse| r.topics[0].partitions[0].error_code;
    assert_eq!(code(c.call(&commit(&a, epoch), 9).await), 0);
    assert_eq!(
        code(c.call(&commit(&a, epoch + 1), 9).await),
        E::StaleMemberEpoch.code()
    );
    assert_eq!(
        code(c.call(&commit("nobody", epoch), 9).await),
        E::UnknownMemberId.code()
    );
    assert_eq!(
        code(c.call(&commit(&a, epoch), 8).await),
        E::UnsupportedVersion.code()
    );
    let fetch = |member: &str, epoch: i32| {
        OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(s("app")))
            .with_member_id(Some(s(member)))
            .with_member_epoch(epoch)
            .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                .with_name(t(WORDS))
                .with_partition_indexes(vec![0])]))])
    };
    let r = c.call(&fetch(&a, epoch), 9).await;
    assert_eq!(r.groups[0].error_code, 0);
    assert_eq!(r.groups[0].topics[0].partitions[0].committed_offset, 42);
    let r = c.call(&fetch(&a, epoch - 1), 9).await;
    assert_eq!(r.groups[0].error_code, E::StaleMemberEpoch.code());

    // A group with members cannot be deleted; once both left, it can.
    let delete = DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("app"))]);
    let r = c.call(&delete, 2).await;
    assert_eq!(r.results[0].error_code, E::NonEmptyGroup.code());
    for m in &members {
        let r = hb(&mut c, &beat("app", &m.0, -1, &Tasks::new())).await;
        assert_eq!((r.error_code, r.member_epoch), (0, -1));
        assert_eq!(r.member_id.as_str(), m.0);
    }
    let r = c.call(&delete, 2).await;
    assert_eq!(r.results[0].error_code, 0);
    b.shutdown().await;
}

#[tokio::test]
async fn a_streams_group_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(Some(dir.path())).await;
    let mut c = Client::connect(&b).await;
    create_topic(&mut c, WORDS, 4).await;
    let (a, epoch, active) = ready_group(&mut c, "durable").await;
    drop(c);
    b.shutdown().await;

    let b = broker(Some(dir.path())).await;
    let mut c = Client::connect(&b).await;
    // The member carries on at its epoch with its tasks: nothing to rebalance.
    let r = hb(&mut c, &beat("durable", &a, epoch, &active)).await;
    assert_eq!(
        (r.error_code, r.member_epoch),
        (0, epoch),
        "{:?}",
        r.error_message
    );
    assert!(statuses(&r).is_empty(), "{:?}", statuses(&r));
    let d = c
        .call(
            &StreamsGroupDescribeRequest::default().with_group_ids(vec![GroupId(s("durable"))]),
            0,
        )
        .await;
    let g = &d.groups[0];
    assert_eq!(
        (g.group_state.as_str(), g.group_epoch, g.members.len()),
        ("Stable", epoch, 1)
    );
    let active: usize = g.members[0]
        .assignment
        .active_tasks
        .iter()
        .map(|t| t.partitions.len())
        .sum();
    assert_eq!(active, 8);
    b.shutdown().await;
}
