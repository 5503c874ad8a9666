//! ListOffsets (2): earliest, latest, by timestamp, max timestamp; the tiered-storage targets
//! (KIP-405 earliest local, KIP-1005 latest tiered, KIP-1023 earliest pending upload: v8, v9,
//! v11) as Kafka answers them for a topic without remote storage.

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::{catalog, leader_epoch, RequestContext};
use kafka_protocol::ResponseError;

use crate::error::{BrokerError, Result};
use crate::meta::Partition;
use crate::security::acl::AclOperation;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;
const EARLIEST_PENDING_UPLOAD: i64 = -6;

const READ_COMMITTED: i8 = 1;

pub async fn handle(ctx: RequestContext, req: ListOffsetsRequest) -> ListOffsetsResponse {
    let names = req.topics.iter().map(|t| t.name.0.as_str());
    catalog::catch_up_if(&ctx, ctx.topics().may_lag(names)).await;
    // Lookups by timestamp read segment indexes and batches from disk: off the async workers.
    let reads_segments = req
        .topics
        .iter()
        .flat_map(|t| &t.partitions)
        .any(|p| p.timestamp >= 0 || p.timestamp == MAX_TIMESTAMP);
    if !reads_segments {
        return respond(&ctx, req);
    }
    match tokio::task::spawn_blocking(move || respond(&ctx, req)).await {
        Ok(response) => response,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

fn respond(ctx: &RequestContext, req: ListOffsetsRequest) -> ListOffsetsResponse {
    let read_committed = req.isolation_level == READ_COMMITTED;
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            // Kafka: DESCRIBE on the topic.
            let allowed = ctx.authorize_topic(AclOperation::Describe, &t.name);
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let response = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index);
                    // v4+: the client's current leader epoch is checked first (KIP-320).
                    let client_epoch = if ctx.version() >= 4 {
                        p.current_leader_epoch
                    } else {
                        -1
                    };
                    let found = if allowed {
                        ctx.topics()
                            .get(&t.name)
                            .ok_or(BrokerError::UnknownTopicOrPartition)
                            .and_then(|topic| {
                                leader_epoch::led_partition(
                                    ctx,
                                    &topic,
                                    p.partition_index,
                                    client_epoch,
                                )
                            })
                            .and_then(|part| {
                                let found = lookup(&part, p.timestamp, read_committed)?;
                                Ok(found.map(|(o, ts)| (o, ts, part.epoch_for_offset(o))))
                            })
                    } else {
                        Err(BrokerError::NotAuthorized(
                            ResponseError::TopicAuthorizationFailed,
                        ))
                    };
                    match found {
                        // The leader epoch field exists from v4 (encoding it earlier is an
                        // error); "no offset" (-1) has no epoch either.
                        Ok(Some((offset, timestamp, epoch))) => response
                            .with_offset(offset)
                            .with_timestamp(timestamp)
                            .with_leader_epoch(if ctx.version() >= 4 && offset >= 0 {
                                epoch
                            } else {
                                -1
                            }),
                        Ok(None) => response
                            .with_offset(-1)
                            .with_timestamp(-1)
                            .with_leader_epoch(-1),
                        Err(e) => response
                            .with_error_code(e.code())
                            .with_offset(-1)
                            .with_timestamp(-1)
                            .with_leader_epoch(-1),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

/// (offset, timestamp) for a ListOffsets target; the special targets report timestamp -1.
/// read_committed sees the log up to the last stable offset.
fn lookup(p: &Partition, target: i64, read_committed: bool) -> Result<Option<(i64, i64)>> {
    let visible_end = if read_committed {
        p.last_stable_offset()
    } else {
        p.high_watermark()
    };
    Ok(match target {
        LATEST => Some((visible_end, -1)),
        EARLIEST | EARLIEST_LOCAL => Some((p.log_start_offset(), -1)),
        // Nothing is tiered: the latest tiered offset and the earliest offset waiting for
        // upload are "none" (offset -1), as Kafka answers without remote storage.
        LATEST_TIERED | EARLIEST_PENDING_UPLOAD => Some((-1, -1)),
        MAX_TIMESTAMP => p.max_timestamp()?.filter(|(o, _)| *o < visible_end),
        t if t >= 0 => p.offset_for_timestamp(t)?.filter(|(o, _)| *o < visible_end),
        _ => None,
    })
}
