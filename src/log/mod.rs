//! The partition log: a directory of segments named by base offset, each holding v2 record
//! batches exactly as producers sent them (only the base offset, the partition leader epoch
//! and, for LogAppendTime topics, the max timestamp rewritten), with a sparse offset index
//! and a time index beside it.
//!
//! `PartitionLog` is single-threaded: the broker wraps it in a mutex and performs fsync
//! outside that mutex through [`PartitionLog::sync_target`] (group commit).
//!
//! The medium (disk, memory, ...) is behind [`storage::LogStorage`]; everything here and in
//! the submodules is written once against it. Fetches get [`Chunk`]s: bytes, or [`Region`]s
//! the medium sends itself (sendfile for disk).

pub mod batch;
pub mod cleaner;
pub mod crc;
pub mod damage;
#[cfg(test)]
mod damage_tests;
pub mod encode;
pub mod epochs;
mod fuzz;
mod index;
#[cfg(test)]
mod lifecycle_tests;
mod read;
pub mod records;
pub mod recovery;
pub mod retention;
mod scan;
pub mod scrub;
mod sealed;
mod segment;
mod segment_meta;
pub mod storage;
#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod testutil;

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;

use batch::BatchHeader;
use damage::{Damage, RecoveryError};
use epochs::EpochCache;
use recovery::RecoveryReport;
use segment::Segment;
use storage::disk::DiskStorage;
use storage::memory::MemoryStorage;

pub use fuzz::fuzz_recover;
pub use read::ReadResult;
pub use storage::{Chunk, LogStorage, Region, SegmentData};

/// Where a partition's segments live.
#[derive(Debug, Clone)]
pub enum Backing {
    /// A directory on disk (created if absent).
    Disk(PathBuf),
    /// Process memory: nothing survives a restart (`--storage memory`).
    Memory,
    /// Any other medium.
    Storage(Arc<dyn LogStorage>),
}

