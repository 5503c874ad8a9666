//! Produce (0): validate batches, append them in request order (before returning the
//! future), then wait for durability (group commit) before acknowledging.

use std::sync::Arc;

use bytes::BytesMut;
use futures::future::join_all;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;
use kafka_protocol::ResponseError;

use super::{now_ms, RequestContext};
use crate::error::{BrokerError, Result};
use crate::log::batch::{self, BatchError};
use crate::meta::Partition;

/// One partition's outcome so far: appended (awaiting commit) or failed.
enum Appended {
    Ok {
        partition: Arc<Partition>,
        base_offset: i64,
        last_offset: i64,
        log_append_time: i64,
    },
    Failed(BrokerError),
}

pub fn handle(
    ctx: RequestContext,
    req: ProduceRequest,
) -> impl std::future::Future<Output = Option<ProduceResponse>> + Send {
    let acks = req.acks;
    let valid_acks = matches!(acks, -1..=1);
    let now = now_ms();
    let appended: Vec<(_, Vec<(i32, Appended)>)> = req
        .topic_data
        .into_iter()
        .map(|t| {
            let parts = t
                .partition_data
                .into_iter()
                .map(|p| {
                    let outcome = if valid_acks {
                        append(&ctx, &t.name, p.index, p.records, now)
                    } else {
                        Appended::Failed(BrokerError::InvalidRequest(String::new()))
                    };
                    (p.index, outcome)
                })
                .collect();
            (t.name, parts)
        })
        .collect();

    async move {
        let mut responses = Vec::with_capacity(appended.len());
        for (name, parts) in appended {
            let results = join_all(parts.into_iter().map(|(index, outcome)| async move {
                let response = PartitionProduceResponse::default()
                    .with_index(index)
                    .with_log_append_time_ms(-1);
                let outcome = match outcome {
                    Appended::Ok {
                        partition,
                        base_offset,
                        last_offset,
                        log_append_time,
                    } => match partition.commit(last_offset).await {
                        Ok(()) => Ok((base_offset, log_append_time, partition.log_start_offset())),
                        Err(e) => Err(e),
                    },
                    Appended::Failed(e) => Err(e),
                };
                match outcome {
                    Ok((base, append_time, start)) => response
                        .with_base_offset(base)
                        .with_log_append_time_ms(append_time)
                        .with_log_start_offset(start),
                    Err(e) => {
                        let code = if valid_acks {
                            e.code()
                        } else {
                            ResponseError::InvalidRequiredAcks.code()
                        };
                        response
                            .with_error_code(code)
                            .with_base_offset(-1)
                            .with_log_start_offset(-1)
                            .with_error_message(Some(StrBytes::from_string(e.to_string())))
                    }
                }
            }))
            .await;
            responses.push(
                TopicProduceResponse::default()
                    .with_name(name)
                    .with_partition_responses(results),
            );
        }
        (acks != 0).then(|| ProduceResponse::default().with_responses(responses))
    }
}

fn append(
    ctx: &RequestContext,
    topic: &str,
    index: i32,
    records: Option<bytes::Bytes>,
    now: i64,
) -> Appended {
    let result: Result<_> = (|| {
        let t = ctx.broker.topic_or_create(topic, true)?;
        let partition = t
            .partition(index)
            .ok_or(BrokerError::UnknownTopicOrPartition)?;
        let records = records.unwrap_or_default();
        let config = t.config();
        let max = config.max_message_bytes(ctx.broker.config.max_message_bytes as usize);
        let [header] = batch::validate(&records, max)?[..] else {
            // As Kafka: with v2 batches a producer sends exactly one per partition.
            return Err(BatchError::InvalidRecord(
                "produce requests must contain exactly one record batch per partition".into(),
            )
            .into());
        };
        if config.is_compacted() && !header.is_control() {
            require_keys(&records, topic, index)?;
        }
        let batch = BytesMut::from(&records[..]);
        let appended = if header.is_transactional() {
            ctx.broker
                .txns
                .append_transactional(&partition, &header, batch, now)?
        } else {
            partition.append(&header, batch, now)?
        };
        if !appended.duplicate {
            partition
                .traffic
                .produced(records.len(), header.records_count);
        }
        Ok(Appended::Ok {
            partition,
            base_offset: appended.info.first_offset,
            last_offset: appended.info.last_offset,
            log_append_time: appended.info.log_append_time,
        })
    })();
    result.unwrap_or_else(|e| {
        if !matches!(e, BrokerError::UnknownTopicOrPartition) {
            tracing::debug!(topic, partition = index, error = %e, "produce rejected");
        }
        Appended::Failed(e)
    })
}

/// As Kafka: a compacted topic refuses records without a key (the cleaner could not keep them).
fn require_keys(records: &bytes::Bytes, topic: &str, index: i32) -> Result<()> {
    let set = RecordBatchDecoder::decode(&mut records.clone())
        .map_err(|e| BatchError::InvalidRecord(format!("cannot decode records: {e:#}")))?;
    if set.records.iter().any(|r| r.key.is_none()) {
        return Err(BatchError::InvalidRecord(format!(
            "Compacted topic cannot accept message without key in topic partition {topic}-{index}."
        ))
        .into());
    }
    Ok(())
}
