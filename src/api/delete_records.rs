//! DeleteRecords (21): move partitions' log start offsets forward (offset -1: the high
//! watermark) and answer the new low watermarks. Segments wholly below go at once.

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use super::RequestContext;
use kafka_protocol::ResponseError;

use crate::error::{BrokerError, Result};
use crate::security::acl::AclOperation;
use crate::topics::Topics;

pub async fn handle(ctx: RequestContext, req: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let topics = ctx.topics().clone();
    // Kafka: DELETE on the topic.
    let allowed: Vec<bool> = req
        .topics
        .iter()
        .map(|t| ctx.authorize_topic(AclOperation::Delete, &t.name))
        .collect();
    // Checkpointing the new start offset and unlinking segments is file I/O.
    let topics = tokio::task::spawn_blocking(move || {
        req.topics
            .into_iter()
            .zip(allowed)
            .map(|(t, allowed)| {
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        let result = DeleteRecordsPartitionResult::default()
                            .with_partition_index(p.partition_index);
                        let deleted = if allowed {
                            delete(&topics, &t.name, p.partition_index, p.offset)
                        } else {
                            Err(BrokerError::NotAuthorized(
                                ResponseError::TopicAuthorizationFailed,
                            ))
                        };
                        match deleted {
                            Ok(low) => result.with_low_watermark(low),
                            Err(e) => result.with_low_watermark(-1).with_error_code(e.code()),
                        }
                    })
                    .collect();
                DeleteRecordsTopicResult::default()
                    .with_name(t.name)
                    .with_partitions(partitions)
            })
            .collect()
    })
    .await
    .unwrap_or_default();
    DeleteRecordsResponse::default().with_topics(topics)
}

fn delete(topics: &Topics, topic: &str, index: i32, offset: i64) -> Result<i64> {
    let t = topics
        .get(topic)
        .ok_or(BrokerError::UnknownTopicOrPartition)?;
    let partition = t.led_partition(index)?;
    // As Kafka (`Partition.deleteRecordsOnLeader`): a compacted topic without the delete
    // policy refuses; one with an empty policy (infinite retention) allows it.
    let (delete, compact) = topics.effective_config(&t).cleanup_policy();
    if compact && !delete {
        return Err(BrokerError::PolicyViolation(format!(
            "Records of partition {topic}-{index} can not be deleted due to the configured policy"
        )));
    }
    partition.delete_records(offset)
}
