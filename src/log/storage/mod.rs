//! The seam between the partition log and the medium its bytes live on.
//!
//! [`LogStorage`] is one partition's storage: a set of segments named by base offset, each
//! with its data ([`SegmentData`]) and its two sparse indexes, plus a few small named
//! checkpoints (the clean-shutdown marker, the log start offset). Everything above it
//! (offsets, batches, indexes' contents, recovery, retention, compaction, damage) is written
//! once, in `log/`, against these traits. Two media implement them: [`disk::DiskStorage`] (a
//! directory of files) and [`memory::MemoryStorage`] (process memory, `--storage memory`); both
//! run the same conformance suite (`conformance.rs`).
//!
//! The methods are plain blocking calls on `&self`, and segment data is handed out as
//! `Arc<dyn SegmentData>`, so a caller can move slow work (fsync, a scrub, sending a region)
//! off the async workers and out of the partition's lock: no method needs the caller to hold
//! a lock while it does I/O.
//!
//! What differs between media is explicit: [`LogStorage::durable`] (whether anything survives
//! a reopen) and [`SegmentData::fd`] (whether fetches can send a segment's bytes straight from
//! the kernel; otherwise they read bytes).

#[cfg(test)]
mod conformance;
pub mod disk;
pub mod memory;
pub mod postgres;

use std::fmt;
use std::io;
use std::os::fd::BorrowedFd;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;

use crate::pg::fence::Fence;

/// One segment's bytes: whole record batches, appended at the end. Shared (`Arc`) between the
/// log, fsyncs done outside its lock, the scrub and fetch responses in flight; bytes once
/// written are never rewritten while the segment is open (truncation happens at recovery, and
/// replacement by the cleaner makes a new segment), so a handle keeps reading what it read.
pub trait SegmentData: Send + Sync + 'static {
    /// Bytes stored, a torn tail included.
    fn size(&self) -> io::Result<u64>;
    /// Exactly `buf.len()` bytes at `pos` (`UnexpectedEof` past the end).
    fn read_exact_at(&self, pos: u64, buf: &mut [u8]) -> io::Result<()>;
    /// Write `parts`, one after the other, at `pos`, the end of the whole batches (whatever
    /// lay beyond is replaced). Parts, so that a batch whose header the log rewrote is written
    /// from that header and the producer's bytes as they arrived, without joining them first.
    fn write_at(&self, pos: u64, parts: &[&[u8]]) -> io::Result<()>;
    /// Cut the data to `len` bytes.
    fn truncate(&self, len: u64) -> io::Result<()>;
    /// Make what was written durable (a no-op where nothing is).
    fn sync(&self) -> io::Result<()>;
    /// Make a segment that is being sealed durable (on a roll, in the append path). A medium
    /// whose next [`Self::sync`] of the log carries this segment's writes too may leave them
    /// to it.
    fn sync_sealed(&self) -> io::Result<()> {
        self.sync()
    }
    /// A descriptor the kernel can copy the bytes from (sendfile). `None`: fetches from this
    /// medium read bytes instead of returning [`Region`]s.
    fn fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }
}

