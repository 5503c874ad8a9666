use bytes::BytesMut;
use proptest::prelude::*;
use rumqttc::mqttbytes::v4;
use rumqttc::v5::mqttbytes::v5;

use super::*;

fn v4_connect() -> BytesMut {
    let mut c = v4::Connect::new("sensor-1");
    c.clean_session = false;
    c.keep_alive = 30;
    c.last_will = Some(v4::LastWill::new(
        "s/will",
        "gone",
        rumqttc::mqttbytes::QoS::AtLeastOnce,
        true,
    ));
    let mut buf = BytesMut::new();
    v4::Packet::Connect(c).write(&mut buf, usize::MAX).unwrap();
    buf
}

#[test]
fn a_311_connect_and_publish() {
    let mut buf = v4_connect();
    assert_eq!(connect_level(&buf, 1024).unwrap(), Some(4));
    assert_eq!(connect_level(&buf[..3], 1024).unwrap(), None);
    let Some(Incoming::Connect(c)) = decode(&mut buf, Version::V311, 1024).unwrap() else {
        panic!("not a connect")
    };
    assert_eq!(
        (c.client_id.as_str(), c.clean_start, c.keep_alive),
        ("sensor-1", false, 30)
    );
    let will = c.will.unwrap();
    assert_eq!(
        (
            will.topic.as_str(),
            &will.payload[..],
            will.qos,
            will.retain
        ),
        ("s/will", &b"gone"[..], 1, true)
    );
    assert!(buf.is_empty());
    // A publish split in two arrives whole.
    let mut p = v4::Publish::new("a/b", rumqttc::mqttbytes::QoS::AtLeastOnce, b"x".to_vec());
    p.pkid = 7;
    let mut whole = BytesMut::new();
    v4::Packet::Publish(p)
        .write(&mut whole, usize::MAX)
        .unwrap();
    let mut part = BytesMut::from(&whole[..4]);
    assert!(decode(&mut part, Version::V311, 1024).unwrap().is_none());
    part.extend_from_slice(&whole[4..]);
    let Some(Incoming::Publish(m)) = decode(&mut part, Version::V311, 1024).unwrap() else {
        panic!("not a publish")
    };
    assert_eq!((m.topic.as_str(), m.qos, m.pkid), ("a/b", 1, 7));
    // Over the limit: refused before the body is there.
    let mut big = BytesMut::from(&whole[..2]);
    assert!(matches!(
        decode(&mut big, Version::V311, 3),
        Err(DecodeError::TooLarge(3))
    ));
}

#[test]
fn a_5_publish_keeps_user_properties_and_a_bare_disconnect_is_normal() {
    let mut p = v5::Publish::new("a/b", rumqttc::v5::mqttbytes::QoS::AtMostOnce, "x", None);
    p.properties = Some(v5::PublishProperties {
        payload_format_indicator: None,
        message_expiry_interval: None,
        topic_alias: None,
        response_topic: None,
        correlation_data: None,
        user_properties: vec![("unit".into(), "C".into())],
        subscription_identifiers: vec![],
        content_type: None,
    });
    let mut buf = BytesMut::new();
    v5::Packet::Publish(p).write(&mut buf, None).unwrap();
    buf.extend_from_slice(&[0xE0, 0x00]);
    let Some(Incoming::Publish(m)) = decode(&mut buf, Version::V5, 1024).unwrap() else {
        panic!("not a publish")
    };
    assert_eq!(
        m.user_properties,
        vec![("unit".to_string(), "C".to_string())]
    );
    assert!(matches!(
        decode(&mut buf, Version::V5, 1024).unwrap(),
        Some(Incoming::Disconnect { with_will: false })
    ));
}

