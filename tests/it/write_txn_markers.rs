//! WriteTxnMarkers (27), what `kafka-transactions abort` sends a partition's leader: the
//! marker goes through the partition's marker append (last stable offset, aborted ranges,
//! producer state), per-partition errors as Kafka's, ALTER or CLUSTER_ACTION on the cluster,
//! and what it wrote survives a restart.

use crate::acl_support;
use crate::common::*;
use crate::transactions::{
    add_partitions, broker_with, fetch, init, latest, produce_txn, s, values, READ_COMMITTED, TOPIC,
};
use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::describe_producers_response::ProducerState;
use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::ResponseError as E;

struct Marker {
    pid: i64,
    epoch: i16,
    coordinator_epoch: i32,
    transaction_version: i8,
}

fn abort(m: &Marker, topics: &[(&str, &[i32])]) -> WriteTxnMarkersRequest {
    WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
        .with_producer_id(ProducerId(m.pid))
        .with_producer_epoch(m.epoch)
        .with_transaction_result(false)
        .with_coordinator_epoch(m.coordinator_epoch)
        .with_transaction_version(m.transaction_version)
        .with_topics(
            topics
                .iter()
                .map(|(t, ps)| {
                    WritableTxnMarkerTopic::default()
                        .with_name(TopicName(s(t)))
                        .with_partition_indexes(ps.to_vec())
                })
                .collect(),
        )])
}

/// (topic, partition, code) of the one marker's answer, in order.
fn codes(r: &WriteTxnMarkersResponse) -> Vec<(String, i32, i16)> {
    assert_eq!(r.markers.len(), 1);
    r.markers[0]
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.to_string(), p.partition_index, p.error_code))
        })
        .collect()
}

async fn producer_on_0(c: &mut Client, pid: i64) -> ProducerState {
    let req = DescribeProducersRequest::default().with_topics(vec![TopicRequest::default()
        .with_name(TopicName(s(TOPIC)))
        .with_partition_indexes(vec![0])]);
    let r = c.call(&req, 0).await;
    let p = &r.topics[0].partitions[0];
    assert_eq!(p.error_code, 0);
    p.active_producers
        .iter()
        .find(|s| s.producer_id.0 == pid)
        .cloned()
        .expect("the producer is known")
}

#[tokio::test]
async fn an_abort_marker_ends_the_open_transaction_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker_with(Some(dir.path())).await;
    let mut c = Client::connect(&b).await;
    let mut p = init(&mut c, "tx-tool-abort", 60_000).await;
    assert_eq!(add_partitions(&mut c, &p, &[0], 3).await, 0);
    assert_eq!(produce_txn(&mut c, &mut p, 0, &["a", "b"]).await, (0, 0));
    assert_eq!(latest(&mut c, READ_COMMITTED).await, 0, "open at 0");
    let before = producer_on_0(&mut c, p.pid).await;
    assert_eq!(
        (before.current_txn_start_offset, before.coordinator_epoch),
        (0, -1)
    );

    let m = Marker {
        pid: p.pid,
        epoch: p.epoch,
        coordinator_epoch: 3,
        transaction_version: 0,
    };
    // Transaction version 2 wants a newer epoch while the transaction is open (Kafka 4.4).
    let strict = Marker {
        transaction_version: 2,
        ..m
    };
    let r = c.call(&abort(&strict, &[(TOPIC, &[0])]), 2).await;
    assert_eq!(
        codes(&r),
        vec![(TOPIC.into(), 0, E::InvalidProducerEpoch.code())]
    );
    let r = c
        .call(&abort(&m, &[(TOPIC, &[0, 99]), ("no-such-topic", &[0])]), 1)
        .await;
    assert_eq!(r.markers[0].producer_id.0, p.pid);
    assert_eq!(
        codes(&r),
        vec![
            (TOPIC.into(), 0, 0),
            (TOPIC.into(), 99, E::UnknownTopicOrPartition.code()),
            ("no-such-topic".into(), 0, E::UnknownTopicOrPartition.code()),
        ]
    );
    assert_eq!(latest(&mut c, READ_COMMITTED).await, 3, "the marker at 2");
    let after = producer_on_0(&mut c, p.pid).await;
    assert_eq!(
        (after.current_txn_start_offset, after.coordinator_epoch),
        (-1, 3)
    );
    // An older coordinator epoch is fenced; the same one, with nothing open, is accepted
    // (Kafka writes the marker; it ends nothing).
    let older = Marker {
        coordinator_epoch: 2,
        ..m
    };
    let r = c.call(&abort(&older, &[(TOPIC, &[0])]), 1).await;
    assert_eq!(
        codes(&r),
        vec![(TOPIC.into(), 0, E::TransactionCoordinatorFenced.code())]
    );
    let r = c.call(&abort(&m, &[(TOPIC, &[0])]), 1).await;
    assert_eq!(codes(&r), vec![(TOPIC.into(), 0, 0)]);
    assert_eq!(latest(&mut c, READ_COMMITTED).await, 4);
    b.shutdown().await;

    let b = broker_with(Some(dir.path())).await;
    let mut c = Client::connect(&b).await;
    let committed = fetch(&mut c, 0, 0, READ_COMMITTED).await;
    assert_eq!(committed.last_stable_offset, 4);
    let aborted = committed.aborted_transactions.clone().unwrap_or_default();
    assert_eq!(aborted.len(), 1, "one aborted range, from the first abort");
    assert_eq!(
        (aborted[0].producer_id.0, aborted[0].first_offset),
        (p.pid, 0)
    );
    assert_eq!(
        values(&committed),
        vec!["a", "b"],
        "the batch is returned, the client drops it"
    );
    let restarted = producer_on_0(&mut c, p.pid).await;
    assert_eq!(
        (
            restarted.current_txn_start_offset,
            restarted.coordinator_epoch
        ),
        (-1, 3)
    );
}

