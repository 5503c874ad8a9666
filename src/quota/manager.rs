//! One kind of client quota (produce bytes, fetch bytes, request time) as Kafka's
//! `ClientQuotaManager` and its `DefaultQuotaCallback` apply it: which configured quota a
//! (user, client id) falls under, by Kafka's precedence, and one rate per quota *sensor* —
//! the clients a quota is shared by: every connection of a user under a user quota, of a
//! client id under a client-id quota, each (user, client id) under a default one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use super::rate::{Rate, SAMPLES, WINDOW_MS};

/// A user or client-id part of a quota entity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Name {
    Named(String),
    /// `<default>`.
    Default,
}

/// Kafka's `KafkaQuotaEntity`: a user part, a client-id part, or both.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QuotaEntity {
    pub user: Option<Name>,
    pub client_id: Option<Name>,
}

// Kafka's `QuotaTypes`: which entity levels have ever had a quota of this kind.
const CLIENT_ID_QUOTAS: u8 = 1;
const USER_QUOTAS: u8 = 2;
const USER_CLIENT_ID_QUOTAS: u8 = 4;

/// Idle sensors are dropped after Kafka's hour (`InactiveSensorExpirationTimeSeconds`).
const SENSOR_EXPIRY_MS: i64 = 3_600_000;
/// How often the sensor map is swept for idle sensors.
const SWEEP_EVERY_MS: i64 = 60_000;

/// Metric tags (user, client id) naming a sensor; "" for a part the quota does not use.
type Tags = (String, String);

/// One kind of quota.
pub struct Manager {
    /// The levels that have quotas (sticky until restart, as Kafka's); 0: no quota was ever
    /// set, and recording is one atomic load.
    enabled: AtomicU8,
    quotas: RwLock<HashMap<QuotaEntity, f64>>,
    sensors: RwLock<HashMap<Tags, Arc<Mutex<Rate>>>>,
    last_sweep_ms: AtomicI64,
    /// Caps the throttle time (the request quota: one window, as Kafka's), if set.
    max_throttle_ms: Option<i64>,
    /// Responses throttled and the time they were throttled for (for /metrics).
    pub throttled: AtomicU64,
    pub throttle_ms: AtomicU64,
}

impl Manager {
    pub fn new(max_throttle_ms: Option<i64>) -> Self {
        Self {
            enabled: AtomicU8::new(0),
            quotas: RwLock::default(),
            sensors: RwLock::default(),
            last_sweep_ms: AtomicI64::new(0),
            max_throttle_ms,
            throttled: AtomicU64::new(0),
            throttle_ms: AtomicU64::new(0),
        }
    }

