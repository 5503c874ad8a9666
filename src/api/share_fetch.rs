//! ShareFetch (78): the share session step (open with epoch 0, next epoch, close with -1),
//! the acknowledgements it carries, then records acquired for the member from every
//! partition of its session: available records (released or never delivered) are read from
//! the log at the share partition's next fetch offset and locked for the member
//! (`AcquiredRecords` with their delivery counts). With nothing to acquire it waits for new
//! records or expiring locks up to MaxWaitMs. The state machine is `group::share::partition`,
//! kept by this broker as the partitions' leader (`crate::shares`). Acknowledgements for a partition another broker leads are
//! not applied (its AcknowledgeErrorCode is UNKNOWN_TOPIC_OR_PARTITION, as Kafka's), and its
//! fetch answers NOT_LEADER_OR_FOLLOWER; the other partitions are served.
//!
//! v2 (share.version 2): ShareAcquireMode counts MaxRecords by whole batches (0) or exactly
//! (1); IsRenewAck marks a request carrying RENEW acknowledgements, which only acknowledges
//! (Kafka insists on MaxBytes, MinBytes, MaxRecords and MaxWaitMs of 0) and fetches nothing.
//!
//! A group with share.isolation.level=read_committed reads below each partition's last stable
//! offset, and the batches of aborted transactions are archived, never delivered, as Kafka's
//! `SharePartition` filters them out (control batches never are, in either level).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::select_all;
use kafka_protocol::messages::share_fetch_response::{
    AcquiredRecords, LeaderIdAndEpoch, NodeEndpoint, PartitionData, ShareFetchableTopicResponse,
};
use kafka_protocol::messages::{ShareFetchRequest, ShareFetchResponse};
use kafka_protocol::ResponseError as E;

use super::share_common::{
    acknowledgeable, acks, check_types, current_leader, ids, names_leader, note_session, partition,
    settings,
};
use super::{leader_epoch, RequestContext};
use crate::group::share::partition::{AcquireMode, Acquired, Span};
use crate::log::batch;
use crate::meta::Partition;
use crate::partition::AbortedTxn;
use crate::shares::{FetchLimit, LogBounds, SessionRequest, ShareKey};

/// A ShareFetch without MaxRecords (v0 semantics): Kafka's `max.poll.records` default.
const DEFAULT_MAX_RECORDS: usize = 500;
/// How often a waiting fetch looks again for expired locks.
const RECHECK: Duration = Duration::from_millis(200);
/// The most one partition returns in one fetch.
const PARTITION_MAX_BYTES: usize = 1 << 20;

pub async fn handle(ctx: RequestContext, req: ShareFetchRequest) -> ShareFetchResponse {
    // share.version 0: share groups are off (Kafka: UNSUPPORTED_VERSION, nothing else).
    if !ctx.features().share_groups_enabled() {
        return ShareFetchResponse::default().with_error_code(E::UnsupportedVersion.code());
    }
    let lock_ms = req
        .group_id
        .as_ref()
        .map(|g| settings(&ctx, g.as_str()).limits.lock_ms)
        .unwrap_or_default();
    match serve(&ctx, req).await {
        Ok(mut topics) => ShareFetchResponse::default()
            .with_acquisition_lock_timeout_ms(i32::try_from(lock_ms).unwrap_or(i32::MAX))
            .with_node_endpoints(leader_hints(&ctx, &mut topics))
            .with_responses(topics),
        Err(e) => ShareFetchResponse::default().with_error_code(e.code()),
    }
}