#[tokio::test]
async fn a_marker_older_than_the_producer_epoch_is_refused() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let mut p = init(&mut c, "tx-tool-stale", 60_000).await;
    assert_eq!(add_partitions(&mut c, &p, &[0], 3).await, 0);
    assert_eq!(produce_txn(&mut c, &mut p, 0, &["a"]).await.0, 0);
    // A new producer of the id fences the old one: its abort marker has the bumped epoch
    // (CONCURRENT_TRANSACTIONS until that marker is written).
    let req = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(s("tx-tool-stale"))))
        .with_transaction_timeout_ms(60_000);
    let mut newer = c.call(&req, 4).await;
    for _ in 0..100 {
        if newer.error_code != E::ConcurrentTransactions.code() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        newer = c.call(&req, 4).await;
    }
    assert_eq!(newer.error_code, 0);
    assert!(newer.producer_epoch > p.epoch);
    let stale = Marker {
        pid: p.pid,
        epoch: p.epoch,
        coordinator_epoch: 0,
        transaction_version: 0,
    };
    let r = c.call(&abort(&stale, &[(TOPIC, &[0])]), 1).await;
    assert_eq!(
        codes(&r),
        vec![(TOPIC.into(), 0, E::InvalidProducerEpoch.code())]
    );
}

#[tokio::test]
async fn alter_or_cluster_action_on_the_cluster_is_needed() {
    let b = acl_support::broker(None, false).await;
    let alice = acl_support::who("alice", "10.0.0.1");
    let m = Marker {
        pid: 1,
        epoch: 0,
        coordinator_epoch: 0,
        transaction_version: 0,
    };
    let req = abort(&m, &[("orders", &[0, 1])]);
    let r = acl_support::call(&b, &alice, &req, 1).await;
    let denied = E::ClusterAuthorizationFailed.code();
    assert_eq!(
        codes(&r),
        vec![("orders".into(), 0, denied), ("orders".into(), 1, denied)]
    );
    // ALTER (7) on the cluster: the markers are written ("orders" has one partition; a
    // producer this partition never saw is accepted, as by Kafka).
    acl_support::grant_cluster(&b, "User:alice", acl_support::ALTER).await;
    let r = acl_support::call(&b, &alice, &req, 1).await;
    let unknown = E::UnknownTopicOrPartition.code();
    assert_eq!(
        codes(&r),
        vec![("orders".into(), 0, 0), ("orders".into(), 1, unknown)]
    );
}
