//! Walking a segment's batch headers through a bounded buffer, and the checks recovery makes
//! on each batch (typed, so damage can be reported and kept).

use std::io;

use super::batch::{self, BatchHeader, HEADER_LEN};
use super::damage::Defect;
use super::segment_meta::Meta;
use super::storage::SegmentData;

/// Read granularity when walking batch headers: one syscall per chunk, not per batch.
const CHUNK: usize = 32 * 1024;

/// Reads `[.., end)` of a segment through a buffer refilled a chunk at a time.
pub(crate) struct Reader<'a> {
    data: &'a dyn SegmentData,
    end: u64,
    buf: Vec<u8>,
    buf_pos: u64,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a dyn SegmentData, end: u64) -> Self {
        Self {
            data,
            end,
            buf: Vec::new(),
            buf_pos: 0,
        }
    }

    /// `len` bytes at `pos`; the caller ensures `pos + len <= end`.
    pub fn get(&mut self, pos: u64, len: usize) -> io::Result<&[u8]> {
        let buf_end = self.buf_pos + self.buf.len() as u64;
        if pos < self.buf_pos || pos + len as u64 > buf_end {
            let n = (self.end - pos).min(len.max(CHUNK) as u64) as usize;
            self.buf.resize(n, 0);
            self.data.read_exact_at(pos, &mut self.buf)?;
            self.buf_pos = pos;
        }
        let at = (pos - self.buf_pos) as usize;
        Ok(&self.buf[at..at + len])
    }

    /// The header of the batch at `pos`, or why no plausible batch lies there (short, bad
    /// length, wrong magic). The CRC is not checked.
    pub fn header(&mut self, pos: u64) -> io::Result<Result<BatchHeader, Defect>> {
        let left = self.end.saturating_sub(pos);
        if left < HEADER_LEN as u64 {
            return Ok(Err(Defect::ShortHeader { left }));
        }
        let Some(h) = BatchHeader::parse(self.get(pos, HEADER_LEN)?) else {
            return Ok(Err(Defect::ShortHeader { left }));
        };
        Ok(plausible(&h, left))
    }
}

/// Whether `h` can be a stored batch with `left` bytes from its start to the segment's end.
pub(crate) fn plausible(h: &BatchHeader, left: u64) -> Result<BatchHeader, Defect> {
    if h.magic != 2 {
        Err(Defect::Magic(h.magic))
    } else if h.total_size() < HEADER_LEN || h.total_size() as u64 > left {
        Err(Defect::Length {
            length: h.batch_length,
            left,
        })
    } else {
        Ok(*h)
    }
}

/// Offsets only grow (compaction leaves gaps between batches) and stay below `end_offset`,
/// where the next segment starts.
pub(crate) fn offsets_follow(
    h: &BatchHeader,
    expected: i64,
    end_offset: i64,
) -> Result<(), Defect> {
    if h.base_offset < expected || h.last_offset_delta < 0 || h.last_offset() >= end_offset {
        return Err(Defect::Offsets {
            base: h.base_offset,
            last: h.last_offset(),
            expected,
            end: end_offset,
        });
    }
    Ok(())
}

/// Walk the batches in `[from, end)` of `data`, tracking each in `meta`. Stop at the first one
/// that is malformed, does not continue the offsets (or reaches `end_offset`) or, with
/// `verify`, fails its CRC, and return its position and why.
pub(crate) fn scan(
    data: &dyn SegmentData,
    meta: &mut Meta,
    from: u64,
    end: u64,
    end_offset: i64,
    verify: bool,
    interval: u32,
) -> io::Result<Option<(u64, Defect)>> {
    let mut reader = Reader::new(data, end);
    let mut pos = from;
    while pos < end {
        let h = match reader.header(pos)? {
            Ok(h) => h,
            Err(defect) => return Ok(Some((pos, defect))),
        };
        if let Err(defect) = offsets_follow(&h, meta.next_offset, end_offset) {
            return Ok(Some((pos, defect)));
        }
        if pos + h.total_size() as u64 > u64::from(u32::MAX) {
            return Ok(Some((pos, Defect::TooLarge)));
        }
        if verify {
            let bytes = reader.get(pos, h.total_size())?;
            let computed = batch::compute_crc(bytes);
            if computed != h.crc {
                let stored = h.crc;
                return Ok(Some((pos, Defect::Crc { stored, computed })));
            }
        }
        meta.track(pos, &h, interval);
        pos += h.total_size() as u64;
    }
    Ok(None)
}
