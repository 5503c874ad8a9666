//! One partition: its log behind a lock, group-commit fsync outside that lock, and the high
//! watermark that fetchers wait on.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, MutexGuard};

use bytes::{Bytes, BytesMut};
use tokio::sync::watch;

use crate::error::Result;
use crate::log::batch::{BatchHeader, HEADER_LEN};
use crate::log::{AppendInfo, LogConfig, LogError, PartitionLog};

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
    log: Mutex<PartitionLog>,
    durability: Durability,
    /// Serialises fsyncs: whoever holds it syncs everything appended so far (group commit).
    sync_lock: tokio::sync::Mutex<()>,
    /// Log end offset known to be durable.
    synced: AtomicI64,
    /// High watermark: what consumers may read. Fetchers wait on its changes.
    high_watermark: watch::Sender<i64>,
}

impl Partition {
    pub fn new(topic: &str, index: i32, log: PartitionLog, durability: Durability) -> Self {
        let end = log.log_end_offset();
        Self {
            topic: topic.to_string(),
            index,
            log: Mutex::new(log),
            durability,
            sync_lock: tokio::sync::Mutex::new(()),
            synced: AtomicI64::new(end),
            high_watermark: watch::Sender::new(end),
        }
    }

    fn log(&self) -> MutexGuard<'_, PartitionLog> {
        // The log is only mutated by whole appends; a panic elsewhere must not wedge it.
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Append validated batches. Call [`Partition::commit`] with the returned info before
    /// acknowledging: it makes the data durable and visible according to the policy.
    pub fn append(&self, batches: BytesMut, now_ms: i64) -> Result<AppendInfo> {
        let info = self.log().append(batches, now_ms)?;
        if self.durability == Durability::Deferred {
            self.publish(info.last_offset + 1);
        }
        Ok(info)
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
        let target = self.log().sync_target();
        let covered = target.end_offset;
        tokio::task::spawn_blocking(move || target.sync())
            .await
            .map_err(|e| LogError::Io(std::io::Error::other(e)))?
            .map_err(LogError::Io)?;
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

    pub fn log_start_offset(&self) -> i64 {
        self.log().log_start_offset()
    }

    pub fn log_end_offset(&self) -> i64 {
        self.log().log_end_offset()
    }

    pub fn size_bytes(&self) -> u64 {
        self.log().size_bytes()
    }

    /// Batches from `offset` on, never past the high watermark.
    pub fn read(&self, offset: i64, max_bytes: usize, min_one_batch: bool) -> Result<Bytes> {
        let hw = self.high_watermark();
        if offset >= hw {
            return Ok(Bytes::new());
        }
        let records = self.log().read(offset, max_bytes, min_one_batch)?.records;
        Ok(cut_at_offset(records, hw))
    }

    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>> {
        Ok(self.log().offset_for_timestamp(timestamp)?)
    }

    pub fn max_timestamp(&self) -> Result<Option<(i64, i64)>> {
        Ok(self.log().max_timestamp()?)
    }

    pub fn set_config(&self, config: LogConfig) {
        self.log().set_config(config);
    }

    /// Flush indexes and mark the log cleanly closed.
    pub fn close(&self) -> Result<()> {
        Ok(self.log().close()?)
    }

    /// Remove the log's files. The partition must no longer be reachable.
    pub fn delete(self) -> Result<()> {
        let log = self.log.into_inner().unwrap_or_else(|e| e.into_inner());
        Ok(log.delete()?)
    }
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
