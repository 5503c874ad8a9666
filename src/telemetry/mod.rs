//! KIP-714 client telemetry, as Kafka 4.4's `ClientMetricsManager`: clients ask which
//! metrics to push (GetTelemetrySubscriptions) and push them (PushTelemetry); gregor shows
//! what was pushed on /metrics ([`series`]). Subscriptions are CLIENT_METRICS config resources
//! ([`subscriptions`]).
//!
//! - A client instance is known by its id: a new random one when the client sends the zero
//!   id. It is subscribed to the union of the matching subscriptions' metrics at the
//!   shortest of their intervals; its subscription id is a CRC32C of that set and interval,
//!   XORed with the instance id's Java hash, so it changes when the subscriptions do (an
//!   instance made before a change is made anew on its next request).
//! - GetTelemetrySubscriptions earlier than one interval after the last get or push is
//!   THROTTLING_QUOTA_EXCEEDED (unless the last push failed for its subscription id or
//!   compression). A push earlier than one interval after the last (the first after a get
//!   excepted, a terminating one excepted) is THROTTLING_QUOTA_EXCEEDED; a stale
//!   subscription id UNKNOWN_SUBSCRIPTION_ID; a codec Kafka lacks
//!   UNSUPPORTED_COMPRESSION_TYPE; a payload over `telemetry.max.bytes` (1 MiB, compressed
//!   or not) TELEMETRY_TOO_LARGE; one that is not OTLP metrics INVALID_RECORD; anything after a
//!   terminating push INVALID_REQUEST.
//! - Instances (and their series) expire after max(60 s, 3 intervals) without a request; at
//!   most 16384 are kept (the least recently seen makes room), as Kafka's cache.

pub mod otlp;
pub mod series;
pub mod subscriptions;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use kafka_protocol::ResponseError;
use uuid::Uuid;

use crate::log::crc::crc32c;
use crate::log::records::inflate::{inflate, InflateError};
use crate::metrics::exposition::{Encoder, Kind};
use crate::store::KvStore;
use subscriptions::Subscriptions;

/// Kafka's telemetry.max.bytes default.
pub const TELEMETRY_MAX_BYTES: i32 = 1024 * 1024;
/// The codecs gregor reads, in Kafka's order of preference: zstd, lz4, gzip, snappy.
pub const ACCEPTED_COMPRESSION_TYPES: [i8; 4] = [4, 3, 1, 2];
const MAX_INSTANCES: usize = 16_384;
const MIN_EXPIRY_MS: i64 = 60_000;
const SWEEP_EVERY_MS: i64 = 1_000;

/// Who sent a request: what a subscription's `match` may name.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub client_id: String,
    /// From the connection's ApiVersions (v3+).
    pub software_name: String,
    pub software_version: String,
    pub peer: Option<SocketAddr>,
}

/// What GetTelemetrySubscriptions answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscribed {
    pub client_instance_id: Uuid,
    pub subscription_id: i32,
    pub metrics: Vec<String>,
    pub push_interval_ms: i32,
}

/// PushTelemetry's request.
pub struct Push<'a> {
    pub client_instance_id: Uuid,
    pub subscription_id: i32,
    pub terminating: bool,
    pub compression_type: i8,
    pub metrics: &'a [u8],
}

struct Instance {
    client: ClientInfo,
    subscription_id: i32,
    version: u64,
    metrics: Vec<String>,
    interval_ms: i32,
    last_get: i64,
    last_push: i64,
    terminating: bool,
    /// The last request's error (None: it succeeded).
    last_error: Option<ResponseError>,
    last_seen: i64,
    series: series::Series,
}

impl Instance {
    fn expired(&self, now: i64) -> bool {
        now - self.last_seen >= MIN_EXPIRY_MS.max(3 * i64::from(self.interval_ms))
    }
}

#[derive(Default)]
struct State {
    instances: HashMap<Uuid, Instance>,
    series: usize,
    dropped: u64,
    next_sweep: i64,
}

pub struct Telemetry {
    subscriptions: Subscriptions,
    state: Mutex<State>,
}

/// Kafka's Uuid.RESERVED: the zero id and the metadata topic's id.
fn reserved(id: Uuid) -> bool {
    id.as_u64_pair() == (0, 0) || id.as_u64_pair() == (0, 1)
}

/// Java's `Uuid.hashCode`.
fn java_hash(id: Uuid) -> i32 {
    let (hi, lo) = id.as_u64_pair();
    let h = hi ^ lo;
    ((h >> 32) as i32) ^ (h as i32)
}

