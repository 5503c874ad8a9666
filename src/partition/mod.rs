//! One partition: its log behind a lock, group-commit fsync outside that lock, and the high
//! watermark that fetchers wait on.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::watch;

use crate::error::{BrokerError, Result};
use crate::log::batch::{self, BatchHeader, HEADER_LEN};
use crate::log::cleaner::{CleanStats, Compaction};
use crate::log::damage::Damage;
use crate::log::retention::Retention;
use crate::log::scrub::{self, Pace};
use crate::log::{AppendInfo, LogConfig, LogError, PartitionLog, Region};
use crate::metrics::{Histogram, Integrity, Traffic};

mod committed;
pub mod marker;
mod producers;
mod recovery;
mod snapshot;
mod txns;
mod verification;

use kafka_protocol::ResponseError;
pub use marker::MarkerSpec;
pub use producers::ProducerView;
use producers::{MarkerRefusal, ProducerStates, Verdict};
pub use txns::AbortedTxn;
use txns::PartitionTxns;

/// The log and what is derived from its contents, changed together under one lock.
struct State {
    log: PartitionLog,
    producers: ProducerStates,
    txns: PartitionTxns,
    verifications: verification::Verifications,
}

/// The outcome of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub info: AppendInfo,
    /// A retried batch of an idempotent producer: nothing was written.
    pub duplicate: bool,
}

/// Batches read for a fetch: bytes (memory logs) or regions of segments for the medium to
/// send as they are (zero-copy: sendfile from disk).
#[derive(Debug)]
pub enum Records {
    Bytes(Bytes),
    Regions(Vec<Region>),
}

