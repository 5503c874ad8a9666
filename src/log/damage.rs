//! Damage found in sealed segments (by the background scrub or at start-up): stretches of a
//! segment file, and the offsets they would have held, that reads must not serve. Kept per
//! segment in memory, so it goes with the segment when retention deletes it or the cleaner
//! replaces it.

use std::fmt;
use std::path::PathBuf;

/// What is wrong with the bytes at the start of a damaged stretch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Defect {
    #[error("{left} trailing bytes, less than a batch header")]
    ShortHeader { left: u64 },
    #[error("magic {0} where 2 was expected")]
    Magic(i8),
    #[error("batch length {length} with {left} bytes left in the segment")]
    Length { length: i32, left: u64 },
    #[error("batch of offsets {base}..={last} outside the expected {expected}..{end}")]
    Offsets {
        base: i64,
        last: i64,
        expected: i64,
        end: i64,
    },
    #[error("CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Crc { stored: u32, computed: u32 },
    #[error(
        "segment ends at offset {ends} but the next segment starts at {next}: its tail is missing"
    )]
    MissingTail { ends: i64, next: i64 },
    #[error("segment larger than 4 GiB")]
    TooLarge,
}

/// A damaged stretch `[pos, end_pos)` of one segment file, standing for offsets
/// `[first_offset, end_offset)`: from the end of the last good batch before it to the base of
/// the first good batch after it (or the next segment's base offset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    pub segment: PathBuf,
    pub pos: u64,
    pub end_pos: u64,
    pub first_offset: i64,
    pub end_offset: i64,
    pub defect: Defect,
}

impl Damage {
    pub fn covers_offset(&self, offset: i64) -> bool {
        (self.first_offset..self.end_offset).contains(&offset)
    }

    pub fn covers_pos(&self, pos: u64) -> bool {
        (self.pos..self.end_pos).contains(&pos)
    }

    /// Whether this finding adds nothing to `known` (a rescrub finds known damage again).
    fn within(&self, known: &Damage) -> bool {
        known.pos <= self.pos && self.end_pos <= known.end_pos
    }

    fn overlaps(&self, other: &Damage) -> bool {
        self.pos <= other.end_pos && other.pos <= self.end_pos
    }

    /// The union of two overlapping stretches, keeping the earlier one's defect.
    fn merge(self, other: &Damage) -> Damage {
        let defect = if other.pos < self.pos {
            other.defect.clone()
        } else {
            self.defect
        };
        Damage {
            segment: self.segment,
            pos: self.pos.min(other.pos),
            end_pos: self.end_pos.max(other.end_pos),
            first_offset: self.first_offset.min(other.first_offset),
            end_offset: self.end_offset.max(other.end_offset),
            defect,
        }
    }
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} bytes {}..{} (offsets {}..{}): {}",
            self.segment.display(),
            self.pos,
            self.end_pos,
            self.first_offset,
            self.end_offset,
            self.defect
        )
    }
}

/// A sealed segment found damaged when the log was opened: the typed error recovery reports
/// (the log still opens; the damage is not served).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("damaged sealed segment {0}")]
pub struct RecoveryError(pub Damage);

/// The damage of one segment, sorted by position, never two entries for the same stretch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DamageList(Vec<Damage>);

impl DamageList {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Damage> {
        self.0.iter()
    }

    /// Add what is not known yet; returns the new entries. A finding that overlaps known
    /// damage but reaches further replaces it with their union (and counts as new).
    pub fn add(&mut self, found: Vec<Damage>) -> Vec<Damage> {
        let mut new = Vec::new();
        for mut d in found {
            if self.0.iter().any(|k| d.within(k)) {
                continue;
            }
            let (merged, kept): (Vec<Damage>, Vec<Damage>) = std::mem::take(&mut self.0)
                .into_iter()
                .partition(|k| d.overlaps(k));
            self.0 = kept;
            for k in &merged {
                d = d.merge(k);
            }
            let at = self.0.partition_point(|k| k.pos < d.pos);
            self.0.insert(at, d.clone());
            new.push(d);
        }
        new
    }

    pub fn covering_offset(&self, offset: i64) -> Option<&Damage> {
        self.0.iter().find(|d| d.covers_offset(offset))
    }

    pub fn covering_pos(&self, pos: u64) -> Option<&Damage> {
        self.0.iter().find(|d| d.covers_pos(pos))
    }

    /// Where a read from `pos` must stop: the start of the first damage at or after it.
    pub fn stop_after(&self, pos: u64) -> Option<u64> {
        self.0.iter().map(|d| d.pos).find(|&p| p >= pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn damage(pos: u64, end_pos: u64, first: i64, end: i64) -> Damage {
        Damage {
            segment: PathBuf::from("s.log"),
            pos,
            end_pos,
            first_offset: first,
            end_offset: end,
            defect: Defect::TooLarge,
        }
    }

    #[test]
    fn known_damage_is_not_added_twice_and_stays_sorted() {
        let mut list = DamageList::default();
        assert_eq!(list.add(vec![damage(100, 200, 10, 20)]).len(), 1);
        assert_eq!(list.add(vec![damage(0, 50, 0, 5)]).len(), 1);
        assert!(list.add(vec![damage(150, 160, 15, 16)]).is_empty());
        // An empty stretch (a missing tail) at the same position is the same damage.
        assert_eq!(list.add(vec![damage(300, 300, 30, 40)]).len(), 1);
        assert!(list.add(vec![damage(300, 300, 30, 40)]).is_empty());
        // A finding that starts earlier than known damage it runs into replaces it.
        let grown = list.add(vec![damage(80, 150, 8, 15)]);
        assert_eq!(grown, vec![damage(80, 200, 8, 20)]);
        let positions: Vec<u64> = list.iter().map(|d| d.pos).collect();
        assert_eq!(positions, vec![0, 80, 300]);
        assert_eq!(list.stop_after(60), Some(80));
        assert_eq!(list.stop_after(301), None);
        assert_eq!(list.covering_offset(35).map(|d| d.pos), Some(300));
        assert!(list.covering_offset(25).is_none());
        assert_eq!(list.covering_pos(199).map(|d| d.pos), Some(80));
        assert!(list.covering_pos(300).is_none());
    }
}
