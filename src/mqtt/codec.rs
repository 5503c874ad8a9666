//! MQTT packets in and out, for both protocol versions, as one set of types.
//!
//! The codec is rumqttc's `mqttbytes` (the `v4` module for MQTT 3.1.1 and `v5::mqttbytes::v5`
//! for MQTT 5), built without its client or TLS features. Why this crate: of the maintained
//! MQTT codecs on crates.io it is the one that decodes the packets a *server* reads (CONNECT,
//! SUBSCRIBE, UNSUBSCRIBE, PUBREL...) and encodes the ones it writes, for 3.1.1 *and* 5, on
//! plain `bytes` buffers with no runtime of its own; it checks a packet's declared length
//! against a maximum before taking the packet out of the buffer, and reports short input as
//! "need more bytes". `mqttrs` and `mqtt-protocol` only speak 3.1.1, `mqttbytes` (the
//! standalone crate) is the unmaintained ancestor of this module, and `ntex-mqtt` is a whole
//! server framework on its own runtime.

use bytes::{Bytes, BytesMut};
use rumqttc::mqttbytes::v4;
use rumqttc::v5::mqttbytes::v5;

/// The protocol version a connection speaks, from its CONNECT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V311,
    V5,
}

/// A message published (in either direction).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Message {
    pub topic: String,
    pub payload: Bytes,
    pub qos: u8,
    pub retain: bool,
    pub dup: bool,
    pub pkid: u16,
    /// MQTT 5 user properties (none in 3.1.1).
    pub user_properties: Vec<(String, String)>,
}

/// What a CONNECT asks for.
#[derive(Debug)]
pub struct Connect {
    pub version: Version,
    pub client_id: String,
    pub clean_start: bool,
    pub keep_alive: u16,
    /// MQTT 5 session expiry interval (seconds); 3.1.1: none.
    pub session_expiry: Option<u32>,
    /// MQTT 5 receive maximum: how many QoS 1/2 messages the client takes at once.
    pub receive_maximum: Option<u16>,
    pub will: Option<Message>,
    /// The user name and password, when either was sent.
    pub login: Option<Login>,
}

/// CONNECT's user name and password (each empty when not sent).
#[derive(Debug, Default)]
pub struct Login {
    pub username: String,
    pub password: String,
}

/// A packet a client sends.
#[derive(Debug)]
pub enum Incoming {
    Connect(Box<Connect>),
    Publish(Message),
    PubAck(u16),
    PubRec(u16),
    PubRel(u16),
    PubComp(u16),
    Subscribe {
        pkid: u16,
        filters: Vec<(String, u8)>,
    },
    Unsubscribe {
        pkid: u16,
        filters: Vec<String>,
    },
    PingReq,
    /// `with_will`: MQTT 5's "disconnect with will message".
    Disconnect {
        with_will: bool,
    },
    /// A packet a server does not expect from a client (CONNACK, SUBACK...).
    Unexpected,
}

/// A packet the server sends.
#[derive(Debug)]
pub enum Outgoing {
    /// `code`: 0 accepted, else a refusal (3.1.1's return code; mapped for MQTT 5).
    /// `assigned_id`: the client id the server chose for a client that sent none (MQTT 5).
    ConnAck {
        session_present: bool,
        code: u8,
        assigned_id: Option<String>,
    },
    Publish(Message),
    PubAck(u16),
    PubRec(u16),
    PubRel(u16),
    PubComp(u16),
    /// A publish the client may not make: MQTT 5 says so (0x87 not authorized); 3.1.1 has no
    /// negative acknowledgement and acknowledges it (the message dropped), as Mosquitto does.
    PubAckDenied(u16),
    PubRecDenied(u16),
    /// Per filter, the granted QoS, or a refusal (MQTT 5 reason code; 3.1.1 sends 0x80).
    SubAck {
        pkid: u16,
        codes: Vec<u8>,
    },
    UnsubAck {
        pkid: u16,
        count: usize,
    },
    PingResp,
}

/// Refusals in CONNACK (3.1.1 codes).
pub const REFUSED_VERSION: u8 = 1;
pub const REFUSED_CLIENT_ID: u8 = 2;
pub const REFUSED_BAD_LOGIN: u8 = 4;
pub const REFUSED_NOT_AUTHORIZED: u8 = 5;
/// MQTT 5's reason code "not authorized" (SUBACK).
pub const NOT_AUTHORIZED: u8 = 0x87;

/// Why a connection must close.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("packet larger than the {0}-byte limit")]
    TooLarge(usize),
    #[error("malformed packet: {0}")]
    Malformed(String),
    #[error("MQTT protocol level {0} (3.1.1 is 4, 5 is 5)")]
    Level(u8),
}

