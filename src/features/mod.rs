//! The cluster's finalized feature levels (KIP-584): metadata.version, group.version,
//! share.version, streams.version and transaction.version, what ApiVersions reports and UpdateFeatures (Kafka's
//! `kafka-features`) changes. Persisted in the metadata store under `features/finalized`
//! (shared by the cluster in cluster mode, read again on every cluster tick), with an epoch
//! that grows by one at each change (Kafka's FinalizedFeaturesEpoch, there the metadata log's
//! offset). Nothing stored: the levels a new gregor starts with and epoch 1.
//!
//! The levels change behaviour as in Kafka: group.version 0 turns KIP-848's consumer group
//! APIs off, share.version 0 the share group APIs, streams.version 0 the streams group APIs
//! (all answer UNSUPPORTED_VERSION, still advertised), and transaction.version below 2 makes clients that read it (the Java client
//! 4.x, franz-go) use transactions v1.

mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};

use crate::blocking;
use crate::store::{KvStore, StoreError};

pub use validate::{java_hash_order, Update, SAFE_DOWNGRADE, UNSAFE_DOWNGRADE, UPGRADE};

pub const METADATA_VERSION: &str = "metadata.version";
pub const GROUP_VERSION: &str = "group.version";
pub const SHARE_VERSION: &str = "share.version";
pub const TRANSACTION_VERSION: &str = "transaction.version";
pub const STREAMS_VERSION: &str = "streams.version";

/// The metadata.version gregor runs at and supports at most (4.3-IV0: Kafka 4.4's 4.4-IV1
/// brings CIDR ACLs, which gregor lacks).
pub use crate::meta::config_view::METADATA_VERSION_LEVEL;
/// The oldest metadata.version Kafka 4.x supports (3.3-IV3).
pub const METADATA_VERSION_MIN: i16 = 7;
/// group.version 1 (GV_1): KIP-848's consumer group protocol.
pub const GROUP_VERSION_LEVEL: i16 = 1;
/// share.version 2 (SV_2): share groups (KIP-932) with RENEW acknowledgements,
/// ShareAcquireMode and dead-letter topics; ShareFetch/ShareAcknowledge v2.
pub const SHARE_VERSION_LEVEL: i16 = 2;
/// The share.version from which share groups write dead-letter topics (SV_2, Kafka's
/// `ShareVersion.supportsShareGroupDLQ`).
pub const SHARE_VERSION_DLQ: i16 = 2;
/// streams.version 1 (SV_1): streams groups (KIP-1071); Kafka 4.4 finalizes it on a new
/// cluster (its bootstrap metadata.version 4.2-IV1 is below gregor's).
pub const STREAMS_VERSION_LEVEL: i16 = 1;
/// transaction.version 2 (TV_2): transactions v2 (KIP-890 part 2), as a new Kafka 4.4
/// cluster finalizes it.
pub const TRANSACTION_VERSION_LEVEL: i16 = 2;

const KEY: &[u8] = b"features/finalized";

/// How often an update is retried when another broker changed the levels meanwhile.
const ATTEMPTS: usize = 5;

/// A supported range of feature levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub min: i16,
    pub max: i16,
}

impl fmt::Display for Range {
    /// Kafka's `VersionRange.toString`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max {
            write!(f, "{}", self.min)
        } else if self.max == i16::MAX {
            write!(f, "{}+", self.min)
        } else {
            write!(f, "{}-{}", self.min, self.max)
        }
    }
}

/// The finalized levels (features at level 0 are absent) and their epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finalized {
    pub epoch: i64,
    pub levels: BTreeMap<String, i16>,
}

impl Finalized {
    pub fn level(&self, feature: &str) -> i16 {
        self.levels.get(feature).copied().unwrap_or(0)
    }
}

/// Why an update was refused: Kafka's INVALID_UPDATE_VERSION with its message, or the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateError {
    Invalid(String),
    Store(String),
}

/// The features service.
pub struct Features {
    store: Arc<dyn KvStore>,
    node_id: i32,
    supported: BTreeMap<&'static str, Range>,
    /// What a cluster that never changed a level has finalized.
    initial: Finalized,
    current: RwLock<Arc<Finalized>>,
    /// Updates one at a time on this broker (others are caught by compare-and-swap).
    update_lock: Mutex<()>,
}