async fn serve(
    ctx: &RequestContext,
    req: ShareFetchRequest,
) -> Result<Vec<ShareFetchableTopicResponse>, E> {
    let (group_id, member_id) = ids(
        ctx,
        req.group_id.as_ref().map(|g| g.as_str()),
        req.member_id.as_ref().map(|m| m.as_str()),
    )?;
    let version = ctx.version();
    let renew = version >= 2 && req.is_renew_ack;
    if renew
        && [
            req.max_bytes,
            req.min_bytes,
            req.max_records,
            req.max_wait_ms,
        ] != [0; 4]
    {
        return Err(E::InvalidRequest);
    }
    // Kafka's ShareFetch refuses a mode it does not know when it fetches (an
    // IllegalArgumentException: UNKNOWN_SERVER_ERROR); gregor refuses it before the session step.
    let mode = match AcquireMode::from_id(req.share_acquire_mode) {
        Some(mode) => mode,
        None if renew => AcquireMode::default(),
        None => return Err(E::UnknownServerError),
    };
    let settings = settings(ctx, &group_id);
    let mut fetch = Vec::new();
    let mut acknowledged = Vec::new();
    let mut led = Vec::new();
    let mut refused = Vec::new();
    let mut unknown = Vec::new();
    for t in &req.topics {
        let topic = ctx.topics().by_id(&t.topic_id);
        for p in &t.partitions {
            let tp = (t.topic_id, p.partition_index);
            // Only partitions that exist join the session (Kafka keeps any a client names and
            // answers them again at each fetch: a session would grow with every request).
            match &topic {
                None => unknown.push((tp, E::UnknownTopicId)),
                Some(t) if t.partition(tp.1).is_none() => {
                    unknown.push((tp, E::UnknownTopicOrPartition));
                }
                Some(_) => fetch.push(tp),
            }
            if !p.acknowledgement_batches.is_empty() {
                let batches = p
                    .acknowledgement_batches
                    .iter()
                    .map(|b| (b.first_offset, b.last_offset, b.acknowledge_types.clone()));
                let batches = acks(batches);
                let checked = acknowledgeable(ctx, &t.topic_id, p.partition_index)
                    .and_then(|p| check_types(&batches, version, renew).map(|()| p));
                match checked {
                    Ok(p) => {
                        acknowledged.push((tp, batches));
                        led.push((tp, p));
                    }
                    Err(e) => refused.push((tp, e)),
                }
            }
        }
    }
    let forgotten = req
        .forgotten_topics_data
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |p| (t.topic_id, *p)))
        .collect();
    let session = SessionRequest {
        group_id: group_id.clone(),
        member_id: member_id.clone(),
        epoch: req.share_session_epoch,
        connection: ctx.connection().id(),
        fetch: Some(fetch),
        forgotten,
        acks: acknowledged,
    };
    let outcome = ctx.shares().session(session, led, settings).await?;
    note_session(ctx, &group_id, &member_id, req.share_session_epoch);
    let mut answers: BTreeMap<ShareKey, PartitionData> = BTreeMap::new();
    let answer = |answers: &mut BTreeMap<ShareKey, PartitionData>, tp: ShareKey| {
        answers
            .entry(tp)
            .or_insert_with(|| PartitionData::default().with_partition_index(tp.1))
            .clone()
    };
    let results = outcome
        .acks
        .iter()
        .copied()
        .chain(refused.iter().map(|(tp, e)| (*tp, Err(*e))));
    for (tp, result) in results {
        let data = answer(&mut answers, tp)
            .with_acknowledge_error_code(result.err().map_or(0, |e| e.code()));
        answers.insert(tp, data);
    }
    // A renewing request only acknowledges.
    for (tp, e) in unknown.into_iter().filter(|_| !renew) {
        let data = answer(&mut answers, tp).with_error_code(e.code());
        answers.insert(tp, data);
    }
    let mut targets = Vec::new();
    let fetch = if renew { Vec::new() } else { outcome.fetch };
    for tp in fetch {
        match partition(ctx, &tp.0, tp.1) {
            Ok(p) => targets.push((tp, p)),
            Err(e) => {
                let data = answer(&mut answers, tp).with_error_code(e.code());
                answers.insert(tp, data);
            }
        }
    }
    let limit = FetchLimit {
        max_records: usize::try_from(req.max_records)
            .ok()
            .filter(|m| *m > 0)
            .unwrap_or(DEFAULT_MAX_RECORDS),
        mode,
    };
    let partition_bytes = usize::try_from(req.max_bytes)
        .unwrap_or(0)
        .clamp(1, PARTITION_MAX_BYTES);
    let deadline =
        tokio::time::Instant::now() + Duration::from_millis(req.max_wait_ms.max(0) as u64);
    while !targets.is_empty() {
        let bounds = targets
            .iter()
            .map(|(tp, p)| {
                let b = LogBounds {
                    log_start: p.log_start_offset(),
                    high_watermark: p.high_watermark(),
                };
                (*tp, p.clone(), b)
            })
            .collect();
        let prepared = ctx
            .shares()
            .prepare(group_id.clone(), bounds, settings)
            .await?;
        let offsets = unstored(&mut answers, &mut targets, prepared);
        if targets.is_empty() {
            break;
        }
        // Each partition's batches, and the aborted transactions among them (read_committed).
        let reads: Vec<(Bytes, Vec<AbortedTxn>)> = crate::blocking::block_in_place(|| {
            targets
                .iter()
                .zip(&offsets)
                .map(|((_, p), offset)| {
                    if settings.read_committed {
                        p.read_committed_bytes(*offset, partition_bytes, true)
                            .map(|(bytes, _, aborted)| (bytes, aborted))
                            .unwrap_or_default()
                    } else {
                        let bytes = p.read(*offset, partition_bytes, true).unwrap_or_default();
                        (bytes, Vec::new())
                    }
                })
                .collect()
        });
        let read: Vec<(ShareKey, Vec<Span>)> = targets
            .iter()
            .zip(&reads)
            .map(|((tp, _), (bytes, aborted))| (*tp, spans(bytes, aborted)))
            .collect();
        let data = reads.into_iter().map(|(bytes, _)| bytes);
        let acquired = if read.iter().any(|(_, s)| !s.is_empty()) {
            let acquired = ctx
                .shares()
                .acquire(group_id.clone(), member_id.clone(), read, limit, settings)
                .await?;
            // A partition whose acquisition could not be stored answers its error, nothing
            // acquired.
            acquired
                .into_iter()
                .zip(&targets)
                .map(|(got, (tp, _))| {
                    got.unwrap_or_else(|e| {
                        fail(&mut answers, *tp, e);
                        Vec::new()
                    })
                })
                .collect()
        } else {
            vec![Vec::new(); targets.len()]
        };
        let got = acquired.iter().any(|a| !a.is_empty());
        let acknowledged = !outcome.acks.is_empty() || !refused.is_empty();
        if got || acknowledged || tokio::time::Instant::now() >= deadline {
            for (((tp, p), bytes), acquired) in targets.iter().zip(data).zip(acquired) {
                if acquired.is_empty() {
                    continue;
                }
                let leader = LeaderIdAndEpoch::default()
                    .with_leader_id(ctx.cluster().this_node())
                    .with_leader_epoch(leader_epoch::current(ctx, p));
                let data = answer(&mut answers, *tp)
                    .with_current_leader(leader)
                    .with_records(Some(covering(&bytes, &acquired)))
                    .with_acquired_records(
                        acquired
                            .iter()
                            .map(|a| {
                                AcquiredRecords::default()
                                    .with_first_offset(a.first)
                                    .with_last_offset(a.last)
                                    .with_delivery_count(a.delivery_count)
                            })
                            .collect(),
                    );
                answers.insert(*tp, data);
            }
            break;
        }
        let mut watchers: Vec<_> = targets
            .iter()
            .map(|(_, p)| p.watch_high_watermark())
            .collect();
        let wake = deadline.min(tokio::time::Instant::now() + RECHECK);
        let any_change = select_all(watchers.iter_mut().map(|w| Box::pin(w.changed())));
        let _ = tokio::time::timeout_at(wake, any_change).await;
    }
    let mut topics: Vec<ShareFetchableTopicResponse> = Vec::new();
    for ((topic_id, _), data) in answers {
        match topics.last_mut() {
            Some(t) if t.topic_id == topic_id => t.partitions.push(data),
            _ => topics.push(
                ShareFetchableTopicResponse::default()
                    .with_topic_id(topic_id)
                    .with_partitions(vec![data]),
            ),
        }
    }
    Ok(topics)
}

