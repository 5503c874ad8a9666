//! The consumer protocol embedded in classic JoinGroup and SyncGroup (Kafka's
//! `ConsumerProtocol`): what a classic member subscribes to and owns, and the assignment it
//! is sent. Every version starts with an int16 version; versions above 3 read as 3, as Kafka
//! reads them (newer fields are appended).

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::{
    ConsumerProtocolAssignment, TopicPartition as AssignedTopic,
};
use kafka_protocol::messages::consumer_protocol_subscription::ConsumerProtocolSubscription;
use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

const HIGHEST: i16 = 3;

/// Partitions by topic name.
pub type NamedPartitions = Vec<(String, Vec<i32>)>;

/// A classic member's subscription.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscription {
    pub topics: Vec<String>,
    /// What the member owns as it joins (version 1+; empty before).
    pub owned: NamedPartitions,
    pub rack_id: Option<String>,
}

/// The version a protocol's metadata starts with, within what Kafka writes (0..=3).
pub fn version(metadata: &[u8]) -> i16 {
    match metadata {
        [a, b, ..] => i16::from_be_bytes([*a, *b]).clamp(0, HIGHEST),
        _ => 0,
    }
}

/// The leading version (newer ones read as the highest Kafka writes) and what follows it;
/// None when there is no valid version.
fn versioned(bytes: &[u8]) -> Option<(i16, Bytes)> {
    let mut buf = Bytes::copy_from_slice(bytes);
    if buf.remaining() < 2 {
        return None;
    }
    let v = buf.get_i16();
    (v >= 0).then_some((v.min(HIGHEST), buf))
}

/// None when the metadata is not a consumer-protocol subscription.
pub fn decode_subscription(metadata: &[u8]) -> Option<Subscription> {
    let (v, mut buf) = versioned(metadata)?;
    let s = ConsumerProtocolSubscription::decode(&mut buf, v).ok()?;
    Some(Subscription {
        topics: s.topics.iter().map(|t| t.to_string()).collect(),
        owned: s
            .owned_partitions
            .iter()
            .map(|o| (o.topic.to_string(), o.partitions.clone()))
            .collect(),
        rack_id: s.rack_id.map(|r| r.to_string()),
    })
}

/// None when the bytes are not a consumer-protocol assignment (empty: nothing assigned).
pub fn decode_assignment(bytes: &[u8]) -> Option<NamedPartitions> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let (v, mut buf) = versioned(bytes)?;
    let a = ConsumerProtocolAssignment::decode(&mut buf, v).ok()?;
    Some(
        a.assigned_partitions
            .iter()
            .map(|t| (t.topic.to_string(), t.partitions.clone()))
            .collect(),
    )
}

/// An assignment in the version of the member's subscription, as Kafka answers SyncGroup.
pub fn encode_assignment(partitions: &NamedPartitions, version: i16) -> Bytes {
    let version = version.clamp(0, HIGHEST);
    let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(
        partitions
            .iter()
            .map(|(topic, ps)| {
                AssignedTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(topic.clone())))
                    .with_partitions(ps.clone())
            })
            .collect(),
    );
    let mut buf = BytesMut::new();
    buf.put_i16(version);
    // Encoding an assignment built here cannot fail (no field is out of its version).
    if assignment.encode(&mut buf, version).is_err() {
        return Bytes::new();
    }
    buf.freeze()
}

/// A subscription as a classic client encodes it (for tests and conversions).
pub fn encode_subscription(sub: &Subscription, version: i16) -> Bytes {
    use kafka_protocol::messages::consumer_protocol_subscription::TopicPartition as Owned;
    let version = version.clamp(0, HIGHEST);
    let mut s = ConsumerProtocolSubscription::default().with_topics(
        sub.topics
            .iter()
            .map(|t| StrBytes::from_string(t.clone()))
            .collect(),
    );
    if version >= 1 {
        s = s.with_owned_partitions(
            sub.owned
                .iter()
                .map(|(t, ps)| {
                    Owned::default()
                        .with_topic(TopicName(StrBytes::from_string(t.clone())))
                        .with_partitions(ps.clone())
                })
                .collect(),
        );
    }
    if version >= 3 {
        s = s.with_rack_id(sub.rack_id.clone().map(StrBytes::from_string));
    }
    let mut buf = BytesMut::new();
    buf.put_i16(version);
    if s.encode(&mut buf, version).is_err() {
        return Bytes::new();
    }
    buf.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_and_assignment_round_trip() {
        let sub = Subscription {
            topics: vec!["a".into(), "b".into()],
            owned: vec![("a".into(), vec![0, 2])],
            rack_id: Some("r1".into()),
        };
        let bytes = encode_subscription(&sub, 3);
        assert_eq!(version(&bytes), 3);
        assert_eq!(decode_subscription(&bytes), Some(sub.clone()));
        // Version 0 has neither owned partitions nor a rack.
        let v0 = decode_subscription(&encode_subscription(&sub, 0)).unwrap();
        assert_eq!(v0.topics, sub.topics);
        assert!(v0.owned.is_empty() && v0.rack_id.is_none());

        let assigned = vec![("a".to_string(), vec![1, 3]), ("b".to_string(), vec![0])];
        let bytes = encode_assignment(&assigned, 1);
        assert_eq!(version(&bytes), 1);
        assert_eq!(decode_assignment(&bytes), Some(assigned));
        assert_eq!(decode_assignment(&[]), Some(Vec::new()));
    }

    #[test]
    fn garbage_is_refused_not_a_panic() {
        assert_eq!(decode_subscription(&[0]), None);
        assert_eq!(decode_subscription(&[0xff, 0xff, 0, 0, 0, 1]), None);
        assert_eq!(decode_subscription(&[0, 0, 0x7f, 0xff, 0xff, 0xff]), None);
        assert_eq!(decode_assignment(&[0, 1, 0x7f, 0xff, 0xff, 0xff, 9]), None);
        // A newer version than Kafka writes reads as 3 (its fields are appended).
        assert_eq!(version(&[0, 9]), 3);
    }
}
