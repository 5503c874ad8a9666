//! Leader epochs over the wire (KIP-320): batches stamped with the leader's epoch,
//! OffsetForLeaderEpoch, and the client's current epoch checked by Fetch, ListOffsets and
//! OffsetForLeaderEpoch. One node leads every partition at epoch 0, as a new Kafka topic.

use super::{fetch_request, name, produce, TOPIC};
use crate::common::*;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::records::Compression;

const UNKNOWN_LEADER_EPOCH: i16 = 75;

/// (error, epoch, end offset) for (topic, partition, current epoch, epoch asked).
async fn epoch_end(c: &mut Client, asks: &[(&str, i32, i32, i32)]) -> Vec<(i16, i32, i64)> {
    let topics = asks
        .iter()
        .map(|(topic, p, current, epoch)| {
            OffsetForLeaderTopic::default()
                .with_topic(name(topic))
                .with_partitions(vec![OffsetForLeaderPartition::default()
                    .with_partition(*p)
                    .with_current_leader_epoch(*current)
                    .with_leader_epoch(*epoch)])
        })
        .collect();
    let req = OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(topics);
    let resp = c.call(&req, 4).await;
    resp.topics
        .iter()
        .flat_map(|t| &t.partitions)
        .map(|p| (p.error_code, p.leader_epoch, p.end_offset))
        .collect()
}

#[tokio::test]
async fn offset_for_leader_epoch_answers_as_kafka_on_one_node() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let records = batch(
        &[record("a", "1", 1), record("b", "2", 2)],
        Compression::None,
    );
    produce(&mut c, TOPIC, 0, records.clone()).await;
    produce(&mut c, TOPIC, 0, records).await;
    let answers = epoch_end(
        &mut c,
        &[
            // Epoch 0 is the current one: it ends at the log end.
            (TOPIC, 0, -1, 0),
            (TOPIC, 0, 0, 0),
            (TOPIC, 1, 0, 0),
            // An epoch this log never had: no error, both -1.
            (TOPIC, 0, -1, 3),
            // The client's metadata is ahead of the broker: UNKNOWN_LEADER_EPOCH.
            (TOPIC, 0, 2, 0),
            (TOPIC, 9, -1, 0),
            ("no-such-topic", 0, -1, 0),
        ],
    )
    .await;
    assert_eq!(
        answers,
        vec![
            (0, 0, 4),
            (0, 0, 4),
            (0, 0, 0),
            (0, -1, -1),
            (UNKNOWN_LEADER_EPOCH, -1, -1),
            (3, -1, -1),
            (3, -1, -1),
        ]
    );
}

#[tokio::test]
async fn batches_carry_the_leader_epoch_and_fetch_checks_the_clients() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    // Producers send -1 in the batch's partition leader epoch; the leader writes its own.
    let records = batch(&[record("k", "v", 1)], Compression::None);
    assert_eq!(i32::from_be_bytes(records[12..16].try_into().unwrap()), -1);
    produce(&mut c, TOPIC, 0, records).await;

    let fetch = |current: i32, last_fetched: i32, offset: i64| {
        let mut req = fetch_request(TOPIC, 0, offset, 0);
        let p = &mut req.topics[0].partitions[0];
        p.current_leader_epoch = current;
        p.last_fetched_epoch = last_fetched;
        req
    };
    let resp = c.call(&fetch(0, -1, 0), 12).await;
    let p = &resp.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    let stored = p.records.clone().unwrap();
    assert_eq!(i32::from_be_bytes(stored[12..16].try_into().unwrap()), 0);

    for (current, error) in [(1, UNKNOWN_LEADER_EPOCH), (-1, 0)] {
        let resp = c.call(&fetch(current, -1, 0), 12).await;
        assert_eq!(resp.responses[0].partitions[0].error_code, error);
    }
    // A fetcher whose last batch is of the current epoch has not diverged.
    let resp = c.call(&fetch(0, 0, 1), 12).await;
    let p = &resp.responses[0].partitions[0];
    assert_eq!((p.error_code, p.diverging_epoch.epoch), (0, -1));
    // Of an epoch the log never had: Kafka answers OFFSET_OUT_OF_RANGE.
    let resp = c.call(&fetch(0, 4, 1), 12).await;
    assert_eq!(resp.responses[0].partitions[0].error_code, 1);
}

#[tokio::test]
async fn list_offsets_checks_the_epoch_and_reports_the_offsets() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    produce(
        &mut c,
        TOPIC,
        1,
        batch(&[record("k", "v", 1)], Compression::None),
    )
    .await;
    let list = |current: i32| {
        ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(name(TOPIC))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(1)
                    .with_current_leader_epoch(current)
                    .with_timestamp(-1)])])
    };
    let mut answers = Vec::new();
    for current in [-1, 0, 1] {
        let resp = c.call(&list(current), 7).await;
        let p = &resp.topics[0].partitions[0];
        answers.push((p.error_code, p.offset, p.leader_epoch));
    }
    assert_eq!(
        answers,
        vec![(0, 1, 0), (0, 1, 0), (UNKNOWN_LEADER_EPOCH, -1, -1)]
    );
}
