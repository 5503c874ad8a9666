//! Streams groups' refusals over the wire, each with Kafka 4.4's error code and message:
//! StreamsGroupHeartbeat's request checks, unknown groups and members, fenced epochs, a
//! changed topology, and group types that do not match.

use crate::common::*;
use crate::streams_groups::*;
use kafka_protocol::messages::streams_group_heartbeat_request::{Subtopology, TopicInfo, Topology};
use kafka_protocol::messages::*;
use kafka_protocol::ResponseError as E;

#[tokio::test]
async fn refusals_carry_kafkas_codes_and_messages() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    create_topic(&mut c, WORDS, 4).await;
    let invalid = E::InvalidRequest.code();
    let topology_error = E::StreamsInvalidTopology.code();
    let with_sources = |names: &[&str]| {
        Topology::default().with_subtopologies(vec![Subtopology::default()
            .with_subtopology_id(s("0"))
            .with_source_topics(names.iter().map(|n| t(n)).collect())])
    };
    let cases: Vec<(StreamsGroupHeartbeatRequest, (i16, &str))> = vec![
        (join("g", "", "p"), (invalid, "MemberId can't be empty.")),
        (join("", "m", "p"), (invalid, "GroupId can't be empty.")),
        (
            join("g", "m", "p").with_rebalance_timeout_ms(-1),
            (invalid, "RebalanceTimeoutMs must be provided in first request."),
        ),
        (
            join("g", "m", "p").with_topology(None),
            (invalid, "Topology must be non-null when (re-)joining."),
        ),
        (
            join("g", "m", "p").with_active_tasks(Some(task_ids(&Tasks::from([("0".into(), vec![0])])))),
            (invalid, "ActiveTasks must be empty when (re-)joining."),
        ),
        (
            join("g", "m", "p").with_warmup_tasks(None),
            (invalid, "If one task-type is non-null, all must be non-null."),
        ),
        (
            beat("g", "m", 3, &Tasks::new()).with_topology(Some(word_count())),
            (invalid, "Topology can only be provided when (re-)joining."),
        ),
        (
            beat("g", "m", -3, &Tasks::new()),
            (invalid, "MemberEpoch is -3, but must be greater than or equal to -2."),
        ),
        (
            beat("g", "m", -2, &Tasks::new()),
            (invalid, "InstanceId can't be null."),
        ),
        (
            join("g", "m", "p").with_topology(Some(with_sources(&["__consumer_offsets"]))),
            (
                topology_error,
                "Use of Kafka internal topics __consumer_offsets in a Kafka Streams topology is prohibited.",
            ),
        ),
        (
            join("g", "m", "p").with_topology(Some(with_sources(&["bad name"]))),
            (topology_error, "Topic names bad name are not valid topic names."),
        ),
        (
            join("g", "m", "p").with_topology(Some(
                Topology::default().with_subtopologies(vec![Subtopology::default()
                    .with_subtopology_id(s("0"))
                    .with_source_topic_regex(vec![s("w.*")])]),
            )),
            (invalid, "Regular expressions for source topics are not supported yet."),
        ),
        (
            join("g", "m", "p").with_topology(Some(
                Topology::default().with_subtopologies(vec![Subtopology::default()
                    .with_subtopology_id(s("0"))
                    .with_source_topics(vec![t(WORDS)])
                    .with_state_changelog_topics(vec![TopicInfo::default()
                        .with_name(t("app-store-changelog"))
                        .with_partitions(3)])]),
            )),
            (
                topology_error,
                "Changelog topic app-store-changelog must have an undefined partition count, but it is set to 3.",
            ),
        ),
        (
            beat("nogroup", "m", 1, &Tasks::new()),
            (E::GroupIdNotFound.code(), "Streams group nogroup not found."),
        ),
        (
            beat("nogroup", "m", -1, &Tasks::new()),
            (E::GroupIdNotFound.code(), "Group nogroup not found."),
        ),
    ];
    for (req, (code, text)) in cases {
        let r = hb(&mut c, &req).await;
        assert_eq!(message(&r), (code, text.to_string()), "{req:?}");
        // Everything else as Kafka's defaults: no member, Status [] (not null).
        let empty = Some(vec![]);
        assert_eq!(
            (r.member_id.as_str(), r.member_epoch, &r.status),
            ("", 0, &empty)
        );
        assert_eq!(
            (r.acceptable_recovery_lag, r.active_tasks.is_none()),
            (-1, true)
        );
    }

    // A group: unknown members, epochs ahead or behind, a consumer group's id.
    let (a, epoch, active) = ready_group(&mut c, "g").await;
    let r = hb(&mut c, &beat("g", "nobody", 1, &Tasks::new())).await;
    assert_eq!(
        message(&r),
        (
            E::UnknownMemberId.code(),
            "Member nobody is not a member of group g.".into()
        )
    );
    let r = hb(&mut c, &beat("g", &a, epoch + 1, &active)).await;
    assert_eq!(
        message(&r),
        (
            E::FencedMemberEpoch.code(),
            format!("The streams group member has a greater member epoch ({}) than the one known by the group coordinator ({epoch}). The member must abandon all its partitions and rejoin.", epoch + 1)
        )
    );
    let r = hb(&mut c, &beat("g", &a, epoch, &active)).await;
    assert_eq!(
        (r.error_code, r.member_epoch, r.active_tasks.is_none()),
        (0, epoch, true)
    );
    // A different topology from a joining member.
    let r = hb(
        &mut c,
        &join("g", "m-c", "p-3").with_topology(Some(with_sources(&[WORDS]))),
    )
    .await;
    assert_eq!(
        message(&r),
        (invalid, "Topology updates are not supported yet.".into())
    );
    // The consumer protocol on a streams group id, and the streams protocol on a consumer
    // group's.
    let r = c
        .call(
            &ConsumerGroupHeartbeatRequest::default()
                .with_group_id(GroupId(s("cg")))
                .with_member_id(s("x"))
                .with_rebalance_timeout_ms(30_000)
                .with_subscribed_topic_names(Some(vec![t(WORDS)]))
                .with_topic_partitions(Some(vec![])),
            1,
        )
        .await;
    assert_eq!(r.error_code, 0);
    let r = hb(&mut c, &join("cg", "m", "p")).await;
    assert_eq!(
        message(&r),
        (
            E::GroupIdNotFound.code(),
            "Group cg is not a streams group.".into()
        )
    );
    b.shutdown().await;
}

