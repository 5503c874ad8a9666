//! Producer-state snapshots, as Kafka's `.snapshot` files (and, for aborted ranges, its
//! `.txnindex`): a partition's idempotent producers, its open transactions and its aborted
//! transactions as of one offset. Written at every segment roll and at shutdown, so start-up
//! reads the snapshot and replays only the log after it: recovery time does not grow with the
//! log, and a producer or transaction whose last batch sits in an old segment is not forgotten.
//!
//! Layout (big-endian): magic `GPS2`, CRC-32C of the rest, then the offset the state covers
//! (everything below it), the producers (id, epoch, last timestamp, coordinator epoch of their
//! last marker, their remembered batches),
//! the open transactions (producer id, first offset) and the aborted ones (producer id, first
//! and last offset). `GPS1`, written before coordinator epochs were kept, is read too (they are
//! -1 then). A snapshot that fails its checks is not used (the caller replays instead).

use std::collections::VecDeque;

use bytes::{Buf, BufMut};

use crate::log::crc::crc32c;

use super::producers::{Appended, Producer, ProducerStates, REMEMBERED};
use super::txns::{AbortedTxn, PartitionTxns};

const MAGIC: &[u8; 4] = b"GPS2";
/// The layout before the coordinator epoch.
const MAGIC_V1: &[u8; 4] = b"GPS1";
/// Bytes of one remembered batch, one open and one aborted transaction.
const APPENDED_LEN: usize = 4 + 4 + 8 + 8;
const ONGOING_LEN: usize = 8 + 8;
const ABORTED_LEN: usize = 8 + 8 + 8;
/// A producer without its batches: id, epoch, last timestamp, batch count (GPS1; GPS2 adds
/// the coordinator epoch).
const PRODUCER_LEN: usize = 8 + 2 + 8 + 1;

/// Producer and transaction state covering the log below `offset`.
#[derive(Debug, Default, PartialEq)]
pub struct Snapshot {
    pub offset: i64,
    pub producers: ProducerStates,
    pub txns: PartitionTxns,
}

/// Why a stored snapshot was not used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BadSnapshot {
    #[error("not a producer-state snapshot (no GPS1 magic)")]
    Magic,
    #[error("checksum mismatch")]
    Checksum,
    #[error("truncated or malformed")]
    Malformed,
}

/// The snapshot of `producers` and `txns` at `offset`; aborted ranges ending below
/// `log_start` are left out (no fetch reaches them).
pub fn encode(
    offset: i64,
    producers: &ProducerStates,
    txns: &PartitionTxns,
    log_start: i64,
) -> Vec<u8> {
    let mut body = Vec::new();
    body.put_i64(offset);
    body.put_u32(producers.producers.len() as u32);
    let mut ids: Vec<_> = producers.producers.keys().copied().collect();
    ids.sort_unstable();
    for id in ids {
        let p = &producers.producers[&id];
        body.put_i64(id);
        body.put_i16(p.epoch);
        body.put_i64(p.last_timestamp);
        body.put_i32(p.coordinator_epoch);
        body.put_u8(p.recent.len() as u8);
        for a in &p.recent {
            body.put_i32(a.first_seq);
            body.put_i32(a.last_seq);
            body.put_i64(a.first_offset);
            body.put_i64(a.last_offset);
        }
    }
    body.put_u32(txns.ongoing.len() as u32);
    for (producer_id, first_offset) in &txns.ongoing {
        body.put_i64(*producer_id);
        body.put_i64(*first_offset);
    }
    let aborted: Vec<&AbortedTxn> = txns
        .aborted
        .iter()
        .filter(|a| a.last_offset >= log_start)
        .collect();
    body.put_u32(aborted.len() as u32);
    for a in aborted {
        body.put_i64(a.producer_id);
        body.put_i64(a.first_offset);
        body.put_i64(a.last_offset);
    }
    let mut out = Vec::with_capacity(8 + body.len());
    out.extend_from_slice(MAGIC);
    out.put_u32(crc32c(&body));
    out.extend_from_slice(&body);
    out
}

pub fn decode(bytes: &[u8]) -> Result<Snapshot, BadSnapshot> {
    let (v2, body) = match (bytes.strip_prefix(MAGIC), bytes.strip_prefix(MAGIC_V1)) {
        (Some(body), _) => (true, body),
        (None, Some(body)) => (false, body),
        (None, None) => return Err(BadSnapshot::Magic),
    };
    let (crc, body) = body.split_at_checked(4).ok_or(BadSnapshot::Malformed)?;
    if crc32c(body).to_be_bytes() != crc {
        return Err(BadSnapshot::Checksum);
    }
    let mut buf = body;
    let offset = take(&mut buf, 8, |b| b.get_i64())?;
    let mut snapshot = Snapshot {
        offset,
        ..Snapshot::default()
    };
    for _ in 0..count(&mut buf, PRODUCER_LEN)? {
        let id = take(&mut buf, 8, |b| b.get_i64())?;
        let epoch = take(&mut buf, 2, |b| b.get_i16())?;
        let last_timestamp = take(&mut buf, 8, |b| b.get_i64())?;
        let coordinator_epoch = if v2 {
            take(&mut buf, 4, |b| b.get_i32())?
        } else {
            -1
        };
        let batches = usize::from(take(&mut buf, 1, |b| b.get_u8())?);
        if batches > REMEMBERED {
            return Err(BadSnapshot::Malformed);
        }
        let mut recent = VecDeque::with_capacity(batches);
        for _ in 0..batches {
            recent.push_back(take(&mut buf, APPENDED_LEN, |b| Appended {
                first_seq: b.get_i32(),
                last_seq: b.get_i32(),
                first_offset: b.get_i64(),
                last_offset: b.get_i64(),
            })?);
        }
        let producer = Producer {
            epoch,
            recent,
            last_timestamp,
            coordinator_epoch,
        };
        snapshot.producers.producers.insert(id, producer);
    }
    for _ in 0..count(&mut buf, ONGOING_LEN)? {
        let (id, first) = take(&mut buf, ONGOING_LEN, |b| (b.get_i64(), b.get_i64()))?;
        snapshot.txns.ongoing.insert(id, first);
    }
    for _ in 0..count(&mut buf, ABORTED_LEN)? {
        snapshot
            .txns
            .aborted
            .push(take(&mut buf, ABORTED_LEN, |b| AbortedTxn {
                producer_id: b.get_i64(),
                first_offset: b.get_i64(),
                last_offset: b.get_i64(),
            })?);
    }
    let ordered = snapshot
        .txns
        .aborted
        .windows(2)
        .all(|w| w[0].last_offset <= w[1].last_offset);
    if !buf.is_empty() || !ordered {
        return Err(BadSnapshot::Malformed);
    }
    Ok(snapshot)
}

