//! Fetch (1): stored batches straight from the log, long polling on the high watermark
//! (read_committed: up to the last stable offset, which moves with it or with a marker).
//! Incremental fetch sessions (KIP-227) are kept by `fetch_session`: it says which partitions a
//! request reads (the request's, or its session's) and which of them the answer carries.
//! Record sets in segment files are not read here: the response carries them as file regions
//! that the connection sends with sendfile (see `zero_copy`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::select_all;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, EpochEndOffset, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, ProducerId, TopicName};
use kafka_protocol::ResponseError;
use tokio::sync::watch;
use tokio::time::Instant;
use uuid::Uuid;

use super::fetch_session::{Answer, Context, FetchParams, PartitionKey, TopicKey, Wanted};
use super::zero_copy::{FileRecords, WithFileRecords};
use super::{catalog, leader_epoch, RequestContext};
use crate::clock::now_ms;
use crate::error::{BrokerError, Result};
use crate::meta::{Partition, Topic};
use crate::partition::AbortedTxn;
use crate::partition::Records;
use crate::security::acl::AclOperation;

const READ_COMMITTED: i8 = 1;
/// Kafka's default fetch.max.bytes (55 MiB).
const FETCH_MAX_BYTES: usize = 57_671_680;

struct Target {
    key: PartitionKey,
    offset: i64,
    last_fetched_epoch: i32,
    max_bytes: usize,
    partition: Result<Arc<Partition>>,
}

pub async fn handle(ctx: RequestContext, req: FetchRequest) -> WithFileRecords<FetchResponse> {
    let flexible = ctx.version() >= 12;
    let respond = |response, files| WithFileRecords {
        response,
        files,
        flexible,
    };
    let by_id = ctx.version() >= 13;
    let version = ctx.version();
    let key = |name: &TopicName, id: Uuid, partition| PartitionKey {
        topic: if by_id {
            TopicKey::Id(id)
        } else {
            TopicKey::Name(name.clone())
        },
        partition,
    };
    let wanted: Vec<Wanted> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| {
                let params = FetchParams {
                    fetch_offset: p.fetch_offset,
                    max_bytes: p.partition_max_bytes,
                    log_start_offset: p.log_start_offset,
                    current_leader_epoch: p.current_leader_epoch,
                    last_fetched_epoch: if version >= 12 {
                        p.last_fetched_epoch
                    } else {
                        -1
                    },
                };
                (key(&t.topic, t.topic_id, p.partition), params)
            })
        })
        .collect();
    let forgotten = req
        .forgotten_topics_data
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| key(&t.topic, t.topic_id, *p)))
        .collect();
    // Kafka's isFromFollower: a replica id (v15+: in replica_state) of a broker.
    let replica = match ctx.version() {
        ..=14 => req.replica_id.0,
        _ => req.replica_state.replica_id.0,
    };
    let sessions = ctx.fetch_sessions().clone();
    let session = sessions.new_context(
        (req.session_id, req.session_epoch),
        by_id,
        replica >= 0,
        wanted,
        forgotten,
        now_ms(),
    );
    if let Context::Error(e) = session {
        let response = FetchResponse::default().with_error_code(e.code());
        return respond(response, Vec::new());
    }
    let lagging = match by_id {
        false => {
            ctx.topics()
                .may_lag(session.wanted().iter().filter_map(|(k, _)| match &k.topic {
                    TopicKey::Name(n) => Some(n.0.as_str()),
                    TopicKey::Id(_) => None,
                }))
        }
        true => {
            ctx.topics()
                .may_lag_ids(session.wanted().iter().filter_map(|(k, _)| match &k.topic {
                    TopicKey::Id(id) => Some(id),
                    TopicKey::Name(_) => None,
                }))
        }
    };
    catalog::catch_up_if(&ctx, lagging).await;
    let targets = resolve(&ctx, session.wanted());

    let mut watchers: Vec<watch::Receiver<i64>> = targets
        .iter()
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
        let read = read_all(&targets, max_bytes, read_committed);
        // As Kafka's ReplicaManager: partitions that could not be looked up (unknown, not
        // authorized) do not end the wait; an error reading one does.
        if read.bytes >= min_bytes
            || read.errors
            || watchers.is_empty()
            || Instant::now() >= deadline
        {
            let throttle_ms = byte_rate_throttle(&ctx, read.bytes);
            if throttle_ms > 0 {
                // As Kafka: a throttled fetch is answered empty (its bytes not counted).
                let (error, session_id) = sessions.throttled(&session);
                let response = FetchResponse::default()
                    .with_throttle_time_ms(throttle_ms)
                    .with_error_code(error.map_or(0, |e| e.code()))
                    .with_session_id(session_id);
                return respond(response, Vec::new());
            }
            let answers: Vec<Answer> = read.partitions.iter().map(|(_, a)| *a).collect();
            let outcome = sessions.finish(&session, &answers, now_ms());
            let files = read
                .files
                .into_iter()
                .filter(|(i, _)| outcome.keep[*i])
                .map(|(_, f)| f)
                .collect();
            let kept = targets
                .iter()
                .zip(read.partitions)
                .zip(&outcome.keep)
                .filter(|(_, keep)| **keep)
                .map(|((t, (data, _)), _)| (&t.key, data));
            let response = FetchResponse::default()
                .with_error_code(outcome.error.map_or(0, |e| e.code()))
                .with_session_id(outcome.session_id)
                .with_responses(by_topic(kept));
            return respond(response, files);
        }
        let any_change = select_all(watchers.iter_mut().map(|w| Box::pin(w.changed())));
        let _ = tokio::time::timeout_at(deadline, any_change).await;
    }
}