/// Partitions led elsewhere name their leader, whose address the response carries (as
/// Kafka's `KafkaApis.processShareFetchResponse`): the client fetches from it next.
fn leader_hints(
    ctx: &RequestContext,
    topics: &mut [ShareFetchableTopicResponse],
) -> Vec<NodeEndpoint> {
    let mut endpoints = BTreeMap::new();
    for t in topics.iter_mut() {
        for p in t
            .partitions
            .iter_mut()
            .filter(|p| names_leader(p.error_code))
        {
            let leader = current_leader(ctx, &t.topic_id, p.partition_index);
            p.current_leader = LeaderIdAndEpoch::default()
                .with_leader_id(leader.id)
                .with_leader_epoch(leader.epoch);
            if let Some((node, host, port)) = leader.endpoint {
                endpoints.insert(node, (host, port));
            }
        }
    }
    endpoints
        .into_iter()
        .map(|(node, (host, port))| {
            NodeEndpoint::default()
                .with_node_id(node.into())
                .with_host(host.into())
                .with_port(port)
        })
        .collect()
}

/// Each partition's fetch offset. A partition whose share state could not be loaded or
/// stored (COORDINATOR_NOT_AVAILABLE, as Kafka's partitions when its persister fails), or whose
/// state another leader or a reset took over (NOT_LEADER_OR_FOLLOWER), answers its error and
/// is not fetched.
fn unstored(
    answers: &mut BTreeMap<ShareKey, PartitionData>,
    targets: &mut Vec<(ShareKey, Arc<Partition>)>,
    prepared: Vec<Result<i64, E>>,
) -> Vec<i64> {
    let mut offsets = Vec::new();
    let mut kept = Vec::new();
    for ((tp, p), prepared) in targets.drain(..).zip(prepared) {
        match prepared {
            Ok(offset) => {
                offsets.push(offset);
                kept.push((tp, p));
            }
            Err(e) => fail(answers, tp, e),
        }
    }
    *targets = kept;
    offsets
}

