//! Share groups' dead-letter topics (KIP-1191): records a share group gave up on (rejected,
//! or out of deliveries) are written to the topic its `errors.deadletterqueue.topic.name`
//! names, then archived. One task takes the share leader's [`DeadLetterJob`]s in order.
//!
//! As Kafka 4.4's `ShareGroupDLQStateManager`: the topic must carry the configured prefix
//! (`--dlq-topic-name-prefix`), must not be internal, and must allow it
//! (`errors.deadletterqueue.group.enable=true`), or be missing with `--dlq-auto-create-topics`
//! (it is then created with that config). Each record goes to partition (source partition
//! mod the topic's partitions), timestamped now, uncompressed, with the `__dlq.errors.*`
//! headers; key and value are copied only with `errors.deadletterqueue.copy.record.enable`.
//! A dead letter that cannot be written is logged and its records archived regardless, as
//! Kafka does; one written but not yet archived when the broker stops is written again after
//! the restart (at least once). In cluster mode a dead-letter partition another broker leads
//! gets its batches through the database (`pg::dead_letters`, appended by its leader's
//! thread in `app/markers.rs`); queued counts as written. Below share.version 2 (`ShareVersion.supportsShareGroupDLQ`)
//! dead-letter topics are off, as in Kafka: the records are archived without one.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Record, RecordBatchDecoder};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::Services;
use crate::clock::now_ms;
use crate::config::Config;
use crate::error::BrokerError;
use crate::features::{Features, SHARE_VERSION, SHARE_VERSION_DLQ};
use crate::group::configs::DeadLetterTopic;
use crate::group::GroupCoordinator;
use crate::log::encode::{plain_batch, plain_record};
use crate::log::records::{self, Rules};
use crate::meta::Topic;
use crate::pg::dead_letters as dead_letter_queue;
use crate::pg::placement::log_name;
use crate::pg::Db;
use crate::shares::{DeadLetterJob, Shares};
use crate::topics::Topics;

/// Tries of a write that failed for a reason that may pass (a partition moving, a full disk).
const ATTEMPTS: u32 = 3;
const BACKOFF: Duration = Duration::from_millis(500);
/// Bytes of the source log read at a time when copying records.
const READ_BYTES: usize = 1 << 20;

/// Start the writer and hand the share leader its end of the queue.
pub(super) fn spawn(services: &Services, shutdown: &CancellationToken, tasks: &TaskTracker) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let writer = Writer {
        topics: Arc::downgrade(&services.topics),
        groups: services.groups.clone(),
        shares: services.shares.clone(),
        config: services.config.clone(),
        features: services.features.clone(),
        db: services.membership.as_ref().map(|m| m.db().clone()),
    };
    let shutdown = shutdown.clone();
    tasks.spawn(async move {
        loop {
            let job = tokio::select! {
                _ = shutdown.cancelled() => return,
                job = rx.recv() => match job {
                    Some(job) => job,
                    None => return,
                },
            };
            writer.handle(job).await;
        }
    });
    services.shares.attach_dead_letters(tx);
}

struct Writer {
    topics: Weak<Topics>,
    groups: Arc<GroupCoordinator>,
    shares: Arc<Shares>,
    config: Arc<Config>,
    features: Arc<Features>,
    /// Cluster mode: where dead letters for partitions other brokers lead are queued.
    db: Option<Db>,
}

/// Why a dead letter was not written.
#[derive(Debug)]
enum Failure {
    /// The configuration does not allow it: archived without a dead letter.
    Refused(String),
    /// Could pass: tried again, then archived regardless.
    Transient(String),
    /// Shutting down: left waiting, written after the restart.
    Stopping,
}

impl Writer {
    async fn handle(&self, job: DeadLetterJob) {
        let mut attempt = 1;
        let outcome = loop {
            match self.write(&job).await {
                Err(Failure::Transient(why)) if attempt < ATTEMPTS => {
                    tracing::debug!(group = %job.group_id, why, attempt, "dead letter not written yet");
                    attempt += 1;
                    tokio::time::sleep(BACKOFF).await;
                }
                outcome => break outcome,
            }
        };
        let written = outcome.is_ok();
        match outcome {
            Ok(()) => {}
            Err(Failure::Stopping) => return,
            Err(Failure::Refused(why) | Failure::Transient(why)) => tracing::warn!(
                group = %job.group_id,
                first_offset = job.letter.first,
                last_offset = job.letter.last,
                why,
                "could not write to the dead-letter topic; archiving the records regardless"
            ),
        }
        if let Err(e) = self.shares.dead_lettered(job, written).await {
            tracing::debug!(error = %e, "dead letters not archived (the share leader stopped)");
        }
    }

