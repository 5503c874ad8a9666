//! Tests: a memory store whose writes fail while told to (a disk or database gone), for the
//! paths that must put memory back to what the store holds.

use std::sync::atomic::{AtomicBool, Ordering};

use super::{Entries, KvStore, MemoryStore, StoreError, WriteOp};

/// A [`MemoryStore`] whose writes fail while `fail` is set; reads always work.
#[derive(Default)]
pub struct Flaky {
    inner: MemoryStore,
    fail: AtomicBool,
}

impl Flaky {
    /// Make writes fail (true) or work again.
    pub fn set_failing(&self, fail: bool) {
        self.fail.store(fail, Ordering::SeqCst);
    }
}

impl KvStore for Flaky {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
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
