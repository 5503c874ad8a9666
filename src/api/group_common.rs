//! Small conversions the group APIs share.

use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError as E;

use crate::topics::Topics;

pub fn str(s: String) -> StrBytes {
    StrBytes::from_string(s)
}

pub fn opt_str(s: Option<String>) -> Option<StrBytes> {
    s.map(StrBytes::from_string)
}

pub fn code(e: Option<E>) -> i16 {
    e.map_or(0, |e| e.code())
}

/// Offsets can be committed or deleted only for partitions that exist (as in Kafka).
pub fn partition_exists(topics: &Topics, topic: &str, partition: i32) -> bool {
    topics
        .get(topic)
        .is_some_and(|t| (0..t.partition_count()).contains(&partition))
}
