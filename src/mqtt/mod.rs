//! The MQTT listener (`--mqtt-listen`): MQTT 3.1.1 and 5 clients publish to and subscribe on
//! the broker's topics.
//!
//! Like the HTTP gateway it is a Kafka client inside the broker: a PUBLISH is produced (acks=all,
//! through `api::dispatch_from` and the Produce handler) to the Kafka topic the topic map gives
//! (topic.rs), keyed by its MQTT topic; QoS 1 and 2 publishes are acknowledged once the append
//! is durable. Subscribers read the log with Fetch requests (delivery.rs), so they get what
//! Kafka producers write as well as MQTT publishes. Retained messages and persistent sessions'
//! subscriptions live in compacted topics of the listener's own (store.rs); a persistent
//! session's positions are its group's committed offsets.
//!
//! Modules: `codec` (packets, over rumqttc's codec), `topic` (filters, the topic map),
//! `connection` (one client), `delivery` (a session's reading), `store`, `kafka` (requests).

mod codec;
mod connection;
mod delivery;
mod kafka;
mod store;
mod topic;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::{ListenerInfo, Services};
use crate::http::Gateway;
pub use topic::TopicMap;

/// MQTT connections served at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 4096;
/// How often the list of Kafka topics (for wildcard subscriptions) is read again.
const TOPICS_REFRESH: Duration = Duration::from_millis(500);

/// What the listener is configured with.
#[derive(Clone, Debug)]
pub struct Settings {
    pub map: TopicMap,
    /// Largest packet a client may send (bytes).
    pub max_packet_bytes: usize,
    /// QoS 1/2 messages sent to a client and not yet acknowledged, at most.
    pub max_inflight: usize,
}

/// The client currently connected with a client id.
struct Registered {
    id: u64,
    /// Cancelled to take the session over.
    kill: CancellationToken,
    /// Cancelled once that connection has finished (its positions committed).
    done: CancellationToken,
}

/// What every connection shares.
pub struct Broker {
    gw: Arc<Gateway>,
    settings: Settings,
    store: store::Store,
    clients: Mutex<HashMap<String, Registered>>,
    next_id: AtomicU64,
    /// Every Kafka topic and its partition count, refreshed every TOPICS_REFRESH.
    topics: RwLock<Arc<BTreeMap<String, i32>>>,
}

/// Serve MQTT on `listener` until shutdown.
pub async fn serve(
    listener: TcpListener,
    services: Arc<Services>,
    kafka_listener: ListenerInfo,
    settings: Settings,
    shutdown: CancellationToken,
    tasks: TaskTracker,
) {
    let gw = Arc::new(Gateway::new(services, kafka_listener));
    // The store's topics are created and read before the first client is let in.
    let store = loop {
        match store::Store::open(gw.clone()).await {
            Ok(s) => break s,
            Err(e) => tracing::warn!(error = %e, "mqtt: opening the retained/session store"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    };
    let broker = Arc::new(Broker {
        gw,
        settings,
        store,
        clients: Mutex::new(HashMap::new()),
        next_id: AtomicU64::new(1),
        topics: RwLock::new(Arc::default()),
    });
    tasks.spawn(refresh_topics(broker.clone(), shutdown.clone()));
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => return,
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
        };
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "mqtt: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let (broker, shutdown) = (broker.clone(), shutdown.clone());
        tasks.spawn(async move {
            connection::run(broker, stream, peer, shutdown).await;
            drop(permit);
        });
    }
}

/// A client's bytes as a connection reads them: the version from the CONNECT, then every whole
/// packet within `max_packet` bytes, until one fails. Returns how many decoded (the fuzz target
/// `decode_mqtt`, src/fuzzing.rs).
pub fn decode_client_bytes(data: &[u8], max_packet: usize) -> usize {
    let mut buf = bytes::BytesMut::from(data);
    let version = match codec::connect_level(&buf, max_packet) {
        Ok(Some(4)) => codec::Version::V311,
        Ok(Some(5)) => codec::Version::V5,
        _ => return 0,
    };
    let mut n = 0;
    while let Ok(Some(_)) = codec::decode(&mut buf, version, max_packet) {
        n += 1;
    }
    n
}

async fn refresh_topics(broker: Arc<Broker>, shutdown: CancellationToken) {
    loop {
        if let Ok(t) = kafka::topics(&broker.gw).await {
            *broker.topics.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(t);
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(TOPICS_REFRESH) => {}
        }
    }
}

impl Broker {
    fn topics(&self) -> Arc<BTreeMap<String, i32>> {
        self.topics
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Make this connection the one of `client_id`, taking the session over from another
    /// (which is told to stop, and waited for). Returns (connection id, kill, done).
    async fn register(&self, client_id: &str) -> (u64, CancellationToken, CancellationToken) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (kill, done) = (CancellationToken::new(), CancellationToken::new());
        let old = {
            let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
            let new = Registered {
                id,
                kill: kill.clone(),
                done: done.clone(),
            };
            clients.insert(client_id.to_string(), new)
        };
        if let Some(old) = old {
            old.kill.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(10), old.done.cancelled()).await;
        }
        (id, kill, done)
    }

    fn unregister(&self, client_id: &str, id: u64) {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if clients.get(client_id).is_some_and(|r| r.id == id) {
            clients.remove(client_id);
        }
    }

    /// Publish a message: kept as retained if flagged, and appended to its Kafka topic; Ok
    /// once durable.
    async fn publish(&self, m: &codec::Message) -> Result<(), String> {
        if m.retain {
            self.store.retain(m).await?;
        }
        let kafka_topic = self.settings.map.kafka_topic(&m.topic);
        // A topic auto-created by this produce may need a moment to get its leader.
        let mut last = String::new();
        for attempt in 0..20 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let record = store::to_record(m);
            match self
                .gw
                .produce_creating(None, &kafka_topic, vec![record], true)
                .await
            {
                Ok(d) => match d.first().map(|d| &d.result) {
                    Some(Ok(_)) => return Ok(()),
                    Some(Err((_, message))) => last = message.clone(),
                    None => last = "no answer".into(),
                },
                Err(e) => last = e.message,
            }
        }
        Err(format!("producing to {kafka_topic}: {last}"))
    }
}
