//! Committed offsets over the wire: OffsetCommit/OffsetFetch/OffsetDelete with and without
//! group membership, and offsets and groups surviving a restart and kill -9.

use super::*;

fn commit(
    group_id: &str,
    generation: i32,
    member_id: &str,
    offsets: &[(&str, i32, i64)],
) -> OffsetCommitRequest {
    let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
    for (t, p, o) in offsets {
        let partition = OffsetCommitRequestPartition::default()
            .with_partition_index(*p)
            .with_committed_offset(*o)
            .with_committed_metadata(Some(s("meta")));
        match topics.iter_mut().find(|x| x.name.as_str() == *t) {
            Some(topic) => topic.partitions.push(partition),
            None => topics.push(
                OffsetCommitRequestTopic::default()
                    .with_name(TopicName(s(t)))
                    .with_partitions(vec![partition]),
            ),
        }
    }
    OffsetCommitRequest::default()
        .with_group_id(group(group_id))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member_id))
        .with_topics(topics)
}

fn fetch_v1(group_id: &str, partitions: &[i32]) -> OffsetFetchRequest {
    OffsetFetchRequest::default()
        .with_group_id(group(group_id))
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(TopicName(s(TOPIC)))
            .with_partition_indexes(partitions.to_vec())]))
}

#[tokio::test]
async fn commit_and_fetch_offsets_without_and_with_membership() {
    let b = broker_with(None).await;
    let mut c = Client::connect(&b).await;
    // A simple consumer (kcat, admin tools): generation -1, no member id, group never joined.
    let resp = c
        .call(
            &commit(
                "simple",
                -1,
                "",
                &[
                    (TOPIC, 0, 42),
                    (TOPIC, 1, 7),
                    ("missing", 0, 1),
                    (TOPIC, 9, 1),
                ],
            ),
            2,
        )
        .await;
    let codes: Vec<Vec<i16>> = resp
        .topics
        .iter()
        .map(|t| t.partitions.iter().map(|p| p.error_code).collect())
        .collect();
    assert_eq!(
        codes,
        vec![vec![0, 0, 3], vec![3]],
        "unknown topics and partitions fail alone"
    );
    // OffsetFetch v1 (kafka-go), v5 all topics, v8 several groups at once.
    let resp = c.call(&fetch_v1("simple", &[0, 1, 5]), 1).await;
    let p = &resp.topics[0].partitions;
    assert_eq!(
        (
            p[0].committed_offset,
            p[1].committed_offset,
            p[2].committed_offset
        ),
        (42, 7, -1)
    );
    assert_eq!(p[0].metadata.as_ref().map(|m| m.as_str()), Some("meta"));
    let resp = c
        .call(
            &OffsetFetchRequest::default()
                .with_group_id(group("simple"))
                .with_topics(None),
            5,
        )
        .await;
    assert_eq!(resp.error_code, 0);
    assert_eq!(resp.topics.len(), 1);
    assert_eq!(resp.topics[0].partitions.len(), 2);
    let multi = OffsetFetchRequest::default().with_groups(vec![
        OffsetFetchRequestGroup::default()
            .with_group_id(group("simple"))
            .with_topics(None),
        OffsetFetchRequestGroup::default()
            .with_group_id(group("nobody"))
            .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                .with_name(TopicName(s(TOPIC)))
                .with_partition_indexes(vec![0])])),
    ]);
    let resp = c.call(&multi, 8).await;
    assert_eq!(resp.groups.len(), 2);
    assert_eq!(resp.groups[0].topics[0].partitions[0].committed_offset, 42);
    assert_eq!(resp.groups[1].topics[0].partitions[0].committed_offset, -1);
    // The simple group shows up as an Empty group without a protocol type.
    let d = describe(&mut c, "simple").await;
    assert_eq!(
        (d.group_state.as_str(), d.protocol_type.as_str()),
        ("Empty", "")
    );

    // With membership: the member's generation counts.
    let j = join(&mut c, "members", "", 9).await;
    assert_eq!(sync_alone(&mut c, "members", &j, &[0, 1]).await, 0);
    let ok = c
        .call(
            &commit("members", j.generation_id, &j.member_id, &[(TOPIC, 0, 100)]),
            8,
        )
        .await;
    assert_eq!(ok.topics[0].partitions[0].error_code, 0);
    let stale = c
        .call(
            &commit(
                "members",
                j.generation_id - 1,
                &j.member_id,
                &[(TOPIC, 0, 1)],
            ),
            8,
        )
        .await;
    assert_eq!(
        stale.topics[0].partitions[0].error_code, 22,
        "ILLEGAL_GENERATION"
    );
    let stranger = c
        .call(
            &commit("members", j.generation_id, "who", &[(TOPIC, 0, 1)]),
            8,
        )
        .await;
    assert_eq!(stranger.topics[0].partitions[0].error_code, 25);
    let admin = c
        .call(&commit("members", -1, "", &[(TOPIC, 0, 1)]), 8)
        .await;
    assert_eq!(
        admin.topics[0].partitions[0].error_code, 25,
        "admin commits only to empty groups"
    );
    let unknown = c
        .call(&commit("never-joined", 3, "m", &[(TOPIC, 0, 1)]), 9)
        .await;
    assert_eq!(
        unknown.topics[0].partitions[0].error_code, 69,
        "v9: GROUP_ID_NOT_FOUND"
    );
    let unknown = c
        .call(&commit("never-joined", 3, "m", &[(TOPIC, 0, 1)]), 8)
        .await;
    assert_eq!(
        unknown.topics[0].partitions[0].error_code, 22,
        "before v9: ILLEGAL_GENERATION"
    );
    let big = commit("members", j.generation_id, &j.member_id, &[(TOPIC, 1, 5)]);
    let mut big = big;
    big.topics[0].partitions[0].committed_metadata = Some(s(&"x".repeat(5000)));
    assert_eq!(
        c.call(&big, 8).await.topics[0].partitions[0].error_code,
        12,
        "OFFSET_METADATA_TOO_LARGE"
    );
    let resp = c.call(&fetch_v1("members", &[0]), 7).await;
    assert_eq!(resp.topics[0].partitions[0].committed_offset, 100);

    // OffsetDelete and DeleteGroups refuse a group with members, work once it is empty.
    let del = OffsetDeleteRequest::default()
        .with_group_id(group("members"))
        .with_topics(vec![OffsetDeleteRequestTopic::default()
            .with_name(TopicName(s(TOPIC)))
            .with_partitions(vec![
                OffsetDeleteRequestPartition::default().with_partition_index(0)
            ])]);
    let resp = c.call(&del, 0).await;
    assert_eq!(
        resp.topics[0].partitions[0].error_code, 86,
        "GROUP_SUBSCRIBED_TO_TOPIC"
    );
    let resp = c
        .call(
            &DeleteGroupsRequest::default()
                .with_groups_names(vec![group("members"), group("nobody")]),
            2,
        )
        .await;
    assert_eq!(
        resp.results
            .iter()
            .map(|r| r.error_code)
            .collect::<Vec<_>>(),
        vec![68, 69]
    );
    let leave = LeaveGroupRequest::default()
        .with_group_id(group("members"))
        .with_member_id(j.member_id.clone());
    assert_eq!(c.call(&leave, 0).await.error_code, 0);
    assert_eq!(
        describe(&mut c, "members").await.group_state.as_str(),
        "Empty"
    );
    let resp = c.call(&del, 0).await;
    assert_eq!(
        (resp.error_code, resp.topics[0].partitions[0].error_code),
        (0, 0)
    );
    assert_eq!(
        c.call(&fetch_v1("members", &[0]), 7).await.topics[0].partitions[0].committed_offset,
        -1
    );
    let resp = c
        .call(
            &DeleteGroupsRequest::default()
                .with_groups_names(vec![group("members"), group("simple")]),
            2,
        )
        .await;
    assert_eq!(
        resp.results
            .iter()
            .map(|r| r.error_code)
            .collect::<Vec<_>>(),
        vec![0, 0]
    );
    assert_eq!(
        describe(&mut c, "simple").await.group_state.as_str(),
        "Dead"
    );
    assert_eq!(
        c.call(&fetch_v1("simple", &[0]), 7).await.topics[0].partitions[0].committed_offset,
        -1
    );
}

