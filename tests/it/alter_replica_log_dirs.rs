//! AlterReplicaLogDirs (34) on a broker with one log directory, as Kafka answers it: a move to
//! the directory DescribeLogDirs names succeeds (nothing to move), another directory is
//! LOG_DIR_NOT_FOUND, a partition that does not exist UNKNOWN_TOPIC_OR_PARTITION, and without
//! ALTER on the cluster every partition is CLUSTER_AUTHORIZATION_FAILED.

use crate::acl_support;
use crate::common::*;
use kafka_protocol::messages::alter_replica_log_dirs_request::{
    AlterReplicaLogDir, AlterReplicaLogDirTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError as E;

const TOPIC: &str = "loms.order-events";

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// (directory, [(topic, partitions)]).
type Moves<'a> = [(&'a str, &'a [(&'a str, &'a [i32])])];

fn request(dirs: &Moves) -> AlterReplicaLogDirsRequest {
    AlterReplicaLogDirsRequest::default().with_dirs(
        dirs.iter()
            .map(|(path, topics)| {
                AlterReplicaLogDir::default()
                    .with_path(s(path))
                    .with_topics(
                        topics
                            .iter()
                            .map(|(t, ps)| {
                                AlterReplicaLogDirTopic::default()
                                    .with_name(TopicName(s(t)))
                                    .with_partitions(ps.to_vec())
                            })
                            .collect(),
                    )
            })
            .collect(),
    )
}

/// (topic, partition, code) in the answer's order.
fn codes(r: &AlterReplicaLogDirsResponse) -> Vec<(String, i32, i16)> {
    r.results
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.topic_name.to_string(), p.partition_index, p.error_code))
        })
        .collect()
}

#[tokio::test]
async fn only_the_one_log_directory_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(Some(dir.path())).await;
    let mut c = Client::connect(&b).await;
    let described = c
        .call(&DescribeLogDirsRequest::default().with_topics(None), 4)
        .await;
    let ours = described.results[0].log_dir.to_string();
    assert!(ours.ends_with("/logs"), "{ours}");
    let r = c
        .call(
            &request(&[
                (&ours, &[(TOPIC, &[0, 1, 99]), ("no-such-topic", &[0])]),
                ("/elsewhere/logs", &[(TOPIC, &[2])]),
            ]),
            2,
        )
        .await;
    let unknown = E::UnknownTopicOrPartition.code();
    assert_eq!(
        codes(&r),
        vec![
            (TOPIC.into(), 0, 0),
            (TOPIC.into(), 1, 0),
            (TOPIC.into(), 99, unknown),
            (TOPIC.into(), 2, E::LogDirNotFound.code()),
            ("no-such-topic".into(), 0, unknown),
        ],
        "grouped by topic, as Kafka"
    );
    // A topic name too long for Kafka's future log directory (`NAME-0.<uuid>-future`).
    let long = "t".repeat(249);
    let r = c.call(&request(&[(&ours, &[(&long, &[0])])]), 1).await;
    assert_eq!(
        codes(&r),
        vec![(long.clone(), 0, E::InvalidTopicException.code())]
    );
}

#[tokio::test]
async fn alter_on_the_cluster_is_needed() {
    let b = acl_support::broker(None, false).await;
    let alice = acl_support::who("alice", "10.0.0.1");
    let req = request(&[("memory", &[("orders", &[0])])]);
    let r = acl_support::call(&b, &alice, &req, 2).await;
    assert_eq!(
        codes(&r),
        vec![("orders".into(), 0, E::ClusterAuthorizationFailed.code())]
    );
    acl_support::grant_cluster(&b, "User:alice", acl_support::ALTER).await;
    let r = acl_support::call(&b, &alice, &req, 2).await;
    assert_eq!(
        codes(&r),
        vec![("orders".into(), 0, 0)],
        "memory logs: \"memory\""
    );
}
