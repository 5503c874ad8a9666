//! The transaction coordinator: every transactional id's metadata (state machine in
//! `state.rs`), persisted under `txn/<transactional id>` in the store, the markers a
//! transaction's end writes to its partitions, and the timers that abort transactions that
//! outlive their timeout and forget idle ids.
//!
//! Design (issue 15):
//! - The metadata is owned by a [`crate::coord::Runtime`] thread ([`txns::Txns`]), like the
//!   consumer groups: handlers send commands and await the answer, which comes only after the
//!   batch's one store write. No handler waits on the store on an async worker.
//! - Produce appends stay synchronous and in request order: a transactional batch is checked
//!   against the [`TxnGate`] (producer id → epoch and the partitions of its Ongoing
//!   transaction) and appended under its read lock. The runtime narrows the gate the moment a
//!   transaction leaves Ongoing — before that state is durable, long before any marker — and
//!   widens it only once a change is durable; so no batch of a transaction lands after its
//!   marker (the "hanging transaction" KIP-890 part 1 closes in Kafka). Kafka keeps the same
//!   per-partition view on each partition leader.
//! - Completing a transaction (markers, then a commit's group offsets, then Complete*) is
//!   asynchronous work: [`TxnCoordinator::complete`] runs it on the caller's task between two
//!   runtime commands (begin: Prepare durable, the id marked completing; finish: Complete*
//!   durable). EndTxn does it before answering; transactions that time out, are fenced by
//!   InitProducerId or were left in Prepare* by a crash are handed by the runtime to
//!   [`run_driver`].
//! - Markers and offsets go out through [`TxnIo`], given to [`TxnCoordinator::attach`] by
//!   whoever owns the partitions and groups (the broker); this module knows neither.

#[cfg(test)]
mod tests;
mod txns;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use kafka_protocol::ResponseError as E;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::gate::TxnGate;
use super::state::{PendingOffset, TxnMetadata, TxnState};
use crate::coord::Runtime;
use crate::error::{BrokerError, Result};
use crate::group::coordinator::OffsetToCommit;
use crate::group::now_ms;
use crate::log::batch::BatchHeader;
use crate::meta::Partition;
use crate::partition::Appended;
use crate::store::{KvStore, StoreError};
use txns::{Txns, EXPIRY_CHECK};

/// gregor is the only coordinator there is: its epoch never changes.
pub const COORDINATOR_EPOCH: i32 = 0;

/// What the transaction coordinator's I/O futures resolve to.
pub type IoFuture = Pin<Box<dyn Future<Output = std::result::Result<(), E>> + Send>>;

/// The effects a transaction has outside its coordinator.
pub trait TxnIo: Send + Sync + 'static {
    /// Append the marker of (producer id, epoch) — commit or abort — to each partition that
    /// still exists, and resolve once all are durable. A partition where a newer epoch
    /// already wrote is skipped (that producer's data there is decided).
    fn write_markers(
        &self,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        partitions: Vec<(String, i32)>,
    ) -> IoFuture;
    /// Commit a committed transaction's offsets to the group coordinator (no member checks:
    /// they were made when the transaction took them).
    fn commit_offsets(&self, group: String, offsets: Vec<OffsetToCommit>) -> IoFuture;
    /// Forget, on every partition, producers whose last batch is older than `before` (ms).
    fn expire_producers(&self, before: i64);
    /// Cluster mode, on a partition leader that does not coordinate transactions: have the
    /// coordinator add `partitions` (led here) to transaction `id` of (producer id, epoch),
    /// as transactions v2's produce does, unless the producer is verified on them already.
    /// Blocks until answered.
    fn add_through_coordinator(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: Vec<(String, i32)>,
    ) -> std::result::Result<(), E>;
}

/// A transaction as DescribeTransactions/ListTransactions show it.
#[derive(Debug, Clone)]
pub struct TxnSummary {
    pub transactional_id: String,
    pub metadata: TxnMetadata,
}

struct Shared {
    runtime: Runtime<Txns>,
    gate: Arc<TxnGate>,
    /// Where a broker that does not coordinate reads transactions to verify produce against.
    store: Arc<dyn KvStore>,
    io: OnceLock<Arc<dyn TxnIo>>,
    /// What the runtime hands to [`run_driver`].
    completions: Mutex<Option<mpsc::UnboundedReceiver<String>>>,
    max_timeout_ms: i32,
}