#[test]
fn outgoing_packets_encode_in_both_versions() {
    for version in [Version::V311, Version::V5] {
        let mut out = BytesMut::new();
        for p in [
            Outgoing::ConnAck {
                session_present: true,
                code: 0,
                assigned_id: Some("gregor-1".into()),
            },
            Outgoing::Publish(Message {
                topic: "t".into(),
                qos: 1,
                pkid: 1,
                ..Message::default()
            }),
            Outgoing::PubAck(1),
            Outgoing::SubAck {
                pkid: 2,
                codes: vec![0, 1, 2, 0x80],
            },
            Outgoing::UnsubAck { pkid: 3, count: 2 },
            Outgoing::PingResp,
        ] {
            encode(p, version, &mut out).unwrap();
        }
        assert!(!out.is_empty());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    /// Any bytes: a packet, "need more", or an error — never a panic, and never more taken
    /// than the buffer held.
    #[test]
    fn any_bytes_decode_without_panicking(bytes in prop::collection::vec(any::<u8>(), 0..300), v5 in any::<bool>()) {
        let _ = connect_level(&bytes, 200);
        let version = if v5 { Version::V5 } else { Version::V311 };
        let mut buf = BytesMut::from(&bytes[..]);
        for _ in 0..8 {
            match decode(&mut buf, version, 200) {
                Ok(Some(_)) => continue,
                _ => break,
            }
        }
    }

    /// A valid packet's prefix bytes mutated: still no panic.
    #[test]
    fn mutated_connects_decode_without_panicking(at in 0usize..64, byte in any::<u8>(), cut in 0usize..64) {
        let mut bytes = v4_connect().to_vec();
        if at < bytes.len() { bytes[at] = byte; }
        bytes.truncate(bytes.len().saturating_sub(cut % 4));
        let mut buf = BytesMut::from(&bytes[..]);
        if let Ok(Some(4)) = connect_level(&buf, 1024) {
            let _ = decode(&mut buf, Version::V311, 1024);
        }
        let mut buf = BytesMut::from(&bytes[..]);
        let _ = decode(&mut buf, Version::V5, 1024);
    }
}

#[test]
fn logins_are_read_and_refusals_written_per_version() {
    let mut c = v4::Connect::new("dev");
    c.set_login("alice", "alice-secret");
    let mut buf = BytesMut::new();
    v4::Packet::Connect(c).write(&mut buf, usize::MAX).unwrap();
    let Some(Incoming::Connect(c)) = decode(&mut buf, Version::V311, 1024).unwrap() else {
        panic!("not a connect")
    };
    let login = c.login.unwrap();
    assert_eq!(
        (login.username.as_str(), login.password.as_str()),
        ("alice", "alice-secret")
    );
    let bytes = |p: Outgoing, v: Version| {
        let mut out = BytesMut::new();
        encode(p, v, &mut out).unwrap();
        out.to_vec()
    };
    let connack = |code| Outgoing::ConnAck {
        session_present: false,
        code,
        assigned_id: None,
    };
    // 3.1.1: return codes 4 and 5; MQTT 5: reason codes 0x86 and 0x87.
    assert_eq!(
        bytes(connack(REFUSED_BAD_LOGIN), Version::V311),
        [0x20, 2, 0, 4]
    );
    assert_eq!(
        bytes(connack(REFUSED_NOT_AUTHORIZED), Version::V311),
        [0x20, 2, 0, 5]
    );
    assert_eq!(bytes(connack(REFUSED_BAD_LOGIN), Version::V5)[3], 0x86);
    assert_eq!(bytes(connack(REFUSED_NOT_AUTHORIZED), Version::V5)[3], 0x87);
    // A denied publish: 3.1.1 acknowledges it plainly, MQTT 5 says 0x87.
    assert_eq!(
        bytes(Outgoing::PubAckDenied(9), Version::V311),
        [0x40, 2, 0, 9]
    );
    assert_eq!(
        bytes(Outgoing::PubAckDenied(9), Version::V5)[..5],
        [0x40, 4, 0, 9, 0x87]
    );
    assert_eq!(
        bytes(Outgoing::PubRecDenied(9), Version::V5)[..5],
        [0x50, 4, 0, 9, 0x87]
    );
    let suback = || Outgoing::SubAck {
        pkid: 3,
        codes: vec![1, NOT_AUTHORIZED],
    };
    assert_eq!(bytes(suback(), Version::V311), [0x90, 4, 0, 3, 1, 0x80]);
    assert_eq!(bytes(suback(), Version::V5), [0x90, 5, 0, 3, 0, 1, 0x87]);
}
