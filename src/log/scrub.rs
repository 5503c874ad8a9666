//! The background scrub's work on one segment: walk its batches through bounded
//! buffers, checking each header, the offsets and the CRC32C (computed a chunk at a time, so
//! a batch of any size needs no more memory than a chunk), and return the damaged stretches.
//!
//! It runs without the partition's lock: [`PartitionLog::scrub_targets`] hands out the
//! sealed segments' file handles (an open handle keeps reading a file that retention deletes
//! or the cleaner replaces), and [`PartitionLog::add_damage`] records findings only if the
//! segment is still the one that was scrubbed.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use super::batch::{BatchHeader, HEADER_LEN};
use super::crc::Crc32c;
use super::damage::{Damage, Defect};
use super::scan::{offsets_follow, plausible};
use super::storage::SegmentData;
use super::PartitionLog;

/// Bytes read at a time (and the most the scrub holds of a segment).
const CHUNK: usize = 64 * 1024;
/// Where the CRC32C's coverage starts in a batch (the attributes field).
const CRC_FROM: u64 = 21;

/// A sealed segment to scrub, as it was under the partition's lock.
#[derive(Clone)]
pub struct ScrubTarget {
    pub data: Arc<dyn SegmentData>,
    pub path: PathBuf,
    pub base_offset: i64,
    /// The next segment's base offset.
    pub end_offset: i64,
    pub size: u64,
}

/// Paces the scrub: told how many bytes were just read, it sleeps as long as the rate
/// requires; false means stop now (shutdown).
pub trait Pace {
    fn read(&mut self, bytes: u64) -> bool;
}

impl<F: FnMut(u64) -> bool> Pace for F {
    fn read(&mut self, bytes: u64) -> bool {
        self(bytes)
    }
}

impl PartitionLog {
    /// The segments of a log on a durable medium, oldest first. The active one is included up to its
    /// current size: bytes once written are not rewritten, and after a clean shutdown its
    /// batches were not CRC-checked at start-up either.
    pub fn scrub_targets(&self) -> Vec<ScrubTarget> {
        if !self.storage.durable() {
            return Vec::new();
        }
        let end = self.log_end_offset();
        self.segments
            .iter()
            .enumerate()
            .map(|(i, seg)| ScrubTarget {
                data: seg.data.clone(),
                path: seg.path.clone(),
                base_offset: seg.meta.base_offset,
                end_offset: self.segments.get(i + 1).map_or(end, |n| n.meta.base_offset),
                size: seg.meta.size,
            })
            .collect()
    }

    /// Record what a scrub of `target` found, unless that segment has since been deleted or
    /// replaced. Returns the damage not known before.
    pub fn add_damage(&mut self, target: &ScrubTarget, found: Vec<Damage>) -> Vec<Damage> {
        let same =
            |d: &Arc<dyn SegmentData>| std::ptr::addr_eq(Arc::as_ptr(d), Arc::as_ptr(&target.data));
        match self
            .segments
            .iter_mut()
            .find(|s| s.meta.base_offset == target.base_offset && same(&s.data))
        {
            Some(seg) => seg.damage.add(found),
            None => Vec::new(),
        }
    }

    /// Whether any of the first `count` segments is known to be damaged.
    pub(crate) fn any_damage(&self, count: usize) -> bool {
        self.segments
            .iter()
            .take(count)
            .any(|s| !s.damage.is_empty())
    }
}