    /// A request-time manager: throttles are capped at one quota window.
    pub fn for_request_time() -> Self {
        Self::new(Some(WINDOW_MS))
    }

    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed) != 0
    }

    /// Set (Some) or remove (None) the quota of `entity` (Kafka's `updateQuota`).
    pub fn update(&self, entity: QuotaEntity, quota: Option<f64>) {
        let level = match (&entity.user, &entity.client_id) {
            (Some(_), Some(_)) => USER_CLIENT_ID_QUOTAS,
            (Some(_), None) => USER_QUOTAS,
            (None, Some(_)) => CLIENT_ID_QUOTAS,
            (None, None) => return,
        };
        let mut quotas = self.quotas.write().unwrap_or_else(|e| e.into_inner());
        self.enabled.fetch_or(level, Ordering::Relaxed);
        match quota {
            Some(q) => quotas.insert(entity, q),
            None => quotas.remove(&entity),
        };
    }

    /// Record `value` for the client (its principal's name and client id) at `now` (ms): the
    /// throttle time in ms, 0 within its quota or when no quota of this kind exists.
    pub fn record(&self, user: &str, client_id: &str, value: f64, now: i64) -> i64 {
        if !self.enabled() {
            return 0;
        }
        let (tags, bound) = self.resolve(user, client_id);
        let sensor = self.sensor(tags, now);
        let mut rate = sensor.lock().unwrap_or_else(|e| e.into_inner());
        rate.record(value, now);
        let Some(bound) = bound else { return 0 };
        let mut ms = rate.throttle(now, bound);
        if let Some(max) = self.max_throttle_ms {
            ms = ms.min(max);
        }
        ms
    }

    /// Take back a value recorded (a throttled fetch, whose data is not sent).
    pub fn unrecord(&self, user: &str, client_id: &str, value: f64, now: i64) {
        if !self.enabled() {
            return;
        }
        let (tags, _) = self.resolve(user, client_id);
        let sensor = self.sensor(tags, now);
        let mut rate = sensor.lock().unwrap_or_else(|e| e.into_inner());
        rate.record(-value, now);
    }

    /// Count a response throttled for `ms` (Kafka's throttle-time sensor).
    pub fn throttled(&self, ms: i64) {
        if ms > 0 {
            self.throttled.fetch_add(1, Ordering::Relaxed);
            self.throttle_ms.fetch_add(ms as u64, Ordering::Relaxed);
        }
    }

    /// The most that can be recorded at once without certain throttling (Kafka's
    /// `getMaxValueInQuotaWindow`: the quota over `samples - 1` windows); None: no quota.
    pub fn max_value_in_window(&self, user: &str, client_id: &str) -> Option<f64> {
        if !self.enabled() {
            return None;
        }
        let (_, bound) = self.resolve(user, client_id);
        bound.map(|q| q * (SAMPLES as f64 - 1.0) * (WINDOW_MS as f64 / 1000.0))
    }

    /// The quota that applies to the client, if any (Kafka's `quota(user, clientId)`).
    pub fn quota(&self, user: &str, client_id: &str) -> Option<f64> {
        self.resolve(user, client_id).1
    }

    fn resolve(&self, user: &str, client_id: &str) -> (Tags, Option<f64>) {
        let quotas = self.quotas.read().unwrap_or_else(|e| e.into_inner());
        let enabled = self.enabled.load(Ordering::Relaxed);
        let tags = metric_tags(&quotas, enabled, user, client_id);
        let bound = quota_limit(&quotas, &tags);
        (tags, bound)
    }

    fn sensor(&self, tags: Tags, now: i64) -> Arc<Mutex<Rate>> {
        if let Some(s) = self
            .sensors
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&tags)
        {
            return s.clone();
        }
        let mut sensors = self.sensors.write().unwrap_or_else(|e| e.into_inner());
        if now - self.last_sweep_ms.load(Ordering::Relaxed) >= SWEEP_EVERY_MS {
            self.last_sweep_ms.store(now, Ordering::Relaxed);
            sensors.retain(|_, s| {
                let last = s.lock().map(|r| r.last_event_ms()).unwrap_or(None);
                last.is_some_and(|t| now - t < SENSOR_EXPIRY_MS)
            });
        }
        sensors.entry(tags).or_default().clone()
    }

    /// Sensors alive (for tests and /metrics).
    pub fn sensor_count(&self) -> usize {
        self.sensors.read().map(|s| s.len()).unwrap_or(0)
    }
}

fn named(n: &str) -> Option<Name> {
    Some(Name::Named(n.to_string()))
}

/// Kafka's `DefaultQuotaCallback.quotaMetricTags`: the sensor a client records into.
fn metric_tags(
    quotas: &HashMap<QuotaEntity, f64>,
    enabled: u8,
    user: &str,
    client_id: &str,
) -> Tags {
    let (u, c) = (user.to_string(), client_id.to_string());
    match enabled {
        0 | CLIENT_ID_QUOTAS => (String::new(), c),
        USER_QUOTAS => (u, String::new()),
        USER_CLIENT_ID_QUOTAS => (u, c),
        _ => {
            let has = |user: Option<Name>, client_id: Option<Name>| {
                quotas.contains_key(&QuotaEntity { user, client_id })
            };
            let d = || Some(Name::Default);
            if has(named(user), named(client_id)) || has(named(user), d()) {
                (u, c)
            } else if has(named(user), None) {
                (u, String::new())
            } else if has(d(), named(client_id)) || has(d(), d()) {
                (u, c)
            } else if has(d(), None) {
                (u, String::new())
            } else {
                (String::new(), c)
            }
        }
    }
}

