//! Client quotas: what AlterClientQuotas sets (persisted in the metadata store under
//! `quota/<entity>`), what DescribeClientQuotas lists, and their enforcement as Kafka's
//! `ClientQuotaManager`s do it: produce bytes (`producer_byte_rate`), fetch bytes
//! (`consumer_byte_rate`) and request handling time (`request_percentage`) per user and/or
//! client id, each measured over a window of 11 one-second samples; a client over its quota
//! is told how long to back off (`throttle_time_ms`) and its connection is muted for that
//! long (a [`Throttle`] per connection). `controller_mutation_rate` and the IP entity's
//! `connection_creation_rate` are stored and described, not enforced.

pub mod entity;
pub mod manager;
pub mod rate;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::blocking;
use crate::store::{KvStore, StoreError, WriteOp};

pub use entity::{Entity, Filter, Match, Values};
pub use manager::{Manager, Name, QuotaEntity};

/// The quota keys a user/client-id entity may have (Kafka's `QuotaConfig`) and the manager
/// each one sets.
pub const PRODUCER_BYTE_RATE: &str = "producer_byte_rate";
pub const CONSUMER_BYTE_RATE: &str = "consumer_byte_rate";
pub const REQUEST_PERCENTAGE: &str = "request_percentage";

/// One entity's change: key → new value (None: remove the key).
pub type Change = (Entity, Vec<(String, Option<f64>)>);

/// The client quotas service: the configured quotas and their managers.
pub struct ClientQuotas {
    store: Arc<dyn KvStore>,
    /// Every entity with at least one quota, as stored.
    configs: RwLock<BTreeMap<Entity, Values>>,
    /// Alterations one at a time (store write, then memory).
    alter_lock: Mutex<()>,
    pub produce: Manager,
    pub fetch: Manager,
    pub request: Manager,
}

impl ClientQuotas {
    /// Load the stored quotas. Blocks on the store.
    pub fn open(store: Arc<dyn KvStore>) -> Result<Self, StoreError> {
        blocking::blocking_call("quota::open");
        let quotas = Self {
            store,
            configs: RwLock::default(),
            alter_lock: Mutex::new(()),
            produce: Manager::new(None),
            fetch: Manager::new(None),
            request: Manager::for_request_time(),
        };
        quotas.reload()?;
        Ok(quotas)
    }

    /// Read the stored quotas (again: in cluster mode other brokers change the shared store)
    /// and apply what changed to the managers. Blocks on the store.
    pub fn reload(&self) -> Result<(), StoreError> {
        let _one = self.alter_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut stored = BTreeMap::new();
        for (key, value) in self.store.scan_prefix(entity::PREFIX)? {
            let record: entity::Record = serde_json::from_slice(&value).map_err(|e| {
                StoreError(format!(
                    "quota record {}: {e}",
                    String::from_utf8_lossy(&key)
                ))
            })?;
            stored.insert(record.entity.into_iter().collect::<Entity>(), record.values);
        }
        let mut configs = self.configs.write().unwrap_or_else(|e| e.into_inner());
        let empty = Values::default();
        for (entity, was) in configs.iter() {
            let now = stored.get(entity).unwrap_or(&empty);
            for key in was.keys().filter(|k| !now.contains_key(*k)) {
                self.apply(entity, key, None);
            }
        }
        for (entity, now) in &stored {
            let was = configs.get(entity).unwrap_or(&empty);
            for (key, value) in now.iter().filter(|(k, v)| was.get(*k) != Some(*v)) {
                self.apply(entity, key, Some(*value));
            }
        }
        *configs = stored;
        Ok(())
    }

    /// Apply checked changes (AlterClientQuotas' valid entries) in one store write, then to
    /// the managers. Blocks on the store: async callers use the blocking pool.
    pub fn alter(&self, changes: &[Change]) -> Result<(), StoreError> {
        blocking::blocking_call("quota::alter");
        let _one = self.alter_lock.lock().unwrap_or_else(|e| e.into_inner());
        let current = self
            .configs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut next = current.clone();
        let mut ops = Vec::new();
        for (entity, keys) in changes {
            let mut values = next.get(entity).cloned().unwrap_or_default();
            for (key, value) in keys {
                match value {
                    Some(v) => values.insert(key.clone(), *v),
                    None => values.remove(key),
                };
            }
            let key = entity::store_key(entity);
            if values.is_empty() {
                if next.remove(entity).is_some() {
                    ops.push(WriteOp::Delete(key));
                }
            } else {
                let record = entity::Record {
                    entity: entity.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                    values: values.clone(),
                };
                let bytes = serde_json::to_vec(&record)
                    .map_err(|e| StoreError(format!("encoding a quota record: {e}")))?;
                ops.push(WriteOp::Put(key, bytes));
                next.insert(entity.clone(), values);
            }
        }
        if !ops.is_empty() {
            self.store.write(ops)?;
            self.store.announce();
        }
        for (entity, keys) in changes {
            let was = current.get(entity);
            for (key, value) in keys {
                // A removal of a key the entity did not have changes nothing (Kafka writes
                // no record for it).
                if value.is_some() || was.is_some_and(|w| w.contains_key(key)) {
                    self.apply(entity, key, *value);
                }
            }
        }
        *self.configs.write().unwrap_or_else(|e| e.into_inner()) = next;
        Ok(())
    }

