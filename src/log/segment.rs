//! One segment: its data (on whatever medium the log's [`LogStorage`] provides) of v2 batches
//! with growing offsets, plus its sparse indexes and max timestamp, kept in memory
//! ([`Meta`], in `segment_meta.rs`).
//! Opening a segment at start-up (the recovery scans) lives in `recovery.rs` and `sealed.rs`.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;
use tracing::warn;

use super::batch::{self, BatchHeader};
use super::damage::DamageList;
use super::index::{self, IndexEntry, TimeEntry};
use super::scan::Reader;
pub(crate) use super::segment_meta::Meta;
use super::storage::{LogStorage, SegmentData};

/// What [`Segment::region_len`] found: bytes, records in the whole batches among them, and
/// the offset after the last whole batch (None if there is none).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub len: u64,
    pub records: u64,
    pub end_offset: Option<i64>,
}

pub(crate) struct Segment {
    pub(crate) data: Arc<dyn SegmentData>,
    /// Where the segment lives, for logs and damage reports.
    pub(crate) path: PathBuf,
    pub meta: Meta,
    /// When the segment's first batch was appended (for `segment.ms`), if known.
    pub roll_base_ms: Option<i64>,
    /// Stretches found damaged (sealed segments only), which reads do not serve.
    pub damage: DamageList,
}

impl Segment {
    fn with_data(storage: &dyn LogStorage, data: Arc<dyn SegmentData>, base_offset: i64) -> Self {
        Self {
            data,
            path: storage.segment_path(base_offset),
            meta: Meta::new(base_offset),
            roll_base_ms: None,
            damage: DamageList::default(),
        }
    }

    /// A new, empty segment (replacing one left over at that base).
    pub fn create(storage: &dyn LogStorage, base_offset: i64) -> io::Result<Self> {
        let data = storage.create_segment(base_offset)?;
        Ok(Self::with_data(storage, data, base_offset))
    }

    /// An existing segment, its [`Meta`] still to be found by a recovery scan.
    pub(crate) fn open_data(storage: &dyn LogStorage, base_offset: i64) -> io::Result<Self> {
        let data = storage.open_segment(base_offset)?;
        Ok(Self::with_data(storage, data, base_offset))
    }

    /// The stored indexes, if both are there and whole.
    pub(crate) fn load_indexes(
        &self,
        storage: &dyn LogStorage,
    ) -> Option<(Vec<IndexEntry>, Vec<TimeEntry>)> {
        let (index, time) = storage.read_indexes(self.meta.base_offset)?;
        Some((
            index::decode_index(&index)?,
            index::decode_time_index(&time)?,
        ))
    }

    /// Whether the batch at the entry's position has the entry's offset (no entry: true).
    pub(crate) fn entry_matches(&self, entry: Option<&IndexEntry>, len: u64) -> io::Result<bool> {
        let Some(e) = entry else { return Ok(true) };
        let header = Reader::new(&*self.data, len).header(u64::from(e.pos))?;
        Ok(header.is_ok_and(|h| h.base_offset == self.meta.base_offset + i64::from(e.rel)))
    }

    pub(crate) fn name(&self) -> String {
        self.path.display().to_string()
    }

    /// Write whole batches (offsets already assigned) at the end, `parts` one after the other;
    /// `headers` are the batches' positions within them and their final headers.
    pub fn append(
        &mut self,
        parts: &[&[u8]],
        headers: &[(usize, BatchHeader)],
        interval: u32,
    ) -> io::Result<()> {
        let start = self.meta.size;
        if let Err(e) = self.data.write_at(start, parts) {
            // Drop whatever part was written, so the data keeps ending with a whole batch.
            let _ = self.data.truncate(start);
            return Err(e);
        }
        for (pos, h) in headers {
            self.meta.track(start + *pos as u64, h, interval);
        }
        Ok(())
    }

