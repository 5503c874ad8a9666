//! Kafka requests that the broker's in-process clients — REST consumer instances and the MQTT
//! listener — both make through the gateway: Fetch and the records of its batches, offsets by
//! time (ListOffsets), committed offsets (OffsetFetch) and commits (OffsetCommit).

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::{
    BrokerId, FetchRequest, FetchResponse, GroupId, ListOffsetsRequest, OffsetCommitRequest,
    OffsetFetchRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Record, RecordBatchDecoder};

use super::error::{HttpError, HttpResult};
use super::Gateway;

/// A topic partition.
pub type Tp = (String, i32);

/// ListOffsets' timestamps for a partition's start and end.
pub const EARLIEST: i64 = -2;
pub const LATEST: i64 = -1;

pub fn topic_name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

/// Each partition's (error code, offset) at `timestamp` ([`EARLIEST`], [`LATEST`] or a time).
pub async fn list_offsets(
    gw: &Gateway,
    tps: &[Tp],
    timestamp: i64,
) -> HttpResult<Vec<(Tp, i16, i64)>> {
    let mut by_topic: BTreeMap<&str, Vec<ListOffsetsPartition>> = BTreeMap::new();
    for (topic, p) in tps {
        by_topic.entry(topic).or_default().push(
            ListOffsetsPartition::default()
                .with_partition_index(*p)
                .with_timestamp(timestamp),
        );
    }
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    ListOffsetsTopic::default()
                        .with_name(topic_name(t))
                        .with_partitions(ps)
                })
                .collect(),
        );
    let response = gw.call(None, 7, &request).await?;
    Ok(response
        .topics
        .into_iter()
        .flat_map(|t| {
            let topic = t.name.to_string();
            t.partitions
                .into_iter()
                .map(move |p| ((topic.clone(), p.partition_index), p.error_code, p.offset))
        })
        .collect())
}

/// One Fetch (no session, read_uncommitted) from each `(partition, offset)`, waiting up to
/// `max_wait_ms` for data: at most `partition_max_bytes` per partition, `max_bytes` in all.
pub async fn fetch<'a>(
    gw: &Gateway,
    from: impl IntoIterator<Item = (&'a Tp, i64)>,
    max_wait_ms: i32,
    partition_max_bytes: i32,
    max_bytes: i32,
) -> HttpResult<FetchResponse> {
    let mut by_topic: BTreeMap<&str, Vec<FetchPartition>> = BTreeMap::new();
    for ((topic, p), offset) in from {
        by_topic.entry(topic).or_default().push(
            FetchPartition::default()
                .with_partition(*p)
                .with_fetch_offset(offset)
                .with_current_leader_epoch(-1)
                .with_last_fetched_epoch(-1)
                .with_log_start_offset(-1)
                .with_partition_max_bytes(partition_max_bytes),
        );
    }
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(max_bytes)
        .with_isolation_level(0)
        .with_session_epoch(-1)
        .with_topics(
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    FetchTopic::default()
                        .with_topic(topic_name(t))
                        .with_partitions(ps)
                })
                .collect(),
        );
    // v12: topics by name (v13 on names them by id).
    gw.call(None, 12, &request).await
}

/// `group`'s committed offsets of `parts` (None: every partition it committed), each as
/// (partition, error code, offset or -1, metadata); a group-level error is the Err.
pub async fn committed(
    gw: &Gateway,
    group: &str,
    parts: Option<&[Tp]>,
) -> HttpResult<Vec<(Tp, i16, i64, String)>> {
    let topics = parts.map(|parts| {
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (t, p) in parts {
            by_topic.entry(t).or_default().push(*p);
        }
        by_topic
            .into_iter()
            .map(|(t, ps)| {
                OffsetFetchRequestTopics::default()
                    .with_name(topic_name(t))
                    .with_partition_indexes(ps)
            })
            .collect()
    });
    let request =
        OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
            .with_topics(topics)]);
    let response = gw.call(None, 8, &request).await?;
    let Some(group) = response.groups.into_iter().next() else {
        return Err(HttpError::internal("OffsetFetch answered no group"));
    };
    if group.error_code != 0 {
        return Err(HttpError::kafka(group.error_code, None));
    }
    Ok(group
        .topics
        .into_iter()
        .flat_map(|t| {
            let topic = t.name.to_string();
            t.partitions.into_iter().map(move |p| {
                let metadata = p.metadata.map(|m| m.to_string()).unwrap_or_default();
                let tp = (topic.clone(), p.partition_index);
                (tp, p.error_code, p.committed_offset, metadata)
            })
        })
        .collect())
}

