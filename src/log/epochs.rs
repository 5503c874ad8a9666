//! The leader epoch cache: which leader epoch wrote from which offset on (Kafka's
//! `leader-epoch-checkpoint`). OffsetForLeaderEpoch answers from it, so a consumer holding a
//! position and the epoch that wrote it can tell whether the log still has that history
//! (KIP-320 truncation detection); ListOffsets reports the epoch of the offset it found.
//!
//! A log gets a new entry when a leader takes it (cluster mode: a new epoch at the log end
//! offset). On one node the epoch stays 0: one entry from the log start.

use super::storage::LogStorage;
use super::LogError;

/// The checkpoint's name (as Kafka's file).
pub const CHECKPOINT: &str = "leader-epoch-checkpoint";
/// Kafka's checkpoint format version.
const VERSION: &str = "0";

/// Epochs in increasing order, each with the first offset it wrote (also increasing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EpochCache {
    entries: Vec<(i32, i64)>,
}

impl EpochCache {
    /// The cache as checkpointed, or empty when no checkpoint exists yet.
    pub fn load(storage: &dyn LogStorage) -> Result<Self, LogError> {
        match storage.read_checkpoint(CHECKPOINT)? {
            None => Ok(Self::default()),
            Some(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                Self::parse(&text).ok_or_else(|| LogError::BadCheckpoint {
                    name: CHECKPOINT,
                    content: text.into_owned(),
                })
            }
        }
    }

    /// The cache of a log just opened on `storage` (holding `[start, end)`): as checkpointed,
    /// cut back to `end`, with the storage's leader epoch from `end` on. A log without a
    /// checkpoint (new, or written before epochs were kept) gets epoch 0 from its start:
    /// every batch written before was stamped 0.
    pub fn open(storage: &dyn LogStorage, start: i64, end: i64) -> Result<Self, LogError> {
        let mut cache = Self::load(storage)?;
        let mut changed = cache.truncate_from_end(end);
        if cache.entries.is_empty() {
            changed |= cache.assign(0, start);
        }
        changed |= cache.assign(storage.leader_epoch(), end);
        if changed {
            cache.save(storage)?;
        }
        Ok(cache)
    }

    pub fn save(&self, storage: &dyn LogStorage) -> Result<(), LogError> {
        storage.write_checkpoint(CHECKPOINT, self.format().as_bytes())?;
        Ok(())
    }

    /// Kafka's text form: the version, the entry count, then `epoch offset` per line.
    fn format(&self) -> String {
        let mut text = format!("{VERSION}\n{}\n", self.entries.len());
        for (epoch, start) in &self.entries {
            text.push_str(&format!("{epoch} {start}\n"));
        }
        text
    }

    fn parse(text: &str) -> Option<Self> {
        let mut lines = text.lines();
        if lines.next()?.trim() != VERSION {
            return None;
        }
        let count: usize = lines.next()?.trim().parse().ok()?;
        let mut cache = Self::default();
        for _ in 0..count {
            let mut fields = lines.next()?.split_whitespace();
            let epoch = fields.next()?.parse().ok()?;
            let start = fields.next()?.parse().ok()?;
            if epoch < 0 || start < 0 || fields.next().is_some() {
                return None;
            }
            cache.assign(epoch, start);
        }
        Some(cache)
    }

    /// Record that `epoch` writes from `start` on. An entry with an epoch as new or newer,
    /// or starting at or after `start`, is replaced (Kafka's rule: both columns increase,
    /// and of several epochs that wrote nothing only the newest counts). False if nothing
    /// changed (an epoch older than the latest is ignored).
    pub fn assign(&mut self, epoch: i32, start: i64) -> bool {
        if let Some(&(latest, latest_start)) = self.entries.last() {
            if epoch < latest || (epoch == latest && start >= latest_start) {
                return false;
            }
        }
        self.entries.retain(|&(e, s)| e < epoch && s < start);
        self.entries.push((epoch, start));
        true
    }

