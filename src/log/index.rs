//! Sparse offset and time indexes of one segment. They live in memory and are written out whole
//! when the segment is sealed (roll) or the log is closed; recovery rebuilds them otherwise.
//!
//! `.index`: (relative base offset u32, file position u32) big-endian, 8 bytes an entry.
//! `.timeindex`: (timestamp i64, relative offset u32) big-endian, 12 bytes an entry, where the
//! offset is that of the first batch reaching the segment's max timestamp so far.

pub(crate) const INDEX_ENTRY_LEN: usize = 8;
pub(crate) const TIME_ENTRY_LEN: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IndexEntry {
    pub rel: u32,
    pub pos: u32,
}

/// Packed to 12 bytes (16 with the i64's alignment): one per 4 KiB of small batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, packed(4))]
pub(crate) struct TimeEntry {
    pub ts: i64,
    pub rel: u32,
}

pub(crate) fn encode_index(entries: &[IndexEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * INDEX_ENTRY_LEN);
    for e in entries {
        out.extend_from_slice(&e.rel.to_be_bytes());
        out.extend_from_slice(&e.pos.to_be_bytes());
    }
    out
}

pub(crate) fn encode_time_index(entries: &[TimeEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * TIME_ENTRY_LEN);
    for e in entries {
        out.extend_from_slice(&e.ts.to_be_bytes());
        out.extend_from_slice(&e.rel.to_be_bytes());
    }
    out
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// `None` when the length is not a whole number of entries.
pub(crate) fn decode_index(bytes: &[u8]) -> Option<Vec<IndexEntry>> {
    if !bytes.len().is_multiple_of(INDEX_ENTRY_LEN) {
        return None;
    }
    let entries = bytes.chunks_exact(INDEX_ENTRY_LEN).map(|c| IndexEntry {
        rel: u32_at(c, 0),
        pos: u32_at(c, 4),
    });
    Some(entries.collect())
}

/// `None` when the length is not a whole number of entries.
pub(crate) fn decode_time_index(bytes: &[u8]) -> Option<Vec<TimeEntry>> {
    if !bytes.len().is_multiple_of(TIME_ENTRY_LEN) {
        return None;
    }
    let entries = bytes.chunks_exact(TIME_ENTRY_LEN).map(|c| {
        let mut ts = [0; 8];
        ts.copy_from_slice(&c[..8]);
        TimeEntry {
            ts: i64::from_be_bytes(ts),
            rel: u32_at(c, 8),
        }
    });
    Some(entries.collect())
}

/// Offsets and positions strictly increase, positions lie inside the segment (`size` bytes)
/// and offsets below `max_rel`.
pub(crate) fn index_consistent(entries: &[IndexEntry], size: u64, max_rel: u64) -> bool {
    let ordered = entries
        .windows(2)
        .all(|w| w[0].rel < w[1].rel && w[0].pos < w[1].pos);
    ordered
        && entries
            .last()
            .is_none_or(|e| u64::from(e.pos) < size && u64::from(e.rel) <= max_rel)
}

/// Timestamps and offsets strictly increase and offsets stay at most `max_rel`.
pub(crate) fn time_index_consistent(entries: &[TimeEntry], max_rel: u64) -> bool {
    let ordered = entries
        .windows(2)
        .all(|w| w[0].ts < w[1].ts && w[0].rel < w[1].rel);
    ordered && entries.last().is_none_or(|e| u64::from(e.rel) <= max_rel)
}

/// The last entry at or before relative offset `rel`: the batch holding `rel` starts at its
/// position or later (none: from the segment start).
pub(crate) fn lookup(entries: &[IndexEntry], rel: u32) -> Option<IndexEntry> {
    let n = entries.partition_point(|e| e.rel <= rel);
    n.checked_sub(1).map(|i| entries[i])
}

/// Relative offset of the last entry with timestamp <= `ts`: no batch before it reaches `ts`.
pub(crate) fn lookup_time(entries: &[TimeEntry], ts: i64) -> Option<u32> {
    let n = entries.partition_point(|e| e.ts <= ts);
    n.checked_sub(1).map(|i| entries[i].rel)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(pairs: &[(u32, u32)]) -> Vec<IndexEntry> {
        pairs
            .iter()
            .map(|&(rel, pos)| IndexEntry { rel, pos })
            .collect()
    }

    #[test]
    fn round_trips_and_rejects_partial_entries() {
        let e = idx(&[(3, 100), (9, 4000)]);
        let bytes = encode_index(&e);
        assert_eq!(bytes.len(), 16);
        assert_eq!(decode_index(&bytes), Some(e));
        assert_eq!(decode_index(&bytes[..15]), None);

        let t = vec![TimeEntry { ts: -5, rel: 0 }, TimeEntry { ts: 77, rel: 4 }];
        let bytes = encode_time_index(&t);
        assert_eq!(decode_time_index(&bytes), Some(t));
        assert_eq!(decode_time_index(&bytes[..13]), None);
    }

    #[test]
    fn sparse_lookups() {
        let e = idx(&[(10, 500), (20, 1000), (30, 1500)]);
        let pos = |rel| lookup(&e, rel).map(|e| e.pos);
        assert_eq!(pos(0), None);
        assert_eq!(pos(9), None);
        assert_eq!(pos(10), Some(500));
        assert_eq!(pos(19), Some(500));
        assert_eq!(pos(20), Some(1000));
        assert_eq!(pos(u32::MAX), Some(1500));
        assert_eq!(lookup(&[], 5), None);

        let t = vec![TimeEntry { ts: 100, rel: 0 }, TimeEntry { ts: 200, rel: 7 }];
        assert_eq!(lookup_time(&t, 99), None);
        assert_eq!(lookup_time(&t, 150), Some(0));
        assert_eq!(lookup_time(&t, 200), Some(7));
        assert_eq!(lookup_time(&t, i64::MAX), Some(7));
    }

    #[test]
    fn consistency() {
        assert!(index_consistent(&idx(&[(1, 10), (2, 20)]), 21, 2));
        assert!(!index_consistent(&idx(&[(1, 10), (2, 20)]), 20, 2));
        assert!(!index_consistent(&idx(&[(1, 10), (2, 20)]), 21, 1));
        assert!(!index_consistent(&idx(&[(2, 10), (1, 20)]), 21, 9));
        assert!(!index_consistent(&idx(&[(1, 20), (2, 20)]), 21, 9));
        let t = |v: &[(i64, u32)]| -> Vec<TimeEntry> {
            v.iter().map(|&(ts, rel)| TimeEntry { ts, rel }).collect()
        };
        assert!(time_index_consistent(&t(&[(1, 0), (5, 3)]), 3));
        assert!(!time_index_consistent(&t(&[(1, 0), (5, 3)]), 2));
        assert!(!time_index_consistent(&t(&[(5, 0), (5, 3)]), 9));
    }
}
