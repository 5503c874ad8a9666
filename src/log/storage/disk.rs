//! The disk medium: a partition is a directory of segments `<base offset, 20 digits>.log` with
//! `.index` and `.timeindex` beside each, and checkpoints as small files. Segment data is an
//! open `File`, which fetches send with sendfile.
//!
//! Replacement (the cleaner's swap) is crash-safe after Kafka's `.cleaned`/`.swap` files: the
//! new segment is written and fsynced in `cleaner/` with an `end` file naming the first offset
//! after it; renaming the directory to `cleaner.swap` commits; then the replaced segments are
//! deleted and the new files renamed over (data file last). [`DiskStorage::recover`] discards
//! a `cleaner/` (not committed) and finishes a `cleaner.swap/`, idempotently.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, IoSlice, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Interrupted, LogStorage, SegmentData};

const WORK_DIR: &str = "cleaner";
const SWAP_DIR: &str = "cleaner.swap";
const END_FILE: &str = "end";

impl SegmentData for File {
    fn size(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }

    fn read_exact_at(&self, pos: u64, buf: &mut [u8]) -> io::Result<()> {
        FileExt::read_exact_at(self, buf, pos)
    }

    fn write_at(&self, pos: u64, parts: &[&[u8]]) -> io::Result<()> {
        write_all_vectored_at(self, pos, parts)
    }

    fn truncate(&self, len: u64) -> io::Result<()> {
        self.set_len(len)
    }

    fn sync(&self) -> io::Result<()> {
        self.sync_data()
    }

    fn fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.as_fd())
    }
}

/// A partition directory.
#[derive(Debug)]
pub struct DiskStorage {
    dir: PathBuf,
}

