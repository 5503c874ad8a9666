//! Fetch (1): stored batches straight from the log, long polling on the high watermark
//! (read_committed: up to the last stable offset, which moves with it or with a marker).
//! No incremental fetch sessions (KIP-227) yet: a full fetch request (session epoch 0, which
//! asks for a new session, or -1, sessionless) is answered in full with session id 0 — Kafka's
//! answer when it creates no session, which clients accept; an incremental one (any other
//! epoch) names a session gregor cannot have, FETCH_SESSION_ID_NOT_FOUND as in Kafka
//! (`FetchManager.newContext`).
//! Record sets in segment files are not read here: the response carries them as file regions
//! that the connection sends with sendfile (see `zero_copy`).

use std::sync::Arc;
use std::time::Duration;

use futures::future::select_all;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, ProducerId, TopicName};
use kafka_protocol::ResponseError;
use tokio::sync::watch;
use tokio::time::Instant;
use uuid::Uuid;

use super::zero_copy::{FileRecords, WithFileRecords};
use super::RequestContext;
use crate::error::{BrokerError, Result};
use crate::meta::Partition;
use crate::partition::AbortedTxn;
use crate::partition::Records;
use crate::security::acl::AclOperation;

const READ_COMMITTED: i8 = 1;
/// Kafka's default fetch.max.bytes (55 MiB).
const FETCH_MAX_BYTES: usize = 57_671_680;

struct Target {
    offset: i64,
    max_bytes: usize,
    index: i32,
    partition: Result<Arc<Partition>>,
}

struct TopicTargets {
    name: TopicName,
    id: Uuid,
    partitions: Vec<Target>,
}

pub async fn handle(ctx: RequestContext, req: FetchRequest) -> WithFileRecords<FetchResponse> {
    let flexible = ctx.version() >= 12;
    let respond = |response, files| WithFileRecords {
        response,
        files,
        flexible,
    };
    if !is_full_fetch(req.session_epoch) {
        let response =
            FetchResponse::default().with_error_code(ResponseError::FetchSessionIdNotFound.code());
        return respond(response, Vec::new());
    }
    let by_id = ctx.version() >= 13;
    let topics: Vec<TopicTargets> = req
        .topics
        .into_iter()
        .map(|t| {
            let topic = if by_id {
                ctx.topics().by_id(&t.topic_id)
            } else {
                ctx.topics().get(&t.topic)
            };
            let missing = if by_id {
                BrokerError::UnknownTopicId
            } else {
                BrokerError::UnknownTopicOrPartition
            };
            // Kafka: READ on the topic, checked by name (an unknown id stays UNKNOWN_TOPIC_ID).
            let name = match (&topic, by_id) {
                (Some(topic), _) => Some(topic.name.as_str()),
                (None, false) => Some(t.topic.as_str()),
                (None, true) => None,
            };
            let readable = name.is_none_or(|n| ctx.authorize_topic(AclOperation::Read, n));
            let partitions = t
                .partitions
                .iter()
                .map(|p| Target {
                    offset: p.fetch_offset,
                    max_bytes: p.partition_max_bytes.max(0) as usize,
                    index: p.partition,
                    partition: match (&topic, readable) {
                        (_, false) => Err(BrokerError::NotAuthorized(
                            ResponseError::TopicAuthorizationFailed,
                        )),
                        (Some(topic), true) => topic.led_partition(p.partition),
                        (None, true) => Err(clone_error(&missing)),
                    },
                })
                .collect();
            TopicTargets {
                name: t.topic,
                id: t.topic_id,
                partitions,
            }
        })
        .collect();

    let mut watchers: Vec<watch::Receiver<i64>> = topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .filter_map(|t| t.partition.as_ref().ok().map(|p| p.watch_high_watermark()))
        .collect();
    let deadline = Instant::now() + Duration::from_millis(req.max_wait_ms.max(0) as u64);
    // Kafka's fetch.max.bytes caps what one response may hold (and what we allocate for it),
    // whatever the request asks; v0-2 style requests without a limit get the cap too. Under a
    // consumer byte-rate quota, also what the quota allows in its window (Kafka's
    // getMaxValueInQuotaWindow): more would be throttled whatever came before.
    let mut max_bytes = match usize::try_from(req.max_bytes) {
        Ok(n) if n > 0 => n.min(FETCH_MAX_BYTES),
        _ => FETCH_MAX_BYTES,
    };
    if let Some(cap) = ctx
        .quotas()
        .fetch
        .max_value_in_window(&ctx.session().principal.name, ctx.client_id())
    {
        max_bytes = max_bytes.min(cap.max(1.0) as usize);
    }
    let min_bytes = (req.min_bytes.max(0) as usize).min(max_bytes);
    let read_committed = req.isolation_level == READ_COMMITTED;
    loop {
        for w in watchers.iter_mut() {
            w.borrow_and_update();
        }
        let (responses, files, bytes, errors) = read_all(&topics, max_bytes, read_committed);
        if bytes >= min_bytes || errors || watchers.is_empty() || Instant::now() >= deadline {
            let throttle_ms = byte_rate_throttle(&ctx, bytes);
            if throttle_ms > 0 {
                // As Kafka: a throttled fetch is answered empty (its bytes not counted).
                let response = FetchResponse::default().with_throttle_time_ms(throttle_ms);
                return respond(response, Vec::new());
            }
            return respond(FetchResponse::default().with_responses(responses), files);
        }
        let any_change = select_all(watchers.iter_mut().map(|w| Box::pin(w.changed())));
        let _ = tokio::time::timeout_at(deadline, any_change).await;
    }
}

