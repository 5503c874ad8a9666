//! What the transaction coordinator does outside itself, wired by the composition root:
//! markers on partitions (topics service) and a committed transaction's offsets (group
//! coordinator).

use std::sync::{Arc, Weak};
use std::time::Duration;

use kafka_protocol::ResponseError as E;

use crate::error::BrokerError;
use crate::group::coordinator::OffsetToCommit;
use crate::group::now_ms;
use crate::group::GroupCoordinator;
use crate::partition::MarkerSpec;
use crate::pg::{markers, txn_adds, Db};
use crate::topics::{self, Topics};
use crate::txn::coordinator::{IoFuture, TxnIo, COORDINATOR_EPOCH};

/// Holds the topics weakly: they are closed at shutdown while the coordinator may still be
/// finishing a batch.
pub(super) struct LocalTxnIo {
    topics: Weak<Topics>,
    groups: Arc<GroupCoordinator>,
    /// Cluster mode: where markers for partitions other brokers lead are queued.
    cluster: Option<Db>,
}

/// How long the coordinator waits for other brokers to write its markers before the
/// completion fails (and is tried again).
const REMOTE_MARKERS_TIMEOUT: Duration = Duration::from_secs(15);

/// How long a partition leader waits for the coordinator to add a Produce's partitions to a
/// transaction before the produce is answered with a retriable error.
const REMOTE_ADD_TIMEOUT: Duration = Duration::from_secs(5);

impl LocalTxnIo {
    pub(super) fn new(
        topics: &Arc<Topics>,
        groups: Arc<GroupCoordinator>,
        cluster: Option<Db>,
    ) -> Self {
        Self {
            topics: Arc::downgrade(topics),
            groups,
            cluster,
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
        let cluster = self.cluster.clone();
        Box::pin(async move {
            let topics = topics?;
            let now = now_ms();
            let mut appended = Vec::with_capacity(partitions.len());
            let mut elsewhere = Vec::new();
            for (topic, index) in &partitions {
                let partition = match topics.partition(topic, *index) {
                    Ok(p) => p,
                    // Cluster mode: another broker leads it and writes the marker.
                    Err(BrokerError::NotLeaderOrFollower) => {
                        elsewhere.push(topics::log_name(topic, *index));
                        continue;
                    }
                    Err(_) => continue, // deleted meanwhile: nothing to mark
                };
                let marker = MarkerSpec {
                    producer_id,
                    producer_epoch: epoch,
                    commit,
                    coordinator_epoch: COORDINATOR_EPOCH,
                    transaction_version: 0,
                };
                match partition.append_marker(&marker, now) {
                    Ok(offset) => appended.push((partition, offset)),
                    // A newer producer epoch, or a marker written with a newer coordinator
                    // epoch (WriteTxnMarkers, `kafka-transactions abort`), already decided this
                    // transaction's data here.
                    Err(
                        e @ (BrokerError::InvalidProducerEpoch
                        | BrokerError::Transaction(E::TransactionCoordinatorFenced)),
                    ) => {
                        tracing::debug!(
                            topic,
                            partition = index,
                            error = %e,
                            "marker superseded"
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
            match cluster {
                Some(db) if !elsewhere.is_empty() => {
                    remote_markers(db, elsewhere, producer_id, epoch, commit).await
                }
                _ => Ok(()),
            }
        })
    }

    fn commit_offsets(&self, group: String, offsets: Vec<OffsetToCommit>) -> IoFuture {
        let groups = self.groups.clone();
        Box::pin(async move { groups.commit_transactional(group, offsets).await })
    }

    fn add_through_coordinator(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: Vec<(String, i32)>,
    ) -> std::result::Result<(), E> {
        let Some(db) = &self.cluster else {
            return Err(E::CoordinatorNotAvailable); // one node always coordinates
        };
        let topics = self.topics()?;
        // Kafka's verification guard on each partition (`partition::verification`): a marker
        // of this producer while the coordinator adds means its transaction ended meanwhile.
        let mut guarded = Vec::new();
        // A partition named twice in one request gets one guard (a second would replace it).
        let partitions: std::collections::HashSet<_> = partitions.into_iter().collect();
        for (topic, index) in partitions {
            // Not led here (any more): the append answers for it.
            let Ok(partition) = topics.partition(&topic, index) else {
                continue;
            };
            if !partition.is_verified(producer_id, epoch) {
                let token = partition.begin_verification(producer_id, epoch);
                guarded.push((partition, token, (topic, index)));
            }
        }
        if guarded.is_empty() {
            return Ok(());
        }
        let asked: Vec<_> = guarded.iter().map(|(_, _, p)| p.clone()).collect();
        let answer = match txn_adds::request(db, id, producer_id, epoch, &asked, REMOTE_ADD_TIMEOUT)
        {
            Ok(Some(0)) => Ok(()),
            Ok(Some(code)) => Err(E::try_from_code(code).unwrap_or(E::UnknownServerError)),
            Ok(None) => {
                tracing::warn!(
                    producer_id,
                    "the transaction coordinator did not add partitions in time"
                );
                Err(E::CoordinatorNotAvailable)
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "could not ask the transaction coordinator to add partitions");
                Err(E::CoordinatorNotAvailable)
            }
        };
        let mut confirmed = true;
        for (partition, token, _) in guarded {
            if answer.is_ok() {
                confirmed &= partition.confirm_verification(producer_id, token);
            } else {
                partition.abandon_verification(producer_id, token);
            }
        }
        match answer {
            Ok(()) if !confirmed => Err(E::InvalidTxnState),
            answer => answer,
        }
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

/// Queue the markers of partitions other brokers lead and wait until they are written.
async fn remote_markers(
    db: Db,
    logs: Vec<String>,
    producer_id: i64,
    epoch: i16,
    commit: bool,
) -> std::result::Result<(), E> {
    let queue = db.clone();
    let ids = tokio::task::spawn_blocking(move || {
        markers::enqueue(&queue, &logs, producer_id, epoch, commit)
    })
    .await
    .map_err(|_| E::KafkaStorageError)?
    .map_err(|e| {
        tracing::warn!(error = %format!("{e:#}"), "could not queue transaction markers");
        E::KafkaStorageError
    })?;
    let deadline = tokio::time::Instant::now() + REMOTE_MARKERS_TIMEOUT;
    loop {
        let (db, ids) = (db.clone(), ids.clone());
        let left = tokio::task::spawn_blocking(move || markers::pending(&db, &ids))
            .await
            .map_err(|_| E::KafkaStorageError)?
            .unwrap_or(i64::MAX);
        if left == 0 {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(
                producer_id,
                left,
                "transaction markers not written by the partitions' leaders in time"
            );
            return Err(E::RequestTimedOut);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