fn fail(answers: &mut BTreeMap<ShareKey, PartitionData>, tp: ShareKey, e: E) {
    answers
        .entry(tp)
        .or_insert_with(|| PartitionData::default().with_partition_index(tp.1))
        .error_code = e.code();
}

/// The batches read, as the state machine sees them: control batches and the batches of
/// the `aborted` transactions are skipped (a transactional batch of an aborted transaction's
/// producer between that transaction's first offset and its marker).
fn spans(bytes: &[u8], aborted: &[AbortedTxn]) -> Vec<Span> {
    batch::headers(bytes)
        .map(|(_, h)| {
            let of_aborted = h.is_transactional()
                && aborted.iter().any(|a| {
                    a.producer_id == h.producer_id
                        && a.first_offset <= h.base_offset
                        && h.last_offset() < a.last_offset
                });
            Span {
                first: h.base_offset,
                last: h.last_offset(),
                skip: h.is_control() || of_aborted,
            }
        })
        .collect()
}

/// The batches from the first holding an acquired record to the last one holding one (the
/// client delivers only the acquired records among them).
fn covering(bytes: &Bytes, acquired: &[Acquired]) -> Bytes {
    let (Some(first), Some(last)) = (acquired.first(), acquired.last()) else {
        return Bytes::new();
    };
    let mut start = None;
    let mut end = 0;
    let mut headers = batch::headers(bytes);
    while let Some((pos, h)) = headers.next() {
        if h.last_offset() < first.first {
            continue;
        }
        if h.base_offset > last.last {
            break;
        }
        start.get_or_insert(pos);
        end = headers.position();
    }
    match start {
        Some(start) => bytes.slice(start..end),
        None => Bytes::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    /// One batch of `count` records from `base` by producer `pid` (transactional or control).
    fn batch(buf: &mut BytesMut, base: i64, count: i64, pid: i64, control: bool) {
        let records: Vec<Record> = (0..count)
            .map(|i| Record {
                transactional: true,
                control,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: pid,
                producer_epoch: 0,
                timestamp_type: TimestampType::Creation,
                offset: base + i,
                sequence: if control { -1 } else { i as i32 },
                timestamp: 1_000,
                key: None,
                value: Some(Bytes::from_static(b"v")),
                headers: Default::default(),
            })
            .collect();
        let options = RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        };
        RecordBatchEncoder::encode(buf, &records, &options).unwrap();
    }

    #[test]
    fn batches_of_aborted_transactions_and_control_batches_are_skipped() {
        // Producer 7's transaction at 0-1 aborted by the marker at 2; producer 8's batch at 3
        // and producer 7's next transaction at 4-5, neither aborted.
        let mut buf = BytesMut::new();
        batch(&mut buf, 0, 2, 7, false);
        batch(&mut buf, 2, 1, 7, true);
        batch(&mut buf, 3, 1, 8, false);
        batch(&mut buf, 4, 2, 7, false);
        let aborted = [AbortedTxn {
            producer_id: 7,
            first_offset: 0,
            last_offset: 2,
        }];
        let skips = |aborted: &[AbortedTxn]| -> Vec<(i64, i64, bool)> {
            spans(&buf, aborted)
                .iter()
                .map(|s| (s.first, s.last, s.skip))
                .collect()
        };
        assert_eq!(
            skips(&aborted),
            vec![(0, 1, true), (2, 2, true), (3, 3, false), (4, 5, false)]
        );
        // read_uncommitted: only the control batch.
        assert_eq!(
            skips(&[]),
            vec![(0, 1, false), (2, 2, true), (3, 3, false), (4, 5, false)]
        );
    }
}