/// The protocol level a CONNECT at the head of `buf` names, once enough of it is there.
pub fn connect_level(buf: &[u8], max: usize) -> Result<Option<u8>, DecodeError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    if first != 0x10 {
        return Err(DecodeError::Malformed(
            "the first packet is not CONNECT".into(),
        ));
    }
    // The remaining length: up to four 7-bit groups.
    let (mut len, mut i, mut shift) = (0usize, 1usize, 0u32);
    loop {
        let Some(&b) = buf.get(i) else {
            return Ok(None);
        };
        len |= usize::from(b & 0x7f) << shift;
        i += 1;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 21 {
            return Err(DecodeError::Malformed("remaining length".into()));
        }
    }
    if len > max {
        return Err(DecodeError::TooLarge(max));
    }
    let end = i + len;
    let Some(name_len) = buf.get(i..i + 2) else {
        return Ok(None);
    };
    let at = i + 2 + usize::from(u16::from_be_bytes([name_len[0], name_len[1]]));
    if at >= end {
        return Err(DecodeError::Malformed(
            "CONNECT shorter than its protocol name".into(),
        ));
    }
    Ok(buf.get(at).copied())
}

/// Take one whole packet off `buf`: None when more bytes are needed.
pub fn decode(
    buf: &mut BytesMut,
    version: Version,
    max: usize,
) -> Result<Option<Incoming>, DecodeError> {
    match version {
        Version::V311 => match v4::Packet::read(buf, max) {
            Ok(p) => Ok(Some(from_v4(p))),
            Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => Ok(None),
            Err(rumqttc::mqttbytes::Error::PayloadSizeLimitExceeded(_)) => {
                Err(DecodeError::TooLarge(max))
            }
            Err(e) => Err(DecodeError::Malformed(e.to_string())),
        },
        Version::V5 => {
            // A DISCONNECT with no reason code (remaining length 0) is a normal one; the
            // codec wants a payload.
            if buf.len() >= 2 && buf[0] == 0xE0 && buf[1] == 0 {
                let _ = buf.split_to(2);
                return Ok(Some(Incoming::Disconnect { with_will: false }));
            }
            let limit = u32::try_from(max).unwrap_or(u32::MAX);
            match v5::Packet::read(buf, Some(limit)) {
                Ok(p) => Ok(Some(from_v5(p))),
                Err(rumqttc::v5::mqttbytes::Error::InsufficientBytes(_)) => Ok(None),
                Err(rumqttc::v5::mqttbytes::Error::PayloadSizeLimitExceeded { .. }) => {
                    Err(DecodeError::TooLarge(max))
                }
                Err(e) => Err(DecodeError::Malformed(e.to_string())),
            }
        }
    }
}

fn from_v4(p: v4::Packet) -> Incoming {
    match p {
        v4::Packet::Connect(c) => Incoming::Connect(Box::new(Connect {
            version: Version::V311,
            client_id: c.client_id,
            clean_start: c.clean_session,
            keep_alive: c.keep_alive,
            session_expiry: None,
            receive_maximum: None,
            will: c.last_will.map(|w| Message {
                topic: w.topic,
                payload: w.message,
                qos: w.qos as u8,
                retain: w.retain,
                ..Message::default()
            }),
            login: c.login.map(|l| Login {
                username: l.username,
                password: l.password,
            }),
        })),
        v4::Packet::Publish(p) => Incoming::Publish(Message {
            topic: p.topic,
            payload: p.payload,
            qos: p.qos as u8,
            retain: p.retain,
            dup: p.dup,
            pkid: p.pkid,
            user_properties: Vec::new(),
        }),
        v4::Packet::PubAck(a) => Incoming::PubAck(a.pkid),
        v4::Packet::PubRec(a) => Incoming::PubRec(a.pkid),
        v4::Packet::PubRel(a) => Incoming::PubRel(a.pkid),
        v4::Packet::PubComp(a) => Incoming::PubComp(a.pkid),
        v4::Packet::Subscribe(s) => Incoming::Subscribe {
            pkid: s.pkid,
            filters: s
                .filters
                .into_iter()
                .map(|f| (f.path, f.qos as u8))
                .collect(),
        },
        v4::Packet::Unsubscribe(u) => Incoming::Unsubscribe {
            pkid: u.pkid,
            filters: u.topics,
        },
        v4::Packet::PingReq => Incoming::PingReq,
        v4::Packet::Disconnect => Incoming::Disconnect { with_will: false },
        _ => Incoming::Unexpected,
    }
}