/// The consumer byte-rate quota (`consumer_byte_rate`) for a response of `bytes` record
/// bytes: the throttle time in ms (0: within quota, or none set). A throttled response's bytes
/// are taken back, as Kafka's `unrecordQuotaSensor`, since it goes out empty.
fn byte_rate_throttle(ctx: &RequestContext, bytes: usize) -> i32 {
    let quota = &ctx.quotas().fetch;
    if !quota.enabled() {
        return 0;
    }
    let (user, client_id) = (&ctx.session().principal.name, ctx.client_id());
    let now = crate::clock::now_ms();
    let ms = quota.record(user, client_id, bytes as f64, now);
    if ms > 0 {
        quota.unrecord(user, client_id, bytes as f64, now);
        quota.throttled(ms);
        ctx.throttle(ms);
    }
    ms.min(i32::MAX as i64) as i32
}

/// Kafka's `FetchMetadata.isFull`: epoch 0 (INITIAL_EPOCH: a full fetch that may open a
/// session) or -1 (FINAL_EPOCH: sessionless, what pre-v7 requests and kafka-go's `Client.Fetch`
/// send, with session id 0 or -1). Whatever session id a full request names, Kafka closes that
/// session and answers in full; gregor has none to close.
fn is_full_fetch(session_epoch: i32) -> bool {
    session_epoch == 0 || session_epoch == -1
}

fn clone_error(e: &BrokerError) -> BrokerError {
    match e {
        BrokerError::UnknownTopicId => BrokerError::UnknownTopicId,
        BrokerError::NotAuthorized(e) => BrokerError::NotAuthorized(*e),
        _ => BrokerError::UnknownTopicOrPartition,
    }
}

/// One pass over every requested partition: (responses, record sets to send from files in
/// response order, bytes returned, any error).
fn read_all(
    topics: &[TopicTargets],
    max_bytes: usize,
    read_committed: bool,
) -> (Vec<FetchableTopicResponse>, Vec<FileRecords>, usize, bool) {
    let mut files = Vec::new();
    let mut remaining = max_bytes;
    let mut total = 0;
    let mut errors = false;
    let responses = topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|target| {
                    let data = PartitionData::default()
                        .with_partition_index(target.index)
                        .with_preferred_read_replica(BrokerId(-1))
                        .with_aborted_transactions(read_committed.then(Vec::new));
                    let read = target
                        .partition
                        .as_ref()
                        .map_err(clone_error)
                        .and_then(|p| {
                            // Kafka returns the first batch whole, whatever the limits, so a
                            // consumer can always make progress.
                            let limit = target.max_bytes.min(remaining);
                            read_partition(p, target.offset, limit, total == 0, read_committed)
                        });
                    match read {
                        Ok(read) => {
                            let len = read.records.len();
                            remaining = remaining.saturating_sub(len);
                            total += len;
                            let aborted = read_committed.then(|| {
                                read.aborted
                                    .iter()
                                    .map(|a| {
                                        AbortedTransaction::default()
                                            .with_producer_id(ProducerId(a.producer_id))
                                            .with_first_offset(a.first_offset)
                                    })
                                    .collect()
                            });
                            let records = match read.records {
                                Records::Regions(regions) if len > 0 => {
                                    let (placeholder, file_records) = FileRecords::new(regions);
                                    files.push(file_records);
                                    placeholder
                                }
                                Records::Regions(_) => bytes::Bytes::new(),
                                Records::Bytes(b) => b,
                            };
                            data.with_high_watermark(read.high_watermark)
                                .with_last_stable_offset(read.last_stable)
                                .with_log_start_offset(read.log_start)
                                .with_aborted_transactions(aborted)
                                .with_records(Some(records))
                        }
                        Err(e) => {
                            errors = true;
                            data.with_error_code(e.code())
                                .with_high_watermark(-1)
                                .with_last_stable_offset(-1)
                                .with_log_start_offset(-1)
                        }
                    }
                })
                .collect();
            FetchableTopicResponse::default()
                .with_topic(t.name.clone())
                .with_topic_id(t.id)
                .with_partitions(partitions)
        })
        .collect();
    (responses, files, total, errors)
}

struct Read {
    records: Records,
    high_watermark: i64,
    last_stable: i64,
    log_start: i64,
    aborted: Vec<AbortedTxn>,
}

/// read_uncommitted reads up to the high watermark; read_committed up to the last stable
/// offset, with the aborted transactions the consumer must skip.
fn read_partition(
    p: &Partition,
    offset: i64,
    limit: usize,
    min_one: bool,
    read_committed: bool,
) -> Result<Read> {
    let log_start = p.log_start_offset();
    let end = p.log_end_offset();
    if offset < log_start || offset > end {
        return Err(BrokerError::OffsetOutOfRange);
    }
    let high_watermark = p.high_watermark();
    let read = if read_committed {
        // Copied, not zero-copy: the aborted list needs the returned batches' end.
        let (records, last_stable, aborted) = p.read_committed(offset, limit, min_one)?;
        Read {
            records: Records::Bytes(records),
            high_watermark,
            last_stable,
            log_start,
            aborted,
        }
    } else {
        Read {
            records: p.read_records(offset, limit, min_one)?,
            high_watermark,
            last_stable: p.last_stable_offset(),
            log_start,
            aborted: Vec::new(),
        }
    };
    if !read.records.is_empty() {
        p.traffic
            .fetched(read.records.len() as u64, read.records.record_count());
    }
    Ok(read)
}