#[tokio::test]
async fn offsets_and_group_state_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker_with(Some(dir.path())).await;
    let mut c = Client::connect(&b).await;
    let j = join(&mut c, "durable", "", 9).await;
    assert_eq!(sync_alone(&mut c, "durable", &j, &[0, 1]).await, 0);
    let resp = c
        .call(
            &commit(
                "durable",
                j.generation_id,
                &j.member_id,
                &[(TOPIC, 0, 123), (TOPIC, 1, 456)],
            ),
            8,
        )
        .await;
    assert!(resp.topics[0].partitions.iter().all(|p| p.error_code == 0));
    drop(c);
    b.shutdown().await;

    let b = broker_with(Some(dir.path())).await;
    let mut c = Client::connect(&b).await;
    let resp = c.call(&fetch_v1("durable", &[0, 1]), 7).await;
    let got: Vec<(i64, Option<&str>)> = resp.topics[0]
        .partitions
        .iter()
        .map(|p| (p.committed_offset, p.metadata.as_ref().map(|m| m.as_str())))
        .collect();
    assert_eq!(got, vec![(123, Some("meta")), (456, Some("meta"))]);
    // The group came back Stable with its member, which carries on where it was.
    let d = describe(&mut c, "durable").await;
    assert_eq!((d.group_state.as_str(), d.members.len()), ("Stable", 1));
    assert_eq!(d.members[0].member_assignment, assignment(&[0, 1]));
    assert_eq!(heartbeat(&mut c, "durable", &j, 4).await, 0);
    let resp = c.call(&sync_request("durable", &j, vec![]), 5).await;
    assert_eq!((resp.error_code, resp.assignment), (0, assignment(&[0, 1])));
    b.shutdown().await;
}

