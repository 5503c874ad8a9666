//! Committed offsets and when they expire.

use std::collections::BTreeMap;

use super::classic::OffsetExpiry;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CommittedOffset {
    pub offset: i64,
    /// -1 when the client did not send one.
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
    /// OffsetCommit v2–v4 could ask for its own retention; later commits follow the broker's.
    #[serde(default)]
    pub expire_timestamp: Option<i64>,
}

impl CommittedOffset {
    pub fn is_expired(&self, expiry: OffsetExpiry, now: i64, retention_ms: i64) -> bool {
        let base = match expiry {
            OffsetExpiry::Never => return false,
            OffsetExpiry::SinceCommit => self.commit_timestamp,
            OffsetExpiry::Since(t) => t,
        };
        if let Some(at) = self.expire_timestamp {
            return now >= at;
        }
        now.saturating_sub(base) >= retention_ms
    }
}

/// A group's offsets by (topic, partition).
pub type GroupOffsets = BTreeMap<(String, i32), CommittedOffset>;

/// The offsets of `offsets` that have expired, leaving alone topics the group still consumes.
pub fn expired(
    offsets: &GroupOffsets,
    expiry: OffsetExpiry,
    subscribed: impl Fn(&str) -> bool,
    now: i64,
    retention_ms: i64,
) -> Vec<(String, i32)> {
    offsets
        .iter()
        .filter(|((topic, _), o)| !subscribed(topic) && o.is_expired(expiry, now, retention_ms))
        .map(|(k, _)| k.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(commit: i64, expire: Option<i64>) -> CommittedOffset {
        CommittedOffset {
            offset: 1,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp: commit,
            expire_timestamp: expire,
        }
    }

    #[test]
    fn expiry_follows_kafkas_conditions() {
        let retention = 100;
        assert!(!at(0, None).is_expired(OffsetExpiry::Never, 1_000, retention));
        assert!(at(0, None).is_expired(OffsetExpiry::SinceCommit, 100, retention));
        assert!(!at(0, None).is_expired(OffsetExpiry::SinceCommit, 99, retention));
        // An empty group: counted from when it became empty, not from the commit.
        assert!(!at(0, None).is_expired(OffsetExpiry::Since(50), 149, retention));
        assert!(at(0, None).is_expired(OffsetExpiry::Since(50), 150, retention));
        // An explicit expire timestamp (OffsetCommit v2-v4 retention) wins, but only while
        // the group's offsets may expire at all.
        assert!(at(0, Some(10)).is_expired(OffsetExpiry::SinceCommit, 10, retention));
        assert!(!at(0, Some(10)).is_expired(OffsetExpiry::Never, 10, retention));
    }

    #[test]
    fn subscribed_topics_never_expire() {
        let mut offsets = GroupOffsets::new();
        offsets.insert(("a".into(), 0), at(0, None));
        offsets.insert(("b".into(), 0), at(0, None));
        let gone = expired(
            &offsets,
            OffsetExpiry::SinceCommit,
            |t| t == "a",
            1_000,
            100,
        );
        assert_eq!(gone, vec![("b".to_string(), 0)]);
    }
}
