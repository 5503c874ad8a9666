//! Producer ids and per-partition sequence checks (idempotent producing), and transactions:
//! the coordinator (`coordinator`, state machine in `state`), markers, and per-partition
//! transaction state (`ongoing`).

pub mod coordinator;
pub mod marker;
pub mod ongoing;
pub mod sequence;
pub mod state;

use std::sync::Mutex;

use crate::store::{KvStore, StoreError};

const NEXT_ID_KEY: &[u8] = b"producer/next_id";
/// Ids are reserved in blocks so that allocating one rarely writes to the store.
const BLOCK: i64 = 1000;

/// Hands out producer ids that are never reused, across restarts too.
pub struct ProducerIds {
    /// (next id to give, end of the reserved block)
    range: Mutex<(i64, i64)>,
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
            let start = match store.get(NEXT_ID_KEY)? {
                Some(v) => <[u8; 8]>::try_from(v.as_slice())
                    .map(i64::from_be_bytes)
                    .map_err(|_| StoreError("producer id counter is corrupt".into()))?,
                None => 0,
            };
            store.put(NEXT_ID_KEY, &(start + BLOCK).to_be_bytes())?;
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
}