/// The damaged stretches of a segment; None if `pace` said stop. Consecutive bad batches form
/// one stretch; after a batch whose header is plausible but whose CRC or offsets are wrong,
/// the walk goes on at the next batch, so the good batches after it stay readable.
pub fn scrub(target: &ScrubTarget, pace: &mut dyn Pace) -> io::Result<Option<Vec<Damage>>> {
    let mut found = Vec::new();
    let mut open: Option<Damage> = None;
    let mut expected = target.base_offset;
    let mut pos = 0u64;
    let mut chunks = Chunks::new(&*target.data, target.size);
    let close = |open: &mut Option<Damage>, found: &mut Vec<Damage>, end_pos, end_offset| {
        if let Some(mut d) = open.take() {
            d.end_pos = end_pos;
            d.end_offset = end_offset;
            found.push(d);
        }
    };
    while pos < target.size {
        let Some(header) = chunks.header(pos, pace)? else {
            return Ok(None);
        };
        let checked = header.clone().and_then(|h| {
            offsets_follow(&h, expected, target.end_offset)?;
            Ok(h)
        });
        let verdict = match checked {
            Ok(h) => match chunks.crc(pos, &h, pace)? {
                None => return Ok(None),
                Some(computed) if computed == h.crc => Ok(h),
                Some(computed) => Err((
                    Some(h),
                    Defect::Crc {
                        stored: h.crc,
                        computed,
                    },
                )),
            },
            Err(defect) => Err((header.ok(), defect)),
        };
        match verdict {
            Ok(h) => {
                close(&mut open, &mut found, pos, h.base_offset);
                expected = h.last_offset() + 1;
                pos += h.total_size() as u64;
            }
            Err((h, defect)) => {
                open.get_or_insert(Damage {
                    segment: target.path.clone(),
                    pos,
                    end_pos: target.size,
                    first_offset: expected,
                    end_offset: target.end_offset,
                    defect,
                });
                // Only a header that frames its batch lets the walk find the next one.
                match h {
                    Some(h) => pos += h.total_size() as u64,
                    None => pos = target.size,
                }
            }
        }
    }
    close(&mut open, &mut found, target.size, target.end_offset);
    Ok(Some(found))
}

/// `[.., end)` of a segment through one buffer of [`CHUNK`] bytes, refilled (and paced) a chunk
/// at a time: one read and at most one sleep per chunk, however small the batches.
struct Chunks<'a> {
    data: &'a dyn SegmentData,
    end: u64,
    buf: Vec<u8>,
    buf_pos: u64,
}

impl<'a> Chunks<'a> {
    fn new(data: &'a dyn SegmentData, end: u64) -> Self {
        Self {
            data,
            end,
            buf: Vec::with_capacity(CHUNK),
            buf_pos: 0,
        }
    }

    /// `len` (at most [`CHUNK`]) bytes at `pos`, which the caller keeps within `end`; None if
    /// `pace` said stop.
    fn get(&mut self, pos: u64, len: usize, pace: &mut dyn Pace) -> io::Result<Option<&[u8]>> {
        let buf_end = self.buf_pos + self.buf.len() as u64;
        if pos < self.buf_pos || pos + len as u64 > buf_end {
            let n = (self.end - pos).min(CHUNK as u64) as usize;
            self.buf.resize(n, 0);
            self.data.read_exact_at(pos, &mut self.buf)?;
            self.buf_pos = pos;
            if !pace.read(n as u64) {
                return Ok(None);
            }
        }
        let at = (pos - self.buf_pos) as usize;
        Ok(self.buf.get(at..at + len))
    }

    /// The header at `pos`, or why no batch can start there; None if `pace` said stop.
    fn header(
        &mut self,
        pos: u64,
        pace: &mut dyn Pace,
    ) -> io::Result<Option<Result<BatchHeader, Defect>>> {
        let left = self.end - pos;
        if left < HEADER_LEN as u64 {
            return Ok(Some(Err(Defect::ShortHeader { left })));
        }
        Ok(self
            .get(pos, HEADER_LEN, pace)?
            .map(|b| match BatchHeader::parse(b) {
                Some(h) => plausible(&h, left),
                None => Err(Defect::ShortHeader { left }),
            }))
    }

    /// CRC32C of the batch at `pos` (from its attributes to its end), a chunk at a time; None
    /// if `pace` said stop.
    fn crc(&mut self, pos: u64, h: &BatchHeader, pace: &mut dyn Pace) -> io::Result<Option<u32>> {
        let mut at = pos + CRC_FROM;
        let end = pos + h.total_size() as u64;
        let mut crc = Crc32c::new();
        while at < end {
            let n = ((end - at) as usize).min(CHUNK);
            let Some(bytes) = self.get(at, n, pace)? else {
                return Ok(None);
            };
            crc.update(bytes);
            at += n as u64;
        }
        Ok(Some(crc.finish()))
    }
}
