//! How groups and committed offsets are kept in the metadata store.
//!
//! Keys: `group/<group id>` → a [`GroupRecord`] (JSON); `offset/<len><group><len><topic>
//! <partition>` → a [`CommittedOffset`] (JSON). Lengths are u32 big-endian so any group id
//! or topic name round-trips and one group's offsets share a scannable prefix.

use bytes::Bytes;

use super::classic::{Group, Member, Protocol};
use super::consumer::ConsumerGroup;
use super::offsets::CommittedOffset;
use super::share::ShareGroup;
use super::streams::group::StreamsGroup;

pub const GROUP_PREFIX: &[u8] = b"group/";
pub const OFFSET_PREFIX: &[u8] = b"offset/";

pub fn group_key(group: &str) -> Vec<u8> {
    [GROUP_PREFIX, group.as_bytes()].concat()
}

fn push_str(key: &mut Vec<u8>, s: &str) {
    key.extend_from_slice(&(s.len() as u32).to_be_bytes());
    key.extend_from_slice(s.as_bytes());
}

pub use crate::store::share_states::{parse_share_state_key, share_state_key, SHARE_STATE_PREFIX};

/// The prefix every offset key of `group` starts with.
pub fn group_offsets_prefix(group: &str) -> Vec<u8> {
    let mut key = OFFSET_PREFIX.to_vec();
    push_str(&mut key, group);
    key
}

pub fn offset_key(group: &str, topic: &str, partition: i32) -> Vec<u8> {
    let mut key = group_offsets_prefix(group);
    push_str(&mut key, topic);
    key.extend_from_slice(&partition.to_be_bytes());
    key
}

