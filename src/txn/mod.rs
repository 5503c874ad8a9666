//! Producer ids and transactions: the coordinator (`coordinator`, on a
//! [`crate::coord::Runtime`]; state machine in `state`, transactions v2's end in `end_v2`) and the produce path's view of open
//! transactions (`gate`). Per-partition producer and transaction state lives with the
//! partition ([`crate::partition`]).

pub mod coordinator;
pub mod end_v2;
pub mod gate;
pub mod state;

use std::sync::Mutex;

use crate::store::{KvStore, StoreError};

const NEXT_ID_KEY: &[u8] = b"producer/next_id";
/// Ids are reserved in blocks so that allocating one rarely writes to the store.
const BLOCK: i64 = 1000;
/// Claims lost to another allocator in a row before giving up (each loss means someone
/// else took a block, so this is only reached under absurd contention).
const MAX_CLAIM_ATTEMPTS: usize = 100;

/// Hands out producer ids that are never reused, across restarts too. A block is claimed by
/// moving the store's counter with a compare-and-set, so allocators sharing one store (two
/// brokers, or a broker and a tool) never claim the same block.
pub struct ProducerIds {
    /// (next id to give, end of the reserved block)
    range: Mutex<(i64, i64)>,
}

fn decode(v: &[u8]) -> Result<i64, StoreError> {
    <[u8; 8]>::try_from(v)
        .map(i64::from_be_bytes)
        .map_err(|_| StoreError("producer id counter is corrupt".into()))
}

/// Claim the next block: [start, start + BLOCK).
fn claim_block(store: &dyn KvStore) -> Result<i64, StoreError> {
    for _ in 0..MAX_CLAIM_ATTEMPTS {
        let current = store.get(NEXT_ID_KEY)?;
        let start = current.as_deref().map(decode).transpose()?.unwrap_or(0);
        let end = start
            .checked_add(BLOCK)
            .ok_or_else(|| StoreError("producer ids are exhausted".into()))?;
        if store.compare_and_swap(NEXT_ID_KEY, current.as_deref(), &end.to_be_bytes())? {
            return Ok(start);
        }
    }
    Err(StoreError(
        "could not reserve producer ids: the counter keeps changing".into(),
    ))
}

impl ProducerIds {
    pub fn new() -> Self {
        Self {
            range: Mutex::new((0, 0)),
        }
    }

    pub fn next(&self, store: &dyn KvStore) -> Result<i64, StoreError> {
        let mut range = self.range.lock().unwrap_or_else(|e| e.into_inner());
        if range.0 >= range.1 {
            let start = claim_block(store)?;
            *range = (start, start + BLOCK);
        }
        let id = range.0;
        range.0 += 1;
        Ok(id)
    }
}

impl Default for ProducerIds {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[test]
    fn ids_are_unique_across_restarts() {
        let store = MemoryStore::new();
        let first = ProducerIds::new();
        let a: Vec<i64> = (0..3).map(|_| first.next(&store).unwrap()).collect();
        assert_eq!(a, vec![0, 1, 2]);
        // A restarted broker (new allocator, same store) continues after the reserved block.
        let second = ProducerIds::new();
        assert_eq!(second.next(&store).unwrap(), BLOCK);
    }

    #[test]
    fn allocators_sharing_a_store_never_hand_out_the_same_id() {
        let store = MemoryStore::new();
        let (a, b) = (ProducerIds::new(), ProducerIds::new());
        let mut seen = std::collections::HashSet::new();
        // Interleaved one by one, then in runs that cross block boundaries at different
        // points for each allocator.
        for i in 0..(3 * BLOCK) {
            assert!(seen.insert(a.next(&store).unwrap()), "duplicate at {i}");
            assert!(seen.insert(b.next(&store).unwrap()), "duplicate at {i}");
        }
        for run in [1, BLOCK - 1, 7, BLOCK + 3, 2 * BLOCK] {
            for _ in 0..run {
                assert!(seen.insert(a.next(&store).unwrap()));
            }
            for _ in 0..(run / 2 + 1) {
                assert!(seen.insert(b.next(&store).unwrap()));
            }
        }
    }

    #[test]
    fn racing_allocators_sharing_a_store_never_hand_out_the_same_id() {
        let store = MemoryStore::new();
        let ids: Vec<Vec<i64>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        let allocator = ProducerIds::new();
                        (0..(2 * BLOCK + 17))
                            .map(|_| allocator.next(&store).unwrap())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let all: Vec<i64> = ids.into_iter().flatten().collect();
        let unique: std::collections::HashSet<i64> = all.iter().copied().collect();
        assert_eq!(unique.len(), all.len());
    }
}