    async fn write(&self, job: &DeadLetterJob) -> Result<(), Failure> {
        let topics = self.topics.upgrade().ok_or(Failure::Stopping)?;
        if self.features.finalized().level(SHARE_VERSION) < SHARE_VERSION_DLQ {
            return Err(Failure::Refused(format!(
                "dead-letter topics need share.version {SHARE_VERSION_DLQ}"
            )));
        }
        let dlq = self
            .groups
            .group_configs()
            .dead_letter_topic(&job.group_id)
            .ok_or_else(|| {
                Failure::Refused(format!(
                    "DLQ topic is not configured for share group {}.",
                    job.group_id
                ))
            })?;
        let target = self.target(&topics, &job.group_id, &dlq).await?;
        let (topic_id, index) = job.partition;
        let source = topics.by_id(&topic_id);
        let source_name = source
            .as_ref()
            .map_or_else(|| topic_id.to_string(), |t| t.name.clone());
        let copies = match (&source, dlq.copy_record) {
            (Some(t), true) => copies(t, index, job.letter.first, job.letter.last),
            _ => BTreeMap::new(),
        };
        let count = target.partitions.read().map_or(0, |p| p.len());
        let Some(dest) = (count > 0).then(|| index.rem_euclid(count as i32)) else {
            return Err(Failure::Transient(format!(
                "{} has no partitions",
                target.name
            )));
        };
        // Led by another broker (cluster mode): queued for its leader (`pg::dead_letters`).
        let partition = match (target.led_partition(dest), &self.db) {
            (Ok(p), _) => Some(p),
            (Err(BrokerError::NotLeaderOrFollower), Some(_)) => None,
            (Err(BrokerError::NotLeaderOrFollower), None) => {
                return Err(Failure::Transient(format!(
                    "{}-{dest} is led by another broker",
                    target.name
                )))
            }
            (Err(e), _) => return Err(Failure::Transient(e.to_string())),
        };
        let now = now_ms();
        let headers = Context {
            topic: &source_name,
            partition: index,
            group: &job.group_id,
            delivery_count: job.letter.delivery_count,
            message: job.letter.cause.message(),
        };
        let config = topics.effective_config(&target);
        let max = config.max_message_bytes(self.config.max_message_bytes as usize);
        let rules = Rules {
            now_ms: now,
            max_batch_bytes: max,
            ..Rules::defaults(now)
        };
        let mut queued = Vec::new();
        for batch in batches(
            &headers,
            &copies,
            job.letter.first,
            job.letter.last,
            now,
            max,
        )? {
            let header = records::validate_batch(&batch, &rules).map_err(|e| {
                Failure::Refused(format!("dead letter refused by {}: {e}", target.name))
            })?;
            let Some(partition) = &partition else {
                queued.push(batch.freeze());
                continue;
            };
            let appended = partition
                .append(&header, batch.freeze(), now)
                .map_err(|e| Failure::Transient(e.to_string()))?;
            partition
                .commit(appended.info.last_offset)
                .await
                .map_err(|e| Failure::Transient(e.to_string()))?;
        }
        if let (None, Some(db)) = (&partition, &self.db) {
            let (db, log) = (db.clone(), log_name(&target.name, dest));
            tokio::task::spawn_blocking(move || {
                let batches: Vec<&[u8]> = queued.iter().map(|b| b.as_ref()).collect();
                dead_letter_queue::enqueue(&db, &log, &batches)
            })
            .await
            .map_err(|e| Failure::Transient(e.to_string()))?
            .map_err(|e| Failure::Transient(format!("{e:#}")))?;
        }
        Ok(())
    }

