//! Transaction markers: the control batch a transaction's end writes to each of its
//! partitions (Kafka's EndTransactionMarker), and reading one back during recovery.

use bytes::{BufMut, BytesMut};

use crate::log::batch::{self, BatchHeader, HEADER_LEN, LOG_OVERHEAD};

/// A marker to write to a partition: whose, which outcome, from which coordinator epoch, and
/// the transaction version whose epoch rule applies (WriteTxnMarkers v2's field; 0 before).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkerSpec {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub commit: bool,
    pub coordinator_epoch: i32,
    pub transaction_version: i8,
}

const TRANSACTIONAL_AND_CONTROL: i16 = (1 << 4) | (1 << 5);
const ABORT: i16 = 0;
const COMMIT: i16 = 1;

/// A control batch with one record: key (version 0, type abort 0 / commit 1), value
/// (version 0, coordinator epoch). Offsets are assigned by the log.
pub fn control_batch(
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
    now_ms: i64,
) -> BytesMut {
    let mut record = BytesMut::with_capacity(16);
    record.put_i8(0); // attributes
    record.put_u8(0); // timestamp delta (varint 0)
    record.put_u8(0); // offset delta
    record.put_u8(zigzag(4));
    record.put_i16(0);
    record.put_i16(if commit { COMMIT } else { ABORT });
    record.put_u8(zigzag(6));
    record.put_i16(0);
    record.put_i32(coordinator_epoch);
    record.put_u8(0); // no headers

    let mut b = BytesMut::with_capacity(HEADER_LEN + 1 + record.len());
    b.put_i64(0); // base offset
    b.put_i32((HEADER_LEN - LOG_OVERHEAD + 1 + record.len()) as i32);
    b.put_i32(0); // partition leader epoch
    b.put_i8(2); // magic
    b.put_u32(0); // CRC, set below
    b.put_i16(TRANSACTIONAL_AND_CONTROL);
    b.put_i32(0); // last offset delta
    b.put_i64(now_ms);
    b.put_i64(now_ms);
    b.put_i64(producer_id);
    b.put_i16(producer_epoch);
    b.put_i32(-1); // base sequence
    b.put_i32(1); // records
    b.put_u8(zigzag(record.len() as u8));
    b.put_slice(&record);
    let crc = batch::compute_crc(&b);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

/// Zigzag varint of a small non-negative value (one byte for values below 64).
fn zigzag(v: u8) -> u8 {
    v << 1
}

/// Read a zigzag varint at `*pos`.
fn read_varint(b: &[u8], pos: &mut usize) -> Option<i64> {
    let mut raw: u64 = 0;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*pos)?;
        *pos += 1;
        raw |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some((raw >> 1) as i64 ^ -((raw & 1) as i64));
        }
    }
    None
}

/// What a marker says: commit or abort, and the coordinator epoch that wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkerRecord {
    pub commit: bool,
    pub coordinator_epoch: i32,
}

/// For the control batch `data` (header included): its marker, or None for anything else
/// (other control records, garbage). A value too short for a coordinator epoch reads as -1.
pub fn marker_kind(h: &BatchHeader, data: &[u8]) -> Option<MarkerRecord> {
    if !h.is_control() || h.compression() != 0 {
        return None;
    }
    let mut pos = HEADER_LEN;
    read_varint(data, &mut pos)?; // record length
    pos += 1; // attributes
    read_varint(data, &mut pos)?; // timestamp delta
    read_varint(data, &mut pos)?; // offset delta
    let key_len = read_varint(data, &mut pos)?;
    if key_len < 4 {
        return None;
    }
    let key = data.get(pos..pos + 4)?;
    let commit = match i16::from_be_bytes([key[2], key[3]]) {
        COMMIT => true,
        ABORT => false,
        _ => return None,
    };
    pos = pos.checked_add(usize::try_from(key_len).ok()?)?;
    let value_len = read_varint(data, &mut pos)?;
    let coordinator_epoch = match data.get(pos..pos + 6) {
        Some(v) if value_len >= 6 => i32::from_be_bytes([v[2], v[3], v[4], v[5]]),
        _ => -1,
    };
    Some(MarkerRecord {
        commit,
        coordinator_epoch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::RecordBatchDecoder;

    #[test]
    fn markers_are_valid_batches_clients_can_decode() {
        for commit in [true, false] {
            let b = control_batch(42, 3, commit, 7, 1_700_000_000_000);
            let h = batch::check_batch(&b, usize::MAX).expect("valid CRC and framing");
            assert!(h.is_control() && h.is_transactional());
            assert_eq!(
                (h.producer_id, h.producer_epoch, h.records_count),
                (42, 3, 1)
            );
            assert_eq!(
                marker_kind(&h, &b),
                Some(MarkerRecord {
                    commit,
                    coordinator_epoch: 7
                })
            );
            let mut bytes = b.clone().freeze();
            let set = RecordBatchDecoder::decode_all(&mut bytes).expect("decodes");
            let record = &set[0].records[0];
            assert!(record.control && record.transactional);
            let key = record.key.as_ref().expect("a key");
            assert_eq!(&key[..], &[0, 0, 0, u8::from(commit)]);
            let value = record.value.as_ref().expect("a value");
            assert_eq!(&value[..], &[0, 0, 0, 0, 0, 7]);
        }
    }
}