/// Kafka's ACL checks: READ on the group, DESCRIBE on every topology topic, and CREATE (on
/// the cluster or each topic) before the broker creates the internal topics.
#[tokio::test]
async fn acls_guard_the_group_its_topics_and_the_internal_topics() {
    use crate::acl_support::{acl, broker, call, grant, grant_cluster, who};
    let b = broker(None, false).await;
    let alice = who("alice", "10.0.0.1");
    let mut topology = word_count();
    topology.subtopologies[0].source_topics = vec![t("orders")];
    let req = join("app", "m-a", "p-1").with_topology(Some(topology));

    let r = call(&b, &alice, &req, 1).await;
    assert_eq!(
        message(&r),
        (E::GroupAuthorizationFailed.code(), String::new())
    );
    // READ (3) on the group (3), LITERAL (3), ALLOW (3).
    grant(&b, vec![acl(3, "app", 3, "User:alice", "*", 3, 3)]).await;
    let r = call(&b, &alice, &req, 1).await;
    assert_eq!(
        message(&r),
        (E::TopicAuthorizationFailed.code(), String::new())
    );
    // DESCRIBE (8) on every topic (2, "*").
    grant(&b, vec![acl(2, "*", 3, "User:alice", "*", 8, 3)]).await;
    let r = call(&b, &alice, &req, 1).await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    let internal = "app-counts-changelog, app-counts-repartition";
    let denied = (
        3,
        format!(
            "Internal topics are missing: {internal}; Unauthorized to CREATE on topics {internal}."
        ),
    );
    // (Besides: the initial rebalance delay, 3 s by default.)
    assert!(statuses(&r).contains(&denied), "{:?}", statuses(&r));
    // Nothing was created.
    let names = ["app-counts-changelog", "app-counts-repartition"];
    let metadata = MetadataRequest::default().with_topics(Some(
        names
            .iter()
            .map(|n| metadata_request::MetadataRequestTopic::default().with_name(Some(t(n))))
            .collect(),
    ));
    let admin = who("admin", "10.0.0.9");
    let m = call(&b, &admin, &metadata, 12).await;
    assert!(
        m.topics
            .iter()
            .all(|tp| tp.error_code == E::UnknownTopicOrPartition.code()),
        "{m:?}"
    );
    // With CREATE (5) on the cluster the broker creates them.
    grant_cluster(&b, "User:alice", 5).await;
    let mut last = Vec::new();
    for _ in 0..50 {
        // (Still at epoch 0 during the initial rebalance delay: the full heartbeat again.)
        let r = call(&b, &alice, &req, 1).await;
        assert_eq!(r.error_code, 0, "{:?}", r.error_message);
        last = statuses(&r);
        if !last.iter().any(|(code, _)| *code == 3) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(last.iter().all(|(code, _)| *code != 3), "{last:?}");
    let m = call(&b, &admin, &metadata, 12).await;
    assert!(
        m.topics
            .iter()
            .all(|tp| tp.error_code == 0 && tp.partitions.len() == 1),
        "{m:?}"
    );
    // Describe: bob may not describe the group.
    let describe = StreamsGroupDescribeRequest::default().with_group_ids(vec![GroupId(s("app"))]);
    let d = call(&b, &who("bob", "10.0.0.2"), &describe, 1).await;
    assert_eq!(d.groups[0].error_code, E::GroupAuthorizationFailed.code());
    let d = call(&b, &alice, &describe, 1).await;
    assert_eq!(d.groups[0].error_code, 0, "{:?}", d.groups[0].error_message);
    b.shutdown().await;
}
