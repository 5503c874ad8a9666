//! The Kafka requests the MQTT listener makes, through the HTTP gateway's in-broker client
//! (`http::Gateway::call`: `api::dispatch_from`, the path a Kafka connection's requests
//! take): Metadata, Fetch, ListOffsets, OffsetCommit/OffsetFetch (a persistent session's
//! positions are the group `mqtt-<client id>`'s committed offsets) and CreateTopics.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::{CreateTopicsRequest, MetadataRequest};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Record;

use crate::http::Gateway;

pub use crate::http::client::Tp;
use crate::http::client::{self, topic_name as name};

fn failed(e: crate::http::error::HttpError) -> String {
    e.message
}

/// Every topic's partition count.
pub async fn topics(gw: &Gateway) -> Result<BTreeMap<String, i32>, String> {
    let response = gw
        .call(None, 12, &MetadataRequest::default().with_topics(None))
        .await
        .map_err(failed)?;
    Ok(response
        .topics
        .into_iter()
        .filter(|t| t.error_code == 0)
        .filter_map(|t| Some((t.name?.to_string(), t.partitions.len() as i32)))
        .collect())
}

/// Create a one-partition compacted topic unless it exists.
pub async fn ensure_compacted(gw: &Gateway, topic: &str) -> Result<(), String> {
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(name(topic))
            .with_num_partitions(1)
            .with_replication_factor(-1)
            .with_configs(vec![CreatableTopicConfig::default()
                .with_name(StrBytes::from_static_str("cleanup.policy"))
                .with_value(Some(StrBytes::from_static_str("compact")))])]);
    let response = gw.call(None, 5, &request).await.map_err(failed)?;
    match response.topics.first().map(|t| t.error_code) {
        Some(0) | Some(36) => Ok(()), // created, or TOPIC_ALREADY_EXISTS
        Some(code) => Err(format!("creating {topic}: Kafka error {code}")),
        None => Err(format!("creating {topic}: no answer")),
    }
}

/// One partition's fetched records.
pub struct Fetched {
    pub tp: Tp,
    pub error: i16,
    pub high_watermark: i64,
    pub records: Vec<Record>,
}

/// Fetch from each `(topic, partition) → offset`, waiting up to `max_wait_ms` for data.
pub async fn fetch(
    gw: &Gateway,
    from: &BTreeMap<Tp, i64>,
    max_wait_ms: i32,
) -> Result<Vec<Fetched>, String> {
    let response = client::fetch(
        gw,
        from.iter().map(|(tp, o)| (tp, *o)),
        max_wait_ms,
        256 * 1024,
        1024 * 1024,
    )
    .await
    .map_err(failed)?;
    let mut out = Vec::new();
    for t in response.responses {
        for p in t.partitions {
            out.push(Fetched {
                tp: (t.topic.to_string(), p.partition_index),
                error: p.error_code,
                high_watermark: p.high_watermark,
                records: p.records.map(decode_records).unwrap_or_default(),
            });
        }
    }
    Ok(out)
}

/// The records of whole batches in `bytes` (a trailing partial batch, and any batch after one
/// that does not decode, is left out), without control records.
fn decode_records(bytes: Bytes) -> Vec<Record> {
    let (records, _) = client::decode_batches(bytes);
    records.into_iter().filter(|r| !r.control).collect()
}

/// Each partition's offset at `timestamp` (-1: the end, -2: the start); partitions that
/// answered an error are left out.
pub async fn list_offsets(
    gw: &Gateway,
    tps: &[Tp],
    timestamp: i64,
) -> Result<HashMap<Tp, i64>, String> {
    Ok(client::list_offsets(gw, tps, timestamp)
        .await
        .map_err(failed)?
        .into_iter()
        .filter(|(_, error, _)| *error == 0)
        .map(|(tp, _, offset)| (tp, offset))
        .collect())
}

/// The group `mqtt-<client>` of a persistent session.
pub fn session_group(client_id: &str) -> String {
    format!("mqtt-{client_id}")
}

/// Commit positions as a group's offsets (a standalone consumer's commit).
pub async fn commit(gw: &Gateway, group: &str, offsets: &BTreeMap<Tp, i64>) -> Result<(), String> {
    let offsets = offsets.iter().map(|(tp, o)| (tp, *o));
    match client::commit(gw, group, None, offsets)
        .await
        .map_err(failed)?
    {
        Ok(()) => Ok(()),
        Err(code) => Err(format!("committing {group}: Kafka error {code}")),
    }
}

/// A group's committed offsets (all topics); partitions that answered an error are left out.
pub async fn committed(gw: &Gateway, group: &str) -> Result<HashMap<Tp, i64>, String> {
    Ok(client::committed(gw, group, None)
        .await
        .map_err(failed)?
        .into_iter()
        .filter(|(_, error, offset, _)| *error == 0 && *offset >= 0)
        .map(|(tp, _, offset, _)| (tp, offset))
        .collect())
}