/// Each partition's topic and log, or why there is none. Kafka: READ on the topic, checked by
/// name (an unknown id stays UNKNOWN_TOPIC_ID), once per topic.
fn resolve(ctx: &RequestContext, wanted: &[Wanted]) -> Vec<Target> {
    let mut topics: HashMap<&TopicKey, (Option<Arc<Topic>>, bool)> = HashMap::new();
    wanted
        .iter()
        .map(|(key, params)| {
            let (topic, readable) = topics.entry(&key.topic).or_insert_with(|| {
                let topic = match &key.topic {
                    TopicKey::Id(id) => ctx.topics().by_id(id),
                    TopicKey::Name(name) => ctx.topics().get(name),
                };
                let name = match (&topic, &key.topic) {
                    (Some(topic), _) => Some(topic.name.as_str()),
                    (None, TopicKey::Name(name)) => Some(name.as_str()),
                    (None, TopicKey::Id(_)) => None,
                };
                let readable = name.is_none_or(|n| ctx.authorize_topic(AclOperation::Read, n));
                (topic, readable)
            });
            let partition = match (topic, *readable) {
                (_, false) => Err(BrokerError::NotAuthorized(
                    ResponseError::TopicAuthorizationFailed,
                )),
                (Some(topic), true) => leader_epoch::led_partition(
                    ctx,
                    topic,
                    key.partition,
                    params.current_leader_epoch,
                ),
                (None, true) => Err(match key.topic {
                    TopicKey::Id(_) => BrokerError::UnknownTopicId,
                    TopicKey::Name(_) => BrokerError::UnknownTopicOrPartition,
                }),
            };
            Target {
                key: key.clone(),
                offset: params.fetch_offset,
                last_fetched_epoch: params.last_fetched_epoch,
                max_bytes: params.max_bytes.max(0) as usize,
                partition,
            }
        })
        .collect()
}