/// The handle API handlers use; clones share one coordinator.
#[derive(Clone)]
pub struct TxnCoordinator {
    shared: Arc<Shared>,
}

impl TxnCoordinator {
    /// Load every transactional id from the store and start the runtime. Transactions found
    /// in a Prepare state get their markers from [`run_driver`] as soon as the broker runs.
    /// `serving`: load the transactions and serve them; else (in cluster mode, another
    /// broker coordinates) hold none and answer NOT_COORDINATOR until [`Self::take_over`].
    pub fn open(
        store: Arc<dyn KvStore>,
        max_timeout_ms: i32,
        id_expiration_ms: i64,
        serving: bool,
    ) -> anyhow::Result<Self> {
        let gate = Arc::new(TxnGate::default());
        let (tx, rx) = mpsc::unbounded_channel();
        let mut txns = Txns::new(store.clone(), gate.clone(), tx, id_expiration_ms, now_ms());
        if serving {
            txns.load()?;
        }
        let coordinator = Self {
            shared: Arc::new(Shared {
                runtime: Runtime::start("txns", txns, store.clone())?,
                gate,
                store,
                io: OnceLock::new(),
                completions: Mutex::new(Some(rx)),
                max_timeout_ms,
            }),
        };
        coordinator.shared.runtime.set_serving(serving);
        Ok(coordinator)
    }

    /// Become the coordinator (cluster mode): load every transaction the store holds, then
    /// serve. Blocks until loaded.
    pub fn take_over(&self) -> anyhow::Result<()> {
        self.shared
            .runtime
            .run_blocking(|t, now| t.take_over(now))
            .unwrap_or_else(|| Err(anyhow::anyhow!("the transaction coordinator has stopped")))?;
        self.shared.runtime.set_serving(true);
        Ok(())
    }

    /// Where markers and offsets go; set once, when the broker exists.
    pub fn attach(&self, io: Arc<dyn TxnIo>) {
        let _ = self.shared.io.set(io);
    }

    fn io(&self) -> std::result::Result<&Arc<dyn TxnIo>, E> {
        self.shared.io.get().ok_or(E::CoordinatorNotAvailable)
    }

    /// Write what is pending and stop the runtime; later calls answer
    /// COORDINATOR_NOT_AVAILABLE.
    pub fn shutdown(&self) {
        self.shared.runtime.shutdown();
    }

    /// A producer id never handed out before (idempotent producers' InitProducerId).
    pub async fn new_producer_id(&self) -> std::result::Result<i64, BrokerError> {
        // Any broker gives out producer ids (blocks claimed in the shared store).
        let id = self.shared.runtime.call_any(|t, _, tx| {
            let id = t.new_producer_id();
            crate::coord::runtime::Machine::batch(t).reply(tx, id);
        });
        match id.await {
            Ok(r) => Ok(r?),
            Err(e) => Err(BrokerError::Store(StoreError(format!(
                "the transaction coordinator is not available ({e:?})"
            )))),
        }
    }