impl Records {
    pub fn len(&self) -> usize {
        match self {
            Records::Bytes(b) => b.len(),
            Records::Regions(regions) => regions.iter().map(|r| r.len() as usize).sum(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records in these batches (by their headers' counts).
    pub fn record_count(&self) -> u64 {
        match self {
            Records::Bytes(bytes) => batch::headers(bytes)
                .map(|(_, h)| h.records_count.max(0) as u64)
                .sum(),
            Records::Regions(regions) => regions.iter().map(|r| r.records()).sum(),
        }
    }
}

/// When appended data counts as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Acknowledge and expose to consumers only after an fsync covers the data.
    Fsync,
    /// Acknowledge at once; a background flusher fsyncs later (or never).
    Deferred,
}

pub struct Partition {
    pub topic: String,
    pub index: i32,
    state: Mutex<State>,
    durability: Durability,
    /// Serialises fsyncs: whoever holds it syncs everything appended so far (group commit).
    sync_lock: tokio::sync::Mutex<()>,
    /// Log end offset known to be durable.
    synced: AtomicI64,
    /// High watermark: what consumers may read. Fetchers wait on its changes.
    high_watermark: watch::Sender<i64>,
    /// Produced and fetched bytes and records, for /metrics.
    pub traffic: Traffic,
    /// Damage found on disk, for /metrics.
    pub integrity: Integrity,
    /// Every group-commit fsync's duration (shared by the broker's partitions).
    fsync_latency: Arc<Histogram>,
    /// False for a partition another broker of the cluster leads: an empty stand-in that
    /// answers NOT_LEADER_OR_FOLLOWER (see `meta::Topic::led_partition`). Also turned false
    /// when a commit finds another broker leading now: from then on this copy answers as a
    /// stand-in, before the tick replaces it.
    led: AtomicBool,
}

impl Partition {
    pub fn new(
        topic: &str,
        index: i32,
        mut log: PartitionLog,
        durability: Durability,
        fsync_latency: Arc<Histogram>,
    ) -> Result<Self> {
        let end = log.log_end_offset();
        let (producers, txns) = recovery::producer_state(&log, topic, index)?;
        let integrity = Integrity::default();
        let report = log.take_recovery_report();
        report.log(topic, index);
        integrity.recovered(
            report.bytes_truncated(),
            report.indexes_rebuilt.len() as u64,
            report.segments_scanned,
        );
        for e in &report.damaged {
            integrity.recovery_errors.fetch_add(1, Ordering::Relaxed);
            report_damage(topic, index, &integrity, &e.0, "start-up recovery");
        }
        Ok(Self {
            topic: topic.to_string(),
            index,
            state: Mutex::new(State {
                log,
                producers,
                txns,
                verifications: Default::default(),
            }),
            durability,
            sync_lock: tokio::sync::Mutex::new(()),
            synced: AtomicI64::new(end),
            high_watermark: watch::Sender::new(end),
            traffic: Traffic::default(),
            integrity,
            fsync_latency,
            led: AtomicBool::new(true),
        })
    }

    /// A stand-in for a partition another broker leads (cluster mode).
    pub fn led_elsewhere(topic: &str, index: i32, fsync_latency: Arc<Histogram>) -> Result<Self> {
        let log = PartitionLog::open(crate::log::Backing::Memory, LogConfig::default())?;
        let mut partition = Self::new(topic, index, log, Durability::Deferred, fsync_latency)?;
        partition.led = AtomicBool::new(false);
        Ok(partition)
    }

    /// Whether this broker leads the partition (always, outside cluster mode).
    pub fn is_led(&self) -> bool {
        self.led.load(Ordering::Acquire)
    }

    /// This broker no longer leads the partition (another copy replaced this one, or another
    /// broker took it): from now on this copy answers as a stand-in, as after a fenced commit.
    pub fn set_not_led(&self) {
        self.led.store(false, Ordering::Release);
    }

    /// Check every segment's batches (see [`crate::log::scrub`]) at the pace `pace` sets,
    /// holding the lock only to list the segments and to record damage; damage found is
    /// logged, counted and from then on not served. False if `pace` said stop.
    pub fn scrub(&self, pace: &mut dyn Pace) -> bool {
        let targets = self.state().log.scrub_targets();
        for target in targets {
            match scrub::scrub(&target, pace) {
                Ok(None) => return false,
                Ok(Some(found)) if found.is_empty() => {}
                Ok(Some(found)) => {
                    let new = self.state().log.add_damage(&target, found);
                    for d in new {
                        report_damage(&self.topic, self.index, &self.integrity, &d, "scrub");
                    }
                }
                Err(e) => {
                    tracing::warn!(topic = %self.topic, partition = self.index, segment = %target.path.display(), error = %e, "scrub could not read a segment");
                }
            }
        }
        true
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is only mutated by whole appends; a panic elsewhere must not wedge it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Append one validated batch, unless it is an idempotent producer's retry (then its
    /// original offsets come back) or out of sequence. Call [`Partition::commit`] with the
    /// returned last offset before acknowledging: it makes the data durable and visible
    /// according to the policy.
    pub fn append(&self, header: &BatchHeader, batch: Bytes, now_ms: i64) -> Result<Appended> {
        self.append_checked(header, batch, now_ms, |_| Ok(()))
    }

    /// [`Self::append`] if `check` passes, under the same lock.
    fn append_checked(
        &self,
        header: &BatchHeader,
        batch: Bytes,
        now_ms: i64,
        check: impl FnOnce(&verification::Verifications) -> Result<()>,
    ) -> Result<Appended> {
        let mut state = self.state();
        check(&state.verifications)?;
        match state.producers.check(header) {
            Verdict::Append => {}
            Verdict::Duplicate {
                first_offset,
                last_offset,
            } => {
                let info = AppendInfo {
                    first_offset,
                    last_offset,
                    log_append_time: -1,
                };
                return Ok(Appended {
                    info,
                    duplicate: true,
                });
            }
            Verdict::OutOfOrder => return Err(BrokerError::OutOfOrderSequence),
            Verdict::StaleEpoch => return Err(BrokerError::InvalidProducerEpoch),
        }
        let info = self.append_to_log(&mut state, batch, now_ms)?;
        state
            .producers
            .record(header, info.first_offset, info.last_offset);
        if header.is_transactional() {
            state.txns.on_data(header.producer_id, info.first_offset);
        }
        drop(state);
        if self.durability == Durability::Deferred {
            self.publish(info.last_offset + 1);
        }
        Ok(Appended {
            info,
            duplicate: false,
        })
    }

    /// Append a transaction marker (control batch) for the producer; returns its offset. Call
    /// [`Partition::commit`] with it before the transaction counts as complete. Both the
    /// transaction coordinator and WriteTxnMarkers (`kafka-transactions abort`) come here; the
    /// producer checks are Kafka's (`ProducerStates::check_marker`): INVALID_PRODUCER_EPOCH,
    /// TRANSACTION_COORDINATOR_FENCED.
    pub fn append_marker(&self, m: &MarkerSpec, now_ms: i64) -> Result<i64> {
        let mut state = self.state();
        let open = state.txns.is_open(m.producer_id);
        state
            .producers
            .check_marker(
                m.producer_id,
                m.producer_epoch,
                m.coordinator_epoch,
                m.transaction_version,
                open,
            )
            .map_err(|refused| match refused {
                MarkerRefusal::StaleEpoch => BrokerError::InvalidProducerEpoch,
                MarkerRefusal::CoordinatorFenced => {
                    BrokerError::Transaction(ResponseError::TransactionCoordinatorFenced)
                }
            })?;
        let batch = marker::control_batch(
            m.producer_id,
            m.producer_epoch,
            m.commit,
            m.coordinator_epoch,
            now_ms,
        );
        let info = self.append_to_log(&mut state, batch.freeze(), now_ms)?;
        state
            .producers
            .record_marker(m.producer_id, m.producer_epoch, m.coordinator_epoch, now_ms);
        state
            .txns
            .on_marker(m.producer_id, m.commit, info.first_offset);
        state.verifications.clear(m.producer_id);
        drop(state);
        if self.durability == Durability::Deferred {
            self.publish(info.last_offset + 1);
        }
        Ok(info.last_offset)
    }

    /// Append to the log. When that rolled a segment, the state before these batches is
    /// snapshotted at the new segment's base offset, so a restart replays one segment.
    fn append_to_log(&self, state: &mut State, batch: Bytes, now_ms: i64) -> Result<AppendInfo> {
        let active = state.log.active_base_offset();
        let info = state.log.append(batch, now_ms)?;
        if state.log.active_base_offset() != active {
            self.store_snapshot(state, info.first_offset);
        }
        Ok(info)
    }

    /// Store the producer-state snapshot covering the log below `offset`. A failure leaves
    /// the previous snapshot, which is still right (a restart replays more of the log).
    fn store_snapshot(&self, state: &State, offset: i64) {
        let bytes = snapshot::encode(
            offset,
            &state.producers,
            &state.txns,
            state.log.log_start_offset(),
        );
        if let Err(e) = state.log.write_state_snapshot(&bytes) {
            tracing::warn!(topic = %self.topic, partition = self.index, error = %e,
                "could not store the producer-state snapshot");
        }
    }

    /// Wait until everything up to `last_offset` is durable (per the policy) and visible.
    pub async fn commit(&self, last_offset: i64) -> Result<()> {
        if self.durability == Durability::Deferred {
            return Ok(());
        }
        self.sync_to(last_offset + 1).await
    }

    async fn sync_to(&self, end: i64) -> Result<()> {
        if self.synced.load(Ordering::Acquire) >= end {
            return Ok(());
        }
        let _turn = self.sync_lock.lock().await;
        // The fsync that ran while we waited may already cover us.
        if self.synced.load(Ordering::Acquire) >= end {
            return Ok(());
        }
        let target = self.state().log.sync_target();
        let covered = target.end_offset;
        let started = Instant::now();
        let synced = tokio::task::spawn_blocking(move || target.sync())
            .await
            .map_err(|e| LogError::Io(std::io::Error::other(e)))?
            .map_err(LogError::Io);
        if let Err(e) = synced {
            if e.is_fenced() {
                self.led.store(false, Ordering::Release);
            }
            return Err(e.into());
        }
        self.fsync_latency.observe(started.elapsed());
        self.synced.fetch_max(covered, Ordering::AcqRel);
        if self.durability == Durability::Fsync {
            self.publish(covered);
        }
        Ok(())
    }

    /// Fsync whatever is appended (background flusher, shutdown).
    pub async fn flush(&self) -> Result<()> {
        let end = self.log_end_offset();
        self.sync_to(end).await
    }

    fn publish(&self, end: i64) {
        self.high_watermark.send_if_modified(|hw| {
            let advance = end > *hw;
            if advance {
                *hw = end;
            }
            advance
        });
    }

    pub fn high_watermark(&self) -> i64 {
        *self.high_watermark.borrow()
    }

    /// Changes of the high watermark, for long-polling fetches.
    pub fn watch_high_watermark(&self) -> watch::Receiver<i64> {
        self.high_watermark.subscribe()
    }

    /// Last stable offset: below it every transaction is decided (read_committed's limit).
    pub fn last_stable_offset(&self) -> i64 {
        let hw = self.high_watermark();
        match self.state().txns.first_unstable_offset() {
            Some(first) => first.min(hw),
            None => hw,
        }
    }

    pub fn log_start_offset(&self) -> i64 {
        self.state().log.log_start_offset()
    }

    pub fn log_end_offset(&self) -> i64 {
        self.state().log.log_end_offset()
    }

    pub fn size_bytes(&self) -> u64 {
        self.state().log.size_bytes()
    }

    /// The epoch this broker leads the partition at; None for a stand-in (another broker
    /// leads it: the cluster view knows its epoch).
    pub fn leader_epoch(&self) -> Option<i32> {
        self.is_led().then(|| self.state().log.leader_epoch())
    }

    /// Cluster mode: the fence a write on behalf of this copy must hold (its broker, leader
    /// epoch and opening, `pg::fence`); None on one node and for a stand-in.
    pub fn fence(&self) -> Option<crate::pg::fence::Fence> {
        self.state().log.fence()
    }

    /// OffsetForLeaderEpoch: the largest epoch at most `epoch` and where it ended (the log end
    /// offset for the current one), None where the log does not know it.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Option<(i32, i64)> {
        let state = self.state();
        state
            .log
            .epochs()
            .end_offset_for(epoch, state.log.log_end_offset())
    }

    /// The leader epoch that wrote `offset` (-1 if unknown).
    pub fn epoch_for_offset(&self, offset: i64) -> i32 {
        self.state()
            .log
            .epochs()
            .epoch_for_offset(offset)
            .unwrap_or(-1)
    }

    /// Batches from `offset` on, never past the high watermark.
    pub fn read(&self, offset: i64, max_bytes: usize, min_one_batch: bool) -> Result<Bytes> {
        let hw = self.high_watermark();
        if offset >= hw {
            return Ok(Bytes::new());
        }
        let records = self
            .state()
            .log
            .read(offset, max_bytes, min_one_batch)?
            .records;
        Ok(cut_at_offset(records, hw))
    }

    /// As [`Partition::read`], as regions where the medium can send them (disk): only batch
    /// headers are read, under the lock; the records go from the medium to the socket later.
    pub fn read_records(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<Records> {
        let hw = self.high_watermark();
        if offset >= hw {
            return Ok(Records::Bytes(Bytes::new()));
        }
        let regions = self
            .state()
            .log
            .read_regions(offset, max_bytes, min_one_batch, hw)?;
        match regions {
            Some((regions, _)) => Ok(Records::Regions(regions)),
            None => Ok(Records::Bytes(self.read(
                offset,
                max_bytes,
                min_one_batch,
            )?)),
        }
    }

    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>> {
        Ok(self.state().log.offset_for_timestamp(timestamp)?)
    }

    pub fn max_timestamp(&self) -> Result<Option<(i64, i64)>> {
        Ok(self.state().log.max_timestamp()?)
    }

    pub fn set_config(&self, config: LogConfig) {
        self.state().log.set_config(config);
    }

    /// DeleteRecords: make `offset` (-1: the high watermark) the log start offset if it is
    /// beyond it. Returns the log start offset; OFFSET_OUT_OF_RANGE past the high watermark.
    pub fn delete_records(&self, offset: i64) -> Result<i64> {
        let hw = self.high_watermark();
        let offset = if offset == -1 { hw } else { offset };
        if !(0..=hw).contains(&offset) {
            return Err(BrokerError::OffsetOutOfRange);
        }
        let mut state = self.state();
        let start = state.log.delete_records_before(offset)?;
        state.txns.forget_aborted_before(start);
        Ok(start)
    }

    /// Delete segments past the retention limits; returns how many went.
    pub fn enforce_retention(&self, limits: Retention, now_ms: i64) -> Result<usize> {
        let hw = self.high_watermark();
        let mut state = self.state();
        let removed = state.log.enforce_retention(limits, now_ms, hw)?;
        let start = state.log.log_start_offset();
        state.txns.forget_aborted_before(start);
        Ok(removed)
    }

    /// Compact the log if it is dirty enough (see [`crate::log::cleaner`]).
    pub fn compact(&self, c: &Compaction, now_ms: i64) -> Result<Option<CleanStats>> {
        let hw = self.high_watermark();
        Ok(self.state().log.compact(c, now_ms, hw)?)
    }

    /// Snapshot the producer state, flush indexes and mark the log cleanly closed.
    pub fn close(&self) -> Result<()> {
        let mut state = self.state();
        let end = state.log.log_end_offset();
        self.store_snapshot(&state, end);
        Ok(state.log.close()?)
    }

    /// Remove the log's files. The partition must no longer be reachable.
    pub fn delete(self) -> Result<()> {
        let state = self.state.into_inner().unwrap_or_else(|e| e.into_inner());
        Ok(state.log.delete()?)
    }
}

/// One ERROR line and one count per damaged stretch.
fn report_damage(topic: &str, partition: i32, integrity: &Integrity, d: &Damage, found_by: &str) {
    integrity.corrupt_batches.fetch_add(1, Ordering::Relaxed);
    tracing::error!(
        topic,
        partition,
        first_offset = d.first_offset,
        end_offset = d.end_offset,
        segment = %d.segment.display(),
        pos = d.pos,
        end_pos = d.end_pos,
        found_by,
        "damaged record batches on disk, not served (fetches get CORRUPT_MESSAGE): {}",
        d.defect
    );
}

/// Drop whole batches that start at or after `end` (data not yet visible to consumers).
fn cut_at_offset(records: Bytes, end: i64) -> Bytes {
    let mut pos = 0;
    while pos + HEADER_LEN <= records.len() {
        let Some(header) = BatchHeader::parse(&records[pos..]) else {
            break;
        };
        if header.base_offset >= end {
            return records.slice(..pos);
        }
        pos += header.total_size();
    }
    records
}

#[cfg(test)]
mod fenced_tests;