    /// The entities matching `filter`, with their quotas, in entity order.
    pub fn describe(&self, filter: &Filter) -> Vec<(Entity, Values)> {
        self.configs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(e, _)| filter.matches(e))
            .map(|(e, v)| (e.clone(), v.clone()))
            .collect()
    }

    fn apply(&self, entity: &Entity, key: &str, value: Option<f64>) {
        let manager = match key {
            PRODUCER_BYTE_RATE => &self.produce,
            CONSUMER_BYTE_RATE => &self.fetch,
            REQUEST_PERCENTAGE => &self.request,
            _ => return,
        };
        if let Some(e) = quota_entity(entity) {
            manager.update(e, value);
        }
    }
}

/// The user/client-id entity a manager keys quotas by (None for IP entities).
fn quota_entity(entity: &Entity) -> Option<QuotaEntity> {
    if entity.contains_key(entity::IP) {
        return None;
    }
    let name = |n: &Option<String>| match n {
        Some(n) => Name::Named(n.clone()),
        None => Name::Default,
    };
    Some(QuotaEntity {
        user: entity.get(entity::USER).map(name),
        client_id: entity.get(entity::CLIENT_ID).map(name),
    })
}

/// One connection's mute: after a throttled response, no further request is read from the
/// connection until the throttle time has passed (KIP-219: the response goes out at once and
/// the client backs off too). Lock-free; the reader checks it before each request.
#[derive(Debug)]
pub struct Throttle {
    base: Instant,
    /// Muted until `base` + this many µs (0: not muted).
    until_us: AtomicU64,
}

impl Default for Throttle {
    fn default() -> Self {
        Self {
            base: Instant::now(),
            until_us: AtomicU64::new(0),
        }
    }
}

impl Throttle {
    /// Mute for `ms` from now (the later of this and any mute already set).
    pub fn mute_for(&self, ms: i64) {
        if ms <= 0 {
            return;
        }
        let until = self.base.elapsed() + Duration::from_millis(ms as u64);
        self.until_us
            .fetch_max(until.as_micros() as u64, Ordering::Relaxed);
    }

    /// When the mute ends, if it has not yet.
    pub fn muted_until(&self) -> Option<Instant> {
        let us = self.until_us.load(Ordering::Relaxed);
        if us == 0 {
            return None;
        }
        let until = self.base + Duration::from_micros(us);
        (until > Instant::now()).then_some(until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::entity::entity;
    use crate::store::MemoryStore;

    fn set(key: &str, v: f64) -> (String, Option<f64>) {
        (key.to_string(), Some(v))
    }

    #[test]
    fn alterations_persist_and_reload() {
        let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
        let q = ClientQuotas::open(store.clone()).unwrap();
        let app = entity(&[(entity::CLIENT_ID, Some("app"))]);
        let default_user = entity(&[(entity::USER, None)]);
        q.alter(&[
            (app.clone(), vec![set(PRODUCER_BYTE_RATE, 1000.0)]),
            (default_user.clone(), vec![set(REQUEST_PERCENTAGE, 50.0)]),
        ])
        .unwrap();
        assert_eq!(q.produce.quota("ANONYMOUS", "app"), Some(1000.0));
        assert_eq!(q.request.quota("ANONYMOUS", "x"), Some(50.0));
        let all = q.describe(&Filter::default());
        assert_eq!(all.len(), 2);
        // Reopened from the store: the same quotas, enforced again.
        let q2 = ClientQuotas::open(store.clone()).unwrap();
        assert_eq!(q2.describe(&Filter::default()), all);
        assert_eq!(q2.produce.quota("u", "app"), Some(1000.0));
        // Removing the last key removes the entity (and its record).
        q2.alter(&[(app.clone(), vec![(PRODUCER_BYTE_RATE.into(), None)])])
            .unwrap();
        assert_eq!(q2.produce.quota("u", "app"), None);
        assert_eq!(q2.describe(&Filter::default()).len(), 1);
        assert_eq!(store.scan_prefix(entity::PREFIX).unwrap().len(), 1);
        // Removing what is not there writes nothing and changes nothing.
        q2.alter(&[(app, vec![(CONSUMER_BYTE_RATE.into(), None)])])
            .unwrap();
        assert!(!q2.fetch.enabled());
    }

    #[test]
    fn reload_applies_what_another_broker_altered() {
        let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
        let here = ClientQuotas::open(store.clone()).unwrap();
        let there = ClientQuotas::open(store).unwrap();
        let app = entity(&[(entity::CLIENT_ID, Some("app"))]);
        there
            .alter(&[(app.clone(), vec![set(PRODUCER_BYTE_RATE, 1000.0)])])
            .unwrap();
        assert_eq!(
            here.produce.quota("u", "app"),
            None,
            "not before the reload"
        );
        here.reload().unwrap();
        assert_eq!(here.produce.quota("u", "app"), Some(1000.0));
        assert_eq!(here.describe(&Filter::default()).len(), 1);
        // A changed value and a removed key are followed too.
        there
            .alter(&[(app.clone(), vec![set(PRODUCER_BYTE_RATE, 2000.0)])])
            .unwrap();
        here.reload().unwrap();
        assert_eq!(here.produce.quota("u", "app"), Some(2000.0));
        there
            .alter(&[(app, vec![(PRODUCER_BYTE_RATE.into(), None)])])
            .unwrap();
        here.reload().unwrap();
        assert_eq!(here.produce.quota("u", "app"), None);
        assert!(here.describe(&Filter::default()).is_empty());
    }

    #[test]
    fn a_throttle_mutes_for_its_time() {
        let t = Throttle::default();
        assert!(t.muted_until().is_none());
        t.mute_for(0);
        assert!(t.muted_until().is_none());
        t.mute_for(10_000);
        let until = t.muted_until().unwrap();
        // A shorter mute does not shorten it.
        t.mute_for(1);
        assert_eq!(t.muted_until(), Some(until));
        assert!(until > Instant::now() + Duration::from_secs(9));
    }
}
