//! One MQTT client connection: CONNECT (the session: clean or persistent, taken over from an
//! earlier connection with the same client id), then packets in and messages out until
//! DISCONNECT, a keep-alive timeout (1.5 × the client's keep-alive), a takeover, shutdown, or
//! a malformed packet (which closes this connection only). A connection that ends without a
//! DISCONNECT publishes its will. The client's principal (`auth.rs`) is settled at CONNECT;
//! its publishes, subscriptions and will are authorized as that principal's, and its Kafka
//! requests go through a gateway acting as its session.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::auth;
use super::codec::{self, Connect, DecodeError, Incoming, Message, Outgoing, Version};
use super::delivery::Delivery;
use super::kafka::{self, Fetched};
use super::topic::{shared, valid_filter, valid_topic};
use super::Broker;

#[path = "connection_publish.rs"]
mod publishing;
#[path = "connection_shared.rs"]
mod shared_reading;
use crate::http::Gateway;
use crate::security::{Principal, Session};

/// A client that sends no CONNECT in this time is dropped.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a Fetch waits for new records.
const FETCH_WAIT_MS: i32 = 300;
/// How often positions are committed and new topics looked for.
const TICK: Duration = Duration::from_millis(250);
/// Most filters one session holds (each SUBSCRIBE is bounded by the packet size, but a client
/// could send them without end).
const MAX_SUBSCRIPTIONS: usize = 1024;

type FetchFuture = Pin<Box<dyn Future<Output = Result<Vec<Fetched>, String>> + Send>>;
pub type Reader = Box<dyn AsyncRead + Send + Unpin>;
pub type Writer = Box<dyn AsyncWrite + Send + Unpin>;

struct Conn {
    broker: Arc<Broker>,
    /// This connection's number (the broker's registry, share group owners).
    id: u64,
    /// Who the client is (its principal from CONNECT, its address, TCP or TLS).
    session: Arc<Session>,
    /// The Kafka requests made for the client, as its session.
    gw: Arc<Gateway>,
    wr: Writer,
    version: Version,
    client_id: String,
    /// The session outlives the connection.
    persistent: bool,
    /// The client sent no client id: the server chose one.
    assigned: bool,
    delivery: Delivery,
    /// Per share group (`$share/GROUP/...`), its filters' reading (`connection_shared.rs`).
    shares: BTreeMap<String, Delivery>,
    /// QoS 2 publishes received (PUBREC sent) and not yet released.
    received_qos2: HashSet<u16>,
}

/// How the connection ended.
enum End {
    /// DISCONNECT (MQTT 5: `with_will` asks for the will all the same).
    Disconnect {
        with_will: bool,
    },
    /// Anything else: the will is published.
    Lost(String),
    Shutdown,
}

