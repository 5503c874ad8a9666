//! Produce (0): validate batches, append them in request order (before returning the
//! future), then wait for durability (group commit) before acknowledging. From v12 a
//! transactional request first adds its partitions to the transaction (transactions v2).
//! From v13 (KIP-516) topics are named by id, in the request and the answer: an id no topic
//! has is UNKNOWN_TOPIC_ID for each of its partitions, as Kafka checks it before anything else
//! about the topic.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use futures::future::join_all;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::group_common::partition_exists;
use super::{catalog, now_ms, RequestContext};
use crate::error::{BrokerError, Result};
use crate::log::batch::BatchError;
use crate::log::records::{self, Rules};
use crate::meta::Partition;
use crate::security::acl::{AclOperation, ResourceType};

/// Decompressed bytes a compressed batch may stream through on the async worker (a few ms);
/// a batch expanding further is walked with the worker handed off (`off_worker`).
const INLINE_WALK_BYTES: u64 = 8 << 20;

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

/// Produce v13 (KIP-516): topics by id.
const BY_ID: i16 = 13;

pub fn handle(
    ctx: RequestContext,
    mut req: ProduceRequest,
) -> impl std::future::Future<Output = Option<ProduceResponse>> + Send {
    let acks = req.acks;
    let valid_acks = matches!(acks, -1..=1);
    let by_id = ctx.version() >= BY_ID;
    let lagging = if by_id {
        ctx.topics()
            .may_lag_ids(req.topic_data.iter().map(|t| &t.topic_id))
    } else {
        ctx.topics()
            .may_lag(req.topic_data.iter().map(|t| t.name.0.as_str()))
    };
    catalog::catch_up_now(&ctx, lagging);
    // v13: the name each id stands for ("" for an id no topic has: Kafka's metadata cache
    // lookup, which then answers UNKNOWN_TOPIC_ID); the rest of the request works on names.
    if by_id {
        for t in &mut req.topic_data {
            t.name = ctx
                .topics()
                .by_id(&t.topic_id)
                .map(|topic| TopicName(StrBytes::from_string(topic.name.clone())))
                .unwrap_or_default();
        }
    }
    let now = now_ms();
    // Kafka: transactional records need WRITE on the transactional id (else every partition
    // fails), then each topic needs WRITE.
    let transactional = req
        .topic_data
        .iter()
        .flat_map(|t| t.partition_data.iter())
        .any(|p| p.records.as_deref().is_some_and(records::is_transactional));
    let txn_denied = transactional
        && !req.transactional_id.as_ref().is_some_and(|id| {
            ctx.authorize(AclOperation::Write, ResourceType::TransactionalId, id)
        });
    let added = if transactional && !txn_denied && valid_acks && ctx.version() >= TXN_V2 {
        add_to_transaction(&ctx, &req)
    } else {
        HashMap::new()
    };
    let txn_id = req.transactional_id.as_ref().map(|id| id.to_string());
    let appended: Vec<(_, Vec<(i32, Appended)>)> = req
        .topic_data
        .into_iter()
        .map(|t| {
            // Kafka's order: the transactional id's WRITE (the whole request), an unknown
            // topic id, then WRITE on the topic.
            let unknown_id = !txn_denied && by_id && t.name.is_empty();
            let denied = if txn_denied {
                Some(ResponseError::TransactionalIdAuthorizationFailed)
            } else if unknown_id {
                None
            } else {
                (!ctx.authorize_topic(AclOperation::Write, &t.name))
                    .then_some(ResponseError::TopicAuthorizationFailed)
            };
            let parts = t
                .partition_data
                .into_iter()
                .map(|p| {
                    let outcome = if !valid_acks {
                        Appended::Failed(BrokerError::InvalidRequest(String::new()))
                    } else if let Some(code) = denied {
                        Appended::Failed(BrokerError::NotAuthorized(code))
                    } else if unknown_id {
                        Appended::Failed(BrokerError::UnknownTopicId)
                    } else if let Some(e) = added.get(&(t.name.0.to_string(), p.index)) {
                        Appended::Failed(BrokerError::Transaction(*e))
                    } else {
                        append(&ctx, &t.name, p.index, p.records, txn_id.as_deref(), now)
                    };
                    (p.index, outcome)
                })
                .collect();
            ((t.name, t.topic_id), parts)
        })
        .collect();

    let throttle_ms = byte_rate_throttle(&ctx);

    async move {
        let mut responses = Vec::with_capacity(appended.len());
        for ((name, topic_id), parts) in appended {
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
                        Err(e) => {
                            log_refusal(
                                &partition.topic,
                                partition.index,
                                &e,
                                "produce not committed",
                            );
                            Err(e)
                        }
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
                            .with_record_errors(record_errors(&e))
                            .with_error_message(Some(StrBytes::from_string(e.to_string())))
                    }
                }
            }))
            .await;
            responses.push(
                TopicProduceResponse::default()
                    .with_name(name)
                    .with_topic_id(topic_id)
                    .with_partition_responses(results),
            );
        }
        (acks != 0).then(|| {
            ProduceResponse::default()
                .with_responses(responses)
                .with_throttle_time_ms(throttle_ms)
        })
    }
}

