//! What the MQTT listener keeps besides the records themselves, in two compacted one-partition
//! topics of its own, read back whole when the listener starts (so both survive a restart):
//!
//! - `__mqtt_retained`: the retained message of each MQTT topic (key: the topic; value: the
//!   payload; header `mqtt.qos`; a null value once a client clears it);
//! - `__mqtt_sessions`: each persistent session's subscriptions (key: the client id; value:
//!   JSON `[[filter, qos], ...]`; null once the session ends).
//!
//! A persistent session's positions are not here: they are the committed offsets of its group
//! `mqtt-<client id>` (kafka.rs).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use kafka_protocol::records::Record;

use super::codec::Message;
use super::kafka;
use super::topic::{matches, TopicMap};
use crate::http::records::OutRecord;
use crate::http::Gateway;

pub const RETAINED_TOPIC: &str = "__mqtt_retained";
pub const SESSIONS_TOPIC: &str = "__mqtt_sessions";
/// The header holding the QoS a message was published with.
pub const QOS_HEADER: &str = "mqtt.qos";

/// A session's subscriptions: filter → granted QoS.
pub type Subscriptions = BTreeMap<String, u8>;

pub struct Store {
    gw: Arc<Gateway>,
    retained: Mutex<BTreeMap<String, Message>>,
    sessions: Mutex<HashMap<String, Subscriptions>>,
}

impl Store {
    /// Create the two topics if missing and read them.
    pub async fn open(gw: Arc<Gateway>) -> Result<Self, String> {
        let mut retained = BTreeMap::new();
        let mut sessions = HashMap::new();
        for topic in [RETAINED_TOPIC, SESSIONS_TOPIC] {
            kafka::ensure_compacted(&gw, topic).await?;
            for r in read_all(&gw, topic).await? {
                let Some(key) = r.key.as_ref().and_then(|k| std::str::from_utf8(k).ok()) else {
                    continue;
                };
                let key = key.to_string();
                match (topic, r.value.clone()) {
                    (RETAINED_TOPIC, Some(payload)) if !payload.is_empty() => {
                        let qos = header_qos(&r).unwrap_or(0);
                        let message = Message {
                            topic: key.clone(),
                            payload,
                            qos,
                            retain: true,
                            ..Message::default()
                        };
                        retained.insert(key, message);
                    }
                    (RETAINED_TOPIC, _) => {
                        retained.remove(&key);
                    }
                    (_, Some(v)) => {
                        let subs: Vec<(String, u8)> =
                            serde_json::from_slice(&v).unwrap_or_default();
                        sessions.insert(key, subs.into_iter().collect());
                    }
                    (_, None) => {
                        sessions.remove(&key);
                    }
                }
            }
        }
        Ok(Self {
            gw,
            retained: Mutex::new(retained),
            sessions: Mutex::new(sessions),
        })
    }

    /// The retained messages whose topics match `filter`.
    pub fn retained_matching(&self, filter: &str) -> Vec<Message> {
        let retained = self.retained.lock().unwrap_or_else(|e| e.into_inner());
        retained
            .values()
            .filter(|m| matches(&m.topic, filter))
            .cloned()
            .collect()
    }

    /// Keep `m` as its topic's retained message (an empty payload clears it), durably.
    pub async fn retain(&self, m: &Message) -> Result<(), String> {
        let value = (!m.payload.is_empty()).then(|| m.payload.clone());
        let headers = vec![(QOS_HEADER.to_string(), Some(Bytes::from(m.qos.to_string())))];
        self.put(RETAINED_TOPIC, &m.topic, value, headers).await?;
        let mut retained = self.retained.lock().unwrap_or_else(|e| e.into_inner());
        if m.payload.is_empty() {
            retained.remove(&m.topic);
        } else {
            let mut kept = m.clone();
            kept.retain = true;
            kept.dup = false;
            retained.insert(m.topic.clone(), kept);
        }
        Ok(())
    }

    /// A persistent session's subscriptions, if it has a session.
    pub fn session(&self, client_id: &str) -> Option<Subscriptions> {
        let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.get(client_id).cloned()
    }