/// A Uuid as Kafka prints it (`Uuid.toString`: URL-safe base64 without padding), as clients
/// show their client instance id and as `match` and the /metrics labels name it.
pub fn kafka_uuid(id: Uuid) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// A CRC32C of the subscribed metrics (as Java prints a set) and interval, XOR the id's hash.
pub fn subscription_id(metrics: &[String], interval_ms: i32, id: Uuid) -> i32 {
    let text = format!("[{}]{interval_ms}", metrics.join(", "));
    (crc32c(text.as_bytes()) as i32) ^ java_hash(id)
}

impl Telemetry {
    pub fn open(store: Arc<dyn KvStore>) -> anyhow::Result<Self> {
        Ok(Self {
            subscriptions: Subscriptions::open(store)?,
            state: Mutex::default(),
        })
    }

    pub fn subscriptions(&self) -> &Subscriptions {
        &self.subscriptions
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new instance of `id` for `client` under the subscriptions now.
    fn instance(&self, id: Uuid, client: ClientInfo, now: i64) -> Instance {
        let attribute = |name: &str| -> Option<String> {
            use subscriptions::*;
            Some(match name {
                CLIENT_INSTANCE_ID => kafka_uuid(id),
                CLIENT_ID => client.client_id.clone(),
                CLIENT_SOFTWARE_NAME => client.software_name.clone(),
                CLIENT_SOFTWARE_VERSION => client.software_version.clone(),
                CLIENT_SOURCE_ADDRESS => client.peer?.ip().to_string(),
                CLIENT_SOURCE_PORT => client.peer?.port().to_string(),
                _ => return None,
            })
        };
        let (metrics, interval_ms, version) = self.subscriptions.resolve(attribute);
        Instance {
            subscription_id: subscription_id(&metrics, interval_ms, id),
            client,
            version,
            metrics,
            interval_ms,
            last_get: 0,
            last_push: 0,
            terminating: false,
            last_error: None,
            last_seen: now,
            series: series::Series::new(),
        }
    }

    /// The instance of `id`, made (or made anew, keeping its client and series, when the
    /// subscriptions changed since) as Kafka's `clientInstance`.
    fn touch<'s>(
        &self,
        state: &'s mut State,
        id: Uuid,
        client: ClientInfo,
        now: i64,
    ) -> &'s mut Instance {
        sweep(state, now);
        let version = self.subscriptions.version();
        let stale = state.instances.get(&id).map(|i| i.version < version);
        match stale {
            None => {
                if state.instances.len() >= MAX_INSTANCES {
                    evict_one(state);
                }
                let fresh = self.instance(id, client, now);
                state.instances.insert(id, fresh);
            }
            Some(true) => {
                if let Some(old) = state.instances.remove(&id) {
                    let mut fresh = self.instance(id, old.client, now);
                    fresh.series = old.series;
                    state.instances.insert(id, fresh);
                }
            }
            Some(false) => {}
        }
        let instance = state
            .instances
            .entry(id)
            .or_insert_with(|| self.instance(id, ClientInfo::default(), now));
        instance.last_seen = now;
        instance
    }

    /// GetTelemetrySubscriptions: `requested` is the client's instance id (zero: a new one).
    pub fn get_subscriptions(
        &self,
        requested: Uuid,
        client: ClientInfo,
        now: i64,
    ) -> Result<Subscribed, ResponseError> {
        let mut state = self.state();
        let id = if requested.is_nil() {
            loop {
                let id = Uuid::new_v4();
                if !reserved(id) && !state.instances.contains_key(&id) {
                    break id;
                }
            }
        } else {
            requested
        };
        let instance = self.touch(&mut state, id, client, now);
        let due =
            now - instance.last_get.max(instance.last_push) >= i64::from(instance.interval_ms);
        if due {
            instance.last_get = now;
        } else if !matches!(
            instance.last_error,
            Some(ResponseError::UnknownSubscriptionId | ResponseError::UnsupportedCompressionType)
        ) {
            return Err(ResponseError::ThrottlingQuotaExceeded);
        }
        instance.last_error = None;
        Ok(Subscribed {
            client_instance_id: id,
            subscription_id: instance.subscription_id,
            metrics: instance.metrics.clone(),
            push_interval_ms: instance.interval_ms,
        })
    }

    /// PushTelemetry: check it as Kafka does, then keep what was pushed.
    pub fn push(&self, push: Push<'_>, client: ClientInfo, now: i64) -> Result<(), ResponseError> {
        let id = push.client_instance_id;
        if reserved(id) {
            return Err(ResponseError::InvalidRequest);
        }
        let mut state = self.state();
        let instance = self.touch(&mut state, id, client, now);
        let checked = check_push(instance, &push, now);
        instance.terminating = push.terminating;
        if let Err(e) = checked {
            instance.last_error = Some(e);
            return Err(e);
        }
        let outcome = if push.metrics.is_empty() {
            Ok(Vec::new())
        } else {
            // The payload's size was bounded above; its decompressed size is bounded here.
            match inflate(
                push.compression_type,
                push.metrics,
                TELEMETRY_MAX_BYTES as usize,
            ) {
                Err(InflateError::TooLarge) => Err(ResponseError::TelemetryTooLarge),
                Err(_) => Err(ResponseError::InvalidRecord),
                Ok(raw) => otlp::decode(&raw).map_err(|_| ResponseError::InvalidRecord),
            }
        };
        match outcome {
            Err(e) => {
                instance.last_error = Some(e);
                Err(e)
            }
            Ok(points) => {
                instance.last_error = None;
                let State {
                    instances,
                    series: total,
                    dropped,
                    ..
                } = &mut *state;
                if let Some(instance) = instances.get_mut(&id) {
                    *dropped += series::record(&mut instance.series, total, points);
                }
                Ok(())
            }
        }
    }

    /// /metrics: what every live client instance pushed, and the manager's own numbers.
    pub fn encode(&self, e: &mut Encoder, now: i64) {
        let mut state = self.state();
        sweep(&mut state, now);
        e.family(
            "gregor_telemetry_client_instances",
            "Client instances known to client telemetry (KIP-714).",
            Kind::Gauge,
        );
        e.sample(
            "gregor_telemetry_client_instances",
            &[],
            state.instances.len() as f64,
        );
        e.family(
            "gregor_telemetry_points_dropped_total",
            "Pushed metric points not kept: over the caps on series, or naming gregor's own metrics.",
            Kind::Counter,
        );
        e.sample(
            "gregor_telemetry_points_dropped_total",
            &[],
            state.dropped as f64,
        );
        let ids: Vec<(String, &Instance)> = state
            .instances
            .iter()
            .map(|(id, i)| (kafka_uuid(*id), i))
            .collect();
        series::encode(
            e,
            ids.iter().map(|(id, i)| {
                let labels = [
                    id.as_str(),
                    i.client.client_id.as_str(),
                    i.client.software_name.as_str(),
                    i.client.software_version.as_str(),
                ];
                (labels, &i.series)
            }),
        );
    }
}

