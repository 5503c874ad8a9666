//! cleanup.policy=compact: keep the latest record of every key in the sealed segments.
//!
//! A clean builds a map key → latest offset over the cleanable segments (sealed, below the
//! high watermark, older than `min.compaction.lag.ms`), then rewrites them in groups: a batch
//! whose records all survive is copied byte for byte; a batch that loses some is decoded and
//! re-encoded with the same codec, each record keeping its offset (the batch's base offset
//! becomes its first surviving record's); a batch that loses all is dropped. Tombstones (null
//! values) go once their segment is older than `delete.retention.ms`; records without a key
//! go (Kafka drops them too). Control batches (transaction markers) and each idempotent
//! producer's last batch (its sequence state) are kept untouched.
//!
//! The swap is [`super::storage::LogStorage::replace_segments`]: crash-safe on disk, after
//! Kafka's `.cleaned`/`.swap` files (see [`super::storage::disk`]); at start-up the medium's
//! `recover` discards a clean that had not committed and finishes one that had.

use std::collections::{HashMap, HashSet};

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
};

use super::batch::{self, BatchHeader};
use super::recovery::RecoveryReport;
use super::segment::{Meta, Segment};
use super::{LogError, PartitionLog};

/// Bytes read from a segment at a time while cleaning.
const READ_CHUNK: usize = 1 << 20;

/// A topic's compaction settings (Kafka's topic configs of the same names).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Compaction {
    pub delete_retention_ms: i64,
    pub min_cleanable_dirty_ratio: f64,
    pub min_compaction_lag_ms: i64,
    pub max_compaction_lag_ms: i64,
}

impl Default for Compaction {
    fn default() -> Self {
        Self {
            delete_retention_ms: 86_400_000,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
        }
    }
}

/// What the cleaner keeps, found in a first pass over the cleanable segments.
struct Latest {
    /// Key → offset of its latest record.
    keys: HashMap<Bytes, i64>,
    /// Base offsets of each idempotent producer's last batch.
    producers_last_batch: HashSet<i64>,
}

/// What a clean did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CleanStats {
    pub segments_before: usize,
    pub segments_after: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub records_removed: u64,
}

impl PartitionLog {
    /// Compact the cleanable segments if they are dirty enough (or the oldest dirty data is
    /// past `max.compaction.lag.ms`). None when nothing was worth cleaning.
    pub fn compact(
        &mut self,
        c: &Compaction,
        now_ms: i64,
        high_watermark: i64,
    ) -> Result<Option<CleanStats>, LogError> {
        let sealed = self.segments.len() - 1;
        let lag_cutoff = now_ms.saturating_sub(c.min_compaction_lag_ms.max(0));
        let cleanable = (0..sealed)
            .take_while(|&i| {
                let seg = &self.segments[i];
                self.segments[i + 1].meta.base_offset <= high_watermark
                    && seg.meta.max_ts.is_none_or(|(ts, _)| ts <= lag_cutoff)
            })
            .count();
        // Rewriting a damaged segment would serve its damage as good data: leave it alone.
        if cleanable == 0 || self.any_damage(cleanable) {
            return Ok(None);
        }
        let segs = &self.segments[..cleanable];
        let total: u64 = segs.iter().map(|s| s.meta.size).sum();
        let dirty: Vec<_> = segs
            .iter()
            .filter(|s| s.meta.next_offset > self.cleaned_to)
            .collect();
        let dirty_bytes: u64 = dirty.iter().map(|s| s.meta.size).sum();
        if dirty_bytes == 0 || total == 0 {
            return Ok(None);
        }
        let overdue = dirty
            .first()
            .and_then(|s| s.meta.max_ts)
            .is_some_and(|(ts, _)| now_ms.saturating_sub(ts) > c.max_compaction_lag_ms.max(0));
        if (dirty_bytes as f64) / (total as f64) < c.min_cleanable_dirty_ratio && !overdue {
            return Ok(None);
        }

        let latest = self.latest_offsets(cleanable)?;
        let first_uncleanable = self.segments[cleanable].meta.base_offset;
        let mut stats = CleanStats {
            segments_before: cleanable,
            bytes_before: total,
            ..CleanStats::default()
        };
        // Groups of consecutive segments whose originals fit one segment together.
        let mut groups: Vec<(usize, usize)> = Vec::new();
        let max_size = self.config.segment_bytes.min(u64::from(u32::MAX));
        let mut i = 0;
        while i < cleanable {
            let mut j = i + 1;
            let mut size = self.segments[i].meta.size;
            while j < cleanable
                && size + self.segments[j].meta.size <= max_size
                && self.segments[j].meta.next_offset - self.segments[i].meta.base_offset
                    <= i64::from(u32::MAX)
            {
                size += self.segments[j].meta.size;
                j += 1;
            }
            groups.push((i, j));
            i = j;
        }
        // Replace from the last group backwards so earlier indexes stay valid.
        for &(from, to) in groups.iter().rev() {
            let (bytes, removed) = self.clean_group(from, to, &latest, c, now_ms)?;
            stats.records_removed += removed;
            stats.bytes_after += bytes.len() as u64;
            let end = self.segments[to].meta.base_offset;
            let replacement = self.write_replacement(from, end, bytes)?;
            self.segments.splice(from..to, [replacement]);
        }
        stats.segments_after = groups.len();
        self.cleaned_to = first_uncleanable;
        Ok(Some(stats))
    }