/// Read `len` bytes with `read`, or fail if fewer are left.
fn take<T>(
    buf: &mut &[u8],
    len: usize,
    read: impl FnOnce(&mut &[u8]) -> T,
) -> Result<T, BadSnapshot> {
    if buf.remaining() < len {
        return Err(BadSnapshot::Malformed);
    }
    Ok(read(buf))
}

/// A count of entries at least `entry_len` bytes each, refused if more than the bytes left
/// could hold (so a damaged count cannot make the loop run long).
fn count(buf: &mut &[u8], entry_len: usize) -> Result<usize, BadSnapshot> {
    let n = take(buf, 4, |b| b.get_u32())? as usize;
    if n.saturating_mul(entry_len) > buf.remaining() {
        return Err(BadSnapshot::Malformed);
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch::BatchHeader;
    use proptest::prelude::*;

    /// A batch header of `count` records from `seq` on, written at `ts`.
    fn header(pid: i64, epoch: i16, seq: i32, count: i32, ts: i64) -> BatchHeader {
        BatchHeader {
            max_timestamp: ts,
            ..super::super::producers::tests::batch(pid, epoch, seq, count)
        }
    }

    fn sample() -> (ProducerStates, PartitionTxns) {
        let mut producers = ProducerStates::default();
        let mut offset = 0;
        for (pid, batches) in [(7, 7), (8, 1), (9, 3)] {
            for b in 0..batches {
                producers.record(
                    &header(pid, 2, b * 3, 3, 1000 + b as i64),
                    offset,
                    offset + 2,
                );
                offset += 3;
            }
        }
        producers.record_marker(8, 3, 4, 2000);
        let mut txns = PartitionTxns::default();
        txns.on_data(9, 40);
        txns.on_data(10, 5);
        txns.on_marker(10, false, 20);
        txns.on_data(11, 25);
        txns.on_marker(11, false, 30);
        txns.on_data(12, 31);
        (producers, txns)
    }

    #[test]
    fn round_trip_keeps_producers_and_transactions() {
        let (producers, txns) = sample();
        let bytes = encode(50, &producers, &txns, 0);
        let back = decode(&bytes).expect("decodes");
        assert_eq!(back.offset, 50);
        assert_eq!(back.producers, producers);
        assert_eq!(back.txns, txns);
        assert_eq!(back.txns.first_unstable_offset(), Some(31));
        assert!(back.producers.describe().contains(&(8, 3, -1, 2000, 4)));
    }

    #[test]
    fn the_layout_without_coordinator_epochs_is_still_read() {
        let mut body = Vec::new();
        body.put_i64(9); // offset
        body.put_u32(1); // one producer, no batches
        body.put_i64(5);
        body.put_i16(2);
        body.put_i64(100);
        body.put_u8(0);
        body.put_u32(0); // nothing open
        body.put_u32(0); // nothing aborted
        let mut old = MAGIC_V1.to_vec();
        old.put_u32(crc32c(&body));
        old.extend_from_slice(&body);
        let back = decode(&old).expect("GPS1 decodes");
        assert_eq!(back.offset, 9);
        assert_eq!(back.producers.describe(), vec![(5, 2, -1, 100, -1)]);
    }

    #[test]
    fn aborted_ranges_below_the_log_start_are_left_out() {
        let (producers, txns) = sample();
        let back = decode(&encode(50, &producers, &txns, 21)).expect("decodes");
        let kept: Vec<i64> = back.txns.aborted.iter().map(|a| a.producer_id).collect();
        assert_eq!(kept, vec![11]);
    }

    #[test]
    fn damage_is_refused() {
        let (producers, txns) = sample();
        let good = encode(50, &producers, &txns, 0);
        let mut flipped = good.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(decode(&flipped), Err(BadSnapshot::Checksum));
        assert_eq!(decode(&good[..good.len() - 3]), Err(BadSnapshot::Checksum));
        assert_eq!(decode(b"GPS0...."), Err(BadSnapshot::Magic));
        assert_eq!(decode(b"GPS1"), Err(BadSnapshot::Malformed));
        // A body with a valid checksum but a count larger than the bytes behind it.
        let mut body = Vec::new();
        body.put_i64(1);
        body.put_u32(u32::MAX);
        let mut forged = MAGIC.to_vec();
        forged.put_u32(crc32c(&body));
        forged.extend_from_slice(&body);
        assert_eq!(decode(&forged), Err(BadSnapshot::Malformed));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&bytes);
            // The same bytes behind a valid magic and checksum reach the field parsing.
            let mut framed = MAGIC.to_vec();
            framed.put_u32(crc32c(&bytes));
            framed.extend_from_slice(&bytes);
            let _ = decode(&framed);
        }
    }
}
