//! Where share-partition state (KIP-932) is kept durably: one row per (share group, topic id,
//! partition), written by the partition's leader and read, reset or deleted by the group
//! coordinator (AlterShareGroupOffsets, DeleteShareGroupOffsets, DeleteGroups). The state
//! itself (the leader's `StateRecord`) is opaque bytes here.
//!
//! Every row carries a *state epoch*, fresh on each insert and each reset: a leader's copy
//! writes only over the epoch it loaded (`ShareWrite::expect`), so a copy made before a reset
//! or a delete writes nothing ([`Written::StateFenced`]). In cluster mode a write also carries
//! its partition's leader fence ([`Fence`]), checked in the same transaction
//! ([`Written::LeaderFenced`]): Kafka's share coordinator refuses the same two cases
//! (FENCED_STATE_EPOCH, FENCED_LEADER_EPOCH).
//!
//! [`KvShareStates`] keeps rows in the broker's key-value store (one node); `PgShareStates`
//! in the cluster's database (`share_states_pg.rs`).

use std::sync::{Arc, Mutex};

use uuid::Uuid;

use super::{KvStore, StoreError, WriteOp};
use crate::pg::fence::Fence;

/// A share-partition: (share group, topic id, partition).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShareStateKey {
    pub group: String,
    pub topic_id: Uuid,
    pub partition: i32,
}

impl ShareStateKey {
    pub fn new(group: &str, topic_id: Uuid, partition: i32) -> Self {
        Self {
            group: group.to_string(),
            topic_id,
            partition,
        }
    }
}

/// A stored state and the epochs it was written at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredState {
    pub state_epoch: i64,
    /// The leader epoch of its last write (-1: written by a reset, or unknown).
    pub leader_epoch: i32,
    pub state: Vec<u8>,
}

/// One write of a leader's copy.
#[derive(Debug, Clone)]
pub struct ShareWrite {
    pub key: ShareStateKey,
    /// The partition's log (`pg::placement::log_name`).
    pub log: String,
    /// The leader's fence (cluster mode); None on one node.
    pub fence: Option<Fence>,
    /// None: the first write of this share-partition (refused if a row exists); Some(e): an
    /// update of the row at state epoch `e` (refused otherwise).
    pub expect: Option<i64>,
    pub start_offset: i64,
    pub state: Vec<u8>,
}

/// What became of one [`ShareWrite`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Durable; the row's state epoch.
    Ok { state_epoch: i64 },
    /// The write's fence no longer holds: another broker (or another opening) leads the
    /// partition. Nothing written.
    LeaderFenced,
    /// The row was reset, deleted or inserted since the copy was loaded. Nothing written.
    StateFenced,
}

/// Durable share-partition state. Every call blocks (a store round trip).
pub trait ShareStates: Send + Sync {
    fn load(&self, key: &ShareStateKey) -> Result<Option<StoredState>, StoreError>;
    /// Every state of these partitions, given as (log, topic id, partition): at start-up and
    /// when leadership is gained.
    fn of_logs(
        &self,
        logs: &[(String, Uuid, i32)],
    ) -> Result<Vec<(ShareStateKey, StoredState)>, StoreError>;
    /// The writes' outcomes, in order (keys distinct within a batch). An error means nothing
    /// of the batch is known to be written.
    fn write(&self, writes: &[ShareWrite]) -> Result<Vec<Written>, StoreError>;
    /// Every state of `group`.
    fn group(&self, group: &str) -> Result<Vec<(ShareStateKey, StoredState)>, StoreError>;
    /// AlterShareGroupOffsets: `state` (starting at `start`) replaces whatever is stored, at a
    /// new state epoch (which fences every leader's copy).
    fn reset(
        &self,
        key: &ShareStateKey,
        log: &str,
        start: i64,
        state: Vec<u8>,
    ) -> Result<(), StoreError>;
    /// The states of `group` (of these topics only, if given).
    fn delete(&self, group: &str, topics: Option<&[Uuid]>) -> Result<(), StoreError>;
}

/// A share partition's state in the key-value store (group, topic id, partition).
pub const SHARE_STATE_PREFIX: &[u8] = b"sharestate/";

/// The last state epoch handed out (i64 big-endian); outside [`SHARE_STATE_PREFIX`].
const EPOCH_KEY: &[u8] = b"sharestate-epoch";