    /// InitProducerId with a transactional id: (producer id, epoch).
    pub async fn init_producer_id(
        &self,
        id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> std::result::Result<(i64, i16), E> {
        if id.is_empty() {
            return Err(E::InvalidRequest);
        }
        if timeout_ms <= 0 || timeout_ms > self.shared.max_timeout_ms {
            return Err(E::InvalidTransactionTimeout);
        }
        let id = id.to_string();
        self.shared
            .runtime
            .call(move |t, now, tx| t.init_producer_id(&id, timeout_ms, expected, now, tx))
            .await?
    }

    pub async fn add_partitions(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: Vec<(String, i32)>,
    ) -> std::result::Result<(), E> {
        let id = id.to_string();
        self.shared
            .runtime
            .call(move |t, now, tx| t.add_partitions(&id, producer_id, epoch, partitions, now, tx))
            .await?
    }

    /// AddPartitionsToTxn v4+ VerifyOnly: whether each partition is in the ongoing
    /// transaction of (producer id, epoch); nothing changes.
    pub async fn verify_partitions(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: Vec<(String, i32)>,
    ) -> std::result::Result<Vec<bool>, E> {
        let id = id.to_string();
        self.shared
            .runtime
            .query(move |t, _| t.verify_partitions(&id, producer_id, epoch, &partitions))
            .await?
    }

    pub async fn add_group(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        group: &str,
    ) -> std::result::Result<(), E> {
        let (id, group) = (id.to_string(), group.to_string());
        self.shared
            .runtime
            .call(move |t, now, tx| t.add_group(&id, producer_id, epoch, &group, now, tx))
            .await?
    }

    /// TxnOffsetCommit: the offsets wait in the transaction until it commits.
    pub async fn commit_offsets(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        group: &str,
        offsets: Vec<(String, i32, PendingOffset)>,
        implicit_add: bool,
    ) -> std::result::Result<(), E> {
        let (id, group) = (id.to_string(), group.to_string());
        self.shared
            .runtime
            .call(move |t, now, tx| {
                t.commit_offsets(
                    &id,
                    producer_id,
                    epoch,
                    &group,
                    offsets,
                    implicit_add,
                    now,
                    tx,
                )
            })
            .await?
    }

    /// The group's partitions whose offset a transaction holds, not yet committed (OffsetFetch
    /// with require_stable answers UNSTABLE_OFFSET_COMMIT for them).
    pub async fn pending_offsets(
        &self,
        group: &str,
    ) -> std::result::Result<HashSet<(String, i32)>, E> {
        let group = group.to_string();
        self.shared
            .runtime
            .query(move |t, _| t.pending_offsets(&group))
            .await
    }

    /// EndTxn: write the markers, make the group offsets visible (commit), and answer once the
    /// transaction is complete.
    pub async fn end(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
    ) -> std::result::Result<(), E> {
        let owned = id.to_string();
        let prepared = self
            .shared
            .runtime
            .call(move |t, now, tx| t.end(&owned, producer_id, epoch, commit, now, tx))
            .await??;
        if prepared {
            self.complete(id).await?;
        }
        Ok(())
    }

    /// EndTxn v5 (transactions v2): as [`Self::end`], with the epoch bumped; answers the
    /// producer id and epoch the client's next transaction uses.
    pub async fn end_v2(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
    ) -> std::result::Result<(i64, i16), E> {
        let owned = id.to_string();
        let (prepared, next) = self
            .shared
            .runtime
            .call(move |t, now, tx| t.end_v2(&owned, producer_id, epoch, commit, now, tx))
            .await??;
        if prepared {
            self.complete(id).await?;
        }
        Ok(next)
    }

    /// Whether this broker coordinates transactions (always on one node; in cluster mode the
    /// holder of the coordinator's lease).
    pub fn coordinates(&self) -> bool {
        self.shared.runtime.is_serving()
    }

    /// Produce v12+ (transactions v2): add to the transaction of (producer id, epoch) those of
    /// `partitions` it does not hold yet, as Kafka's partition leader does through
    /// AddPartitionsToTxn before appending. Blocks until that is durable (the produce path
    /// appends synchronously, in request order); a no-op when nothing is missing. A broker
    /// that does not coordinate asks the coordinator through [`TxnIo`].
    pub fn add_for_produce(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: Vec<(String, i32)>,
    ) -> std::result::Result<(), E> {
        if !self.coordinates() {
            let io = self.io()?;
            return crate::blocking::block_in_place(|| {
                io.add_through_coordinator(id, producer_id, epoch, partitions)
            });
        }
        let gate = &self.shared.gate;
        let missing: Vec<_> = partitions
            .into_iter()
            .filter(|p| gate.needs_add(producer_id, epoch, p))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let add = self.add_partitions(id, producer_id, epoch, missing);
        crate::blocking::block_in_place(|| futures::executor::block_on(add))
    }

    /// Append a transactional batch after checking that its producer's ongoing transaction
    /// holds the partition (Kafka's produce-time verification); see [`TxnGate`]. In cluster
    /// mode a broker that is not the coordinator reads the transaction `txn_id` from the
    /// database instead, once per producer and partition until its next marker (see
    /// `partition::verification`).
    pub fn append_transactional(
        &self,
        partition: &Partition,
        header: &BatchHeader,
        batch: Bytes,
        txn_id: Option<&str>,
        now: i64,
    ) -> Result<Appended> {
        if !self.shared.runtime.is_serving() {
            self.verify_stored(partition, header, txn_id)?;
            return partition.append_verified(header, batch, now);
        }
        let target = (partition.topic.clone(), partition.index);
        self.shared
            .gate
            .append(header.producer_id, header.producer_epoch, &target, || {
                partition.append(header, batch, now)
            })
            .map_err(BrokerError::Transaction)?
    }

    /// Verify a batch against the stored transaction unless its producer was verified on this
    /// partition since its last marker.
    fn verify_stored(
        &self,
        partition: &Partition,
        header: &BatchHeader,
        txn_id: Option<&str>,
    ) -> Result<()> {
        let (producer_id, epoch) = (header.producer_id, header.producer_epoch);
        if partition.is_verified(producer_id, epoch) {
            return Ok(());
        }
        let refused = |e| BrokerError::Transaction(e);
        let id = txn_id.ok_or(refused(E::InvalidTxnState))?;
        let token = partition.begin_verification(producer_id, epoch);
        let checked = crate::blocking::block_in_place(|| txns::stored(&*self.shared.store, id))
            .and_then(|stored| {
                let target = (partition.topic.clone(), partition.index);
                TxnGate::check(stored.as_ref(), producer_id, epoch, &target).map_err(refused)
            });
        if let Err(e) = checked {
            // No guard stays behind for a producer id that was refused (any id a client sends).
            partition.abandon_verification(producer_id, token);
            return Err(e);
        }
        if !partition.confirm_verification(producer_id, token) {
            return Err(refused(E::InvalidTxnState));
        }
        Ok(())
    }

    /// Finish a transaction in a Prepare state: markers on every partition (durable), then
    /// the group offsets of a commit, then Complete*. Safe to call again after a failure.
    pub async fn complete(&self, id: &str) -> std::result::Result<(), E> {
        let runtime = &self.shared.runtime;
        let owned = id.to_string();
        let Some(snapshot) = runtime
            .call(move |t, now, tx| t.begin_completion(&owned, now, tx))
            .await??
        else {
            return Ok(());
        };
        let result = self.write_effects(&snapshot).await;
        let owned = id.to_string();
        runtime
            .call(move |t, now, tx| t.finish_completion(&owned, result, now, tx))
            .await?
    }

    async fn write_effects(&self, m: &TxnMetadata) -> std::result::Result<(), E> {
        let io = self.io()?;
        let commit = m.state == TxnState::PrepareCommit;
        let partitions = m.partitions.iter().cloned().collect();
        io.write_markers(m.producer_id, m.producer_epoch, commit, partitions)
            .await?;
        if !commit {
            return Ok(());
        }
        let mut by_group: HashMap<&str, Vec<OffsetToCommit>> = HashMap::new();
        for ((group, topic, partition), o) in &m.offsets {
            by_group.entry(group).or_default().push(OffsetToCommit {
                topic: topic.clone(),
                partition: *partition,
                offset: o.offset,
                leader_epoch: o.leader_epoch,
                metadata: o.metadata.clone(),
            });
        }
        for (group, offsets) in by_group {
            io.commit_offsets(group.to_string(), offsets).await?;
        }
        Ok(())
    }

    pub async fn describe(
        &self,
        ids: Vec<String>,
    ) -> std::result::Result<Vec<Option<TxnMetadata>>, E> {
        self.shared
            .runtime
            .query(move |t, _| t.describe(&ids))
            .await
    }

    pub async fn list(&self) -> std::result::Result<Vec<TxnSummary>, E> {
        self.shared.runtime.query(|t, _| t.list()).await
    }
}

/// Complete the transactions the runtime hands over (timed out, fenced, or left in a Prepare
/// state by a crash), one at a time, and expire idle producers on every partition, until
/// shutdown.
pub async fn run_driver(
    txns: TxnCoordinator,
    producer_id_expiration_ms: i64,
    shutdown: CancellationToken,
) {
    let completions = txns
        .shared
        .completions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    let Some(mut completions) = completions else {
        return; // another driver runs
    };
    // The first check one interval after start-up, as Kafka's (a producer whose state was just
    // restored is not judged before its clients had a chance to come back).
    let mut expiry =
        tokio::time::interval_at(tokio::time::Instant::now() + EXPIRY_CHECK, EXPIRY_CHECK);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            id = completions.recv() => {
                let Some(id) = id else { return };
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = txns.complete(&id) => {}
                }
            }
            _ = expiry.tick() => {
                if let Ok(io) = txns.io() {
                    io.expire_producers(now_ms().saturating_sub(producer_id_expiration_ms));
                }
            }
        }
    }
}