/// Serve one client; `session` has its address, its listener's protocol and, on TLS with a
/// client certificate, its principal.
pub async fn run(
    broker: Arc<Broker>,
    (mut rd, mut wr): (Reader, Writer),
    mut session: Session,
    shutdown: CancellationToken,
) {
    let peer = session.peer;
    // The TLS handshake made the principal of a client certificate.
    let certificate =
        (session.principal != Principal::anonymous()).then(|| session.principal.clone());
    let mut buf = BytesMut::with_capacity(4096);
    let max = broker.settings.max_packet_bytes;
    let connect =
        match tokio::time::timeout(CONNECT_TIMEOUT, read_connect(&mut rd, &mut buf, max)).await {
            Ok(Ok(c)) => c,
            Ok(Err(DecodeError::Level(level))) => {
                // Refused in 3.1.1's CONNACK, which earlier versions read too.
                let mut out = BytesMut::new();
                let refusal = Outgoing::ConnAck {
                    session_present: false,
                    code: codec::REFUSED_VERSION,
                    assigned_id: None,
                };
                if codec::encode(refusal, Version::V311, &mut out).is_ok() {
                    let _ = wr.write_all(&out).await;
                }
                tracing::debug!(?peer, level, "mqtt: unsupported protocol level");
                return;
            }
            Ok(Err(e)) => {
                tracing::debug!(?peer, error = %e, "mqtt: no valid CONNECT");
                return;
            }
            Err(_) => return,
        };
    let Connect {
        version,
        mut client_id,
        clean_start,
        keep_alive,
        session_expiry,
        receive_maximum,
        will,
        login,
    } = *connect;
    let authenticated = auth::authenticate(&broker, certificate, login).await;
    let refused = authenticated.as_ref().err().copied();
    if let Ok(principal) = authenticated {
        session.principal = principal;
    }
    let session = Arc::new(session);
    let mut conn = Conn {
        broker: broker.clone(),
        id: 0,
        gw: Arc::new(broker.gw.acting_as(session.clone())),
        session,
        wr,
        version,
        client_id: String::new(),
        persistent: false,
        assigned: false,
        delivery: Delivery::new(max_inflight_from(&broker, receive_maximum)),
        shares: BTreeMap::new(),
        received_qos2: HashSet::new(),
    };
    if let Some(code) = refused {
        tracing::info!(
            ?peer,
            client_id,
            code,
            "mqtt: CONNECT refused: bad login or anonymous"
        );
        let _ = conn
            .send(Outgoing::ConnAck {
                session_present: false,
                code,
                assigned_id: None,
            })
            .await;
        return;
    }
    if client_id.is_empty() {
        if !clean_start && version == Version::V311 {
            let _ = conn
                .send(Outgoing::ConnAck {
                    session_present: false,
                    code: codec::REFUSED_CLIENT_ID,
                    assigned_id: None,
                })
                .await;
            return;
        }
        client_id = format!("gregor-{}", uuid::Uuid::new_v4().simple());
        conn.assigned = true;
    }
    conn.client_id = client_id.clone();
    conn.persistent = match version {
        Version::V311 => !clean_start,
        Version::V5 => session_expiry.unwrap_or(0) > 0,
    };
    let (id, kill, done) = broker.register(&client_id).await;
    conn.id = id;
    let end = match conn.start(clean_start).await {
        Ok(()) => conn.serve(&mut rd, buf, keep_alive, &kill, &shutdown).await,
        Err(e) => End::Lost(e),
    };
    tracing::debug!(?peer, client_id, "mqtt: connection ends");
    conn.leave_shared().await;
    if conn.persistent {
        conn.commit().await;
    } else if !clean_start && broker.store.session(&client_id).is_some() {
        let _ = broker.store.save_session(&client_id, None).await;
    }
    let publish_will = match &end {
        End::Disconnect { with_will } => *with_will,
        End::Lost(why) => {
            tracing::debug!(?peer, client_id, why, "mqtt: connection lost");
            true
        }
        End::Shutdown => false,
    };
    if let (true, Some(will)) = (publish_will, will) {
        let kafka_topic = broker.settings.map.kafka_topic(&will.topic);
        if valid_topic(&will.topic) && auth::may_write(&broker, &conn.session, &kafka_topic) {
            if let Err(e) = broker.publish(&conn.gw, &will).await {
                tracing::warn!(client_id, error = %e, "mqtt: publishing a will");
            }
        }
    }
    broker.unregister(&client_id, id);
    done.cancel();
}

/// The receive window: the client's receive maximum (MQTT 5) capped by the broker's limit.
fn max_inflight_from(broker: &Broker, receive_maximum: Option<u16>) -> usize {
    let limit = broker.settings.max_inflight;
    receive_maximum.map_or(limit, |r| usize::from(r).min(limit))
}

async fn read_connect(
    rd: &mut Reader,
    buf: &mut BytesMut,
    max: usize,
) -> Result<Box<Connect>, DecodeError> {
    loop {
        if let Some(level) = codec::connect_level(buf, max)? {
            let version = match level {
                4 => Version::V311,
                5 => Version::V5,
                l => return Err(DecodeError::Level(l)),
            };
            if let Some(p) = codec::decode(buf, version, max)? {
                return match p {
                    Incoming::Connect(c) => Ok(c),
                    _ => Err(DecodeError::Malformed(
                        "the first packet is not CONNECT".into(),
                    )),
                };
            }
        }
        match rd.read_buf(buf).await {
            Ok(0) | Err(_) => return Err(DecodeError::Malformed("closed before CONNECT".into())),
            Ok(_) => {}
        }
    }
}

