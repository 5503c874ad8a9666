use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::{Entries, KvStore, StoreError, WriteOp};
use crate::blocking::blocking_call;

/// Process memory; for tests and `--storage memory`.
#[derive(Default)]
pub struct MemoryStore {
    map: Mutex<BTreeMap<Vec<u8>, Vec<u8>>>,
    /// Ops written so far (see [`KvStore::sequence`]).
    written: AtomicU64,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<Vec<u8>, Vec<u8>>> {
        // A panic while holding the lock cannot leave the map half-written: recover it.
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl KvStore for MemoryStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        blocking_call("a metadata store read");
        Ok(self.map().get(key).cloned())
    }

    fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        blocking_call("a metadata store write");
        let mut map = self.map();
        self.written.fetch_add(ops.len() as u64, Ordering::Relaxed);
        for op in ops {
            match op {
                WriteOp::Put(k, v) => map.insert(k, v),
                WriteOp::Delete(k) => map.remove(&k),
            };
        }
        Ok(())
    }

    fn compare_and_swap(
        &self,
        key: &[u8],
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        blocking_call("a metadata store compare-and-swap");
        let mut map = self.map();
        if map.get(key).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        map.insert(key.to_vec(), new.to_vec());
        self.written.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<Entries, StoreError> {
        blocking_call("a metadata store scan");
        Ok(self
            .map()
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn sequence(&self) -> Option<u64> {
        Some(self.written.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn conforms() {
        super::super::conformance(&super::MemoryStore::new());
    }
}