    /// Forget epochs that start after `end` (the log was cut back to `end`; an epoch starting
    /// at the end has written nothing yet, and stays).
    pub fn truncate_from_end(&mut self, end: i64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|&(_, s)| s <= end);
        self.entries.len() != before
    }

    pub fn latest(&self) -> Option<i32> {
        self.entries.last().map(|&(e, _)| e)
    }

    /// The epoch that wrote `offset`: the newest one starting at or before it.
    pub fn epoch_for_offset(&self, offset: i64) -> Option<i32> {
        self.entries
            .iter()
            .rev()
            .find(|&&(_, s)| s <= offset)
            .map(|&(e, _)| e)
    }

    /// OffsetForLeaderEpoch's answer for `requested` on a log ending at `log_end`: the
    /// largest epoch at most `requested` and the offset where the epoch after it starts (the
    /// log end for the latest epoch); None where the log knows no such epoch (Kafka's
    /// UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET). An epoch older than every entry gets the
    /// first entry's start: what it wrote is gone from the log.
    pub fn end_offset_for(&self, requested: i32, log_end: i64) -> Option<(i32, i64)> {
        if requested < 0 {
            return None;
        }
        if self.latest() == Some(requested) {
            return Some((requested, log_end));
        }
        let higher = self.entries.iter().position(|&(e, _)| e > requested)?;
        let (_, higher_start) = self.entries[higher];
        match higher.checked_sub(1) {
            None => Some((requested, higher_start)),
            Some(floor) => Some((self.entries[floor].0, higher_start)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(i32, i64)]) -> EpochCache {
        let mut c = EpochCache::default();
        for &(e, s) in entries {
            assert!(c.assign(e, s), "assign({e}, {s})");
        }
        c
    }

    #[test]
    fn end_offsets_follow_kafkas_rules() {
        let c = cache(&[(2, 0), (5, 10), (9, 25)]);
        // The latest epoch ends at the log end.
        assert_eq!(c.end_offset_for(9, 40), Some((9, 40)));
        // An epoch in the cache ends where the next starts.
        assert_eq!(c.end_offset_for(5, 40), Some((5, 25)));
        assert_eq!(c.end_offset_for(2, 40), Some((2, 10)));
        // An epoch between two: the one before it, ending where the next starts.
        assert_eq!(c.end_offset_for(7, 40), Some((5, 25)));
        assert_eq!(c.end_offset_for(3, 40), Some((2, 10)));
        // Older than all: the first start. Newer than all, or undefined: unknown.
        assert_eq!(c.end_offset_for(1, 40), Some((1, 0)));
        assert_eq!(c.end_offset_for(10, 40), None);
        assert_eq!(c.end_offset_for(-1, 40), None);
        assert_eq!(EpochCache::default().end_offset_for(0, 40), None);
    }

    #[test]
    fn assign_keeps_both_columns_increasing() {
        let mut c = cache(&[(0, 0), (3, 10)]);
        // An older epoch, or the latest again at a later offset, changes nothing.
        assert!(!c.assign(2, 20));
        assert!(!c.assign(3, 15));
        // A new epoch at the same offset replaces the one that wrote nothing.
        assert!(c.assign(4, 10));
        assert_eq!(c.entries, vec![(0, 0), (4, 10)]);
        // A new epoch at an earlier offset (the log was cut back) drops what it covers.
        assert!(c.assign(6, 5));
        assert_eq!(c.entries, vec![(0, 0), (6, 5)]);
        assert!(c.assign(7, 30));
        assert_eq!(c.latest(), Some(7));
    }

    #[test]
    fn epoch_for_offset_is_the_newest_started() {
        let c = cache(&[(0, 0), (4, 10), (8, 20)]);
        assert_eq!(c.epoch_for_offset(0), Some(0));
        assert_eq!(c.epoch_for_offset(9), Some(0));
        assert_eq!(c.epoch_for_offset(10), Some(4));
        assert_eq!(c.epoch_for_offset(99), Some(8));
        assert_eq!(cache(&[(3, 5)]).epoch_for_offset(4), None);
    }

    #[test]
    fn truncation_drops_epochs_past_the_end() {
        let mut c = cache(&[(0, 0), (4, 10), (8, 20)]);
        assert!(!c.truncate_from_end(20));
        assert!(c.truncate_from_end(19));
        assert_eq!(c.latest(), Some(4));
    }

    #[test]
    fn checkpoint_text_round_trips_and_rejects_garbage() {
        let c = cache(&[(0, 0), (4, 10), (8, 20)]);
        assert_eq!(c.format(), "0\n3\n0 0\n4 10\n8 20\n");
        assert_eq!(EpochCache::parse(&c.format()), Some(c));
        assert_eq!(EpochCache::parse("0\n0\n"), Some(EpochCache::default()));
        for bad in [
            "",
            "1\n0\n",
            "0\n2\n0 0\n",
            "0\n1\n0\n",
            "0\n1\nx 0\n",
            "0\n1\n0 -1\n",
            "0\n1\n0 1 2\n",
        ] {
            assert_eq!(EpochCache::parse(bad), None, "{bad:?}");
        }
    }
}
