use std::path::Path;
use std::sync::Mutex;

use rocksdb::{Direction, IteratorMode, Options, WriteBatch, WriteOptions, DB};

use super::{Entries, KvStore, StoreError, WriteOp};
use crate::blocking::blocking_call;

/// The memtable's size: metadata and committed offsets are small and flushed often enough.
const METADATA_MEMTABLE_BYTES: usize = 4 << 20;
/// What RocksDB allocates of a new manifest file before writing it.
const MANIFEST_PREALLOCATION_BYTES: usize = 256 << 10;

/// RocksDB on local disk; every write is synced before it returns.
pub struct RocksStore {
    db: DB,
    /// Held by every write, so that a compare-and-swap's read and write are one step for
    /// everything else written through this store (RocksDB itself allows only one process).
    writing: Mutex<()>,
}

fn err(e: rocksdb::Error) -> StoreError {
    StoreError(e.into_string())
}

impl RocksStore {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        // Metadata is small: keep RocksDB's own footprint small too.
        opts.set_max_background_jobs(1);
        opts.set_keep_log_file_num(2);
        // RocksDB allocates each write-ahead log file up front at 1.1× the memtable's size,
        // and the manifest at 4 MiB: with the 64 MiB default a fresh broker's metadata took
        // 75 MiB of disk for a few kB of data.
        opts.set_write_buffer_size(METADATA_MEMTABLE_BYTES);
        opts.set_manifest_preallocation_size(MANIFEST_PREALLOCATION_BYTES);
        let db = DB::open(&opts, path).map_err(err)?;
        Ok(Self {
            db,
            writing: Mutex::new(()),
        })
    }
}

impl KvStore for RocksStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        blocking_call("a metadata store read");
        self.db.get(key).map_err(err)
    }

    fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        blocking_call("a metadata store write");
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        self.write_locked(ops)
    }

    fn compare_and_swap(
        &self,
        key: &[u8],
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        blocking_call("a metadata store compare-and-swap");
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        if self.db.get(key).map_err(err)?.as_deref() != expected {
            return Ok(false);
        }
        self.write_locked(vec![WriteOp::Put(key.to_vec(), new.to_vec())])?;
        Ok(true)
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<Entries, StoreError> {
        blocking_call("a metadata store scan");
        let mut out = Vec::new();
        for item in self
            .db
            .iterator(IteratorMode::From(prefix, Direction::Forward))
        {
            let (k, v) = item.map_err(err)?;
            if !k.starts_with(prefix) {
                break;
            }
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    /// RocksDB's sequence number: one per op written, kept across restarts.
    fn sequence(&self) -> Option<u64> {
        Some(self.db.latest_sequence_number())
    }
}

impl RocksStore {
    fn write_locked(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        for op in ops {
            match op {
                WriteOp::Put(k, v) => batch.put(k, v),
                WriteOp::Delete(k) => batch.delete(k),
            }
        }
        let mut opts = WriteOptions::default();
        opts.set_sync(true);
        self.db.write_opt(batch, &opts).map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conforms_and_persists() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = RocksStore::open(dir.path()).unwrap();
            super::super::conformance(&store);
        }
        let reopened = RocksStore::open(dir.path()).unwrap();
        assert_eq!(reopened.get(b"t/c").unwrap(), Some(b"4".to_vec()));
    }

    #[test]
    fn a_small_store_takes_little_disk() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let store = RocksStore::open(dir.path()).unwrap();
        store
            .write(vec![WriteOp::Put(b"k".to_vec(), b"v".to_vec())])
            .unwrap();
        // Blocks allocated, as `du` counts them (preallocated ones included).
        let allocated: u64 = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().blocks() * 512)
            .sum();
        assert!(allocated < 8 << 20, "{allocated} bytes allocated");
    }
}
