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
//! Clients connect over TCP (`--mqtt-listen`) or TLS (`--mqtt-tls-listen`, the Kafka SSL
//! listeners' certificates and client CA, handshaken by `server`); `auth` says who they are
//! and what they may do. The listener's own requests (its store, the topic list) run as the
//! broker's principal, a client's (produce, fetch, offsets) as the client's.
//!
//! Modules: `codec` (packets, over rumqttc's codec), `topic` (filters, the topic map),
//! `auth` (users and ACLs), `connection` (one client; `connection_shared.rs` its shared
//! subscriptions), `delivery` (a session's reading), `shared` (share groups' partition
//! owners), `store`, `kafka` (requests).

mod auth;
mod codec;
mod connection;
mod delivery;
mod kafka;
mod shared;
mod store;
mod topic;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::{ListenerInfo, Services};
use crate::http::Gateway;
use crate::security::{x509, Principal, SecurityProtocol, Session};
pub use topic::TopicMap;

/// MQTT connections served at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 4096;
/// How often the list of Kafka topics (for wildcard subscriptions) is read again.
const TOPICS_REFRESH: Duration = Duration::from_millis(500);
/// Longest a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the listener is configured with.
#[derive(Clone, Debug)]
pub struct Settings {
    pub map: TopicMap,
    /// Largest packet a client may send (bytes).
    pub max_packet_bytes: usize,
    /// QoS 1/2 messages sent to a client and not yet acknowledged, at most.
    pub max_inflight: usize,
    /// Clients without a user name are let in even when the broker has users.
    pub allow_anonymous: bool,
}

/// The TLS acceptor of a new connection (the certificates now: they are reloaded on SIGHUP).
pub type Acceptor = Arc<dyn Fn() -> TlsAcceptor + Send + Sync>;

/// One listening socket: plain TCP, or TLS with its acceptor.
pub struct Listener {
    pub tcp: TcpListener,
    pub tls: Option<Acceptor>,
}

/// A client's byte stream, TCP or TLS.
trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}
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
    services: Arc<Services>,
    /// The gateway acting as the broker itself (the store, the topic list).
    gw: Arc<Gateway>,
    settings: Settings,
    store: store::Store,
    clients: Mutex<HashMap<String, Registered>>,
    /// Who reads which partition of each shared subscription's group.
    owners: shared::Owners,
    next_id: AtomicU64,
    /// Every Kafka topic and its partition count, refreshed every TOPICS_REFRESH.
    topics: RwLock<Arc<BTreeMap<String, i32>>>,
}

/// Serve MQTT on `listeners` until shutdown.
pub async fn serve(
    listeners: Vec<Listener>,
    services: Arc<Services>,
    kafka_listener: ListenerInfo,
    settings: Settings,
    shutdown: CancellationToken,
    tasks: TaskTracker,
) {
    let internal = Arc::new(Session {
        principal: Principal::broker(),
        peer: None,
        security_protocol: SecurityProtocol::Plaintext,
        token_authenticated: false,
    });
    let gw = Arc::new(Gateway::new(services.clone(), kafka_listener).acting_as(internal));
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
        services,
        gw,
        settings,
        store,
        clients: Mutex::new(HashMap::new()),
        owners: shared::Owners::default(),
        next_id: AtomicU64::new(1),
        topics: RwLock::new(Arc::default()),
    });
    tasks.spawn(refresh_topics(broker.clone(), shutdown.clone()));
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    for listener in listeners {
        tasks.spawn(accept(
            listener,
            broker.clone(),
            slots.clone(),
            shutdown.clone(),
            tasks.clone(),
        ));
    }
}

async fn accept(
    listener: Listener,
    broker: Arc<Broker>,
    slots: Arc<Semaphore>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
) {
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => return,
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
        };
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.tcp.accept() => match accepted {
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
        let tls = listener.tls.clone();
        tasks.spawn(async move {
            let session = Session::anonymous(Some(peer), SecurityProtocol::Plaintext);
            let connected = match tls {
                None => Some((Box::new(stream) as Box<dyn Stream>, session)),
                Some(acceptor) => handshake(acceptor(), stream, session, &shutdown).await,
            };
            if let Some((stream, session)) = connected {
                let (rd, wr) = tokio::io::split(stream);
                connection::run(broker, (Box::new(rd), Box::new(wr)), session, shutdown).await;
            }
            drop(permit);
        });
    }
}

/// The TLS handshake of a connection on the TLS listener, and its client certificate's
/// principal; None if it failed.
async fn handshake(
    acceptor: TlsAcceptor,
    stream: tokio::net::TcpStream,
    mut session: Session,
    shutdown: &CancellationToken,
) -> Option<(Box<dyn Stream>, Session)> {
    let peer = session.peer;
    let stream = tokio::select! {
        _ = shutdown.cancelled() => return None,
        s = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)) => match s {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::info!(?peer, error = %e, "mqtt: TLS handshake failed");
                return None;
            }
            Err(_) => {
                tracing::info!(?peer, "mqtt: TLS handshake timed out");
                return None;
            }
        },
    };
    session.security_protocol = SecurityProtocol::Ssl;
    if let Some(name) = x509::client_principal_name(stream.get_ref().1) {
        session.principal = Principal::user(name);
    }
    Some((Box::new(stream), session))
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

    /// Publish a message: kept as retained if flagged, and appended to its Kafka topic
    /// through `gw` (acting as the client); Ok once durable.
    async fn publish(&self, gw: &Gateway, m: &codec::Message) -> Result<(), String> {
        let kafka_topic = self.settings.map.kafka_topic(&m.topic);
        let mut results = self.publish_all(gw, &kafka_topic, &[m]).await;
        results.pop().unwrap_or_else(|| Err("no answer".into()))
    }

    /// Publish messages that all map to `kafka_topic` in one Produce request (records of one
    /// partition in one batch, in their order), each kept as retained if flagged; per
    /// message, Ok once durable. Failed records alone are tried again, so a partition's
    /// records keep their order.
    async fn publish_all(
        &self,
        gw: &Gateway,
        kafka_topic: &str,
        messages: &[&codec::Message],
    ) -> Vec<Result<(), String>> {
        let mut results: Vec<Result<(), String>> = Vec::with_capacity(messages.len());
        for m in messages {
            results.push(match m.retain {
                true => self.store.retain(m).await,
                false => Ok(()),
            });
        }
        let mut pending: Vec<usize> = (0..messages.len())
            .filter(|i| results[*i].is_ok())
            .collect();
        // A topic auto-created by this produce may need a moment to get its leader.
        let mut last = String::new();
        for attempt in 0..20 {
            if pending.is_empty() {
                break;
            }
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let records = pending.iter().map(|i| store::to_record(messages[*i]));
            match gw
                .produce_creating(None, kafka_topic, records.collect(), true)
                .await
            {
                Ok(delivered) => {
                    let mut failed = Vec::new();
                    for (k, i) in pending.iter().enumerate() {
                        match delivered.get(k).map(|d| &d.result) {
                            Some(Ok(_)) => {}
                            Some(Err((_, message))) => {
                                last = message.clone();
                                failed.push(*i);
                            }
                            None => {
                                last = "no answer".into();
                                failed.push(*i);
                            }
                        }
                    }
                    pending = failed;
                }
                Err(e) => last = e.message,
            }
        }
        for i in pending {
            results[i] = Err(format!("producing to {kafka_topic}: {last}"));
        }
        results
    }
}