/// (group, topic, partition) of an offset key.
pub fn parse_offset_key(key: &[u8]) -> Option<(String, String, i32)> {
    let mut rest = key.strip_prefix(OFFSET_PREFIX)?;
    let mut string = || -> Option<String> {
        let (len, tail) = rest.split_first_chunk::<4>()?;
        let len = u32::from_be_bytes(*len) as usize;
        if tail.len() < len {
            return None;
        }
        let (s, tail) = tail.split_at(len);
        rest = tail;
        String::from_utf8(s.to_vec()).ok()
    };
    let group = string()?;
    let topic = string()?;
    let partition = i32::from_be_bytes(rest.try_into().ok()?);
    Some((group, topic, partition))
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ProtocolRecord {
    pub name: String,
    #[serde(with = "hex")]
    pub metadata: Vec<u8>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct MemberRecord {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub protocols: Vec<ProtocolRecord>,
    #[serde(with = "hex")]
    pub assignment: Vec<u8>,
}

/// A group as Kafka's GroupMetadata record keeps it: written when a generation's assignment
/// is settled (or the group becomes empty), so a reload finds it Stable or Empty.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct GroupRecord {
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: Option<String>,
    pub state_timestamp: i64,
    pub members: Vec<MemberRecord>,
    /// A consumer group (KIP-848): its whole state; the classic fields are then empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer: Option<ConsumerGroup>,
    /// A share group (KIP-932): its membership; the classic fields are then empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<ShareGroup>,
    /// A streams group (KIP-1071): its whole durable state; the classic fields are then empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streams: Option<StreamsGroup>,
}

impl GroupRecord {
    pub fn of_consumer(group: &ConsumerGroup) -> Self {
        Self {
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            state_timestamp: 0,
            members: Vec::new(),
            consumer: Some(group.clone()),
            share: None,
            streams: None,
        }
    }

    pub fn of_share(group: &ShareGroup) -> Self {
        Self {
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            state_timestamp: 0,
            members: Vec::new(),
            consumer: None,
            share: Some(group.clone()),
            streams: None,
        }
    }

    pub fn of_streams(group: &StreamsGroup) -> Self {
        Self {
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            state_timestamp: 0,
            members: Vec::new(),
            consumer: None,
            share: None,
            streams: Some(group.clone()),
        }
    }

    pub fn of(group: &Group) -> Self {
        Self {
            consumer: None,
            share: None,
            streams: None,
            generation: group.generation(),
            protocol_type: group.protocol_type().map(str::to_string),
            protocol_name: group.protocol_name().map(str::to_string),
            leader: group.leader().map(str::to_string),
            state_timestamp: group.state_timestamp(),
            members: group
                .members()
                .map(|m| MemberRecord {
                    id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    protocols: m
                        .protocols
                        .iter()
                        .map(|p| ProtocolRecord {
                            name: p.name.clone(),
                            metadata: p.metadata.to_vec(),
                        })
                        .collect(),
                    assignment: m.assignment.to_vec(),
                })
                .collect(),
        }
    }

    /// The group again; its members must heartbeat within their session timeouts from `now`.
    pub fn restore(self, id: &str, now: i64) -> Group {
        let protocol_type = self.protocol_type.clone().unwrap_or_default();
        let members = self
            .members
            .into_iter()
            .map(|m| {
                Member::restored(
                    m.id,
                    m.instance_id,
                    m.client_id,
                    m.client_host,
                    m.rebalance_timeout_ms,
                    m.session_timeout_ms,
                    protocol_type.clone(),
                    m.protocols
                        .into_iter()
                        .map(|p| Protocol {
                            name: p.name,
                            metadata: Bytes::from(p.metadata),
                        })
                        .collect(),
                    Bytes::from(m.assignment),
                )
            })
            .collect();
        Group::restore(
            id,
            self.generation,
            self.protocol_type,
            self.protocol_name,
            self.leader,
            self.state_timestamp,
            members,
            now,
        )
    }
}

pub fn encode_offset(offset: &CommittedOffset) -> Vec<u8> {
    serde_json::to_vec(offset).unwrap_or_default()
}

/// Byte strings as lowercase hex: compact enough, and readable in a dump.
mod hex {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let mut out = String::with_capacity(bytes.len() * 2);
        for b in bytes {
            out.push_str(&format!("{b:02x}"));
        }
        s.serialize_str(&out)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        if s.len() % 2 != 0 {
            return Err(serde::de::Error::custom("odd-length hex"));
        }
        (0..s.len())
            .step_by(2)
            .map(|i| {
                u8::from_str_radix(s.get(i..i + 2).unwrap_or("x"), 16)
                    .map_err(serde::de::Error::custom)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_keys_round_trip_and_share_the_group_prefix() {
        let key = offset_key("g/1", "loms.order-events", 7);
        assert_eq!(
            parse_offset_key(&key),
            Some(("g/1".into(), "loms.order-events".into(), 7))
        );
        assert!(key.starts_with(&group_offsets_prefix("g/1")));
        // "g" must not capture the offsets of "g/1".
        assert!(!key.starts_with(&group_offsets_prefix("g")));
        assert_eq!(parse_offset_key(b"offset/\x00\x00\x00\x09short"), None);
        assert_eq!(parse_offset_key(b"topic/x"), None);
    }

    #[test]
    fn group_records_round_trip() {
        let member = MemberRecord {
            id: "m-1".into(),
            instance_id: Some("i".into()),
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            rebalance_timeout_ms: 60_000,
            session_timeout_ms: 10_000,
            protocols: vec![ProtocolRecord {
                name: "range".into(),
                metadata: vec![0, 1, 0xff],
            }],
            assignment: vec![0xab],
        };
        let record = GroupRecord {
            generation: 3,
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            leader: Some("m-1".into()),
            state_timestamp: 5,
            members: vec![member],
            consumer: None,
            share: None,
            streams: None,
        };
        let json = serde_json::to_vec(&record).unwrap();
        let back: GroupRecord = serde_json::from_slice(&json).unwrap();
        let group = back.restore("g", 100);
        assert_eq!(group.state(), super::super::classic::State::Stable);
        assert_eq!(group.generation(), 3);
        assert_eq!(group.member("m-1").unwrap().assignment.as_ref(), &[0xab]);
        assert_eq!(
            group.member("m-1").unwrap().protocols[0].metadata.as_ref(),
            &[0, 1, 0xff]
        );
        assert_eq!(group.next_deadline(), Some(10_100));
    }
}