fn from_v5(p: v5::Packet) -> Incoming {
    match p {
        v5::Packet::Connect(c, will, login) => {
            let props = c.properties.as_ref();
            Incoming::Connect(Box::new(Connect {
                version: Version::V5,
                client_id: c.client_id,
                clean_start: c.clean_start,
                keep_alive: c.keep_alive,
                session_expiry: Some(props.and_then(|p| p.session_expiry_interval).unwrap_or(0)),
                receive_maximum: props.and_then(|p| p.receive_maximum),
                will: will.map(|w| Message {
                    topic: String::from_utf8_lossy(&w.topic).into_owned(),
                    payload: w.message,
                    qos: w.qos as u8,
                    retain: w.retain,
                    user_properties: w.properties.map(|p| p.user_properties).unwrap_or_default(),
                    ..Message::default()
                }),
                login: login.map(|l| Login {
                    username: l.username,
                    password: l.password,
                }),
            }))
        }
        v5::Packet::Publish(p) => Incoming::Publish(Message {
            topic: String::from_utf8_lossy(&p.topic).into_owned(),
            payload: p.payload,
            qos: p.qos as u8,
            retain: p.retain,
            dup: p.dup,
            pkid: p.pkid,
            user_properties: p.properties.map(|p| p.user_properties).unwrap_or_default(),
        }),
        v5::Packet::PubAck(a) => Incoming::PubAck(a.pkid),
        v5::Packet::PubRec(a) => Incoming::PubRec(a.pkid),
        v5::Packet::PubRel(a) => Incoming::PubRel(a.pkid),
        v5::Packet::PubComp(a) => Incoming::PubComp(a.pkid),
        v5::Packet::Subscribe(s) => Incoming::Subscribe {
            pkid: s.pkid,
            filters: s
                .filters
                .into_iter()
                .map(|f| (f.path, f.qos as u8))
                .collect(),
        },
        v5::Packet::Unsubscribe(u) => Incoming::Unsubscribe {
            pkid: u.pkid,
            filters: u.filters,
        },
        v5::Packet::PingReq(_) => Incoming::PingReq,
        v5::Packet::Disconnect(d) => Incoming::Disconnect {
            with_will: d.reason_code == v5::DisconnectReasonCode::DisconnectWithWillMessage,
        },
        _ => Incoming::Unexpected,
    }
}

/// Append `packet`'s bytes to `out`.
pub fn encode(packet: Outgoing, version: Version, out: &mut BytesMut) -> Result<(), String> {
    let written = match version {
        Version::V311 => to_v4(packet)
            .write(out, usize::MAX)
            .map_err(|e| e.to_string()),
        Version::V5 => to_v5(packet).write(out, None).map_err(|e| e.to_string()),
    };
    written.map(|_| ())
}

fn v4_qos(q: u8) -> rumqttc::mqttbytes::QoS {
    match q {
        0 => rumqttc::mqttbytes::QoS::AtMostOnce,
        1 => rumqttc::mqttbytes::QoS::AtLeastOnce,
        _ => rumqttc::mqttbytes::QoS::ExactlyOnce,
    }
}

fn v5_qos(q: u8) -> rumqttc::v5::mqttbytes::QoS {
    match q {
        0 => rumqttc::v5::mqttbytes::QoS::AtMostOnce,
        1 => rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
        _ => rumqttc::v5::mqttbytes::QoS::ExactlyOnce,
    }
}

fn to_v4(p: Outgoing) -> v4::Packet {
    match p {
        Outgoing::ConnAck {
            session_present,
            code,
            ..
        } => v4::Packet::ConnAck(v4::ConnAck::new(
            match code {
                0 => v4::ConnectReturnCode::Success,
                REFUSED_VERSION => v4::ConnectReturnCode::RefusedProtocolVersion,
                REFUSED_CLIENT_ID => v4::ConnectReturnCode::BadClientId,
                REFUSED_BAD_LOGIN => v4::ConnectReturnCode::BadUserNamePassword,
                REFUSED_NOT_AUTHORIZED => v4::ConnectReturnCode::NotAuthorized,
                _ => v4::ConnectReturnCode::ServiceUnavailable,
            },
            session_present,
        )),
        Outgoing::Publish(m) => v4::Packet::Publish(v4::Publish {
            dup: m.dup,
            qos: v4_qos(m.qos),
            retain: m.retain,
            topic: m.topic,
            pkid: m.pkid,
            payload: m.payload,
        }),
        Outgoing::PubAck(id) | Outgoing::PubAckDenied(id) => {
            v4::Packet::PubAck(v4::PubAck::new(id))
        }
        Outgoing::PubRec(id) | Outgoing::PubRecDenied(id) => {
            v4::Packet::PubRec(v4::PubRec::new(id))
        }
        Outgoing::PubRel(id) => v4::Packet::PubRel(v4::PubRel::new(id)),
        Outgoing::PubComp(id) => v4::Packet::PubComp(v4::PubComp::new(id)),
        Outgoing::SubAck { pkid, codes } => v4::Packet::SubAck(v4::SubAck::new(
            pkid,
            codes
                .into_iter()
                .map(|c| match c {
                    0..=2 => v4::SubscribeReasonCode::Success(v4_qos(c)),
                    _ => v4::SubscribeReasonCode::Failure,
                })
                .collect(),
        )),
        Outgoing::UnsubAck { pkid, .. } => v4::Packet::UnsubAck(v4::UnsubAck::new(pkid)),
        Outgoing::PingResp => v4::Packet::PingResp,
    }
}

