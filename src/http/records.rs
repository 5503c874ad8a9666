//! Producing records for the REST API (v2 and v3): the topic's partitions from a Metadata
//! request, each record's partition (explicit, by key as Kafka's default partitioner, or one
//! partition for a request's keyless records), one batch per partition, and one Produce
//! request with acks=all through the broker's own Produce handler.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use indexmap::IndexMap;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{MetadataRequest, MetadataResponse, ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Record;
use kafka_protocol::ResponseError;

use super::error::{HttpError, HttpResult};
use super::partitioner::partition_for_key;
use super::Gateway;
use crate::log::encode::{plain_batch, plain_record};

/// How long a produce waits for its records to be durable (Kafka's request.timeout.ms).
const PRODUCE_TIMEOUT_MS: i32 = 30_000;

/// One record to produce.
pub struct OutRecord {
    pub partition: Option<i32>,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// What became of one record: its partition, and its offset or the Kafka error.
pub struct Delivered {
    pub partition: i32,
    pub result: Result<i64, (i16, String)>,
    /// CreateTime (or the broker's LogAppendTime), ms.
    pub timestamp: i64,
}

impl Gateway {
    /// The topic's Metadata answer (no auto-creation). A missing topic is 40401; a topic the
    /// client may not see is the Kafka error's mapping (403).
    pub async fn topic_metadata(
        &self,
        peer: Option<SocketAddr>,
        topic: &str,
    ) -> HttpResult<MetadataResponse> {
        self.topic_metadata_creating(peer, topic, false).await
    }

    /// [`Self::topic_metadata`], asking for the topic to be created when it is missing
    /// (`auto_create`: as a producer's Metadata request does, subject to the broker's
    /// auto-create setting).
    pub async fn topic_metadata_creating(
        &self,
        peer: Option<SocketAddr>,
        topic: &str,
        auto_create: bool,
    ) -> HttpResult<MetadataResponse> {
        let request = MetadataRequest::default()
            .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(
                TopicName(StrBytes::from_string(topic.to_string())),
            ))]))
            .with_allow_auto_topic_creation(auto_create);
        let response = self.call(peer, 12, &request).await?;
        match response.topics.first().map(|t| t.error_code) {
            Some(0) => Ok(response),
            None => Err(HttpError::topic_not_found()),
            Some(code) if code == ResponseError::UnknownTopicOrPartition.code() => {
                Err(HttpError::topic_not_found())
            }
            Some(code) if code == ResponseError::InvalidTopicException.code() => {
                Err(HttpError::topic_not_found())
            }
            Some(code) => Err(HttpError::kafka(code, None)),
        }
    }

    /// Produce `records` to `topic`; per record, its partition and offset or error.
    pub async fn produce(
        &self,
        peer: Option<SocketAddr>,
        topic: &str,
        records: Vec<OutRecord>,
    ) -> HttpResult<Vec<Delivered>> {
        self.produce_creating(peer, topic, records, false).await
    }

    /// [`Self::produce`], creating a missing topic when `auto_create` (and the broker allows).
    pub async fn produce_creating(
        &self,
        peer: Option<SocketAddr>,
        topic: &str,
        records: Vec<OutRecord>,
        auto_create: bool,
    ) -> HttpResult<Vec<Delivered>> {
        let metadata = self
            .topic_metadata_creating(peer, topic, auto_create)
            .await?;
        let partitions = metadata.topics[0].partitions.len();
        if partitions == 0 {
            return Err(HttpError::partition_not_found());
        }
        let keyless = (self.next_partition.fetch_add(1, Ordering::Relaxed) % partitions) as i32;
        let mut assigned = Vec::with_capacity(records.len());
        for r in &records {
            let p = match (r.partition, &r.key) {
                (Some(p), _) if p < 0 || p as usize >= partitions => {
                    return Err(HttpError::partition_not_found())
                }
                (Some(p), _) => p,
                (None, Some(key)) => partition_for_key(key, partitions),
                (None, None) => keyless,
            };
            assigned.push(p);
        }
        let now = crate::clock::now_ms();
        // Per partition, the indexes of its records in request order.
        let mut by_partition: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
        for (i, p) in assigned.iter().enumerate() {
            by_partition.entry(*p).or_default().push(i);
        }
        let mut partition_data = Vec::with_capacity(by_partition.len());
        for (p, indexes) in &by_partition {
            let batch: Vec<Record> = indexes
                .iter()
                .enumerate()
                .map(|(delta, i)| record(&records[*i], delta as i64, now))
                .collect();
            let buf = plain_batch(&batch).map_err(HttpError::internal)?;
            partition_data.push(
                PartitionProduceData::default()
                    .with_index(*p)
                    .with_records(Some(buf.freeze())),
            );
        }
        let request = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(PRODUCE_TIMEOUT_MS)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partition_data(partition_data)]);
        let response = self.call(peer, 9, &request).await?;
        let mut delivered: Vec<Option<Delivered>> = records.iter().map(|_| None).collect();
        for answer in response
            .responses
            .iter()
            .flat_map(|t| &t.partition_responses)
        {
            let Some(indexes) = by_partition.get(&answer.index) else {
                continue;
            };
            let timestamp = if answer.log_append_time_ms >= 0 {
                answer.log_append_time_ms
            } else {
                now
            };
            for (delta, i) in indexes.iter().enumerate() {
                let result = if answer.error_code == 0 {
                    Ok(answer.base_offset + delta as i64)
                } else {
                    let message = answer
                        .error_message
                        .as_ref()
                        .map(|m| m.to_string())
                        .filter(|m| !m.is_empty())
                        .unwrap_or_else(|| error_name(answer.error_code));
                    Err((answer.error_code, message))
                };
                delivered[*i] = Some(Delivered {
                    partition: answer.index,
                    result,
                    timestamp,
                });
            }
        }
        delivered
            .into_iter()
            .zip(assigned)
            .map(|(d, partition)| {
                Ok(d.unwrap_or(Delivered {
                    partition,
                    result: Err((-1, "no answer for the partition".into())),
                    timestamp: now,
                }))
            })
            .collect()
    }
}

fn record(r: &OutRecord, offset: i64, now: i64) -> Record {
    let headers: IndexMap<StrBytes, Option<Bytes>> = r
        .headers
        .iter()
        .map(|(k, v)| (StrBytes::from_string(k.clone()), v.clone()))
        .collect();
    plain_record(offset, now, r.key.clone(), r.value.clone(), headers)
}

/// A Kafka error code's name (NOT_LEADER_OR_FOLLOWER and the like, as Rust names them).
pub fn error_name(code: i16) -> String {
    ResponseError::try_from_code(code).map_or_else(|| "no error".into(), |e| e.to_string())
}