/// Transactions v2 (KIP-890 part 2): from this version on a transactional batch adds its
/// partition to the transaction itself (the client sends no AddPartitionsToTxn).
const TXN_V2: i16 = 12;

/// Produce v12+: add the request's transactional partitions (of topics it may write, that
/// exist) to the producer's transaction before anything is appended, as Kafka's partition
/// leader does. The partitions the add failed for, with the error Kafka's produce answers.
fn add_to_transaction(
    ctx: &RequestContext,
    req: &ProduceRequest,
) -> HashMap<(String, i32), ResponseError> {
    let Some(id) = req.transactional_id.as_ref() else {
        return HashMap::new();
    };
    let mut producer = None;
    let mut partitions = Vec::new();
    for t in &req.topic_data {
        if !ctx.authorize_topic(AclOperation::Write, &t.name) {
            continue;
        }
        for p in &t.partition_data {
            let Some(records) = p.records.as_deref() else {
                continue;
            };
            if records::is_transactional(records)
                && partition_exists(ctx.topics(), &t.name, p.index)
            {
                producer = producer.or_else(|| records::producer_of(records));
                partitions.push((t.name.0.to_string(), p.index));
            }
        }
    }
    let Some((producer_id, epoch)) = producer else {
        return HashMap::new();
    };
    let Err(e) = ctx
        .txns()
        .add_for_produce(id, producer_id, epoch, partitions.clone())
    else {
        return HashMap::new();
    };
    // Kafka's answers to a produce whose add failed: a fenced producer's batch has a stale
    // epoch; the coordinator being busy or away is worth a retry.
    let e = match e {
        ResponseError::ProducerFenced => ResponseError::InvalidProducerEpoch,
        ResponseError::ConcurrentTransactions
        | ResponseError::CoordinatorLoadInProgress
        | ResponseError::CoordinatorNotAvailable
        | ResponseError::NotCoordinator => ResponseError::NotEnoughReplicas,
        e => e,
    };
    partitions.into_iter().map(|p| (p, e)).collect()
}

/// The producer byte-rate quota (`producer_byte_rate`): the request's size is recorded, as
/// Kafka records it whatever the outcome; when over quota, the throttle time in ms (also with
/// acks=0, whose connection is muted though no response tells the client).
fn byte_rate_throttle(ctx: &RequestContext) -> i32 {
    let quota = &ctx.quotas().produce;
    if !quota.enabled() {
        return 0;
    }
    let ms = quota.record(
        &ctx.session().principal.name,
        ctx.client_id(),
        ctx.request_size as f64,
        now_ms(),
    );
    if ms > 0 {
        quota.throttled(ms);
        ctx.throttle(ms);
    }
    ms.min(i32::MAX as i64) as i32
}