/// Commit `offsets` as `group`'s, by `member` at its epoch (None: a client that assigns its
/// partitions itself, generation -1). Err: the first partition's Kafka error.
pub async fn commit<'a>(
    gw: &Gateway,
    group: &str,
    member: Option<(&str, i32)>,
    offsets: impl IntoIterator<Item = (&'a Tp, i64)>,
) -> HttpResult<Result<(), i16>> {
    let mut by_topic: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for ((topic, p), offset) in offsets {
        by_topic.entry(topic).or_default().push(
            OffsetCommitRequestPartition::default()
                .with_partition_index(*p)
                .with_committed_offset(offset)
                .with_committed_leader_epoch(-1),
        );
    }
    if by_topic.is_empty() {
        return Ok(Ok(()));
    }
    let (member_id, epoch) = member.unwrap_or(("", -1));
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_member_id(StrBytes::from_string(member_id.to_string()))
        .with_generation_id_or_member_epoch(epoch)
        .with_retention_time_ms(-1)
        .with_topics(
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    OffsetCommitRequestTopic::default()
                        .with_name(topic_name(t))
                        .with_partitions(ps)
                })
                .collect(),
        );
    let response = gw.call(None, 9, &request).await?;
    let failed = response
        .topics
        .iter()
        .flat_map(|t| &t.partitions)
        .find(|p| p.error_code != 0);
    Ok(failed.map_or(Ok(()), |p| Err(p.error_code)))
}

/// The records of the whole batches in `bytes` (a cut-off last batch is left out), control
/// records included; with the error of a batch that would not decode (the records before it
/// are kept).
pub fn decode_batches(bytes: Bytes) -> (Vec<Record>, Option<String>) {
    let mut records = Vec::new();
    let mut pos = 0usize;
    while let Some(len) = bytes
        .get(pos + 8..pos + 12)
        .and_then(|b| b.try_into().ok())
        .map(i32::from_be_bytes)
    {
        let end = pos + 12 + len.max(0) as usize;
        if end > bytes.len() {
            break;
        }
        let mut batch = bytes.slice(pos..end);
        match RecordBatchDecoder::decode(&mut batch) {
            Ok(set) => records.extend(set.records),
            Err(e) => return (records, Some(format!("{e:#}"))),
        }
        pos = end;
    }
    (records, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::encode::{plain_batch, plain_record};

    #[test]
    fn whole_batches_decode_and_a_cut_off_one_is_left_out() {
        let batch = |values: &[&str]| {
            let records: Vec<_> = (0..)
                .zip(values)
                .map(|(i, v)| {
                    plain_record(
                        i,
                        1_000,
                        None,
                        Some(Bytes::copy_from_slice(v.as_bytes())),
                        Default::default(),
                    )
                })
                .collect();
            plain_batch(&records).unwrap()
        };
        let mut bytes = batch(&["a", "b"]);
        bytes.extend_from_slice(&batch(&["c"]));
        bytes.extend_from_slice(&batch(&["d"])[..20]);
        let (records, error) = decode_batches(bytes.freeze());
        assert_eq!(error, None);
        let values: Vec<_> = records.iter().map(|r| r.value.clone().unwrap()).collect();
        assert_eq!(values, ["a", "b", "c"].map(Bytes::from));
        // A batch that does not decode (its CRC damaged) ends the records, with why.
        let mut damaged = batch(&["e"]);
        let last = damaged.len() - 1;
        damaged[last] ^= 0xff;
        let mut bytes = batch(&["a"]);
        bytes.extend_from_slice(&damaged);
        let (records, error) = decode_batches(bytes.freeze());
        assert_eq!(records.len(), 1);
        assert!(error.is_some());
    }
}