/// The tag of a value with epochs (a value starting with `{` is the JSON state alone, as
/// written before state epochs existed: state epoch 0).
const VERSIONED: u8 = 1;

pub fn share_state_key(group: &str, topic: &Uuid, partition: i32) -> Vec<u8> {
    let mut key = SHARE_STATE_PREFIX.to_vec();
    key.extend_from_slice(&(group.len() as u32).to_be_bytes());
    key.extend_from_slice(group.as_bytes());
    key.extend_from_slice(topic.as_bytes());
    key.extend_from_slice(&partition.to_be_bytes());
    key
}

/// (group, topic id, partition) of a share state key.
pub fn parse_share_state_key(key: &[u8]) -> Option<(String, Uuid, i32)> {
    let rest = key.strip_prefix(SHARE_STATE_PREFIX)?;
    let (len, rest) = rest.split_first_chunk::<4>()?;
    let len = u32::from_be_bytes(*len) as usize;
    if rest.len() != len + 20 {
        return None;
    }
    let (group, rest) = rest.split_at(len);
    let (topic, partition) = rest.split_at(16);
    Some((
        String::from_utf8(group.to_vec()).ok()?,
        Uuid::from_slice(topic).ok()?,
        i32::from_be_bytes(partition.try_into().ok()?),
    ))
}

fn encode(state_epoch: i64, leader_epoch: i32, state: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(13 + state.len());
    out.push(VERSIONED);
    out.extend_from_slice(&state_epoch.to_be_bytes());
    out.extend_from_slice(&leader_epoch.to_be_bytes());
    out.extend_from_slice(state);
    out
}

fn decode(value: &[u8]) -> Result<StoredState, StoreError> {
    match value.split_first() {
        Some((b'{', _)) => Ok(StoredState {
            state_epoch: 0,
            leader_epoch: -1,
            state: value.to_vec(),
        }),
        Some((&VERSIONED, rest)) => {
            let unknown = || StoreError("a share state value cut short".into());
            let (state_epoch, rest) = rest.split_first_chunk::<8>().ok_or_else(unknown)?;
            let (leader_epoch, state) = rest.split_first_chunk::<4>().ok_or_else(unknown)?;
            Ok(StoredState {
                state_epoch: i64::from_be_bytes(*state_epoch),
                leader_epoch: i32::from_be_bytes(*leader_epoch),
                state: state.to_vec(),
            })
        }
        _ => Err(StoreError("a share state value of unknown format".into())),
    }
}

fn decode_entry(
    key: &[u8],
    value: &[u8],
) -> Result<Option<(ShareStateKey, StoredState)>, StoreError> {
    let Some((group, topic_id, partition)) = parse_share_state_key(key) else {
        return Ok(None);
    };
    let key = ShareStateKey {
        group,
        topic_id,
        partition,
    };
    Ok(Some((key, decode(value)?)))
}

/// Share states in the broker's key-value store (one node: every writer is in this process,
/// so a lock serialises the check of the expected epochs and the write).
pub struct KvShareStates {
    kv: Arc<dyn KvStore>,
    writing: Mutex<()>,
}