fn append(
    ctx: &RequestContext,
    topic: &str,
    index: i32,
    records: Option<bytes::Bytes>,
    txn_id: Option<&str>,
    now: i64,
) -> Appended {
    let result: Result<_> = (|| {
        // As Kafka: only Metadata auto-creates topics; Produce to a missing one is refused.
        let t = ctx
            .topics()
            .get(topic)
            .ok_or(BrokerError::UnknownTopicOrPartition)?;
        let partition = t.led_partition(index)?;
        let records = records.unwrap_or_default();
        let config = ctx.topics().effective_config(&t);
        let (before, after) = config.timestamp_bounds();
        let log_config = config.log_config(ctx.topics().log_defaults());
        let rules = Rules {
            now_ms: now,
            max_batch_bytes: config.max_message_bytes(ctx.config().max_message_bytes as usize),
            produce_version: ctx.version(),
            log_append_time: log_config.log_append_time,
            timestamp_before_max_ms: before,
            timestamp_after_max_ms: after,
            compacted: config.is_compacted(),
        };
        let validate = || records::validate_batch(&records, &rules);
        // A compressed batch is walked here while its output stays small (as every real
        // producer's does); past that it is walked again with the worker handed off.
        let header = if records::is_compressed(&records) {
            records::validate_batch_within(&records, &rules, INLINE_WALK_BYTES)
                .unwrap_or_else(|| off_worker(validate))
        } else {
            validate()
        }?;
        // Kafka (UnifiedLog.append), after the records are validated: no batch larger than a
        // segment (only reachable with `internal.segment.bytes`: segment.bytes >= 1 MiB).
        if records.len() as u64 > log_config.segment_bytes {
            return Err(BatchError::LargerThanSegment {
                size: records.len(),
                partition: format!("{topic}-{index}"),
                segment_bytes: log_config.segment_bytes,
            }
            .into());
        }
        let batch = records.clone(); // the request's bytes: the log rewrites a copy of the header
        let appended = if header.is_transactional() {
            ctx.txns()
                .append_transactional(&partition, &header, batch, txn_id, now)?
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
            log_refusal(topic, index, &e, "produce rejected");
        }
        Appended::Failed(e)
    })
}

/// When the last storage error on produce was warned of (ms since the epoch).
static STORAGE_WARNED_AT: AtomicI64 = AtomicI64::new(0);

/// A refused produce is the client's business (debug), unless the log failed: a storage
/// error is the broker's, and its clients only retry, so it is warned of (at most every 10 s,
/// a failing disk would otherwise log every request).
fn log_refusal(topic: &str, index: i32, e: &BrokerError, what: &'static str) {
    if matches!(e, BrokerError::Log(l) if !l.is_fenced()) {
        let now = now_ms();
        let last = STORAGE_WARNED_AT.load(Ordering::Relaxed);
        if now - last >= 10_000
            && STORAGE_WARNED_AT
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(topic, partition = index, error = %e, "{what} (storage error; the next ones for 10 s are logged at debug)");
            return;
        }
    }
    tracing::debug!(topic, partition = index, error = %e, "{what}");
}

/// Runs `f` (a compressed batch's walk: a decompression bomb streams gigabytes from a small
/// request) with this worker's other tasks handed to another thread meanwhile, as Kafka runs
/// validation on its request handler pool rather than its network threads. The walk stays
/// synchronous, so appends keep request order. Inline on a current-thread runtime (tests, CLI).
fn off_worker<T>(f: impl FnOnce() -> T) -> T {
    crate::blocking::block_in_place(f)
}

/// Per-record errors (Produce v8+ `record_errors`), as Kafka lists them.
fn record_errors(e: &BrokerError) -> Vec<BatchIndexAndErrorMessage> {
    match e {
        BrokerError::Batch(BatchError::Records { errors, .. }) => errors
            .iter()
            .map(|r| {
                BatchIndexAndErrorMessage::default()
                    .with_batch_index(r.batch_index)
                    .with_batch_index_error_message(Some(StrBytes::from_string(r.message.clone())))
            })
            .collect(),
        _ => Vec::new(),
    }
}
