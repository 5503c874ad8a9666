//! Opening a sealed (non-active) segment at start-up. Its data was fsynced when the log rolled
//! past it, so its CRCs are left to the background scrub; what is checked here is cheap: the
//! indexes, and the batch headers after the last index entry (at most about one index
//! interval), which show a truncated or torn tail, and whether the last batch reaches the next
//! segment's base offset.

use std::io;

use super::damage::{Damage, Defect};
use super::index;
use super::recovery::RecoveryReport;
use super::scan::scan;
use super::segment::{Meta, Segment};
use super::storage::LogStorage;

impl Segment {
    /// Open a non-active segment ending before `end_offset`, rebuilding its indexes if they are
    /// missing or inconsistent. A damaged tail is recorded in [`Segment::damage`] (and so not
    /// served); nothing is truncated or deleted. `gaps_allowed` (compacted logs): the last
    /// batch may end before `end_offset`, unless the indexes name a batch past it.
    pub fn open_sealed(
        storage: &dyn LogStorage,
        base_offset: i64,
        end_offset: i64,
        interval: u32,
        gaps_allowed: bool,
        report: &mut RecoveryReport,
    ) -> io::Result<Self> {
        let mut seg = Self::open_data(storage, base_offset)?;
        report.segments_scanned += 1;
        let len = seg.data.size()?;
        seg.meta.next_offset = end_offset;
        let loaded = seg.load_indexes(storage);
        // The furthest the indexes say the data went: (a position, an offset).
        let indexed = loaded.as_ref().map(|(index, time_index)| {
            let pos = index.last().map_or(0, |e| u64::from(e.pos));
            let rels = index.last().map(|e| e.rel).into_iter();
            let rel = rels.chain(time_index.last().map(|e| e.rel)).max();
            (pos, rel.map(|r| base_offset + i64::from(r)))
        });
        if let Some((index, time_index)) = loaded {
            let max_rel = seg.meta.max_rel();
            let consistent = index::index_consistent(&index, len, max_rel)
                && index::time_index_consistent(&time_index, max_rel)
                && (len == 0) == time_index.is_empty()
                && seg.entry_matches(index.last(), len)?;
            if consistent {
                let (from_pos, from_offset) = index.last().map_or((0, base_offset), |e| {
                    (u64::from(e.pos), base_offset + i64::from(e.rel))
                });
                seg.meta.max_ts = time_index
                    .last()
                    .map(|e| (e.ts, base_offset + i64::from(e.rel)));
                seg.meta.index = index;
                seg.meta.time_index = time_index;
                seg.meta.size = len;
                // The walk only needs offsets; its index entries are thrown away.
                let mut tail = Meta::new(base_offset);
                tail.next_offset = from_offset;
                let found = scan(&*seg.data, &mut tail, from_pos, len, end_offset, false, 0)?;
                let gaps_allowed = gaps_allowed && !beyond(indexed, &tail, len);
                let damage = seg.tail_damage(found, &tail, len, end_offset, gaps_allowed);
                seg.damage.add(damage.into_iter().collect());
                return Ok(seg);
            }
        }
        report.indexes_rebuilt.push(seg.path.clone());
        seg.meta = Meta::new(base_offset);
        let found = scan(
            &*seg.data,
            &mut seg.meta,
            0,
            len,
            end_offset,
            false,
            interval,
        )?;
        let gaps_allowed = gaps_allowed && !beyond(indexed, &seg.meta, len);
        let damage = seg.tail_damage(found, &seg.meta.clone(), len, end_offset, gaps_allowed);
        seg.meta.next_offset = end_offset;
        seg.seal(storage)?;
        // Reads stop at the damage; the file keeps its bytes for the scrub and for forensics.
        seg.meta.size = len;
        seg.damage.add(damage.into_iter().collect());
        Ok(seg)
    }

    /// The damage a header walk over the segment's tail found: from the stop (`found`) to the
    /// end of the file, or, after a whole walk, the offsets between the last batch and the
    /// next segment.
    fn tail_damage(
        &self,
        found: Option<(u64, Defect)>,
        walked: &Meta,
        len: u64,
        end_offset: i64,
        gaps_allowed: bool,
    ) -> Option<Damage> {
        let segment = self.path.clone();
        match found {
            Some((pos, defect)) => Some(Damage {
                segment,
                pos,
                end_pos: len,
                first_offset: walked.next_offset,
                end_offset,
                defect,
            }),
            None if !gaps_allowed && walked.next_offset < end_offset => Some(Damage {
                segment,
                pos: len,
                end_pos: len,
                first_offset: walked.next_offset,
                end_offset,
                defect: Defect::MissingTail {
                    ends: walked.next_offset,
                    next: end_offset,
                },
            }),
            None => None,
        }
    }
}

/// Whether the indexes name data past what the walk found: an entry at or beyond the file's
/// end, or an indexed offset at or beyond the walk's end (its batch is gone).
fn beyond(indexed: Option<(u64, Option<i64>)>, walked: &Meta, len: u64) -> bool {
    indexed.is_some_and(|(pos, offset)| {
        (pos > 0 && pos >= len) || offset.is_some_and(|o| o >= walked.next_offset)
    })
}