#[tokio::test]
async fn shutdown_answers_parked_joins_with_not_coordinator() {
    let b = broker_with(None).await;
    let mut c = Client::connect(&b).await;
    let j = join(&mut c, "parked", "", 4).await;
    assert_eq!(j.error_code, 0);
    // A second member parks in the join phase: the first never rejoins (rebalance 10 s).
    let mut d = Client::connect(&b).await;
    let parked = tokio::spawn(async move { join(&mut d, "parked", "", 4).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    b.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown did not wait for the rebalance"
    );
    let resp = parked.await.unwrap();
    assert_eq!(resp.error_code, 16, "NOT_COORDINATOR");
}

/// The real binary, killed with SIGKILL: committed offsets and the group are still there.
#[tokio::test]
async fn offsets_and_group_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // Killed when dropped: a failing test leaves no broker behind.
    let spawn = || {
        crate::durability::spawn_with(
            dir.path(),
            port,
            &["--group-initial-rebalance-delay-ms", "0"],
        )
    };
    let mut child = spawn();
    let mut c = crate::durability::connect(port).await;
    let j = join(&mut c, "notifier", "", 7).await;
    assert_eq!(sync_alone(&mut c, "notifier", &j, &[0, 1]).await, 0);
    let resp = c
        .call(
            &commit(
                "notifier",
                j.generation_id,
                &j.member_id,
                &[(TOPIC, 0, 500), (TOPIC, 1, 501)],
            ),
            8,
        )
        .await;
    assert!(resp.topics[0].partitions.iter().all(|p| p.error_code == 0));
    child.kill().unwrap();
    child.wait().unwrap();

    let mut child = spawn();
    let mut c = crate::durability::connect(port).await;
    let resp = c.call(&fetch_v1("notifier", &[0, 1]), 7).await;
    let got: Vec<i64> = resp.topics[0]
        .partitions
        .iter()
        .map(|p| p.committed_offset)
        .collect();
    assert_eq!(got, vec![500, 501]);
    assert_eq!(
        heartbeat(&mut c, "notifier", &j, 4).await,
        0,
        "the member carries on"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
