//! What the transaction coordinator does outside itself, wired by the composition root:
//! markers on partitions (topics service) and a committed transaction's offsets (group
//! coordinator).

use std::sync::{Arc, Weak};

use kafka_protocol::ResponseError as E;

use crate::error::BrokerError;
use crate::group::coordinator::OffsetToCommit;
use crate::group::now_ms;
use crate::group::GroupCoordinator;
use crate::topics::Topics;
use crate::txn::coordinator::{IoFuture, TxnIo, COORDINATOR_EPOCH};

/// Holds the topics weakly: they are closed at shutdown while the coordinator may still be
/// finishing a batch.
pub(super) struct LocalTxnIo {
    topics: Weak<Topics>,
    groups: Arc<GroupCoordinator>,
}

impl LocalTxnIo {
    pub(super) fn new(topics: &Arc<Topics>, groups: Arc<GroupCoordinator>) -> Self {
        Self {
            topics: Arc::downgrade(topics),
            groups,
        }
    }

    fn topics(&self) -> std::result::Result<Arc<Topics>, E> {
        self.topics.upgrade().ok_or(E::CoordinatorNotAvailable)
    }
}

impl TxnIo for LocalTxnIo {
    fn write_markers(
        &self,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        partitions: Vec<(String, i32)>,
    ) -> IoFuture {
        let topics = self.topics();
        Box::pin(async move {
            let topics = topics?;
            let now = now_ms();
            let mut appended = Vec::with_capacity(partitions.len());
            for (topic, index) in &partitions {
                let partition = match topics.partition(topic, *index) {
                    Ok(p) => p,
                    // Cluster mode: led by another broker now. Markers there are not written
                    // yet (see the README): the completion fails and is tried again, rather
                    // than leaving a transaction open there for good.
                    Err(BrokerError::NotLeaderOrFollower) => {
                        tracing::warn!(topic, partition = index, "cannot write a transaction marker on a partition another broker leads");
                        return Err(E::NotLeaderOrFollower);
                    }
                    Err(_) => continue, // deleted meanwhile: nothing to mark
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
        let groups = self.groups.clone();
        Box::pin(async move { groups.commit_transactional(group, offsets).await })
    }

    fn expire_producers(&self, before: i64) {
        let Ok(topics) = self.topics() else { return };
        for topic in topics.all() {
            for p in topic.partitions() {
                p.expire_producers(before);
            }
        }
    }
}
