//! Tests: a memory store whose writes fail while told to (a disk or database gone), for the
//! paths that must put memory back to what the store holds, and whose next read can be made to
//! miss (a value another writer stored just after the read: a race lost).

use std::sync::atomic::{AtomicBool, Ordering};

use super::{Entries, KvStore, MemoryStore, StoreError, WriteOp};

/// A [`MemoryStore`] whose writes fail while `fail` is set, and whose next `get` finds nothing
/// once `miss_next_get` is called.
#[derive(Default)]
pub struct Flaky {
    inner: MemoryStore,
    fail: AtomicBool,
    miss: AtomicBool,
}

impl Flaky {
    /// Make writes fail (true) or work again.
    pub fn set_failing(&self, fail: bool) {
        self.fail.store(fail, Ordering::SeqCst);
    }

    /// Make the next read find nothing.
    pub fn miss_next_get(&self) {
        self.miss.store(true, Ordering::SeqCst);
    }
}

impl KvStore for Flaky {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if self.miss.swap(false, Ordering::SeqCst) {
            return Ok(None);
        }
        self.inner.get(key)
    }
    fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(StoreError("injected".into()));
        }
        self.inner.write(ops)
    }
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Entries, StoreError> {
        self.inner.scan_prefix(prefix)
    }
    fn compare_and_swap(
        &self,
        key: &[u8],
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        self.inner.compare_and_swap(key, expected, new)
    }
}