/// Kafka's `validatePushRequest` (the push timestamp is taken even when a later check fails).
fn check_push(instance: &mut Instance, push: &Push<'_>, now: i64) -> Result<(), ResponseError> {
    if instance.terminating {
        return Err(ResponseError::InvalidRequest);
    }
    let due = instance.last_get > instance.last_push
        || now - instance.last_push >= i64::from(instance.interval_ms);
    if due {
        instance.last_push = now;
    } else if !push.terminating {
        return Err(ResponseError::ThrottlingQuotaExceeded);
    }
    if push.subscription_id != instance.subscription_id {
        return Err(ResponseError::UnknownSubscriptionId);
    }
    if !(0..=4).contains(&push.compression_type) {
        return Err(ResponseError::UnsupportedCompressionType);
    }
    if push.metrics.len() > TELEMETRY_MAX_BYTES as usize {
        return Err(ResponseError::TelemetryTooLarge);
    }
    Ok(())
}

/// Drop the instances that expired (at most once a second).
fn sweep(state: &mut State, now: i64) {
    if now < state.next_sweep {
        return;
    }
    state.next_sweep = now + SWEEP_EVERY_MS;
    let mut freed = 0;
    state.instances.retain(|_, i| {
        let keep = !i.expired(now);
        if !keep {
            freed += i.series.len();
        }
        keep
    });
    state.series -= freed.min(state.series);
}

/// Make room: the least recently seen instance goes.
fn evict_one(state: &mut State) {
    let oldest = state
        .instances
        .iter()
        .min_by_key(|(_, i)| i.last_seen)
        .map(|(id, _)| *id);
    if let Some(i) = oldest.and_then(|id| state.instances.remove(&id)) {
        state.series -= i.series.len().min(state.series);
    }
}

#[cfg(test)]
mod tests;
