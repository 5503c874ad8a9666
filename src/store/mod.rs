//! A small key-value store for broker metadata (topics, cluster identity, later group
//! offsets and producer state). No engine types leak through [`KvStore`]; every backend
//! passes the same conformance tests.

#[cfg(test)]
pub mod flaky;
mod memory;
mod postgres;
#[cfg(feature = "rocksdb")]
mod rocks;
pub mod share_states;
mod share_states_pg;
#[cfg(test)]
mod share_states_tests;

pub use memory::MemoryStore;
pub use postgres::PgStore;
#[cfg(feature = "rocksdb")]
pub use rocks::RocksStore;
pub use share_states::{
    KvShareStates, ShareStateKey, ShareStates, ShareWrite, StoredState, Written,
};
pub use share_states_pg::PgShareStates;

/// The store kept under `dir` (`--storage disk`).
#[cfg(feature = "rocksdb")]
pub fn open_disk(dir: &std::path::Path) -> anyhow::Result<std::sync::Arc<dyn KvStore>> {
    Ok(std::sync::Arc::new(RocksStore::open(dir)?))
}

/// Builds without RocksDB (the fuzz targets, which never open a broker) keep nothing on disk.
#[cfg(not(feature = "rocksdb"))]
pub fn open_disk(dir: &std::path::Path) -> anyhow::Result<std::sync::Arc<dyn KvStore>> {
    anyhow::bail!(
        "{}: this build has no disk store (feature rocksdb); use --storage memory",
        dir.display()
    )
}

#[derive(Debug, thiserror::Error)]
#[error("metadata store: {0}")]
pub struct StoreError(pub String);

/// Key-value pairs in key order.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// One write of an atomic batch.
#[derive(Debug, Clone)]
pub enum WriteOp {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
}

/// Writes are durable when they return.
pub trait KvStore: Send + Sync {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Apply all ops atomically.
    fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError>;
    /// Every (key, value) whose key starts with `prefix`, in key order.
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Entries, StoreError>;

    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.write(vec![WriteOp::Put(key.to_vec(), value.to_vec())])
    }
    fn delete(&self, key: &[u8]) -> Result<(), StoreError> {
        self.write(vec![WriteOp::Delete(key.to_vec())])
    }

    /// Set `key` to `new` (durably) only if its value is `expected` now (`None`: absent);
    /// false, and nothing written, otherwise. Atomic against every other write through the
    /// same store, so several users of one store can claim a key without a lock of their own.
    fn compare_and_swap(
        &self,
        key: &[u8],
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError>;

    /// Tell the other brokers sharing this store that something each keeps in memory (users,
    /// ACLs, quotas) changed, so they reload it now rather than at their next tick. A hint:
    /// nothing to do for a store no other broker shares.
    fn announce(&self) {}

    /// How many writes (ops) the store has applied, counting from its creation and never
    /// going back: the position of its newest write, as the offset of the newest record is in
    /// Kafka's metadata log (DescribeQuorum reports it as the high watermark). None when the
    /// store keeps no such count.
    fn sequence(&self) -> Option<u64> {
        None
    }
}

/// The behaviour every backend must show; each backend's tests call this.
#[cfg(test)]
pub(crate) fn conformance(store: &dyn KvStore) {
    assert_eq!(store.get(b"a").unwrap(), None);
    let before = store.sequence();
    store.put(b"t/b", b"2").unwrap();
    // A store that counts its writes counts this one.
    if let Some(before) = before {
        assert!(store.sequence().is_some_and(|now| now > before));
    }
    store.put(b"t/a", b"1").unwrap();
    store.put(b"u/a", b"3").unwrap();
    assert_eq!(store.get(b"t/a").unwrap(), Some(b"1".to_vec()));
    let scanned = store.scan_prefix(b"t/").unwrap();
    assert_eq!(
        scanned,
        vec![
            (b"t/a".to_vec(), b"1".to_vec()),
            (b"t/b".to_vec(), b"2".to_vec())
        ]
    );
    store
        .write(vec![
            WriteOp::Delete(b"t/a".to_vec()),
            WriteOp::Put(b"t/c".to_vec(), b"4".to_vec()),
        ])
        .unwrap();
    assert_eq!(store.get(b"t/a").unwrap(), None);
    assert_eq!(store.scan_prefix(b"t/").unwrap().len(), 2);
    store.delete(b"missing").unwrap();
    assert_eq!(store.scan_prefix(b"zz").unwrap(), vec![]);

    // Compare-and-set: absent → set; a stale expectation changes nothing.
    assert!(store.compare_and_swap(b"cas", None, b"1").unwrap());
    assert!(!store.compare_and_swap(b"cas", None, b"2").unwrap());
    assert!(!store.compare_and_swap(b"cas", Some(b"0"), b"2").unwrap());
    assert_eq!(store.get(b"cas").unwrap(), Some(b"1".to_vec()));
    assert!(store.compare_and_swap(b"cas", Some(b"1"), b"2").unwrap());
    assert_eq!(store.get(b"cas").unwrap(), Some(b"2".to_vec()));
    store.delete(b"cas").unwrap();
    assert!(!store.compare_and_swap(b"cas", Some(b"2"), b"3").unwrap());
    assert_eq!(store.get(b"cas").unwrap(), None);
    // Racing claimants: each expected value is won exactly once.
    store.put(b"counter", &0u64.to_be_bytes()).unwrap();
    let wins = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..25 {
                    loop {
                        let current = store.get(b"counter").unwrap().unwrap();
                        let n = u64::from_be_bytes(current.as_slice().try_into().unwrap());
                        let next = (n + 1).to_be_bytes();
                        if store
                            .compare_and_swap(b"counter", Some(&current), &next)
                            .unwrap()
                        {
                            wins.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            break;
                        }
                    }
                }
            });
        }
    });
    assert_eq!(wins.into_inner(), 100);
    assert_eq!(
        store.get(b"counter").unwrap(),
        Some(100u64.to_be_bytes().to_vec())
    );
    store.delete(b"counter").unwrap();
}