/// One partition's storage. Segment data is created or opened here; everything else the log
/// keeps (indexes, checkpoints) is whole small blobs written atomically.
pub trait LogStorage: Send + Sync + fmt::Debug {
    /// Whether segments, indexes and checkpoints survive the storage being opened again (after
    /// [`SegmentData::sync`] and [`Self::sync_layout`]). Memory: false, a reopen is empty.
    fn durable(&self) -> bool;
    /// A name for a segment in logs and damage reports (disk: the data file's path).
    fn segment_path(&self, base_offset: i64) -> PathBuf;
    /// Base offsets of the segments present, sorted.
    fn list_segments(&self) -> io::Result<Vec<i64>>;
    /// A new, empty segment (replacing the data of one left over at that base).
    fn create_segment(&self, base_offset: i64) -> io::Result<Arc<dyn SegmentData>>;
    /// An existing segment's data.
    fn open_segment(&self, base_offset: i64) -> io::Result<Arc<dyn SegmentData>>;
    /// The segment's stored (offset index, time index), if both are there.
    fn read_indexes(&self, base_offset: i64) -> Option<(Vec<u8>, Vec<u8>)>;
    /// Replace the segment's indexes, each atomically (a crash leaves the old or the new).
    fn write_indexes(&self, base_offset: i64, index: &[u8], time_index: &[u8]) -> io::Result<()>;
    /// Remove a segment, data first (indexes without data are ignored). Open handles keep
    /// reading.
    fn remove_segment(&self, base_offset: i64) -> io::Result<()>;
    /// Atomically replace every segment with a base offset in `[base_offset, end_offset)` by
    /// one segment at `base_offset` holding `data` and these indexes (the cleaner's swap). On
    /// durable media a crash leaves either the old segments or the new one, once
    /// [`Self::recover`] has run.
    fn replace_segments(
        &self,
        base_offset: i64,
        end_offset: i64,
        data: &[u8],
        index: &[u8],
        time_index: &[u8],
    ) -> io::Result<()>;
    /// Finish or discard what a crash interrupted (a replacement), before segments are listed.
    fn recover(&self) -> io::Result<Option<Interrupted>>;
    /// A small named blob (checkpoint or marker), if present.
    fn read_checkpoint(&self, name: &str) -> io::Result<Option<Vec<u8>>>;
    /// Replace a checkpoint atomically.
    fn write_checkpoint(&self, name: &str, bytes: &[u8]) -> io::Result<()>;
    fn remove_checkpoint(&self, name: &str) -> io::Result<()>;
    /// Make the creations, removals and renames so far durable (disk: fsync the directory).
    fn sync_layout(&self) -> io::Result<()>;
    /// Remove everything this storage holds.
    fn destroy(&self) -> io::Result<()>;
    /// The leader epoch this broker writes the log at: 0 on one node; in cluster mode the
    /// epoch placement gave this broker.
    fn leader_epoch(&self) -> i32 {
        0
    }

    /// Cluster mode: the fence a write for this copy of the log must hold (its leader, epoch
    /// and opening; see `pg::fence`). None on one node, where nothing fences.
    fn fence(&self) -> Option<Fence> {
        None
    }
}

/// An operation a crash interrupted, found by [`LogStorage::recover`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupted {
    /// A segment replacement that had not committed: discarded.
    ReplaceDiscarded,
    /// A committed segment replacement: finished.
    ReplaceFinished,
}

/// A stretch of a segment holding whole record batches, for a fetch response to send straight
/// from the medium (sendfile for disk) without reading it into the broker. Opaque: the wire
/// layer asks for [`Region::fd`] or reads it with [`Region::read_exact_at`].
#[derive(Clone)]
pub struct Region {
    data: Arc<dyn SegmentData>,
    pos: u64,
    len: u64,
    records: u64,
}

impl Region {
    pub fn new(data: Arc<dyn SegmentData>, pos: u64, len: u64, records: u64) -> Self {
        Self {
            data,
            pos,
            len,
            records,
        }
    }

    /// Bytes in the region.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Where the region starts in its segment.
    pub fn pos(&self) -> u64 {
        self.pos
    }

    /// Records in the region's batches (for metrics; 0 for a partial batch).
    pub fn records(&self) -> u64 {
        self.records
    }

    /// A descriptor to sendfile from, at [`Self::pos`]; `None`: read the bytes.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.data.fd()
    }

    /// `buf.len()` bytes at `at` within the region.
    pub fn read_exact_at(&self, at: u64, buf: &mut [u8]) -> io::Result<()> {
        if at + buf.len() as u64 > self.len {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.data.read_exact_at(self.pos + at, buf)
    }
}

impl fmt::Debug for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Region")
            .field("pos", &self.pos)
            .field("len", &self.len)
            .field("records", &self.records)
            .field("fd", &self.fd().is_some())
            .finish()
    }
}

/// A piece of a fetch response's records as the wire layer sends it: bytes, or a region the
/// medium sends itself.
#[derive(Debug, Clone)]
pub enum Chunk {
    Bytes(Bytes),
    Region(Region),
}