impl Conn {
    async fn send(&mut self, packet: Outgoing) -> Result<(), String> {
        self.send_all(vec![packet]).await
    }

    /// Send packets in one write.
    async fn send_all(&mut self, packets: Vec<Outgoing>) -> Result<(), String> {
        if packets.is_empty() {
            return Ok(());
        }
        let mut out = BytesMut::new();
        for packet in packets {
            codec::encode(packet, self.version, &mut out)?;
        }
        self.wr.write_all(&out).await.map_err(|e| e.to_string())
    }

    /// Set the session up and answer CONNACK.
    async fn start(&mut self, clean_start: bool) -> Result<(), String> {
        let broker = self.broker.clone();
        let stored = broker.store.session(&self.client_id);
        let resumed = match stored {
            Some(_) if clean_start => {
                broker.store.save_session(&self.client_id, None).await?;
                None
            }
            other => other,
        };
        let session_present = resumed.is_some();
        if let Some(subs) = resumed {
            self.delivery.subs = subs;
            // Positions: the session's committed offsets; partitions without one (their topic
            // came later) from their start.
            let group = kafka::session_group(&self.client_id);
            let committed = kafka::committed(&self.gw, &group).await?;
            let topics = kafka::topics(&broker.gw).await?;
            let missing = self.readable(self.delivery.missing(&broker.settings.map, &topics));
            let (known, fresh): (Vec<_>, Vec<_>) = missing
                .into_iter()
                .partition(|tp| committed.contains_key(tp));
            self.delivery.start(known.into_iter().filter_map(|tp| {
                let offset = committed.get(&tp).copied()?;
                Some((tp, offset))
            }));
            self.start_at(fresh, -2).await?;
        }
        let assigned_id = self.assigned.then(|| self.client_id.clone());
        self.send(Outgoing::ConnAck {
            session_present,
            code: 0,
            assigned_id,
        })
        .await
    }

    /// Start reading partitions at their start (-2) or end (-1).
    async fn start_at(&mut self, tps: Vec<(String, i32)>, timestamp: i64) -> Result<(), String> {
        if tps.is_empty() {
            return Ok(());
        }
        let offsets = kafka::list_offsets(&self.gw, &tps, timestamp).await?;
        self.delivery.start(offsets);
        Ok(())
    }

    /// Commit a persistent session's positions, if they moved.
    async fn commit(&mut self) {
        if !self.persistent || !self.delivery.dirty {
            return;
        }
        let offsets = self.delivery.commit_offsets();
        let group = kafka::session_group(&self.client_id);
        match kafka::commit(&self.gw, &group, &offsets).await {
            Ok(()) => self.delivery.dirty = false,
            Err(e) => tracing::debug!(client_id = self.client_id, error = %e, "mqtt: commit"),
        }
    }