impl DiskStorage {
    /// Use `dir`, creating it (durably) if absent.
    pub fn open(dir: PathBuf) -> io::Result<Self> {
        if !dir.is_dir() {
            fs::create_dir_all(&dir)?;
            let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
            sync_dir(parent.unwrap_or(Path::new(".")))?;
        }
        Ok(Self { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl LogStorage for DiskStorage {
    fn durable(&self) -> bool {
        true
    }

    fn segment_path(&self, base_offset: i64) -> PathBuf {
        with_ext(&stem(&self.dir, base_offset), ".log")
    }

    fn list_segments(&self) -> io::Result<Vec<i64>> {
        list_segments(&self.dir)
    }

    fn create_segment(&self, base_offset: i64) -> io::Result<Arc<dyn SegmentData>> {
        Ok(Arc::new(create_file(&self.segment_path(base_offset))?))
    }

    fn open_segment(&self, base_offset: i64) -> io::Result<Arc<dyn SegmentData>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(self.segment_path(base_offset))?;
        Ok(Arc::new(file))
    }

    fn read_indexes(&self, base_offset: i64) -> Option<(Vec<u8>, Vec<u8>)> {
        let stem = stem(&self.dir, base_offset);
        let index = fs::read(with_ext(&stem, ".index")).ok()?;
        let time = fs::read(with_ext(&stem, ".timeindex")).ok()?;
        Some((index, time))
    }

    fn write_indexes(&self, base_offset: i64, index: &[u8], time_index: &[u8]) -> io::Result<()> {
        write_indexes(&stem(&self.dir, base_offset), index, time_index)
    }

    fn remove_segment(&self, base_offset: i64) -> io::Result<()> {
        remove_segment_files(&stem(&self.dir, base_offset))
    }

    fn replace_segments(
        &self,
        base_offset: i64,
        end_offset: i64,
        data: &[u8],
        index: &[u8],
        time_index: &[u8],
    ) -> io::Result<()> {
        let work = self.dir.join(WORK_DIR);
        if work.exists() {
            fs::remove_dir_all(&work)?;
        }
        fs::create_dir(&work)?;
        let stem = stem(&work, base_offset);
        let file = create_file(&with_ext(&stem, ".log"))?;
        file.write_all_at(data, 0)?;
        write_indexes(&stem, index, time_index)?;
        file.sync_data()?;
        drop(file);
        fs::write(work.join(END_FILE), end_offset.to_string())?;
        File::open(work.join(END_FILE))?.sync_all()?;
        sync_dir(&work)?;
        crash_point(CrashPoint::BeforeCommit)?;
        // The commit point: from here on, recovery finishes the swap.
        fs::rename(&work, self.dir.join(SWAP_DIR))?;
        sync_dir(&self.dir)?;
        crash_point(CrashPoint::AfterCommit)?;
        finish_swap(&self.dir)
    }

    fn recover(&self) -> io::Result<Option<Interrupted>> {
        let mut found = None;
        let work = self.dir.join(WORK_DIR);
        if work.exists() {
            fs::remove_dir_all(&work)?;
            found = Some(Interrupted::ReplaceDiscarded);
        }
        if self.dir.join(SWAP_DIR).exists() {
            finish_swap(&self.dir)?;
            found = Some(Interrupted::ReplaceFinished);
        }
        Ok(found)
    }

    fn read_checkpoint(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.dir.join(name)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn write_checkpoint(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        write_atomically(&self.dir.join(name), bytes)
    }

    fn remove_checkpoint(&self, name: &str) -> io::Result<()> {
        match fs::remove_file(self.dir.join(name)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn sync_layout(&self) -> io::Result<()> {
        sync_dir(&self.dir)
    }

    fn destroy(&self) -> io::Result<()> {
        fs::remove_dir_all(&self.dir)
    }
}

fn create_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
}

fn write_indexes(stem: &Path, index: &[u8], time_index: &[u8]) -> io::Result<()> {
    write_atomically(&with_ext(stem, ".index"), index)?;
    write_atomically(&with_ext(stem, ".timeindex"), time_index)
}

fn remove_segment_files(stem: &Path) -> io::Result<()> {
    for ext in [".log", ".index", ".timeindex"] {
        match fs::remove_file(with_ext(stem, ext)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Base offsets of the `<20 digits>.log` files in `dir`, sorted.
fn list_segments(dir: &Path) -> io::Result<Vec<i64>> {
    let mut bases = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let base = name
            .to_str()
            .and_then(|n| n.strip_suffix(".log"))
            .filter(|d| d.len() == 20 && d.bytes().all(|b| b.is_ascii_digit()));
        if let Some(base) = base.and_then(|d| d.parse().ok()) {
            bases.push(base);
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

/// `<dir>/<base offset, 20 digits>`: segment files are this plus an extension.
pub(crate) fn stem(dir: &Path, base_offset: i64) -> PathBuf {
    dir.join(format!("{base_offset:020}"))
}

pub(crate) fn with_ext(stem: &Path, ext: &str) -> PathBuf {
    let mut s = OsString::from(stem.as_os_str());
    s.push(ext);
    s.into()
}

/// Replace `path` with `bytes` so that a crash leaves either the old or the new file whole.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = with_ext(path, ".tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path)
}

/// Write every byte of `parts` at `pos` (pwritev: one system call for a rewritten header and
/// the records behind it; a short write goes on from where it stopped).
fn write_all_vectored_at(file: &File, mut pos: u64, parts: &[&[u8]]) -> io::Result<()> {
    // Linux takes at most IOV_MAX (1024) slices per call.
    const MAX_SLICES: usize = 1024;
    let mut all: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
    let mut left = &mut all[..];
    IoSlice::advance_slices(&mut left, 0); // leading empty parts
    while !left.is_empty() {
        let written = match rustix::io::pwritev(file, &left[..left.len().min(MAX_SLICES)], pos) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        };
        pos += written as u64;
        IoSlice::advance_slices(&mut left, written);
    }
    Ok(())
}

/// A committed replacement whose `end` file does not name an offset: recovery cannot tell
/// which segments it replaces, so the log does not open (the error, inside an
/// `io::ErrorKind::InvalidData`, says which file).
#[derive(Debug, thiserror::Error)]
#[error("{} holds {content:?}, not an offset", file.display())]
pub struct BadSwapEnd {
    pub file: PathBuf,
    pub content: String,
}

/// Replace the segments a committed replacement covers with its output; idempotent, so a
/// crash in the middle is finished by running it again.
fn finish_swap(dir: &Path) -> io::Result<()> {
    let swap = dir.join(SWAP_DIR);
    let end_file = swap.join(END_FILE);
    let content = fs::read_to_string(&end_file)?;
    let end: i64 = content.trim().parse().map_err(|_| {
        let bad = BadSwapEnd {
            file: end_file,
            content: content.clone(),
        };
        io::Error::new(io::ErrorKind::InvalidData, bad)
    })?;
    let Some(&base) = list_segments(&swap)?.first() else {
        // Every file was already moved.
        fs::remove_dir_all(&swap)?;
        return sync_dir(dir);
    };
    for old in list_segments(dir)? {
        if old > base && old < end {
            remove_segment_files(&stem(dir, old))?;
        }
    }
    // The data file last: while it is still in the swap directory, recovery comes back here.
    for ext in [".index", ".timeindex", ".log"] {
        let from = with_ext(&stem(&swap, base), ext);
        if from.exists() {
            fs::rename(&from, with_ext(&stem(dir, base), ext))?;
        }
    }
    sync_dir(dir)?;
    fs::remove_dir_all(&swap)?;
    sync_dir(dir)
}

/// Where a test may make a replacement stop as if the process died there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CrashPoint {
    BeforeCommit,
    AfterCommit,
}

#[cfg(test)]
thread_local! {
    pub(crate) static CRASH_AT: std::cell::Cell<Option<CrashPoint>> = const { std::cell::Cell::new(None) };
}

fn crash_point(_at: CrashPoint) -> io::Result<()> {
    #[cfg(test)]
    if CRASH_AT.with(|c| c.get()) == Some(_at) {
        return Err(io::Error::other(format!("simulated crash at {_at:?}")));
    }
    Ok(())
}