    /// The group's dead-letter topic, checked as Kafka's `validateDlqTopic` (its messages),
    /// created when missing and the broker allows that.
    async fn target(
        &self,
        topics: &Arc<Topics>,
        group: &str,
        dlq: &DeadLetterTopic,
    ) -> Result<Arc<Topic>, Failure> {
        let prefix = &self.config.dlq_topic_name_prefix;
        if !prefix.is_empty() && !dlq.name.starts_with(prefix.as_str()) {
            return Err(Failure::Refused(format!(
                "Configured DLQ topic name does not comply with the DLQ topic prefix in share group: {group}, topic: {}, prefix: {prefix}.",
                dlq.name
            )));
        }
        if dlq.name.starts_with("__") {
            return Err(Failure::Refused(format!(
                "Configured DLQ topic name in share group: {group} cannot start with __, topic: {}.",
                dlq.name
            )));
        }
        if let Some(topic) = topics.get(&dlq.name) {
            if !topic.config().dead_letters_allowed() {
                return Err(Failure::Refused(format!(
                    "DLQ is not enabled on configured DLQ topic for share group: {group}, topic: {}.",
                    dlq.name
                )));
            }
            return Ok(topic);
        }
        if !self.config.dlq_auto_create_topics {
            return Err(Failure::Refused(format!(
                "DLQ topic does not exist and auto create is disabled on cluster for share group: {group}, topic: {}.",
                dlq.name
            )));
        }
        let (creator, name) = (topics.clone(), dlq.name.clone());
        let partitions = self.config.num_partitions;
        let created = tokio::task::spawn_blocking(move || {
            let configs = BTreeMap::from([
                (
                    "errors.deadletterqueue.group.enable".to_string(),
                    "true".to_string(),
                ),
                (
                    "message.timestamp.type".to_string(),
                    "CreateTime".to_string(),
                ),
            ]);
            match creator.create_topic(&name, partitions, configs, false) {
                Err(BrokerError::TopicAlreadyExists(_)) => creator
                    .get(&name)
                    .ok_or(BrokerError::UnknownTopicOrPartition),
                created => created,
            }
        })
        .await
        .map_err(|e| Failure::Transient(e.to_string()))?;
        match created {
            Ok(topic) => {
                tracing::info!(group, topic = %dlq.name, "created the dead-letter topic");
                Ok(topic)
            }
            Err(e) => Err(Failure::Transient(format!("creating {}: {e}", dlq.name))),
        }
    }
}

/// The context headers of one dead letter (Kafka's names; numbers as decimal text).
struct Context<'a> {
    topic: &'a str,
    partition: i32,
    group: &'a str,
    delivery_count: i16,
    message: &'a str,
}

/// A batch's header, and a record's fixed fields with room to spare.
const BATCH_OVERHEAD: usize = 61;
const RECORD_OVERHEAD: usize = 64;

impl Context<'_> {
    /// Bytes of the headers' keys and values, with their lengths.
    fn len(&self) -> usize {
        let values = self.topic.len() + self.group.len() + self.message.len() + 3 * 20;
        values + 6 * (32 + 10)
    }

    fn headers(&self, offset: i64) -> IndexMap<StrBytes, Option<Bytes>> {
        let text = |s: String| Some(Bytes::from(s));
        IndexMap::from([
            (
                StrBytes::from_static_str("__dlq.errors.topic"),
                text(self.topic.to_string()),
            ),
            (
                StrBytes::from_static_str("__dlq.errors.partition"),
                text(self.partition.to_string()),
            ),
            (
                StrBytes::from_static_str("__dlq.errors.offset"),
                text(offset.to_string()),
            ),
            (
                StrBytes::from_static_str("__dlq.errors.group"),
                text(self.group.to_string()),
            ),
            (
                StrBytes::from_static_str("__dlq.errors.delivery.count"),
                text(self.delivery_count.to_string()),
            ),
            (
                StrBytes::from_static_str("__dlq.errors.message"),
                text(self.message.to_string()),
            ),
        ])
    }
}

/// Key and value of each record `first..=last` the source log still holds. Records it cannot
/// read are left out: their dead letters carry headers only, as Kafka's.
fn copies(
    topic: &Topic,
    index: i32,
    first: i64,
    last: i64,
) -> BTreeMap<i64, (Option<Bytes>, Option<Bytes>)> {
    let mut out = BTreeMap::new();
    let Some(partition) = topic.partition(index) else {
        return out;
    };
    let mut offset = first;
    while offset <= last {
        let data = match partition.read(offset, READ_BYTES, true) {
            Ok(data) if !data.is_empty() => data,
            Ok(_) => break,
            Err(e) => {
                tracing::debug!(topic = %topic.name, partition = index, offset, error = %e, "dead letters without their records");
                break;
            }
        };
        let Ok(sets) = RecordBatchDecoder::decode_all(&mut data.clone()) else {
            break;
        };
        let mut next = offset;
        for r in sets.into_iter().flat_map(|s| s.records) {
            next = next.max(r.offset + 1);
            if (first..=last).contains(&r.offset) && !r.control {
                out.insert(r.offset, (r.key, r.value));
            }
        }
        if next <= offset {
            break;
        }
        offset = next;
    }
    out
}