    async fn serve(
        &mut self,
        rd: &mut Reader,
        mut buf: BytesMut,
        keep_alive: u16,
        kill: &CancellationToken,
        shutdown: &CancellationToken,
    ) -> End {
        let grace = Duration::from_millis(u64::from(keep_alive) * 1500);
        let mut deadline = Instant::now() + grace;
        let mut fetching: Option<FetchFuture> = None;
        let mut tick = tokio::time::interval(TICK);
        let max = self.broker.settings.max_packet_bytes;
        loop {
            // Take every whole packet already read; QoS 0 and 1 publishes in a row go to
            // Kafka together (one append, one fsync), acknowledged in order.
            let mut run = Vec::new();
            loop {
                match codec::decode(&mut buf, self.version, max) {
                    Ok(Some(Incoming::Publish(m))) if m.qos < 2 && valid_topic(&m.topic) => {
                        deadline = Instant::now() + grace;
                        run.push(m);
                        if run.len() >= publishing::MAX_RUN {
                            if let Err(e) = self.publish_run(std::mem::take(&mut run)).await {
                                return End::Lost(e);
                            }
                        }
                    }
                    Ok(Some(packet)) => {
                        deadline = Instant::now() + grace;
                        if let Err(e) = self.publish_run(std::mem::take(&mut run)).await {
                            return End::Lost(e);
                        }
                        if let Some(end) = self.handle(packet).await {
                            return end;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        // What came before the broken packet is handled first, as it would
                        // have been one by one.
                        if let Err(e) = self.publish_run(run).await {
                            return End::Lost(e);
                        }
                        return End::Lost(e.to_string());
                    }
                }
            }
            if let Err(e) = self.publish_run(run).await {
                return End::Lost(e);
            }
            while let Some(m) = self.next_message() {
                if let Err(e) = self.send(Outgoing::Publish(m)).await {
                    return End::Lost(e);
                }
            }
            if fetching.is_none() {
                if let Some(from) = self.fetch_set() {
                    let gw = self.gw.clone();
                    fetching = Some(Box::pin(async move {
                        kafka::fetch(&gw, &from, FETCH_WAIT_MS).await
                    }));
                }
            }
            tokio::select! {
                _ = kill.cancelled() => return End::Lost("session taken over".into()),
                _ = shutdown.cancelled() => return End::Shutdown,
                _ = tokio::time::sleep_until(deadline), if keep_alive > 0 => {
                    return End::Lost("keep-alive timeout".into());
                }
                read = rd.read_buf(&mut buf) => match read {
                    Ok(0) => return End::Lost("closed by the client".into()),
                    Ok(_) => {}
                    Err(e) => return End::Lost(e.to_string()),
                },
                fetched = async {
                    match fetching.as_mut() {
                        Some(f) => f.await,
                        None => std::future::pending().await,
                    }
                }, if fetching.is_some() => {
                    fetching = None;
                    match fetched {
                        Ok(f) => self.take(f),
                        Err(e) => {
                            tracing::debug!(error = %e, "mqtt: fetch");
                            tokio::time::sleep(TICK).await;
                        }
                    }
                }
                _ = tick.tick() => {
                    if let Err(e) = self.discover().await {
                        tracing::debug!(error = %e, "mqtt: new partitions");
                    }
                    if let Err(e) = self.claim_shared(-2).await {
                        tracing::debug!(error = %e, "mqtt: shared partitions");
                    }
                    self.commit().await;
                    self.commit_shared().await;
                }
            }
        }
    }

    /// Read partitions that appeared since (new topics, more partitions) from their start, and
    /// move those whose position fell out of range to their start.
    async fn discover(&mut self) -> Result<(), String> {
        if self.delivery.subs.is_empty() {
            return Ok(());
        }
        let topics = self.broker.topics();
        let mut tps = self.readable(self.delivery.missing(&self.broker.settings.map, &topics));
        tps.append(&mut self.delivery.to_reset);
        self.start_at(tps, -2).await
    }

    /// The partitions of topics the client may read (a filter starting with a wildcard
    /// reaches every topic; it reads these).
    fn readable(&self, tps: Vec<(String, i32)>) -> Vec<(String, i32)> {
        tps.into_iter()
            .filter(|(topic, _)| auth::may_read(&self.broker, &self.session, topic))
            .collect()
    }

    /// Handle one packet; Some: the connection ends.
    async fn handle(&mut self, packet: Incoming) -> Option<End> {
        let result = match packet {
            Incoming::Publish(m) => self.publish(m).await,
            Incoming::PubAck(id) | Incoming::PubComp(id) => {
                self.acked(id);
                Ok(())
            }
            Incoming::PubRec(id) => self.send(Outgoing::PubRel(id)).await,
            Incoming::PubRel(id) => {
                self.received_qos2.remove(&id);
                self.send(Outgoing::PubComp(id)).await
            }
            Incoming::Subscribe { pkid, filters } => self.subscribe(pkid, filters).await,
            Incoming::Unsubscribe { pkid, filters } => {
                let count = filters.len();
                for f in &filters {
                    match shared(f) {
                        Some((group, filter)) => self.unsubscribe_shared(group, filter).await,
                        None => {
                            self.delivery.subs.remove(f);
                        }
                    }
                }
                self.delivery.retain_needed(&self.broker.settings.map);
                match self.save_subscriptions().await {
                    Ok(()) => self.send(Outgoing::UnsubAck { pkid, count }).await,
                    Err(e) => Err(e),
                }
            }
            Incoming::PingReq => self.send(Outgoing::PingResp).await,
            Incoming::Disconnect { with_will } => return Some(End::Disconnect { with_will }),
            Incoming::Connect(_) => Err("a second CONNECT".into()),
            Incoming::Unexpected => Err("a packet a client does not send".into()),
        };
        result.err().map(End::Lost)
    }

    async fn publish(&mut self, m: Message) -> Result<(), String> {
        if !valid_topic(&m.topic) {
            return Err(format!("PUBLISH to {:?}, not a topic name", m.topic));
        }
        if m.qos == 2 && self.received_qos2.contains(&m.pkid) {
            return self.send(Outgoing::PubRec(m.pkid)).await; // a resent one: stored already
        }
        let kafka_topic = self.broker.settings.map.kafka_topic(&m.topic);
        if !auth::may_write(&self.broker, &self.session, &kafka_topic) {
            return match m.qos {
                0 => Ok(()),
                1 => self.send(Outgoing::PubAckDenied(m.pkid)).await,
                _ => self.send(Outgoing::PubRecDenied(m.pkid)).await,
            };
        }
        let published = self.broker.publish(&self.gw, &m).await;
        match (m.qos, published) {
            (0, Err(e)) => {
                tracing::debug!(error = %e, "mqtt: a QoS 0 publish was lost");
                Ok(())
            }
            (0, Ok(())) => Ok(()),
            // No negative acknowledgement in 3.1.1: the client sends it again on reconnecting.
            (_, Err(e)) => Err(e),
            (1, Ok(())) => self.send(Outgoing::PubAck(m.pkid)).await,
            (_, Ok(())) => {
                self.received_qos2.insert(m.pkid);
                self.send(Outgoing::PubRec(m.pkid)).await
            }
        }
    }

    async fn subscribe(&mut self, pkid: u16, filters: Vec<(String, u8)>) -> Result<(), String> {
        let mut codes = Vec::with_capacity(filters.len());
        let mut added = Vec::new();
        let group = self
            .persistent
            .then(|| kafka::session_group(&self.client_id));
        // MQTT 3.1.1 has one refusal code; 5 says why.
        let v5 = self.version == Version::V5;
        let refuse = |code: u8| if v5 || code <= 2 { code } else { 0x80 };
        for (filter, qos) in filters {
            let code = if let Some((group, inner)) = shared(&filter) {
                refuse(self.subscribe_shared(group, inner, qos))
            } else if !valid_filter(&filter) {
                refuse(0x8F)
            } else if !auth::may_subscribe(&self.broker, &self.session, &filter, group.as_deref()) {
                refuse(codec::NOT_AUTHORIZED)
            } else if self.delivery.subs.len() >= MAX_SUBSCRIPTIONS
                && !self.delivery.subs.contains_key(&filter)
            {
                // Quota exceeded: a session's filters are held and saved whole.
                refuse(0x97)
            } else {
                let granted = qos.min(2);
                self.delivery.subs.insert(filter.clone(), granted);
                added.push((filter, granted));
                granted
            };
            codes.push(code);
        }
        // Positions before SUBACK: what is published once the client has its SUBACK is
        // delivered. Topics that exist start at their end; later ones at their start.
        let topics = kafka::topics(&self.broker.gw).await?;
        let missing = self.readable(self.delivery.missing(&self.broker.settings.map, &topics));
        self.start_at(missing, -1).await?;
        self.claim_shared(-1).await?;
        self.save_subscriptions().await?;
        self.commit().await;
        self.send(Outgoing::SubAck { pkid, codes }).await?;
        for (filter, granted) in added {
            for mut m in self.broker.store.retained_matching(&filter) {
                let kafka_topic = self.broker.settings.map.kafka_topic(&m.topic);
                if !auth::may_read(&self.broker, &self.session, &kafka_topic) {
                    continue;
                }
                m.qos = m.qos.min(granted);
                self.delivery.push_retained(m);
            }
        }
        Ok(())
    }

    async fn save_subscriptions(&mut self) -> Result<(), String> {
        if !self.persistent {
            return Ok(());
        }
        let subs = self.delivery.subs.clone();
        self.broker
            .store
            .save_session(&self.client_id, Some(&subs))
            .await
    }
}
