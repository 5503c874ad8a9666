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
            // A position a chunk or more past what was buffered means the batches walked over
            // are larger than a chunk: read just what is asked (a header), not a chunk of
            // records nobody looks at.
            let want = if pos >= buf_end + CHUNK as u64 {
                len
            } else {
                len.max(CHUNK)
            };
            let n = (self.end - pos).min(want as u64) as usize;
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use crate::log::storage::memory::MemorySegment;
    use crate::log::testutil::batch;

    /// A memory segment that counts the reads made and the bytes they copied.
    struct Counting {
        inner: MemorySegment,
        reads: AtomicU64,
        bytes: AtomicU64,
    }

    impl SegmentData for Counting {
        fn size(&self) -> io::Result<u64> {
            self.inner.size()
        }
        fn read_exact_at(&self, pos: u64, buf: &mut [u8]) -> io::Result<()> {
            self.reads.fetch_add(1, Ordering::Relaxed);
            self.bytes.fetch_add(buf.len() as u64, Ordering::Relaxed);
            self.inner.read_exact_at(pos, buf)
        }
        fn write_at(&self, pos: u64, parts: &[&[u8]]) -> io::Result<()> {
            self.inner.write_at(pos, parts)
        }
        fn truncate(&self, len: u64) -> io::Result<()> {
            self.inner.truncate(len)
        }
        fn sync(&self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Walks every header of `bytes`, returning the base offsets and the data's counters.
    fn walk(bytes: Vec<u8>) -> (Vec<i64>, u64, u64) {
        let end = bytes.len() as u64;
        let data = Counting {
            inner: MemorySegment::from(bytes),
            reads: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        };
        let mut reader = Reader::new(&data, end);
        let (mut pos, mut bases) = (0, Vec::new());
        while pos < end {
            let h = reader.header(pos).unwrap().unwrap();
            bases.push(h.base_offset);
            pos += h.total_size() as u64;
        }
        let (reads, bytes) = (data.reads.into_inner(), data.bytes.into_inner());
        (bases, reads, bytes)
    }

    /// Batches larger than two chunks are walked by reading their headers, not a chunk of
    /// each; small batches after them are read a chunk at a time again.
    #[test]
    fn large_batches_are_walked_header_by_header() {
        let (mut bytes, mut expected, mut offset) = (Vec::new(), Vec::new(), 0);
        for count in [5_000; 8].into_iter().chain([2; 50]) {
            let b = batch(offset, count);
            if count == 5_000 {
                assert!(b.len() > 2 * CHUNK, "a large batch is {} bytes", b.len());
            }
            bytes.extend_from_slice(&b);
            expected.push(offset);
            offset += count as i64;
        }
        let (bases, reads, copied) = walk(bytes);
        assert_eq!(bases, expected);
        // One chunk at the start, a header per large batch, one chunk for the small ones.
        assert!(copied < 3 * CHUNK as u64, "{copied} bytes copied");
        assert!(reads <= 8 + 2, "{reads} reads");
    }

    /// Small batches cost one read a chunk, not one a batch.
    #[test]
    fn small_batches_are_read_a_chunk_at_a_time() {
        let (mut bytes, mut offset) = (Vec::new(), 0);
        for _ in 0..2_000 {
            bytes.extend_from_slice(&batch(offset, 3));
            offset += 3;
        }
        let len = bytes.len();
        let (bases, reads, _) = walk(bytes);
        assert_eq!(bases.len(), 2_000);
        assert!(
            reads as usize <= len / CHUNK + 2,
            "{reads} reads for {len} bytes"
        );
    }
}
