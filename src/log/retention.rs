//! cleanup.policy=delete: whole segments past `retention.ms` or `retention.bytes` are deleted
//! (never the active one), and DeleteRecords moves the log start offset, checkpointed so it
//! survives a crash even when it lies inside a segment.

use super::{LogError, PartitionLog, START_OFFSET_FILE};

/// A topic's retention limits (Kafka's `retention.ms` / `retention.bytes`; negative: none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub ms: i64,
    pub bytes: i64,
}

impl PartitionLog {
    /// Delete the oldest segments that are past the time limit (their largest timestamp is
    /// older than `retention.ms`), past the size limit (the log without them is still at
    /// least `retention.bytes`) or wholly below the log start offset, as Kafka's
    /// `deleteOldSegments` does: only segments wholly below `high_watermark`, and the active
    /// one too when it qualifies (a new, empty one is rolled first, so the log start offset
    /// becomes the log end offset). Returns how many were deleted.
    pub fn enforce_retention(
        &mut self,
        limits: Retention,
        now_ms: i64,
        high_watermark: i64,
    ) -> Result<usize, LogError> {
        let n = self.segments.len();
        let end = self.log_end_offset();
        // Whether segment i may go at all: wholly visible, and not the empty active segment.
        let eligible = |log: &Self, i: usize| {
            let upper = log.segments.get(i + 1).map_or(end, |s| s.meta.base_offset);
            upper <= high_watermark && (i + 1 < n || log.segments[i].meta.size > 0)
        };
        let mut count = 0;
        if limits.ms >= 0 {
            while count < n && eligible(self, count) {
                let expired = match self.segments[count].meta.max_ts {
                    Some((ts, _)) => now_ms.saturating_sub(ts) > limits.ms,
                    None => self.segments[count].meta.size == 0,
                };
                if !expired {
                    break;
                }
                count += 1;
            }
        }
        let size = self.size_bytes() as i64;
        if limits.bytes >= 0 && size >= limits.bytes {
            let mut excess = size - limits.bytes;
            for seg in &self.segments[..count] {
                excess -= seg.meta.size as i64;
            }
            while count < n && eligible(self, count) {
                let size = self.segments[count].meta.size as i64;
                if excess - size < 0 {
                    break;
                }
                excess -= size;
                count += 1;
            }
        }
        while count + 1 < n && self.segments[count + 1].meta.base_offset <= self.start_offset {
            count += 1;
        }
        if count == n {
            // A log always keeps a segment: start a new, empty one to delete the old active.
            self.roll()?;
        }
        self.delete_oldest_segments(count)?;
        Ok(count)
    }

    /// Make `offset` the log start offset if it is beyond the current one (DeleteRecords; the
    /// caller checks it is not beyond the high watermark), checkpoint it, and delete the
    /// segments wholly below it. Returns the log start offset.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64, LogError> {
        let offset = offset.min(self.log_end_offset());
        if offset <= self.start_offset {
            return Ok(self.start_offset);
        }
        self.storage
            .write_checkpoint(START_OFFSET_FILE, offset.to_string().as_bytes())?;
        self.storage.sync_layout()?;
        self.start_offset = offset;
        let sealed = self.segments.len() - 1;
        let below = self.segments[1..=sealed]
            .iter()
            .take_while(|next| next.meta.base_offset <= offset)
            .count();
        self.delete_oldest_segments(below)?;
        Ok(self.start_offset)
    }

    /// Drop the first `count` segments (never the active one) and their files; the log start
    /// offset moves up to the new first segment.
    fn delete_oldest_segments(&mut self, count: usize) -> Result<(), LogError> {
        let count = count.min(self.segments.len() - 1);
        if count == 0 {
            return Ok(());
        }
        let doomed: Vec<_> = self.segments.drain(..count).collect();
        self.start_offset = self.start_offset.max(self.segments[0].meta.base_offset);
        // Oldest first: a crash part-way leaves a log that is still a contiguous suffix.
        for seg in &doomed {
            self.storage.remove_segment(seg.meta.base_offset)?;
        }
        self.storage.sync_layout()?;
        tracing::debug!(
            storage = ?self.storage,
            segments = count,
            log_start_offset = self.start_offset,
            "deleted old segments"
        );
        Ok(())
    }
}