    /// Keep (Some) or end (None) a persistent session's subscriptions, durably.
    pub async fn save_session(
        &self,
        client_id: &str,
        subs: Option<&Subscriptions>,
    ) -> Result<(), String> {
        let value = match subs {
            Some(s) => {
                let list: Vec<(&String, &u8)> = s.iter().collect();
                Some(Bytes::from(
                    serde_json::to_vec(&list).map_err(|e| e.to_string())?,
                ))
            }
            None => None,
        };
        self.put(SESSIONS_TOPIC, client_id, value, Vec::new())
            .await?;
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        match subs {
            Some(s) => sessions.insert(client_id.to_string(), s.clone()),
            None => sessions.remove(client_id),
        };
        Ok(())
    }

    async fn put(
        &self,
        topic: &str,
        key: &str,
        value: Option<Bytes>,
        headers: Vec<(String, Option<Bytes>)>,
    ) -> Result<(), String> {
        let record = OutRecord {
            partition: Some(0),
            key: Some(Bytes::from(key.to_string())),
            value,
            headers,
        };
        let delivered = self
            .gw
            .produce(None, topic, vec![record])
            .await
            .map_err(|e| e.message)?;
        match delivered.first().map(|d| &d.result) {
            Some(Ok(_)) => Ok(()),
            Some(Err((_, message))) => Err(message.clone()),
            None => Err("no answer".into()),
        }
    }
}

/// Every record of a one-partition topic, oldest first.
async fn read_all(gw: &Gateway, topic: &str) -> Result<Vec<Record>, String> {
    let tp = (topic.to_string(), 0);
    let mut offset = kafka::list_offsets(gw, std::slice::from_ref(&tp), -2)
        .await?
        .get(&tp)
        .copied()
        .unwrap_or(0);
    let mut out = Vec::new();
    loop {
        let from = BTreeMap::from([(tp.clone(), offset)]);
        let fetched = kafka::fetch(gw, &from, 0).await?;
        let Some(f) = fetched.into_iter().next() else {
            return Ok(out);
        };
        if f.error != 0 {
            return Err(format!("reading {topic}: Kafka error {}", f.error));
        }
        let before = offset;
        for r in f.records {
            if r.offset >= offset {
                offset = r.offset + 1;
                out.push(r);
            }
        }
        if offset >= f.high_watermark || offset == before {
            return Ok(out);
        }
    }
}

/// The QoS header of a record, if it has a valid one.
pub fn header_qos(r: &Record) -> Option<u8> {
    let v = r.headers.get(QOS_HEADER.as_bytes())?.as_ref()?;
    match &v[..] {
        b"0" => Some(0),
        b"1" => Some(1),
        b"2" => Some(2),
        _ => None,
    }
}

/// The record an MQTT publish becomes: key = MQTT topic, value = payload, headers = the
/// MQTT 5 user properties and `mqtt.qos`.
pub fn to_record(m: &Message) -> OutRecord {
    let mut headers: Vec<(String, Option<Bytes>)> = m
        .user_properties
        .iter()
        .map(|(k, v)| (k.clone(), Some(Bytes::from(v.clone()))))
        .collect();
    headers.push((QOS_HEADER.to_string(), Some(Bytes::from(m.qos.to_string()))));
    OutRecord {
        partition: None,
        key: Some(Bytes::from(m.topic.clone())),
        value: Some(m.payload.clone()),
        headers,
    }
}

/// The message a record of `kafka_topic` is to MQTT subscribers (QoS: `mqtt.qos`, else 1;
/// UTF-8 headers but `mqtt.qos` become user properties).
pub fn from_record(map: &TopicMap, kafka_topic: &str, r: &Record) -> Message {
    let user_properties = r
        .headers
        .iter()
        .filter(|(k, _)| k.as_str() != QOS_HEADER)
        .filter_map(|(k, v)| {
            let v = std::str::from_utf8(v.as_ref()?).ok()?;
            Some((k.to_string(), v.to_string()))
        })
        .collect();
    Message {
        topic: map.mqtt_topic(kafka_topic, r.key.as_deref()),
        payload: r.value.clone().unwrap_or_default(),
        qos: header_qos(r).unwrap_or(1),
        user_properties,
        ..Message::default()
    }
}
