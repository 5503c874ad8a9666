//! WriteTxnMarkers (27), v1–v2: write commit/abort markers to partitions this broker leads.
//! Kafka's coordinators send it to partition leaders; here the transaction coordinator writes
//! its markers in-process, so this serves the Admin API's `abortTransaction`
//! (`kafka-transactions abort`, KIP-664), which ends a hanging transaction on one partition.
//!
//! As Kafka's `handleWriteTxnMarkersRequest`: ALTER on the cluster, else CLUSTER_ACTION (else
//! every partition CLUSTER_AUTHORIZATION_FAILED); per partition UNKNOWN_TOPIC_OR_PARTITION
//! for one that does not exist, NOT_LEADER_OR_FOLLOWER where another broker leads it (cluster
//! mode), else the marker goes through the partition's marker append — the transaction
//! coordinator's path: producer checks (INVALID_PRODUCER_EPOCH, TRANSACTION_COORDINATOR_FENCED),
//! open transaction and aborted range, last stable offset, producer-state snapshot — and is
//! answered once durable. A marker for a producer with no transaction open there is written
//! and accepted, as Kafka does (it ends nothing).

use kafka_protocol::messages::write_txn_markers_request::WritableTxnMarker;
use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{WriteTxnMarkersRequest, WriteTxnMarkersResponse};
use kafka_protocol::ResponseError as E;

use super::RequestContext;
use crate::clock::now_ms;
use crate::partition::MarkerSpec;
use crate::security::acl::AclOperation;

/// The first version with the marker's transaction version (KIP-1228).
const TRANSACTION_VERSION_FIELD: i16 = 2;

pub async fn handle(ctx: RequestContext, req: WriteTxnMarkersRequest) -> WriteTxnMarkersResponse {
    // Kafka 4.4: ALTER on the cluster (an operator's abort) or CLUSTER_ACTION (a broker).
    let allowed = ctx.authorize_cluster(AclOperation::Alter)
        || ctx.authorize_cluster(AclOperation::ClusterAction);
    let mut markers = Vec::with_capacity(req.markers.len());
    for marker in req.markers {
        markers.push(if allowed {
            write(&ctx, marker).await
        } else {
            every_partition(&marker, E::ClusterAuthorizationFailed.code())
        });
    }
    WriteTxnMarkersResponse::default().with_markers(markers)
}

/// One marker: appended to each of its partitions (in request order), then awaited durable.
async fn write(ctx: &RequestContext, marker: WritableTxnMarker) -> WritableTxnMarkerResult {
    let spec = MarkerSpec {
        producer_id: marker.producer_id.0,
        producer_epoch: marker.producer_epoch,
        commit: marker.transaction_result,
        coordinator_epoch: marker.coordinator_epoch,
        transaction_version: if ctx.version() >= TRANSACTION_VERSION_FIELD {
            marker.transaction_version
        } else {
            0
        },
    };
    let now = now_ms();
    let topics = ctx.topics();
    // (topic position, partition index, the appended partition and its marker's offset, or
    // the error code).
    let mut pending = Vec::new();
    for (t, topic) in marker.topics.iter().enumerate() {
        for &index in &topic.partition_indexes {
            let appended = topics
                .partition(&topic.name, index)
                .and_then(|p| p.append_marker(&spec, now).map(|offset| (p, offset)));
            pending.push((t, index, appended));
        }
    }
    let mut results: Vec<WritableTxnMarkerTopicResult> = marker
        .topics
        .iter()
        .map(|topic| WritableTxnMarkerTopicResult::default().with_name(topic.name.clone()))
        .collect();
    for (t, index, appended) in pending {
        let code = match appended {
            Ok((partition, offset)) => match partition.commit(offset).await {
                Ok(()) => 0,
                Err(e) => e.code(),
            },
            Err(e) => e.code(),
        };
        results[t].partitions.push(
            WritableTxnMarkerPartitionResult::default()
                .with_partition_index(index)
                .with_error_code(code),
        );
    }
    WritableTxnMarkerResult::default()
        .with_producer_id(marker.producer_id)
        .with_topics(results)
}

/// The same code for every partition of the marker (the refused request, as Kafka's
/// `getErrorResponse`).
fn every_partition(marker: &WritableTxnMarker, code: i16) -> WritableTxnMarkerResult {
    let topics = marker
        .topics
        .iter()
        .map(|topic| {
            WritableTxnMarkerTopicResult::default()
                .with_name(topic.name.clone())
                .with_partitions(
                    topic
                        .partition_indexes
                        .iter()
                        .map(|&index| {
                            WritableTxnMarkerPartitionResult::default()
                                .with_partition_index(index)
                                .with_error_code(code)
                        })
                        .collect(),
                )
        })
        .collect();
    WritableTxnMarkerResult::default()
        .with_producer_id(marker.producer_id)
        .with_topics(topics)
}