    /// Make the segment durable as it stands: indexes written out (with the max timestamp as
    /// the last time entry) and everything synced. Used on roll and close.
    pub fn seal(&mut self, storage: &dyn LogStorage) -> io::Result<()> {
        self.meta.push_time_entry();
        self.meta.shrink();
        let (index, time) = self.meta.encode_indexes();
        storage.write_indexes(self.meta.base_offset, &index, &time)?;
        self.data.sync_sealed()
    }

    /// The first batch at or after `from` satisfying `pred`, never in a damaged stretch. A
    /// malformed header ends the walk.
    fn walk(
        &self,
        from: u64,
        mut pred: impl FnMut(&BatchHeader) -> bool,
    ) -> io::Result<Option<(u64, BatchHeader)>> {
        let mut reader = Reader::new(&*self.data, self.meta.size);
        let mut pos = from;
        while pos < self.meta.size {
            // A damaged header may claim any offsets and length: step over the stretch.
            if let Some(d) = self.damage.covering_pos(pos) {
                pos = d.end_pos;
                continue;
            }
            let Ok(h) = reader.header(pos)? else {
                return Ok(None);
            };
            if pred(&h) {
                return Ok(Some((pos, h)));
            }
            pos += h.total_size() as u64;
        }
        Ok(None)
    }

    /// Where to walk from to find relative offset `rel`: the last index entry at or before
    /// it. Only the last entry of a loaded index is checked at open, so an entry whose batch
    /// does not start at its offset (which would skip data) is caught here: walk from 0.
    fn start_for(&self, rel: u32) -> io::Result<u64> {
        let Some(e) = index::lookup(&self.meta.index, rel) else {
            return Ok(0);
        };
        if self.entry_matches(Some(&e), self.meta.size)? {
            return Ok(u64::from(e.pos));
        }
        warn!(segment = %self.name(), entry = ?e, "index entry does not match the data");
        Ok(0)
    }

    /// The first batch holding an offset >= `offset`, found from the sparse index.
    pub fn find_batch(&self, offset: i64) -> io::Result<Option<(u64, BatchHeader)>> {
        let from = self.start_for(self.meta.rel(offset))?;
        self.walk(from, |h| h.last_offset() >= offset)
    }

    /// Where reads from `pos` must end: the segment's end or the next damaged stretch.
    pub fn served_end(&self, pos: u64) -> u64 {
        self.damage
            .stop_after(pos)
            .map_or(self.meta.size, |p| p.min(self.meta.size))
    }

    /// Whether a read from `pos` must not go on into the next segment (damage lies ahead).
    pub fn stops_read(&self, pos: u64) -> bool {
        self.damage.stop_after(pos).is_some()
    }

    /// Append to `out` whole batches from `pos` on, at most `budget` bytes, and return how many
    /// bytes were appended. With `whole_first` a first batch bigger than the budget comes
    /// whole; else nothing does.
    pub fn read_batches(
        &self,
        pos: u64,
        budget: usize,
        whole_first: bool,
        out: &mut Vec<u8>,
    ) -> io::Result<usize> {
        let start = out.len();
        let end = self.served_end(pos);
        let want = (end.saturating_sub(pos)).min(budget as u64) as usize;
        out.resize(start + want, 0);
        self.data.read_exact_at(pos, &mut out[start..])?;
        let whole = batch::headers(&out[start..])
            .last()
            .map_or(0, |(p, h)| p + h.total_size());
        if whole > 0 {
            out.truncate(start + whole);
            return Ok(whole);
        }
        if whole_first {
            if let Ok(h) = Reader::new(&*self.data, end).header(pos)? {
                // The first batch alone is over the budget: keep its bytes read so far and
                // read only the rest of it.
                let size = h.total_size();
                let have = want.min(size);
                out.truncate(start + have);
                out.resize(start + size, 0);
                self.data
                    .read_exact_at(pos + have as u64, &mut out[start + have..])?;
                return Ok(size);
            }
        }
        out.truncate(start);
        Ok(0)
    }

