//! AlterReplicaLogDirs (34), v1–v2: move replicas to another log directory of this broker
//! (`kafka-reassign-partitions` with `log_dirs`). gregor has one log directory, so the only
//! move there is to the directory a replica is already in, which Kafka answers with success
//! and nothing to do.
//!
//! As Kafka's `handleAlterReplicaLogDirsRequest` and `ReplicaManager.alterReplicaLogDirs`:
//! ALTER on the cluster (else every partition CLUSTER_AUTHORIZATION_FAILED); per partition, a
//! topic name too long for a future log's directory INVALID_TOPIC_EXCEPTION, a directory that
//! is not the broker's (compared with the absolute path DescribeLogDirs reports)
//! LOG_DIR_NOT_FOUND, a partition that does not exist UNKNOWN_TOPIC_OR_PARTITION, one this
//! broker holds no replica of (cluster mode: led elsewhere) REPLICA_NOT_AVAILABLE, else NONE.

use kafka_protocol::messages::alter_replica_log_dirs_response::{
    AlterReplicaLogDirPartitionResult, AlterReplicaLogDirTopicResult,
};
use kafka_protocol::messages::{AlterReplicaLogDirsRequest, AlterReplicaLogDirsResponse};
use kafka_protocol::ResponseError as E;

use super::describe_log_dirs::log_dir;
use super::RequestContext;
use crate::error::BrokerError;
use crate::security::acl::AclOperation;

/// Kafka's longest file name, which a future log's directory
/// (`TOPIC-PARTITION.UUID-future`) must fit.
const MAX_NAME_LEN: usize = 255;

pub async fn handle(
    ctx: RequestContext,
    req: AlterReplicaLogDirsRequest,
) -> AlterReplicaLogDirsResponse {
    let allowed = ctx.authorize_cluster(AclOperation::Alter);
    let (storage, data_dir) = (ctx.config().storage.clone(), ctx.config().data_dir.clone());
    // canonicalize is a file-system call: off the async workers.
    let ours = match tokio::task::spawn_blocking(move || log_dir(&storage, &data_dir).0).await {
        Ok(dir) => dir,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    };
    let mut results: Vec<AlterReplicaLogDirTopicResult> = Vec::new();
    for dir in &req.dirs {
        for topic in &dir.topics {
            for &index in &topic.partitions {
                let code = if !allowed {
                    E::ClusterAuthorizationFailed.code()
                } else {
                    move_code(&ctx, &ours, dir.path.as_str(), &topic.name, index)
                };
                let result = AlterReplicaLogDirPartitionResult::default()
                    .with_partition_index(index)
                    .with_error_code(code);
                match results.iter_mut().find(|r| r.topic_name == topic.name) {
                    Some(r) => r.partitions.push(result),
                    None => results.push(
                        AlterReplicaLogDirTopicResult::default()
                            .with_topic_name(topic.name.clone())
                            .with_partitions(vec![result]),
                    ),
                }
            }
        }
    }
    AlterReplicaLogDirsResponse::default().with_results(results)
}

/// One partition's answer, in Kafka's order of checks.
fn move_code(ctx: &RequestContext, ours: &str, dir: &str, topic: &str, index: i32) -> i16 {
    if future_dir_name_len(topic, index) > MAX_NAME_LEN {
        return E::InvalidTopicException.code();
    }
    if dir != ours {
        return E::LogDirNotFound.code();
    }
    match ctx.topics().partition(topic, index) {
        // Already in the one directory: nothing to move.
        Ok(_) => 0,
        // Kafka keeps REPLICA_NOT_AVAILABLE here for a replica this broker does not hold.
        Err(BrokerError::NotLeaderOrFollower) => E::ReplicaNotAvailable.code(),
        Err(e) => e.code(),
    }
}

/// Length of Kafka's future log directory name `TOPIC-PARTITION.UUID-future` (32 hex digits).
fn future_dir_name_len(topic: &str, index: i32) -> usize {
    topic.len() + 1 + index.to_string().len() + 1 + 32 + "-future".len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn future_log_names_as_kafka() {
        // "orders-0.<32 hex>-future"
        assert_eq!(future_dir_name_len("orders", 0), 6 + 1 + 1 + 1 + 32 + 7);
        let longest = "t".repeat(MAX_NAME_LEN - (1 + 1 + 1 + 32 + 7));
        assert_eq!(future_dir_name_len(&longest, 0), MAX_NAME_LEN);
        assert!(future_dir_name_len(&longest, 10) > MAX_NAME_LEN);
    }
}
