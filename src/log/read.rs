//! Reading a partition's log: record batches for a fetch (as bytes, or as regions of
//! segment files to send without copying) and the timestamp lookups of ListOffsets.

use bytes::Bytes;

use super::segment::Segment;
use super::{LogError, PartitionLog, Region};

/// Bytes read from the log for a fetch.
#[derive(Debug, Clone, Default)]
pub struct ReadResult {
    /// Whole record batches, starting with the batch that contains the requested offset.
    pub records: Bytes,
}

impl PartitionLog {
    /// Read whole batches from the one that contains `offset` on, at most `max_bytes` (but
    /// always the whole first batch when `min_one_batch`). Empty when `offset` is the log end
    /// offset, and when the first batch alone exceeds `max_bytes` and `min_one_batch` is
    /// false: Kafka's log returns that batch cut at the limit, and its fetch (v3 on) answers
    /// no records instead, as a consumer cannot use a cut batch (sending it cost a fetch of
    /// 8 partitions of 1 MiB batches 7 MiB of bytes thrown away). A read continues into the
    /// following segments to fill `max_bytes`. Offsets outside the log give an empty result.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<ReadResult, LogError> {
        if offset < self.log_start_offset() || offset >= self.log_end_offset() {
            return Ok(ReadResult::default());
        }
        let Some((i, mut pos)) = self.first_served(offset)? else {
            return Ok(ReadResult::default());
        };
        let mut out = Vec::new();
        let mut budget = max_bytes;
        let mut whole_first = min_one_batch;
        for seg in &self.segments[i..] {
            let n = seg.read_batches(pos, budget, whole_first, &mut out)?;
            budget = budget.saturating_sub(n);
            if budget == 0 || pos + n as u64 != seg.meta.size || seg.stops_read(pos) {
                break;
            }
            pos = 0;
            whole_first = false;
        }
        Ok(ReadResult {
            records: Bytes::from(out),
        })
    }

    /// What [`Self::read`] returns, as regions of segments and without reading the records,
    /// ending before the first batch whose base offset is `end_offset` or more (the high
    /// watermark or the last stable offset), with the offset after the last whole batch
    /// returned (`offset` if none). `None` where the medium cannot send regions (memory):
    /// read bytes.
    pub fn read_regions(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
        end_offset: i64,
    ) -> Result<Option<(Vec<Region>, i64)>, LogError> {
        let mut regions = Vec::new();
        let mut next = offset;
        if offset < self.log_start_offset() || offset >= self.log_end_offset() {
            return Ok(Some((regions, next)));
        }
        let Some((i, mut pos)) = self.first_served(offset)? else {
            return Ok(Some((regions, next)));
        };
        let mut budget = max_bytes;
        let mut whole_first = min_one_batch;
        for seg in &self.segments[i..] {
            if seg.data.fd().is_none() {
                return Ok(None);
            }
            let span = seg.region_len(pos, budget, whole_first, end_offset)?;
            let len = span.len;
            if len > 0 {
                regions.push(Region::new(seg.data.clone(), pos, len, span.records));
            }
            next = span.end_offset.unwrap_or(next);
            budget = budget.saturating_sub(len as usize);
            if budget == 0 || pos + len != seg.meta.size || seg.stops_read(pos) {
                break;
            }
            pos = 0;
            whole_first = false;
        }
        Ok(Some((regions, next)))
    }

    /// Where a read of `offset` starts: (segment index, file position), None past the end.
    /// Damaged offsets are an error (CORRUPT_MESSAGE for the fetcher), so that a damaged
    /// batch is never served and a consumer stops before it instead of skipping it.
    fn first_served(&self, offset: i64) -> Result<Option<(usize, u64)>, LogError> {
        let mut i = self.segment_for(offset);
        if let Some(d) = self.segments[i].damage.covering_offset(offset) {
            return Err(LogError::damaged(d));
        }
        loop {
            match self.segments.get(i) {
                None => return Ok(None),
                Some(seg) => match seg.find_batch(offset)? {
                    Some((pos, _)) => return Ok(Some((i, pos))),
                    // Only past a segment's unreadable tail: the next segment follows.
                    None => i += 1,
                },
            }
        }
    }

    /// The earliest record at or after the log start offset whose timestamp is >=
    /// `timestamp`: (offset, timestamp).
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>, LogError> {
        for seg in &self.segments {
            if seg.meta.max_ts.is_some_and(|(ts, _)| ts >= timestamp) {
                if let Some(found) = seg.offset_for_timestamp(timestamp, self.start_offset)? {
                    return Ok(Some(found));
                }
            }
        }
        Ok(None)
    }

    /// The record with the largest timestamp (the earliest such record on ties).
    pub fn max_timestamp(&self) -> Result<Option<(i64, i64)>, LogError> {
        let mut best: Option<&Segment> = None;
        for seg in &self.segments {
            let ts = seg.meta.max_ts.map(|(ts, _)| ts);
            if ts.is_some() && best.is_none_or(|b| ts > b.meta.max_ts.map(|(ts, _)| ts)) {
                best = Some(seg);
            }
        }
        match best {
            Some(seg) => Ok(seg.max_timestamp()?),
            None => Ok(None),
        }
    }
}