    /// How many bytes from `pos` on [`Self::read_batches`] would return, found from batch
    /// headers alone (for sending straight from the file), additionally stopping before the
    /// first batch whose base offset is `below` or more. A walk ends at a malformed header.
    pub fn region_len(
        &self,
        pos: u64,
        budget: usize,
        whole_first: bool,
        below: i64,
    ) -> io::Result<Span> {
        let budget = budget as u64;
        let limit = self.served_end(pos);
        let mut reader = Reader::new(&*self.data, limit);
        let mut end = pos;
        let mut first_batch = None;
        let mut span = Span::default();
        while end < limit {
            let Ok(h) = reader.header(end)? else { break };
            if h.base_offset >= below {
                break;
            }
            let size = h.total_size() as u64;
            let records = h.records_count.max(0) as u64;
            first_batch.get_or_insert((size, records, h.last_offset() + 1));
            if end + size - pos > budget {
                break;
            }
            end += size;
            span.records += records;
            span.end_offset = Some(h.last_offset() + 1);
        }
        span.len = end - pos;
        Ok(match (span.len, whole_first, first_batch) {
            (0, true, Some((len, records, end_offset))) => Span {
                len,
                records,
                end_offset: Some(end_offset),
            },
            _ => span,
        })
    }

    fn read_bytes(&self, pos: u64, len: usize) -> io::Result<Bytes> {
        let mut buf = vec![0; len];
        self.data.read_exact_at(pos, &mut buf)?;
        Ok(buf.into())
    }

    /// The first record of the batch at `pos` at or after offset `min` whose timestamp
    /// satisfies `pred`, as (offset, timestamp). LogAppendTime batches give every record the
    /// batch's max timestamp, so they need no decoding.
    fn find_record(
        &self,
        pos: u64,
        h: &BatchHeader,
        min: i64,
        pred: impl Fn(i64) -> bool,
    ) -> io::Result<Option<(i64, i64)>> {
        let batch_level = (pred(h.max_timestamp) && h.last_offset() >= min)
            .then_some((h.base_offset.max(min), h.max_timestamp));
        if h.is_log_append_time() {
            return Ok(batch_level);
        }
        let mut bytes = self.read_bytes(pos, h.total_size())?;
        match RecordBatchDecoder::decode(&mut bytes) {
            Ok(set) => Ok(set
                .records
                .iter()
                .find(|r| r.offset >= min && pred(r.timestamp))
                .map(|r| (r.offset, r.timestamp))),
            Err(e) => {
                // Records are not validated on produce; answer at batch level rather than fail.
                warn!(segment = %self.name(), pos, "cannot decode batch: {e:#}");
                Ok(batch_level)
            }
        }
    }

    /// The first record in this segment at or after offset `min` with timestamp >= `ts`, as
    /// (offset, timestamp).
    pub fn offset_for_timestamp(&self, ts: i64, min: i64) -> io::Result<Option<(i64, i64)>> {
        let rel = index::lookup_time(&self.meta.time_index, ts).unwrap_or(0);
        let mut from = self.start_for(rel)?;
        // The first batch whose max reaches `ts` holds the answer unless its header lies.
        while let Some((pos, h)) =
            self.walk(from, |h| h.max_timestamp >= ts && h.last_offset() >= min)?
        {
            if let Some(found) = self.find_record(pos, &h, min, |t| t >= ts)? {
                return Ok(Some(found));
            }
            from = pos + h.total_size() as u64;
        }
        Ok(None)
    }

    /// The first record carrying this segment's max timestamp, as (offset, timestamp).
    pub fn max_timestamp(&self) -> io::Result<Option<(i64, i64)>> {
        let Some((ts, batch_offset)) = self.meta.max_ts else {
            return Ok(None);
        };
        let from = self.start_for(self.meta.rel(batch_offset))?;
        let found = match self.walk(from, |h| h.base_offset >= batch_offset)? {
            Some((pos, h)) if h.base_offset == batch_offset => {
                self.find_record(pos, &h, i64::MIN, |t| t == ts)?
            }
            _ => None,
        };
        Ok(Some(found.unwrap_or((batch_offset, ts))))
    }
}