/// Per-partition log settings (Kafka's topic configs of the same names).
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// `segment.bytes`: roll to a new segment once the active one reaches this size.
    pub segment_bytes: u64,
    /// `segment.ms`: roll to a new segment once the active one is this old (and non-empty).
    pub segment_ms: i64,
    /// `index.interval.bytes`: bytes between two sparse index entries.
    pub index_interval_bytes: u32,
    /// `message.timestamp.type` is LogAppendTime: stamp batches with the broker's clock.
    pub log_append_time: bool,
    /// `cleanup.policy` includes compact: segments may end before the next one's base offset.
    pub compacted: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3600 * 1000,
            index_interval_bytes: 4096,
            log_append_time: false,
            compacted: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("log i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("corrupt log: {0}")]
    Corrupt(String),
    /// A checkpoint read at start-up does not parse.
    #[error("bad {name} checkpoint: {content:?}")]
    BadCheckpoint { name: &'static str, content: String },
    /// A read reached offsets whose batches are damaged on disk (see [`damage`]).
    #[error("offsets {first_offset}..{end_offset} are damaged on disk")]
    Damaged { first_offset: i64, end_offset: i64 },
}

impl LogError {
    /// Cluster mode: this broker no longer leads the partition (its commit was refused).
    pub fn is_fenced(&self) -> bool {
        matches!(self, LogError::Io(e)
            if e.get_ref().is_some_and(|e| e.is::<storage::postgres::Fenced>()))
    }

    fn damaged(d: &Damage) -> Self {
        LogError::Damaged {
            first_offset: d.first_offset,
            end_offset: d.end_offset,
        }
    }
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset given to the first record appended.
    pub first_offset: i64,
    /// Offset given to the last record appended.
    pub last_offset: i64,
    /// The broker time written into the batches for LogAppendTime topics, else -1.
    pub log_append_time: i64,
}

/// A handle to fsync the data appended so far, used without holding the log's lock.
pub struct SyncTarget {
    /// Log end offset covered once `sync` returns.
    pub end_offset: i64,
    /// The active segment's data; `None` where nothing is durable (memory).
    file: Option<Arc<dyn SegmentData>>,
}

impl SyncTarget {
    /// Make everything up to `end_offset` durable (a no-op for memory logs).
    pub fn sync(&self) -> std::io::Result<()> {
        match &self.file {
            Some(f) => f.sync(),
            None => Ok(()),
        }
    }
}

/// Written by `close()` and removed by `open()`: its presence means the active segment and its
/// indexes were flushed, so recovery need not check every batch.
const CLEAN_MARKER: &str = ".clean_shutdown";

/// The partition's producer-state snapshot (see `partition/snapshot.rs`).
const STATE_SNAPSHOT: &str = "producer-state.snapshot";

/// Kafka's log-start-offset checkpoint: the log start offset when DeleteRecords moved it
/// inside a segment (otherwise it is the first segment's base offset).
const START_OFFSET_FILE: &str = "log-start-offset";

pub struct PartitionLog {
    storage: Arc<dyn LogStorage>,
    config: LogConfig,
    /// Sorted by base offset, never empty; the last one is active.
    segments: Vec<Segment>,
    /// The first offset consumers may read: at least the first segment's base offset.
    start_offset: i64,
    /// Compaction has cleaned everything below this offset (kept in memory: after a restart
    /// the whole log counts as dirty once).
    cleaned_to: i64,
    /// `close()` left the clean marker: the next append must remove it first.
    marker: bool,
    /// Which leader epoch wrote from which offset; the latest stamps appended batches.
    epochs: EpochCache,
    /// What `open` found and repaired, for the caller to report (damaged sealed segments
    /// included).
    recovery: RecoveryReport,
}

impl PartitionLog {
    /// Open (or create) a log, recovering its tail: checks lengths and CRCs of the active
    /// segment's batches after an unclean shutdown, truncates a torn or corrupt tail,
    /// rebuilds missing or damaged indexes. Sealed segments get cheap checks only (see
    /// `sealed.rs`); their damage is kept out of reads and reported through
    /// [`Self::take_recovery_errors`], never truncated.
    pub fn open(backing: Backing, config: LogConfig) -> Result<Self, LogError> {
        let storage: Arc<dyn LogStorage> = match backing {
            Backing::Memory => Arc::new(MemoryStorage::default()),
            Backing::Disk(dir) => Arc::new(DiskStorage::open(dir)?),
            Backing::Storage(storage) => storage,
        };
        Self::open_storage(storage, config)
    }

    /// [`Self::open`] on a given medium.
    pub fn open_storage(storage: Arc<dyn LogStorage>, config: LogConfig) -> Result<Self, LogError> {
        let interval = config.index_interval_bytes;
        let mut report = RecoveryReport {
            interrupted: storage.recover()?,
            ..RecoveryReport::default()
        };
        let clean = storage.read_checkpoint(CLEAN_MARKER)?.is_some();
        report.clean_shutdown = clean;
        let bases = storage.list_segments()?;
        let mut segments = Vec::with_capacity(bases.len().max(1));
        for (i, &base) in bases.iter().enumerate() {
            let s = &*storage;
            segments.push(match bases.get(i + 1) {
                Some(&end) => {
                    Segment::open_sealed(s, base, end, interval, config.compacted, &mut report)?
                }
                None => Segment::open_active(s, base, clean, interval, &mut report)?,
            });
        }
        let created = segments.is_empty();
        if created {
            segments.push(Segment::create(&*storage, 0)?);
        }
        if clean {
            storage.remove_checkpoint(CLEAN_MARKER)?;
        }
        // The marker must be gone for good before anything is appended.
        if clean || created {
            storage.sync_layout()?;
        }
        let checkpoint = read_start_offset(&*storage)?;
        report.damaged = segments
            .iter()
            .flat_map(|s| s.damage.iter())
            .map(|d| RecoveryError(d.clone()))
            .collect();
        let mut log = Self {
            storage,
            config,
            segments,
            start_offset: 0,
            cleaned_to: 0,
            marker: false,
            epochs: EpochCache::default(),
            recovery: report,
        };
        log.start_offset = checkpoint
            .unwrap_or(0)
            .clamp(log.segments[0].meta.base_offset, log.log_end_offset());
        log.epochs = EpochCache::open(&*log.storage, log.start_offset, log.log_end_offset())?;
        Ok(log)
    }

    fn active(&self) -> &Segment {
        self.segments.last().expect("a log always has a segment")
    }

    fn active_mut(&mut self) -> &mut Segment {
        self.segments
            .last_mut()
            .expect("a log always has a segment")
    }

    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    /// Append one or more batches already checked by [`batch::validate`]: assigns offsets
    /// from the log end offset, rewrites each batch's base offset (and for LogAppendTime the
    /// max timestamp and CRC), writes them to the active segment (rolling first if needed).
    /// Nothing is fsynced here: see [`Self::sync_target`]. The rewrites go to a copy of each
    /// header; the records are written from `batches` as they are (a produce request's
    /// bytes: no copy of the batch).
    pub fn append(
        &mut self,
        batches: impl Into<Bytes>,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        let batches: Bytes = batches.into();
        let headers: Vec<(usize, BatchHeader)> = batch::headers(&batches).collect();
        let whole = headers.last().map_or(0, |(p, h)| p + h.total_size());
        if whole == 0 || whole != batches.len() || batches.len() as u64 > u64::from(u32::MAX) {
            return Err(LogError::Corrupt(format!(
                "append of {} bytes is not a sequence of whole record batches",
                batches.len()
            )));
        }
        if headers.iter().any(|(_, h)| h.last_offset_delta < 0) {
            return Err(LogError::Corrupt("negative last offset delta".into()));
        }
        let first_offset = self.log_end_offset();
        let count: i64 = headers
            .iter()
            .map(|(_, h)| i64::from(h.last_offset_delta) + 1)
            .sum();
        self.maybe_roll(batches.len() as u64, first_offset + count - 1, now_ms)?;
        if self.marker {
            self.storage.remove_checkpoint(CLEAN_MARKER)?;
            self.storage.sync_layout()?;
            self.marker = false;
        }

        let mut rewritten = Vec::with_capacity(headers.len());
        let mut heads = Vec::with_capacity(headers.len());
        let mut next = first_offset;
        let epoch = self.leader_epoch();
        for (pos, h) in headers {
            let (head, body) = batches[pos..pos + h.total_size()]
                .split_first_chunk::<{ batch::HEADER_LEN }>()
                .ok_or_else(|| {
                    LogError::Corrupt("a record batch shorter than its header".into())
                })?;
            let mut head = *head;
            batch::set_base_offset(&mut head, next);
            batch::set_partition_leader_epoch(&mut head, epoch);
            if self.config.log_append_time {
                batch::set_log_append_time_split(&mut head, body, now_ms);
            }
            let h = BatchHeader::parse(&head).unwrap_or(h);
            next = h.last_offset() + 1;
            rewritten.push((pos, h));
            heads.push((head, body));
        }
        let parts: Vec<&[u8]> = heads
            .iter()
            .flat_map(|(head, body)| [&head[..], body])
            .collect();
        let interval = self.config.index_interval_bytes;
        let active = self.active_mut();
        active.append(&parts, &rewritten, interval)?;
        active.roll_base_ms.get_or_insert(now_ms);
        Ok(AppendInfo {
            first_offset,
            last_offset: next - 1,
            log_append_time: if self.config.log_append_time {
                now_ms
            } else {
                -1
            },
        })
    }

    /// Roll when the active segment is non-empty and full, too old, or could not index the
    /// offsets coming (relative offsets are u32).
    fn maybe_roll(&mut self, incoming: u64, last_offset: i64, now_ms: i64) -> Result<(), LogError> {
        let active = self.active();
        if active.meta.size == 0 {
            return Ok(());
        }
        let max_size = self.config.segment_bytes.min(u64::from(u32::MAX));
        let full = active.meta.size + incoming > max_size;
        let old = active
            .roll_base_ms
            .is_some_and(|t| now_ms.saturating_sub(t) > self.config.segment_ms);
        let offsets = last_offset - active.meta.base_offset > i64::from(u32::MAX);
        if full || old || offsets {
            self.roll()?;
        }
        Ok(())
    }

    /// Seal the active segment (fsynced with its indexes, so a later fsync of the new active
    /// file covers everything acknowledged) and start a new one at the log end offset.
    fn roll(&mut self) -> Result<(), LogError> {
        let base = self.log_end_offset();
        let storage = self.storage.clone();
        self.active_mut().seal(&*storage)?;
        let segment = Segment::create(&*storage, base)?;
        storage.sync_layout()?;
        self.segments.push(segment);
        Ok(())
    }

    /// Damaged sealed segments found when the log was opened (taken once, to report).
    pub fn take_recovery_errors(&mut self) -> Vec<RecoveryError> {
        std::mem::take(&mut self.recovery.damaged)
    }

    /// What opening the log found and repaired (taken once, to report).
    pub fn take_recovery_report(&mut self) -> RecoveryReport {
        std::mem::take(&mut self.recovery)
    }

    /// Every known damaged stretch, oldest segment first.
    pub fn damage(&self) -> impl Iterator<Item = &Damage> {
        self.segments.iter().flat_map(|s| s.damage.iter())
    }

    /// Index of the segment whose base offset is the greatest <= `offset` (else the first).
    fn segment_for(&self, offset: i64) -> usize {
        let n = self
            .segments
            .partition_point(|s| s.meta.base_offset <= offset);
        n.saturating_sub(1)
    }

    pub fn log_start_offset(&self) -> i64 {
        self.start_offset
    }

    pub fn log_end_offset(&self) -> i64 {
        self.active().meta.next_offset
    }

    /// The epoch this broker leads the log at (stamped into the batches it appends).
    pub fn leader_epoch(&self) -> i32 {
        self.epochs.latest().unwrap_or(0)
    }

    /// Cluster mode: the fence writes for this copy must hold (`pg::fence`); None on one node.
    pub fn fence(&self) -> Option<crate::pg::fence::Fence> {
        self.storage.fence()
    }

    /// The epochs that wrote the log (OffsetForLeaderEpoch, ListOffsets' epochs).
    pub fn epochs(&self) -> &EpochCache {
        &self.epochs
    }

    /// What to fsync to make the current log end durable.
    pub fn sync_target(&self) -> SyncTarget {
        SyncTarget {
            end_offset: self.log_end_offset(),
            file: self.storage.durable().then(|| self.active().data.clone()),
        }
    }

    /// Flush indexes and mark the log cleanly closed (recovery then skips the CRC scan). The
    /// log stays usable; a later append removes the mark.
    pub fn close(&mut self) -> Result<(), LogError> {
        let storage = self.storage.clone();
        self.active_mut().seal(&*storage)?;
        // The indexes' renames must be durable before the marker vouches for them.
        storage.sync_layout()?;
        storage.write_checkpoint(CLEAN_MARKER, b"")?;
        storage.sync_layout()?;
        self.marker = true;
        Ok(())
    }

    /// Remove the log and everything it stored.
    pub fn delete(self) -> Result<(), LogError> {
        let storage = self.storage.clone();
        drop(self);
        storage.destroy()?;
        Ok(())
    }

    /// Total bytes of all segments.
    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.meta.size).sum()
    }

    /// Number of segments (the active one included).
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Base offset of the active segment (an append that changes it rolled the log).
    pub fn active_base_offset(&self) -> i64 {
        self.active().meta.base_offset
    }

    /// The partition layer's producer-state snapshot, stored beside the segments (opaque to
    /// the log; removed with it).
    pub fn read_state_snapshot(&self) -> Result<Option<Vec<u8>>, LogError> {
        Ok(self.storage.read_checkpoint(STATE_SNAPSHOT)?)
    }

    /// Replace the producer-state snapshot atomically.
    pub fn write_state_snapshot(&self, bytes: &[u8]) -> Result<(), LogError> {
        Ok(self.storage.write_checkpoint(STATE_SNAPSHOT, bytes)?)
    }

    /// Base offsets of the segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.segments.iter().map(|s| s.meta.base_offset).collect()
    }
}

/// The checkpointed log start offset, if one was written.
fn read_start_offset(storage: &dyn LogStorage) -> Result<Option<i64>, LogError> {
    let Some(bytes) = storage.read_checkpoint(START_OFFSET_FILE)? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&bytes);
    text.trim()
        .parse()
        .map(Some)
        .map_err(|_| LogError::BadCheckpoint {
            name: START_OFFSET_FILE,
            content: text.into_owned(),
        })
}