    /// Key → offset of its latest record in the first `count` segments, and the base offsets
    /// of every idempotent producer's last batch there (kept whole, as Kafka does, so that its
    /// sequence numbers can be rebuilt from the log).
    fn latest_offsets(&self, count: usize) -> Result<Latest, LogError> {
        let mut latest = HashMap::new();
        let mut last_batches = HashMap::new();
        for seg in &self.segments[..count] {
            for_each_batch(seg, |h, bytes| {
                if h.producer_id >= 0 {
                    last_batches.insert(h.producer_id, h.base_offset);
                }
                if h.is_control() {
                    return;
                }
                if let Ok(set) = RecordBatchDecoder::decode(&mut Bytes::copy_from_slice(bytes)) {
                    for r in set.records {
                        if let Some(key) = r.key {
                            latest.insert(key, r.offset);
                        }
                    }
                }
            })?;
        }
        Ok(Latest {
            keys: latest,
            producers_last_batch: last_batches.into_values().collect(),
        })
    }

    /// The surviving batches of segments `from..to` and how many records were removed.
    fn clean_group(
        &self,
        from: usize,
        to: usize,
        latest: &Latest,
        c: &Compaction,
        now_ms: i64,
    ) -> Result<(Vec<u8>, u64), LogError> {
        let mut out = Vec::new();
        let mut removed = 0u64;
        let mut failure = None;
        for seg in &self.segments[from..to] {
            let tombstones_expire = seg
                .meta
                .max_ts
                .is_none_or(|(ts, _)| now_ms.saturating_sub(ts) > c.delete_retention_ms.max(0));
            for_each_batch(seg, |h, bytes| {
                if failure.is_some() {
                    return;
                }
                if h.is_control() || latest.producers_last_batch.contains(&h.base_offset) {
                    out.extend_from_slice(bytes);
                    return;
                }
                let set = match RecordBatchDecoder::decode(&mut Bytes::copy_from_slice(bytes)) {
                    Ok(set) => set,
                    Err(e) => {
                        // Keep what cannot be read rather than lose it.
                        tracing::warn!(
                            offset = h.base_offset,
                            "cleaner cannot decode a batch: {e:#}"
                        );
                        out.extend_from_slice(bytes);
                        return;
                    }
                };
                let total = set.records.len();
                let kept: Vec<Record> = set
                    .records
                    .into_iter()
                    .filter(|r| {
                        let Some(key) = &r.key else { return false };
                        latest.keys.get(key) == Some(&r.offset)
                            && !(r.value.is_none() && tombstones_expire)
                    })
                    .collect();
                removed += (total - kept.len()) as u64;
                if kept.len() == total {
                    out.extend_from_slice(bytes);
                } else if !kept.is_empty() {
                    match reencode(h, &kept, set.compression) {
                        Ok(b) => out.extend_from_slice(&b),
                        Err(e) => failure = Some(e),
                    }
                }
            })?;
        }
        match failure {
            Some(e) => Err(e),
            None => Ok((out, removed)),
        }
    }

    /// A sealed segment at `base` holding `bytes` and covering offsets up to `end`, swapped in
    /// for every segment in `[base, end)` by the medium (crash-safe on disk: see
    /// [`super::storage::disk`]).
    fn write_replacement(
        &self,
        base: usize,
        end: i64,
        bytes: Vec<u8>,
    ) -> Result<Segment, LogError> {
        let base = self.segments[base].meta.base_offset;
        let interval = self.config.index_interval_bytes;
        let mut meta = Meta::new(base);
        for (pos, h) in batch::headers(&bytes) {
            meta.track(pos as u64, &h, interval);
        }
        meta.push_time_entry();
        let (index, time_index) = meta.encode_indexes();
        let storage = &*self.storage;
        storage.replace_segments(base, end, &bytes, &index, &time_index)?;
        let mut report = RecoveryReport::default();
        Ok(Segment::open_sealed(
            storage,
            base,
            end,
            interval,
            true,
            &mut report,
        )?)
    }
}

#[cfg(test)]
pub(crate) use super::storage::disk::{CrashPoint, CRASH_AT};

/// Call `f` with every batch of a segment (header and whole bytes), reading a chunk at a time.
fn for_each_batch(seg: &Segment, mut f: impl FnMut(&BatchHeader, &[u8])) -> Result<(), LogError> {
    let mut pos = 0u64;
    let mut buf = Vec::new();
    while pos < seg.meta.size {
        buf.clear();
        let n = seg.read_batches(pos, READ_CHUNK, true, &mut buf)?;
        if n == 0 {
            break;
        }
        for (at, h) in batch::headers(&buf) {
            f(&h, &buf[at..at + h.total_size()]);
        }
        pos += n as u64;
    }
    Ok(())
}

/// Re-encode the surviving records of a batch with its codec and attributes.
fn reencode(
    h: &BatchHeader,
    kept: &[Record],
    compression: kafka_protocol::records::Compression,
) -> Result<BytesMut, LogError> {
    let mut out = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    RecordBatchEncoder::encode(&mut out, kept, &options)
        .map_err(|e| LogError::Corrupt(format!("re-encoding a cleaned batch: {e:#}")))?;
    if h.is_log_append_time() {
        let positions: Vec<_> = batch::headers(&out)
            .map(|(p, h)| (p, h.total_size()))
            .collect();
        for (p, len) in positions {
            batch::set_log_append_time(&mut out[p..p + len], h.max_timestamp);
        }
    }
    Ok(out)
}
