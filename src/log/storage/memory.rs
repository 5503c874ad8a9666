//! The memory medium (`--storage memory`): segments and checkpoints in process memory, for as
//! long as the storage lives. Not durable: a log opened again starts empty.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use super::{Interrupted, LogStorage, SegmentData};

/// A segment's bytes in memory. The lock is held only to copy bytes in or out.
#[derive(Default)]
pub struct MemorySegment(RwLock<Vec<u8>>);

impl From<Vec<u8>> for MemorySegment {
    fn from(bytes: Vec<u8>) -> Self {
        Self(RwLock::new(bytes))
    }
}

impl SegmentData for MemorySegment {
    fn size(&self) -> io::Result<u64> {
        Ok(self.0.read().unwrap_or_else(PoisonError::into_inner).len() as u64)
    }

    fn read_exact_at(&self, pos: u64, buf: &mut [u8]) -> io::Result<()> {
        let v = self.0.read().unwrap_or_else(PoisonError::into_inner);
        let src = usize::try_from(pos)
            .ok()
            .and_then(|p| v.get(p..p.checked_add(buf.len())?))
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(src);
        Ok(())
    }

    fn write_at(&self, pos: u64, parts: &[&[u8]]) -> io::Result<()> {
        let mut v = self.0.write().unwrap_or_else(PoisonError::into_inner);
        v.truncate(pos as usize);
        for part in parts {
            v.extend_from_slice(part);
        }
        Ok(())
    }

    fn truncate(&self, len: u64) -> io::Result<()> {
        let mut v = self.0.write().unwrap_or_else(PoisonError::into_inner);
        v.truncate(len as usize);
        Ok(())
    }

    fn sync(&self) -> io::Result<()> {
        Ok(())
    }
}

struct Stored {
    data: Arc<MemorySegment>,
    indexes: Option<(Vec<u8>, Vec<u8>)>,
}

#[derive(Default)]
struct Inner {
    segments: BTreeMap<i64, Stored>,
    checkpoints: HashMap<String, Vec<u8>>,
}

/// One partition's segments in memory.
#[derive(Default)]
pub struct MemoryStorage(Mutex<Inner>);

impl std::fmt::Debug for MemoryStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryStorage")
    }
}

impl MemoryStorage {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn not_found(base_offset: i64) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("no memory segment {base_offset}"),
    )
}

impl LogStorage for MemoryStorage {
    fn durable(&self) -> bool {
        false
    }

    fn segment_path(&self, base_offset: i64) -> PathBuf {
        PathBuf::from(format!("memory segment {base_offset}"))
    }

    fn list_segments(&self) -> io::Result<Vec<i64>> {
        Ok(self.inner().segments.keys().copied().collect())
    }

    fn create_segment(&self, base_offset: i64) -> io::Result<Arc<dyn SegmentData>> {
        let data = Arc::new(MemorySegment::default());
        let stored = Stored {
            data: data.clone(),
            indexes: None,
        };
        self.inner().segments.insert(base_offset, stored);
        Ok(data)
    }

    fn open_segment(&self, base_offset: i64) -> io::Result<Arc<dyn SegmentData>> {
        match self.inner().segments.get(&base_offset) {
            Some(s) => Ok(s.data.clone()),
            None => Err(not_found(base_offset)),
        }
    }

    fn read_indexes(&self, base_offset: i64) -> Option<(Vec<u8>, Vec<u8>)> {
        self.inner().segments.get(&base_offset)?.indexes.clone()
    }

    fn write_indexes(&self, base_offset: i64, index: &[u8], time_index: &[u8]) -> io::Result<()> {
        let mut inner = self.inner();
        let s = inner
            .segments
            .get_mut(&base_offset)
            .ok_or_else(|| not_found(base_offset))?;
        s.indexes = Some((index.to_vec(), time_index.to_vec()));
        Ok(())
    }

    fn remove_segment(&self, base_offset: i64) -> io::Result<()> {
        self.inner().segments.remove(&base_offset);
        Ok(())
    }

    fn replace_segments(
        &self,
        base_offset: i64,
        end_offset: i64,
        data: &[u8],
        index: &[u8],
        time_index: &[u8],
    ) -> io::Result<()> {
        let mut inner = self.inner();
        inner
            .segments
            .retain(|&b, _| !(base_offset..end_offset).contains(&b));
        let stored = Stored {
            data: Arc::new(MemorySegment::from(data.to_vec())),
            indexes: Some((index.to_vec(), time_index.to_vec())),
        };
        inner.segments.insert(base_offset, stored);
        Ok(())
    }

    fn recover(&self) -> io::Result<Option<Interrupted>> {
        Ok(None)
    }

    fn read_checkpoint(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
        Ok(self.inner().checkpoints.get(name).cloned())
    }

    fn write_checkpoint(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        self.inner()
            .checkpoints
            .insert(name.to_string(), bytes.to_vec());
        Ok(())
    }

    fn remove_checkpoint(&self, name: &str) -> io::Result<()> {
        self.inner().checkpoints.remove(name);
        Ok(())
    }

    fn sync_layout(&self) -> io::Result<()> {
        Ok(())
    }

    fn destroy(&self) -> io::Result<()> {
        *self.inner() = Inner::default();
        Ok(())
    }
}