fn to_v5(p: Outgoing) -> v5::Packet {
    match p {
        Outgoing::ConnAck {
            session_present,
            code,
            assigned_id,
        } => v5::Packet::ConnAck(v5::ConnAck {
            session_present,
            code: match code {
                0 => v5::ConnectReturnCode::Success,
                REFUSED_VERSION => v5::ConnectReturnCode::UnsupportedProtocolVersion,
                REFUSED_CLIENT_ID => v5::ConnectReturnCode::ClientIdentifierNotValid,
                REFUSED_BAD_LOGIN => v5::ConnectReturnCode::BadUserNamePassword,
                REFUSED_NOT_AUTHORIZED => v5::ConnectReturnCode::NotAuthorized,
                _ => v5::ConnectReturnCode::ServerUnavailable,
            },
            properties: assigned_id.map(|id| v5::ConnAckProperties {
                session_expiry_interval: None,
                receive_max: None,
                max_qos: None,
                retain_available: None,
                max_packet_size: None,
                assigned_client_identifier: Some(id),
                topic_alias_max: None,
                reason_string: None,
                user_properties: Vec::new(),
                wildcard_subscription_available: None,
                subscription_identifiers_available: None,
                shared_subscription_available: None,
                server_keep_alive: None,
                response_information: None,
                server_reference: None,
                authentication_method: None,
                authentication_data: None,
            }),
        }),
        Outgoing::Publish(m) => {
            let properties = (!m.user_properties.is_empty()).then(|| v5::PublishProperties {
                payload_format_indicator: None,
                message_expiry_interval: None,
                topic_alias: None,
                response_topic: None,
                correlation_data: None,
                user_properties: m.user_properties,
                subscription_identifiers: Vec::new(),
                content_type: None,
            });
            v5::Packet::Publish(v5::Publish {
                dup: m.dup,
                qos: v5_qos(m.qos),
                retain: m.retain,
                topic: Bytes::from(m.topic),
                pkid: m.pkid,
                payload: m.payload,
                properties,
            })
        }
        Outgoing::PubAck(id) => v5::Packet::PubAck(v5::PubAck::new(id, None)),
        Outgoing::PubRec(id) => v5::Packet::PubRec(v5::PubRec::new(id, None)),
        Outgoing::PubAckDenied(pkid) => v5::Packet::PubAck(v5::PubAck {
            pkid,
            reason: v5::PubAckReason::NotAuthorized,
            properties: None,
        }),
        Outgoing::PubRecDenied(pkid) => v5::Packet::PubRec(v5::PubRec {
            pkid,
            reason: v5::PubRecReason::NotAuthorized,
            properties: None,
        }),
        Outgoing::PubRel(id) => v5::Packet::PubRel(v5::PubRel::new(id, None)),
        Outgoing::PubComp(id) => v5::Packet::PubComp(v5::PubComp::new(id, None)),
        Outgoing::SubAck { pkid, codes } => v5::Packet::SubAck(v5::SubAck {
            pkid,
            return_codes: codes
                .into_iter()
                .map(|c| match c {
                    0..=2 => v5::SubscribeReasonCode::Success(v5_qos(c)),
                    0x9E => v5::SubscribeReasonCode::SharedSubscriptionsNotSupported,
                    0x8F => v5::SubscribeReasonCode::TopicFilterInvalid,
                    0x97 => v5::SubscribeReasonCode::QuotaExceeded,
                    NOT_AUTHORIZED => v5::SubscribeReasonCode::NotAuthorized,
                    _ => v5::SubscribeReasonCode::Unspecified,
                })
                .collect(),
            properties: None,
        }),
        Outgoing::UnsubAck { pkid, count } => v5::Packet::UnsubAck(v5::UnsubAck {
            pkid,
            reasons: vec![v5::UnsubAckReason::Success; count],
            properties: None,
        }),
        Outgoing::PingResp => v5::Packet::PingResp(v5::PingResp),
    }
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