impl KvShareStates {
    pub fn new(kv: Arc<dyn KvStore>) -> Self {
        Self {
            kv,
            writing: Mutex::new(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writing.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn last_epoch(&self) -> Result<i64, StoreError> {
        Ok(self
            .kv
            .get(EPOCH_KEY)?
            .and_then(|v| v.try_into().ok())
            .map_or(0, i64::from_be_bytes))
    }

    fn scan(&self) -> Result<Vec<(ShareStateKey, StoredState)>, StoreError> {
        let mut out = Vec::new();
        for (key, value) in self.kv.scan_prefix(SHARE_STATE_PREFIX)? {
            out.extend(decode_entry(&key, &value)?);
        }
        Ok(out)
    }

    fn key(key: &ShareStateKey) -> Vec<u8> {
        share_state_key(&key.group, &key.topic_id, key.partition)
    }
}

impl ShareStates for KvShareStates {
    fn load(&self, key: &ShareStateKey) -> Result<Option<StoredState>, StoreError> {
        self.kv
            .get(&Self::key(key))?
            .map(|v| decode(&v))
            .transpose()
    }

    fn of_logs(
        &self,
        logs: &[(String, Uuid, i32)],
    ) -> Result<Vec<(ShareStateKey, StoredState)>, StoreError> {
        let wanted: std::collections::HashSet<(Uuid, i32)> =
            logs.iter().map(|(_, t, p)| (*t, *p)).collect();
        let mut states = self.scan()?;
        states.retain(|(k, _)| wanted.contains(&(k.topic_id, k.partition)));
        Ok(states)
    }

    fn write(&self, writes: &[ShareWrite]) -> Result<Vec<Written>, StoreError> {
        let _writing = self.lock();
        let mut epoch = self.last_epoch()?;
        let first_epoch = epoch;
        let mut ops = Vec::new();
        let mut out = Vec::with_capacity(writes.len());
        for w in writes {
            let key = Self::key(&w.key);
            let stored = self.kv.get(&key)?.map(|v| decode(&v)).transpose()?;
            let state_epoch = match (w.expect, stored) {
                (None, None) => {
                    epoch += 1;
                    epoch
                }
                (Some(e), Some(s)) if s.state_epoch == e => e,
                _ => {
                    out.push(Written::StateFenced);
                    continue;
                }
            };
            let leader_epoch = w.fence.as_ref().map_or(-1, |f| f.epoch);
            ops.push(WriteOp::Put(
                key,
                encode(state_epoch, leader_epoch, &w.state),
            ));
            out.push(Written::Ok { state_epoch });
        }
        if epoch != first_epoch {
            ops.push(WriteOp::Put(
                EPOCH_KEY.to_vec(),
                epoch.to_be_bytes().to_vec(),
            ));
        }
        if !ops.is_empty() {
            self.kv.write(ops)?;
        }
        Ok(out)
    }

    fn group(&self, group: &str) -> Result<Vec<(ShareStateKey, StoredState)>, StoreError> {
        let mut prefix = SHARE_STATE_PREFIX.to_vec();
        prefix.extend_from_slice(&(group.len() as u32).to_be_bytes());
        prefix.extend_from_slice(group.as_bytes());
        let mut out = Vec::new();
        for (key, value) in self.kv.scan_prefix(&prefix)? {
            out.extend(decode_entry(&key, &value)?);
        }
        Ok(out)
    }

    fn reset(
        &self,
        key: &ShareStateKey,
        _log: &str,
        _start: i64,
        state: Vec<u8>,
    ) -> Result<(), StoreError> {
        let _writing = self.lock();
        let epoch = self.last_epoch()? + 1;
        self.kv.write(vec![
            WriteOp::Put(Self::key(key), encode(epoch, -1, &state)),
            WriteOp::Put(EPOCH_KEY.to_vec(), epoch.to_be_bytes().to_vec()),
        ])
    }

    fn delete(&self, group: &str, topics: Option<&[Uuid]>) -> Result<(), StoreError> {
        let _writing = self.lock();
        let ops: Vec<_> = self
            .group(group)?
            .into_iter()
            .filter(|(k, _)| topics.is_none_or(|t| t.contains(&k.topic_id)))
            .map(|(k, _)| WriteOp::Delete(Self::key(&k)))
            .collect();
        if ops.is_empty() {
            return Ok(());
        }
        self.kv.write(ops)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_state_keys_round_trip() {
        let topic = Uuid::from_u128(42);
        let key = share_state_key("g/1", &topic, 3);
        assert_eq!(parse_share_state_key(&key), Some(("g/1".into(), topic, 3)));
        assert_eq!(parse_share_state_key(&key[..key.len() - 1]), None);
        assert_eq!(parse_share_state_key(b"sharestate/"), None);
        assert!(!EPOCH_KEY.starts_with(SHARE_STATE_PREFIX));
    }

    #[test]
    fn values_round_trip_and_unknown_ones_are_refused() {
        let v = encode(7, 3, b"{\"x\":1}");
        assert_eq!(
            decode(&v).unwrap(),
            StoredState {
                state_epoch: 7,
                leader_epoch: 3,
                state: b"{\"x\":1}".to_vec()
            }
        );
        assert!(decode(b"").is_err());
        assert!(decode(b"\x01short").is_err());
        assert!(decode(b"\x02").is_err());
    }
}