/// Kafka's `DefaultQuotaCallback.quotaLimit`: the quota of a sensor, by precedence
/// user+client-id, user+default client-id, default user+client-id, default user+default
/// client-id; user, default user; client-id, default client-id.
fn quota_limit(quotas: &HashMap<QuotaEntity, f64>, (user, client_id): &Tags) -> Option<f64> {
    let get = |user: Option<Name>, client_id: Option<Name>| {
        quotas.get(&QuotaEntity { user, client_id }).copied()
    };
    let d = || Some(Name::Default);
    match (user.is_empty(), client_id.is_empty()) {
        (false, false) => get(named(user), named(client_id))
            .or_else(|| get(named(user), d()))
            .or_else(|| get(d(), named(client_id)))
            .or_else(|| get(d(), d())),
        (false, true) => get(named(user), None).or_else(|| get(d(), None)),
        (true, false) => get(None, named(client_id)).or_else(|| get(None, d())),
        (true, true) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(user: Option<Option<&str>>, client: Option<Option<&str>>) -> QuotaEntity {
        let name = |n: Option<&str>| match n {
            Some(n) => Name::Named(n.to_string()),
            None => Name::Default,
        };
        QuotaEntity {
            user: user.map(name),
            client_id: client.map(name),
        }
    }

    #[test]
    fn precedence_follows_kafka() {
        let m = Manager::new(None);
        assert_eq!(m.quota("alice", "app"), None);
        m.update(e(None, Some(None)), Some(8.0)); // clients/<default>
        assert_eq!(m.quota("alice", "app"), Some(8.0));
        m.update(e(None, Some(Some("app"))), Some(7.0)); // clients/app
        assert_eq!(m.quota("alice", "app"), Some(7.0));
        assert_eq!(m.quota("alice", "other"), Some(8.0));
        m.update(e(Some(None), None), Some(6.0)); // users/<default>
        assert_eq!(m.quota("alice", "app"), Some(6.0));
        m.update(e(Some(None), Some(None)), Some(5.0)); // users/<default>/clients/<default>
        assert_eq!(m.quota("alice", "app"), Some(5.0));
        m.update(e(Some(None), Some(Some("app"))), Some(4.0)); // users/<default>/clients/app
        assert_eq!(m.quota("alice", "app"), Some(4.0));
        assert_eq!(m.quota("alice", "other"), Some(5.0));
        m.update(e(Some(Some("alice")), None), Some(3.0)); // users/alice
        assert_eq!(m.quota("alice", "app"), Some(3.0));
        assert_eq!(m.quota("bob", "app"), Some(4.0));
        m.update(e(Some(Some("alice")), Some(None)), Some(2.0)); // users/alice/clients/<default>
        assert_eq!(m.quota("alice", "app"), Some(2.0));
        m.update(e(Some(Some("alice")), Some(Some("app"))), Some(1.0));
        assert_eq!(m.quota("alice", "app"), Some(1.0));
        assert_eq!(m.quota("alice", "other"), Some(2.0));
        // Removing goes back down the order.
        m.update(e(Some(Some("alice")), Some(Some("app"))), None);
        assert_eq!(m.quota("alice", "app"), Some(2.0));
    }

    #[test]
    fn the_anonymous_user_falls_under_user_quotas() {
        // A PLAINTEXT connection's principal is User:ANONYMOUS; Kafka matches user quotas
        // by the principal's name, so users/ANONYMOUS and users/<default> apply to it.
        let m = Manager::new(None);
        m.update(e(Some(None), None), Some(100.0));
        assert_eq!(m.quota("ANONYMOUS", "app"), Some(100.0));
        m.update(e(Some(Some("ANONYMOUS")), None), Some(50.0));
        assert_eq!(m.quota("ANONYMOUS", ""), Some(50.0));
    }

    #[test]
    fn sensors_are_shared_as_the_quota_says() {
        let m = Manager::new(None);
        // No quota ever: nothing recorded, no sensor.
        assert_eq!(m.record("alice", "app", 1e9, 0), 0);
        assert_eq!(m.sensor_count(), 0);
        // A client-id quota is shared by every user of that client id.
        m.update(e(None, Some(Some("app"))), Some(100.0));
        assert_eq!(m.record("alice", "app", 1000.0, 0), 0);
        assert!(m.record("bob", "app", 1000.0, 0) > 0);
        // Another client id has no quota: recorded, never throttled.
        assert_eq!(m.record("bob", "other", 1e9, 0), 0);
        assert_eq!(m.sensor_count(), 2);
        // A default client-id quota gives each client id its own sensor.
        m.update(e(None, Some(None)), Some(100.0));
        assert_eq!(m.record("x", "c1", 1000.0, 0), 0);
        assert_eq!(m.record("x", "c2", 1000.0, 0), 0);
        assert!(m.record("x", "c1", 1000.0, 0) > 0);
        // No client id: no quota applies.
        assert_eq!(m.record("x", "", 1e9, 0), 0);
    }

    #[test]
    fn multi_level_tags_pick_the_sensor_of_the_applying_quota() {
        let m = Manager::new(None);
        m.update(e(Some(Some("alice")), None), Some(100.0));
        m.update(e(None, Some(Some("app"))), Some(1e9));
        // alice is under her user quota whatever her client id: one sensor for both.
        assert_eq!(m.record("alice", "app", 1000.0, 0), 0);
        assert!(m.record("alice", "other", 1000.0, 0) > 0);
        // bob is under the client-id quota.
        assert_eq!(m.record("bob", "app", 1e6, 0), 0);
    }

    #[test]
    fn request_time_throttles_are_capped_at_one_window() {
        let m = Manager::for_request_time();
        m.update(e(None, Some(None)), Some(1.0));
        assert_eq!(m.record("u", "c", 1e6, 0), WINDOW_MS);
        // A fetch-style unrecord takes the value back.
        let f = Manager::new(None);
        f.update(e(None, Some(None)), Some(100.0));
        assert!(f.record("u", "c", 5000.0, 0) > 0);
        f.unrecord("u", "c", 5000.0, 0);
        assert_eq!(f.record("u", "c", 1.0, 0), 0);
        assert_eq!(f.max_value_in_window("u", "c"), Some(1000.0));
    }
}
