//! What the transaction coordinator does outside itself, done by the broker: markers on
//! partitions and a committed transaction's offsets in the group coordinator.

use std::sync::{Arc, Weak};

use kafka_protocol::ResponseError as E;

use super::Broker;
use crate::error::BrokerError;
use crate::group::coordinator::OffsetToCommit;
use crate::group::now_ms;
use crate::txn::coordinator::{IoFuture, TxnIo, COORDINATOR_EPOCH};

/// Holds the broker weakly: the broker owns the coordinator that holds this.
pub(super) struct BrokerTxnIo(pub(super) Weak<Broker>);

impl BrokerTxnIo {
    fn broker(&self) -> std::result::Result<Arc<Broker>, E> {
        self.0.upgrade().ok_or(E::CoordinatorNotAvailable)
    }
}

impl TxnIo for BrokerTxnIo {
    fn write_markers(
        &self,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        partitions: Vec<(String, i32)>,
    ) -> IoFuture {
        let broker = self.broker();
        Box::pin(async move {
            let broker = broker?;
            let now = now_ms();
            let mut appended = Vec::with_capacity(partitions.len());
            for (topic, index) in &partitions {
                let Ok(partition) = broker.partition(topic, *index) else {
                    continue; // deleted meanwhile: nothing to mark
                };
                match partition.append_marker(producer_id, epoch, commit, COORDINATOR_EPOCH, now) {
                    Ok(offset) => appended.push((partition, offset)),
                    Err(BrokerError::InvalidProducerEpoch) => {
                        // A newer epoch already wrote here: this transaction's data is decided.
                        tracing::debug!(
                            topic,
                            partition = index,
                            "marker superseded by a newer epoch"
                        );
                    }
                    Err(e) => {
                        tracing::error!(topic, partition = index, error = %e, "cannot write a transaction marker");
                        return Err(E::KafkaStorageError);
                    }
                }
            }
            for (partition, offset) in appended {
                partition
                    .commit(offset)
                    .await
                    .map_err(|_| E::KafkaStorageError)?;
            }
            Ok(())
        })
    }

    fn commit_offsets(&self, group: String, offsets: Vec<OffsetToCommit>) -> IoFuture {
        let broker = self.broker();
        Box::pin(async move { broker?.groups.commit_transactional(group, offsets).await })
    }

    fn expire_producers(&self, before: i64) {
        let Ok(broker) = self.broker() else { return };
        for topic in broker.topics.all() {
            for p in topic.partitions() {
                p.expire_producers(before);
            }
        }
    }
}
