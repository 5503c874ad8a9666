//! What the log knows about a segment's content without reading it: offsets, size, the
//! sparse indexes and the max timestamp. Built while appending and by the recovery scans.

use super::batch::BatchHeader;
use super::index::{self, IndexEntry, TimeEntry};

/// What the log knows about a segment's content without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Meta {
    pub base_offset: i64,
    /// One past the last offset in the segment.
    pub next_offset: i64,
    /// Bytes of whole batches (the file is truncated to this on recovery).
    pub size: u64,
    pub index: Vec<IndexEntry>,
    pub time_index: Vec<TimeEntry>,
    pub(crate) bytes_since_index: u64,
    /// (max timestamp, base offset of the first batch reaching it).
    pub max_ts: Option<(i64, i64)>,
}

impl Meta {
    pub(crate) fn new(base_offset: i64) -> Self {
        Self {
            base_offset,
            next_offset: base_offset,
            size: 0,
            index: Vec::new(),
            time_index: Vec::new(),
            bytes_since_index: 0,
            max_ts: None,
        }
    }

    /// `offset` relative to the base, clamped to what an index entry can hold.
    pub(crate) fn rel(&self, offset: i64) -> u32 {
        offset
            .saturating_sub(self.base_offset)
            .clamp(0, i64::from(u32::MAX)) as u32
    }

    /// Account for the batch written at `pos`: an index entry every `interval` bytes (taken
    /// before the batch, as Kafka does) and a time entry there when the max timestamp grew.
    pub(crate) fn track(&mut self, pos: u64, h: &BatchHeader, interval: u32) {
        if self.max_ts.is_none_or(|(ts, _)| h.max_timestamp > ts) {
            self.max_ts = Some((h.max_timestamp, h.base_offset));
        }
        if self.bytes_since_index > u64::from(interval) {
            let rel = self.rel(h.base_offset);
            push_compact(
                &mut self.index,
                IndexEntry {
                    rel,
                    pos: pos as u32,
                },
            );
            self.push_time_entry();
            self.bytes_since_index = 0;
        }
        let size = h.total_size() as u64;
        self.bytes_since_index += size;
        self.size = pos + size;
        self.next_offset = h.last_offset().saturating_add(1);
    }

    /// Add the current max timestamp to the time index if it grew since the last entry. Done
    /// on sealing too, so that the last entry of a written time index is the segment's max.
    pub(crate) fn push_time_entry(&mut self) {
        if let Some((ts, offset)) = self.max_ts {
            if self.time_index.last().is_none_or(|e| ts > e.ts) {
                let rel = self.rel(offset);
                push_compact(&mut self.time_index, TimeEntry { ts, rel });
            }
        }
    }

    /// Drop the indexes' spare capacity: the segment takes no more entries.
    pub(crate) fn shrink(&mut self) {
        self.index.shrink_to_fit();
        self.time_index.shrink_to_fit();
    }

    /// The stored forms of the offset and time indexes.
    pub(crate) fn encode_indexes(&self) -> (Vec<u8>, Vec<u8>) {
        (
            index::encode_index(&self.index),
            index::encode_time_index(&self.time_index),
        )
    }

    /// The largest relative offset a consistent index of this segment may hold.
    pub(crate) fn max_rel(&self) -> u64 {
        (self.next_offset - self.base_offset - 1).max(0) as u64
    }
}

/// Push growing the vector by an eighth when full rather than doubling it: with small batches
/// (an entry every 4 KiB) the indexes are most of a partition's memory, and a doubled vector
/// is up to half spare.
fn push_compact<T>(v: &mut Vec<T>, x: T) {
    if v.len() == v.capacity() {
        v.reserve_exact(v.len() / 8 + 64);
    }
    v.push(x);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_grow_by_an_eighth_and_shrink_when_sealed() {
        let mut m = Meta::new(0);
        for i in 0..100_000u32 {
            push_compact(&mut m.index, IndexEntry { rel: i, pos: i });
            push_compact(
                &mut m.time_index,
                TimeEntry {
                    ts: i64::from(i),
                    rel: i,
                },
            );
            let (len, cap) = (m.index.len(), m.index.capacity());
            assert!(cap <= len + len / 8 + 64, "{cap} spare at {len}");
        }
        m.shrink();
        assert_eq!(m.index.capacity(), m.index.len());
        assert_eq!(m.time_index.capacity(), m.time_index.len());
        assert_eq!(std::mem::size_of::<TimeEntry>(), index::TIME_ENTRY_LEN);
    }
}