impl Features {
    /// Load the finalized levels of the broker `node_id`. Blocks on the store.
    pub fn open(store: Arc<dyn KvStore>, node_id: i32) -> Result<Self, StoreError> {
        blocking::blocking_call("features::open");
        let supported = BTreeMap::from([
            (
                METADATA_VERSION,
                Range {
                    min: METADATA_VERSION_MIN,
                    max: METADATA_VERSION_LEVEL,
                },
            ),
            (
                GROUP_VERSION,
                Range {
                    min: 0,
                    max: GROUP_VERSION_LEVEL,
                },
            ),
            (
                SHARE_VERSION,
                Range {
                    min: 0,
                    max: SHARE_VERSION_LEVEL,
                },
            ),
            (
                STREAMS_VERSION,
                Range {
                    min: 0,
                    max: STREAMS_VERSION_LEVEL,
                },
            ),
            (
                TRANSACTION_VERSION,
                Range {
                    min: 0,
                    max: TRANSACTION_VERSION_LEVEL,
                },
            ),
        ]);
        let levels = BTreeMap::from([
            (METADATA_VERSION.to_string(), METADATA_VERSION_LEVEL),
            (GROUP_VERSION.to_string(), GROUP_VERSION_LEVEL),
            (SHARE_VERSION.to_string(), SHARE_VERSION_LEVEL),
            (STREAMS_VERSION.to_string(), STREAMS_VERSION_LEVEL),
            (TRANSACTION_VERSION.to_string(), TRANSACTION_VERSION_LEVEL),
        ]);
        let initial = Finalized { epoch: 1, levels };
        let features = Self {
            store,
            node_id,
            supported,
            current: RwLock::new(Arc::new(initial.clone())),
            initial,
            update_lock: Mutex::new(()),
        };
        features.reload()?;
        Ok(features)
    }

    /// The supported range of each feature, by name.
    pub fn supported(&self) -> &BTreeMap<&'static str, Range> {
        &self.supported
    }

    /// The levels in force here.
    pub fn finalized(&self) -> Arc<Finalized> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// group.version >= 1: KIP-848's consumer group protocol is served (Kafka's
    /// `isConsumerGroupProtocolEnabled`).
    pub fn consumer_protocol_enabled(&self) -> bool {
        self.finalized().level(GROUP_VERSION) >= 1
    }

    /// share.version >= 1: share groups are served (`ShareVersion.supportsShareGroups`).
    pub fn share_groups_enabled(&self) -> bool {
        self.finalized().level(SHARE_VERSION) >= 1
    }

    /// streams.version >= 1: streams groups are served (Kafka's
    /// `isStreamsGroupProtocolEnabled`).
    pub fn streams_groups_enabled(&self) -> bool {
        self.finalized().level(STREAMS_VERSION) >= 1
    }

    /// Read the levels from the store (again: in cluster mode other brokers change them).
    /// Blocks on the store.
    pub fn reload(&self) -> Result<(), StoreError> {
        let stored = self.read()?.1;
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        // Epochs only grow: a read that raced with this broker's own update is older.
        if **current != stored && stored.epoch >= current.epoch {
            tracing::info!(epoch = stored.epoch, levels = ?stored.levels, "finalized features");
            *current = Arc::new(stored);
        }
        Ok(())
    }

    /// The stored bytes (for compare-and-swap) and what they say (nothing stored: the initial
    /// levels).
    fn read(&self) -> Result<(Option<Vec<u8>>, Finalized), StoreError> {
        let raw = self.store.get(KEY)?;
        let finalized = match &raw {
            None => self.initial.clone(),
            Some(bytes) => serde_json::from_slice(bytes)
                .map_err(|e| StoreError(format!("finalized features: {e}")))?,
        };
        Ok((raw, finalized))
    }

    /// UpdateFeatures: check `updates` as Kafka's controller does, then (unless
    /// `validate_only`, or nothing changes) finalize the new levels at the next epoch and tell
    /// the other brokers. Blocks on the store.
    pub fn update(&self, updates: &[Update], validate_only: bool) -> Result<(), UpdateError> {
        blocking::blocking_call("features::update");
        let _one_at_a_time = self.update_lock.lock().unwrap_or_else(|e| e.into_inner());
        let store_error = |e: StoreError| UpdateError::Store(e.0);
        for _ in 0..ATTEMPTS {
            let (raw, current) = self.read().map_err(store_error)?;
            let cluster = validate::Cluster {
                node_id: self.node_id,
                supported: &self.supported,
                finalized: &current.levels,
            };
            let levels = validate::check(&cluster, updates).map_err(UpdateError::Invalid)?;
            if validate_only || levels == current.levels {
                return Ok(());
            }
            let next = Finalized {
                epoch: current.epoch + 1,
                levels,
            };
            let bytes = serde_json::to_vec(&next).map_err(|e| UpdateError::Store(e.to_string()))?;
            if self
                .store
                .compare_and_swap(KEY, raw.as_deref(), &bytes)
                .map_err(store_error)?
            {
                self.store.announce();
                tracing::info!(epoch = next.epoch, levels = ?next.levels, "finalized features changed");
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
                return Ok(());
            }
        }
        Err(UpdateError::Store(
            "the finalized features kept changing under this update".to_string(),
        ))
    }
}

#[cfg(test)]
mod tests;