/// Partitions in answer order as topics: consecutive partitions of one topic share an entry
/// (as Kafka's `FetchResponse.of`).
fn by_topic<'a>(
    partitions: impl Iterator<Item = (&'a PartitionKey, PartitionData)>,
) -> Vec<FetchableTopicResponse> {
    let mut topics: Vec<(&TopicKey, FetchableTopicResponse)> = Vec::new();
    for (key, data) in partitions {
        match topics.last_mut() {
            Some((topic, entry)) if *topic == &key.topic => entry.partitions.push(data),
            _ => {
                let entry = match &key.topic {
                    TopicKey::Name(name) => {
                        FetchableTopicResponse::default().with_topic(name.clone())
                    }
                    TopicKey::Id(id) => FetchableTopicResponse::default().with_topic_id(*id),
                };
                topics.push((&key.topic, entry.with_partitions(vec![data])));
            }
        }
    }
    topics.into_iter().map(|(_, t)| t).collect()
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

/// A lookup error again, for the next pass (lookups fail only in these ways).
fn clone_error(e: &BrokerError) -> BrokerError {
    match e {
        BrokerError::UnknownTopicId => BrokerError::UnknownTopicId,
        BrokerError::NotAuthorized(e) => BrokerError::NotAuthorized(*e),
        BrokerError::NotLeaderOrFollower => BrokerError::NotLeaderOrFollower,
        BrokerError::FencedLeaderEpoch => BrokerError::FencedLeaderEpoch,
        BrokerError::UnknownLeaderEpoch => BrokerError::UnknownLeaderEpoch,
        _ => BrokerError::UnknownTopicOrPartition,
    }
}

/// One pass over every partition to read.
struct Pass {
    /// In `targets` order: the answer, and what the session compares of it.
    partitions: Vec<(PartitionData, Answer)>,
    /// Record sets to send from files, in answer order, by their partition's place.
    files: Vec<(usize, FileRecords)>,
    bytes: usize,
    /// An error reading a partition that was found.
    errors: bool,
}

fn read_all(targets: &[Target], max_bytes: usize, read_committed: bool) -> Pass {
    let mut files = Vec::new();
    let mut remaining = max_bytes;
    let mut total = 0;
    let mut errors = false;
    let partitions = targets
        .iter()
        .enumerate()
        .map(|(i, target)| {
            let data = PartitionData::default()
                .with_partition_index(target.key.partition)
                .with_preferred_read_replica(BrokerId(-1))
                .with_aborted_transactions(read_committed.then(Vec::new));
            let read = match &target.partition {
                Err(e) => Err(clone_error(e)),
                Ok(p) => {
                    // Kafka returns the first batch whole, whatever the limits, so a consumer
                    // can always make progress.
                    let limit = target.max_bytes.min(remaining);
                    let at = (target.offset, target.last_fetched_epoch);
                    let read = read_partition(p, at, limit, total == 0, read_committed);
                    errors |= read.is_err();
                    read
                }
            };
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
                            files.push((i, file_records));
                            placeholder
                        }
                        Records::Regions(_) => bytes::Bytes::new(),
                        Records::Bytes(b) => b,
                    };
                    let answer = Answer {
                        has_records: len > 0,
                        high_watermark: read.high_watermark,
                        log_start_offset: read.log_start,
                        error: false,
                    };
                    let diverging = read.diverging.map_or_else(EpochEndOffset::default, |d| {
                        EpochEndOffset::default()
                            .with_epoch(d.0)
                            .with_end_offset(d.1)
                    });
                    let data = data
                        .with_diverging_epoch(diverging)
                        .with_high_watermark(read.high_watermark)
                        .with_last_stable_offset(read.last_stable)
                        .with_log_start_offset(read.log_start)
                        .with_aborted_transactions(aborted)
                        .with_records(Some(records));
                    (data, answer)
                }
                Err(e) => {
                    let answer = Answer {
                        has_records: false,
                        high_watermark: -1,
                        log_start_offset: -1,
                        error: true,
                    };
                    let data = data
                        .with_error_code(e.code())
                        .with_high_watermark(-1)
                        .with_last_stable_offset(-1)
                        .with_log_start_offset(-1);
                    (data, answer)
                }
            }
        })
        .collect();
    Pass {
        partitions,
        files,
        bytes: total,
        errors,
    }
}

struct Read {
    records: Records,
    high_watermark: i64,
    last_stable: i64,
    log_start: i64,
    aborted: Vec<AbortedTxn>,
    /// Where the fetcher's last fetched epoch ended here, if the fetcher's log diverged.
    diverging: Option<(i32, i64)>,
}

/// read_uncommitted reads up to the high watermark; read_committed up to the last stable
/// offset, with the aborted transactions the consumer must skip. A fetcher that names the
/// epoch of its last batch (`at.1`, v12+) gets no records but that epoch's end here when its
/// log went past it (Kafka's diverging epoch).
fn read_partition(
    p: &Partition,
    at: (i64, i32),
    limit: usize,
    min_one: bool,
    read_committed: bool,
) -> Result<Read> {
    let (offset, last_fetched_epoch) = at;
    let log_start = p.log_start_offset();
    let end = p.log_end_offset();
    let high_watermark = p.high_watermark();
    if last_fetched_epoch >= 0 {
        let (epoch, epoch_end) = p
            .end_offset_for_epoch(last_fetched_epoch)
            .ok_or(BrokerError::OffsetOutOfRange)?;
        if offset < log_start {
            return Err(BrokerError::OffsetOutOfRange);
        }
        if epoch < last_fetched_epoch || epoch_end < offset {
            return Ok(Read {
                records: Records::Bytes(bytes::Bytes::new()),
                high_watermark,
                last_stable: p.last_stable_offset(),
                log_start,
                aborted: Vec::new(),
                diverging: Some((epoch, epoch_end)),
            });
        }
    }
    if offset < log_start || offset > end {
        return Err(BrokerError::OffsetOutOfRange);
    }
    let read = if read_committed {
        let (records, last_stable, aborted) = p.read_committed(offset, limit, min_one)?;
        Read {
            records,
            high_watermark,
            last_stable,
            log_start,
            aborted,
            diverging: None,
        }
    } else {
        Read {
            records: p.read_records(offset, limit, min_one)?,
            high_watermark,
            last_stable: p.last_stable_offset(),
            log_start,
            aborted: Vec::new(),
            diverging: None,
        }
    };
    if !read.records.is_empty() {
        p.traffic
            .fetched(read.records.len() as u64, read.records.record_count());
    }
    Ok(read)
}