/// The dead letters of `first..=last` as batches of at most `max` bytes each.
fn batches(
    context: &Context,
    copies: &BTreeMap<i64, (Option<Bytes>, Option<Bytes>)>,
    first: i64,
    last: i64,
    now: i64,
    max: usize,
) -> Result<Vec<BytesMut>, Failure> {
    let mut out = Vec::new();
    let mut pending: Vec<Record> = Vec::new();
    let mut pending_bytes = BATCH_OVERHEAD;
    for offset in first..=last {
        let (key, value) = copies.get(&offset).cloned().unwrap_or_default();
        // A record's encoded size is below its parts plus 16 bytes of varints per field.
        let size = RECORD_OVERHEAD
            + context.len()
            + key.as_ref().map_or(0, |k| k.len())
            + value.as_ref().map_or(0, |v| v.len());
        if !pending.is_empty() && pending_bytes + size > max {
            out.push(encode(&pending)?);
            pending.clear();
            pending_bytes = BATCH_OVERHEAD;
        }
        let delta = pending.len() as i64;
        pending.push(plain_record(
            delta,
            now,
            key,
            value,
            context.headers(offset),
        ));
        pending_bytes += size;
    }
    if !pending.is_empty() {
        out.push(encode(&pending)?);
    }
    Ok(out)
}

fn encode(records: &[Record]) -> Result<BytesMut, Failure> {
    plain_batch(records).map_err(|e| Failure::Refused(format!("a dead letter: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> Context<'static> {
        Context {
            topic: "orders",
            partition: 1,
            group: "workers",
            delivery_count: 3,
            message: "Offset rejected by client.",
        }
    }

    #[test]
    fn each_dead_letter_names_where_it_came_from() {
        let copies = BTreeMap::from([(7, (Some(Bytes::from("k")), Some(Bytes::from("v"))))]);
        let batches = batches(&context(), &copies, 7, 8, 1_000, 1 << 20).unwrap();
        assert_eq!(batches.len(), 1);
        let header = records::validate_batch(&batches[0], &Rules::defaults(1_000)).unwrap();
        assert_eq!(header.records_count, 2);
        let set = RecordBatchDecoder::decode(&mut batches[0].clone().freeze()).unwrap();
        let (copied, bare) = (&set.records[0], &set.records[1]);
        assert_eq!(copied.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(copied.value.as_deref(), Some(&b"v"[..]));
        assert_eq!((bare.key.clone(), bare.value.clone()), (None, None));
        assert_eq!(bare.timestamp, 1_000);
        let header = |r: &Record, name: &str| {
            r.headers
                .get(&StrBytes::from_string(name.to_string()))
                .cloned()
                .flatten()
                .map(|v| String::from_utf8_lossy(&v).into_owned())
        };
        assert_eq!(
            header(copied, "__dlq.errors.topic").as_deref(),
            Some("orders")
        );
        assert_eq!(
            header(copied, "__dlq.errors.partition").as_deref(),
            Some("1")
        );
        assert_eq!(header(copied, "__dlq.errors.offset").as_deref(), Some("7"));
        assert_eq!(header(bare, "__dlq.errors.offset").as_deref(), Some("8"));
        assert_eq!(
            header(bare, "__dlq.errors.group").as_deref(),
            Some("workers")
        );
        assert_eq!(
            header(bare, "__dlq.errors.delivery.count").as_deref(),
            Some("3")
        );
        assert_eq!(
            header(bare, "__dlq.errors.message").as_deref(),
            Some("Offset rejected by client.")
        );
    }

    #[test]
    fn dead_letters_are_split_below_the_topics_batch_limit() {
        let big = Bytes::from(vec![b'x'; 600]);
        let copies: BTreeMap<_, _> = (0..10).map(|o| (o, (None, Some(big.clone())))).collect();
        let batches = batches(&context(), &copies, 0, 9, 1, 2_000).unwrap();
        assert!(batches.len() >= 4, "{}", batches.len());
        let rules = Rules {
            max_batch_bytes: 2_000,
            ..Rules::defaults(1)
        };
        let total: i32 = batches
            .iter()
            .map(|b| records::validate_batch(b, &rules).unwrap().records_count)
            .sum();
        assert_eq!(total, 10);
    }
}
