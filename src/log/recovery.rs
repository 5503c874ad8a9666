//! Start-up recovery of the active (last) segment, and the typed report of what recovery did
//! to a partition's log (sealed segments: `sealed.rs`).
//!
//! After a clean shutdown the active segment's indexes are loaded and only the batches after
//! the last index entry are walked; otherwise (or if anything looks off) every batch is
//! checked, length, offsets and CRC, and the data truncated at the first bad one: a
//! [`Truncation`] with its typed [`Defect`] (torn tail, CRC mismatch, offset regression,
//! oversize batch, ...).

use std::io;
use std::path::PathBuf;

use super::damage::{Defect, RecoveryError};
use super::index;
use super::scan::{scan, Reader};
use super::segment::{Meta, Segment};
use super::storage::{Interrupted, LogStorage};

/// The active segment's tail cut off at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    pub segment: PathBuf,
    /// Where the first bad batch started: the segment's new length.
    pub pos: u64,
    pub dropped_bytes: u64,
    pub defect: Defect,
}

/// What opening a partition's log found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The log was closed cleanly (the active segment's CRCs were not checked).
    pub clean_shutdown: bool,
    /// Segments opened (each at least had its tail's batch headers walked).
    pub segments_scanned: u64,
    /// Segments whose every batch's CRC was checked.
    pub segments_verified: u64,
    /// Torn or corrupt tails cut off the active segment.
    pub truncations: Vec<Truncation>,
    /// Segments whose indexes were missing or inconsistent and were rebuilt.
    pub indexes_rebuilt: Vec<PathBuf>,
    /// Damaged sealed segments (kept, not served).
    pub damaged: Vec<RecoveryError>,
    /// A compaction a crash interrupted, finished or discarded.
    pub interrupted: Option<Interrupted>,
}

impl RecoveryReport {
    /// Log the report once for a partition: INFO when something was repaired or found, DEBUG
    /// otherwise. (Damaged sealed segments also get an ERROR line each from the caller.)
    pub fn log(&self, topic: &str, partition: i32) {
        if self.repaired() {
            tracing::info!(
                topic,
                partition,
                clean_shutdown = self.clean_shutdown,
                segments_scanned = self.segments_scanned,
                segments_verified = self.segments_verified,
                bytes_truncated = self.bytes_truncated(),
                indexes_rebuilt = self.indexes_rebuilt.len(),
                damaged_segments = self.damaged.len(),
                interrupted = ?self.interrupted,
                "log recovered: {}",
                self.details()
            );
        } else {
            tracing::debug!(
                topic,
                partition,
                clean_shutdown = self.clean_shutdown,
                segments_scanned = self.segments_scanned,
                segments_verified = self.segments_verified,
                "log opened, nothing to repair"
            );
        }
    }

    /// What was repaired, one clause each.
    fn details(&self) -> String {
        let truncated = self.truncations.iter().map(|t| {
            format!(
                "truncated {} at {} ({} bytes): {}",
                t.segment.display(),
                t.pos,
                t.dropped_bytes,
                t.defect
            )
        });
        let rebuilt = self
            .indexes_rebuilt
            .iter()
            .map(|p| format!("rebuilt the indexes of {}", p.display()));
        let interrupted = self.interrupted.map(|i| match i {
            Interrupted::ReplaceDiscarded => "discarded an unfinished log clean".to_string(),
            Interrupted::ReplaceFinished => "finished an interrupted log clean".to_string(),
        });
        let damaged = (!self.damaged.is_empty()).then(|| {
            format!(
                "{} damaged sealed segment(s) kept, not served",
                self.damaged.len()
            )
        });
        let all: Vec<String> = truncated
            .chain(rebuilt)
            .chain(interrupted)
            .chain(damaged)
            .collect();
        all.join("; ")
    }

    pub fn bytes_truncated(&self) -> u64 {
        self.truncations.iter().map(|t| t.dropped_bytes).sum()
    }

    /// Whether recovery changed or found anything worth an operator's attention.
    pub fn repaired(&self) -> bool {
        !self.truncations.is_empty()
            || !self.indexes_rebuilt.is_empty()
            || !self.damaged.is_empty()
            || self.interrupted.is_some()
    }
}

impl Segment {
    /// Open the active (last) segment; see the module docs.
    pub fn open_active(
        storage: &dyn LogStorage,
        base_offset: i64,
        clean: bool,
        interval: u32,
        report: &mut RecoveryReport,
    ) -> io::Result<Self> {
        let mut seg = Self::open_data(storage, base_offset)?;
        report.segments_scanned += 1;
        let len = seg.data.size()?;
        if !(clean && seg.load_clean(storage, len, interval)?) {
            if clean {
                report.indexes_rebuilt.push(seg.path.clone());
            }
            report.segments_verified += 1;
            if let Some(t) = seg.recover(len, interval)? {
                report.truncations.push(t);
            }
        }
        if seg.meta.size > 0 {
            // Kafka's choice after a restart: time-based rolling counts from the first batch's
            // timestamp, as the wall-clock time of the first append is not stored.
            if let Ok(h) = Reader::new(&*seg.data, seg.meta.size).header(0)? {
                seg.roll_base_ms = (h.max_timestamp >= 0).then_some(h.max_timestamp);
            }
        }
        Ok(seg)
    }

    /// The clean-shutdown path of [`Self::open_active`]; false if recovery must scan it all.
    fn load_clean(
        &mut self,
        storage: &dyn LogStorage,
        len: u64,
        interval: u32,
    ) -> io::Result<bool> {
        let Some((index, time_index)) = self.load_indexes(storage) else {
            return Ok(false);
        };
        if !index::index_consistent(&index, len, u64::from(u32::MAX))
            || (len == 0) != time_index.is_empty()
        {
            return Ok(false);
        }
        let m = &mut self.meta;
        let (rel, pos) = index.last().map_or((0, 0), |e| (e.rel, e.pos));
        m.next_offset = m.base_offset + i64::from(rel);
        m.size = u64::from(pos);
        m.max_ts = time_index
            .last()
            .map(|e| (e.ts, m.base_offset + i64::from(e.rel)));
        m.index = index;
        m.time_index = time_index;
        // The walk re-tracks the batch at the last entry: a zero count adds no entry for it.
        m.bytes_since_index = 0;
        if scan(&*self.data, m, m.size, len, i64::MAX, false, interval)?.is_some() {
            return Ok(false);
        }
        Ok(index::time_index_consistent(&m.time_index, m.max_rel()))
    }

    /// Check every batch and truncate the data at the first torn or corrupt one.
    fn recover(&mut self, len: u64, interval: u32) -> io::Result<Option<Truncation>> {
        self.meta = Meta::new(self.meta.base_offset);
        let found = scan(
            &*self.data,
            &mut self.meta,
            0,
            len,
            i64::MAX,
            true,
            interval,
        )?;
        let Some((pos, defect)) = found else {
            return Ok(None);
        };
        self.data.truncate(pos)?;
        self.data.sync()?;
        Ok(Some(Truncation {
            segment: self.path.clone(),
            pos,
            dropped_bytes: len - pos,
            defect,
        }))
    }
}
