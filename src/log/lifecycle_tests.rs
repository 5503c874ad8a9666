//! Retention, DeleteRecords and compaction of a partition log.

use std::collections::BTreeMap;
use std::fs;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use tempfile::TempDir;

use super::cleaner::{Compaction, CrashPoint, CRASH_AT};
use super::retention::Retention;
use super::testutil::{batch_with, ALL_CODECS};
use super::*;

const NOW: i64 = 1_700_000_000_000;
const NO_LIMITS: Retention = Retention { ms: -1, bytes: -1 };

fn small_segments() -> LogConfig {
    LogConfig {
        segment_bytes: 300,
        index_interval_bytes: 100,
        // Some tests compact: cleaned segments may end before the next one's base offset.
        compacted: true,
        ..LogConfig::default()
    }
}

fn open(dir: &TempDir) -> PartitionLog {
    PartitionLog::open(Backing::Disk(dir.path().join("t-0")), small_segments()).unwrap()
}

/// `n` batches of 3 records each, record timestamps `ts(batch index)`.
fn fill(log: &mut PartitionLog, n: usize, ts: impl Fn(usize) -> i64) {
    for b in 0..n {
        let first = log.log_end_offset();
        log.append(batch_with(first, 3, |_| ts(b), Compression::None), NOW)
            .unwrap();
    }
}

/// Offsets of every record readable from the log start.
fn offsets(log: &PartitionLog) -> Vec<i64> {
    let bytes = log
        .read(log.log_start_offset(), usize::MAX, true)
        .unwrap()
        .records;
    RecordBatchDecoder::decode_all(&mut bytes.clone())
        .unwrap()
        .into_iter()
        .flat_map(|s| s.records)
        .map(|r| r.offset)
        .collect()
}

#[test]
fn retention_by_time_deletes_expired_sealed_segments_only() {
    let dir = TempDir::new().unwrap();
    let mut log = open(&dir);
    // Old records, then recent ones.
    fill(&mut log, 10, |_| NOW - 100_000);
    fill(&mut log, 10, |_| NOW - 1_000);
    let before = log.segment_count();
    assert!(before > 4, "{before} segments");
    let end = log.log_end_offset();
    let limits = Retention {
        ms: 60_000,
        bytes: -1,
    };
    let deleted = log.enforce_retention(limits, NOW, end).unwrap();
    assert!(deleted > 0);
    assert_eq!(log.segment_count(), before - deleted);
    let start = log.log_start_offset();
    assert_eq!(start, log.segment_base_offsets()[0]);
    assert!(start > 0 && start <= 30, "start {start}");
    // Everything left from the first segment on is readable; nothing below it is.
    assert_eq!(offsets(&log), (start..end).collect::<Vec<_>>());
    assert!(log.read(start - 1, 1000, true).unwrap().records.is_empty());
    // The high watermark bounds what may go.
    let left = log.segment_count();
    assert_eq!(
        log.enforce_retention(limits, NOW + 1_000_000, start)
            .unwrap(),
        0
    );
    // Once everything is old, the active segment goes too (as Kafka: a new one is rolled).
    assert_eq!(
        log.enforce_retention(limits, NOW + 1_000_000, end).unwrap(),
        left
    );
    assert_eq!(log.segment_count(), 1);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (end, end));
    assert!(offsets(&log).is_empty());
    // An empty active segment is left alone.
    assert_eq!(
        log.enforce_retention(limits, NOW + 1_000_000, end).unwrap(),
        0
    );
    log.append(batch_with(end, 3, |_| NOW, Compression::None), NOW)
        .unwrap();
    let end = log.log_end_offset();
    // The high watermark bounds what may go.
    let mut log2 = PartitionLog::open(Backing::Memory, small_segments()).unwrap();
    fill(&mut log2, 10, |_| NOW - 100_000);
    assert_eq!(log2.enforce_retention(limits, NOW, 0).unwrap(), 0);
    // Reopened after a crash: the deleted segments stay deleted.
    drop(log);
    let log = open(&dir);
    assert_eq!(log.log_start_offset(), end - 3);
    assert_eq!(offsets(&log), (end - 3..end).collect::<Vec<_>>());
}

#[test]
fn retention_by_size_keeps_the_log_under_the_limit() {
    let mut log = PartitionLog::open(Backing::Memory, small_segments()).unwrap();
    fill(&mut log, 30, |_| NOW);
    let total = log.size_bytes();
    let limit = total as i64 / 2;
    let end = log.log_end_offset();
    let deleted = log
        .enforce_retention(
            Retention {
                ms: -1,
                bytes: limit,
            },
            NOW,
            end,
        )
        .unwrap();
    assert!(deleted > 0);
    // As Kafka: whole segments go while the rest stays at or above the limit.
    let size = log.size_bytes() as i64;
    let first = log.segments[0].meta.size as i64;
    assert!(size >= limit && size - first < limit, "{size} vs {limit}");
    assert_eq!(log.enforce_retention(NO_LIMITS, NOW, end).unwrap(), 0);
    assert_eq!(log.log_start_offset(), log.segment_base_offsets()[0]);
}

#[test]
fn delete_records_moves_the_start_inside_a_segment_and_survives_a_crash() {
    let dir = TempDir::new().unwrap();
    let mut log = open(&dir);
    fill(&mut log, 20, |_| NOW);
    let end = log.log_end_offset();
    let bases = log.segment_base_offsets();
    // Inside the third segment.
    let target = bases[2] + 1;
    assert_eq!(log.delete_records_before(target).unwrap(), target);
    assert_eq!(log.log_start_offset(), target);
    assert_eq!(log.segment_base_offsets()[0], bases[2]);
    assert!(log.read(target - 1, 1000, true).unwrap().records.is_empty());
    // An earlier offset does not move it back.
    assert_eq!(log.delete_records_before(3).unwrap(), target);
    // No close: as after kill -9.
    drop(log);
    let mut log = open(&dir);
    assert_eq!(log.log_start_offset(), target);
    assert_eq!(log.log_end_offset(), end);
    assert_eq!(
        log.offset_for_timestamp(0).unwrap().map(|(o, _)| o),
        Some(target)
    );
    // Up to the log end: only the active segment is left, empty of readable records.
    assert_eq!(log.delete_records_before(end).unwrap(), end);
    assert_eq!(log.segment_count(), 1);
    assert!(offsets(&log).is_empty());
    drop(log);
    assert_eq!(open(&dir).log_start_offset(), end);
}

// ---- compaction ----

/// One batch of keyed records; `None` values are tombstones.
fn keyed(
    first: i64,
    entries: &[(&str, Option<&str>)],
    ts: i64,
    compression: Compression,
) -> BytesMut {
    keyed_by(-1, first, entries, ts, compression)
}

/// [`keyed`] by producer `producer_id` (-1: not idempotent; else sequences from 0).
fn keyed_by(
    producer_id: i64,
    first: i64,
    entries: &[(&str, Option<&str>)],
    ts: i64,
    compression: Compression,
) -> BytesMut {
    let records: Vec<Record> = entries
        .iter()
        .enumerate()
        .map(|(i, (k, v))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id,
            producer_epoch: if producer_id < 0 { -1 } else { 0 },
            timestamp_type: TimestampType::Creation,
            offset: first + i as i64,
            sequence: i as i32,
            timestamp: ts,
            key: Some(Bytes::from(k.to_string())),
            value: v.map(|v| Bytes::from(v.to_string())),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options).unwrap();
    buf
}

const ALWAYS: Compaction = Compaction {
    delete_retention_ms: 86_400_000,
    min_cleanable_dirty_ratio: 0.0,
    min_compaction_lag_ms: 0,
    max_compaction_lag_ms: i64::MAX,
};

/// Writes keys k0..k4 round after round (value `r<round>`), every codec in turn; in round 3
/// k1 gets a tombstone. Returns key → (offset, value) of the latest record of each key.
fn fill_keyed(
    log: &mut PartitionLog,
    rounds: usize,
    ts: i64,
) -> BTreeMap<String, (i64, Option<String>)> {
    let mut latest = BTreeMap::new();
    for round in 0..rounds {
        let value = format!("r{round}");
        let entries: Vec<(String, Option<String>)> = (0..5)
            .map(|k| {
                let v = (!(round == 3 && k == 1)).then(|| value.clone());
                (format!("k{k}"), v)
            })
            .collect();
        let refs: Vec<(&str, Option<&str>)> = entries
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect();
        let first = log.log_end_offset();
        log.append(keyed(first, &refs, ts, ALL_CODECS[round % 5]), NOW)
            .unwrap();
        for (i, (k, v)) in entries.into_iter().enumerate() {
            latest.insert(k, (first + i as i64, v));
        }
    }
    latest
}

/// (key, offset, value) of every readable record, checking every batch is valid on the way.
fn keyed_records(log: &PartitionLog) -> Vec<(String, i64, Option<String>)> {
    let bytes = log
        .read(log.log_start_offset(), usize::MAX, true)
        .unwrap()
        .records;
    let hs: Vec<_> = batch::headers(&bytes)
        .map(|(pos, h)| {
            let crc = batch::compute_crc(&bytes[pos..pos + h.total_size()]);
            assert_eq!(crc, h.crc, "batch at {}", h.base_offset);
            h
        })
        .collect();
    let sets = RecordBatchDecoder::decode_all(&mut bytes.clone()).unwrap();
    assert_eq!(hs.len(), sets.len());
    for (h, s) in hs.iter().zip(&sets) {
        // Base offset and last offset delta match the records the batch holds.
        assert_eq!(h.base_offset, s.records[0].offset);
        assert_eq!(h.last_offset(), s.records.last().unwrap().offset);
    }
    sets.into_iter()
        .flat_map(|s| s.records)
        .map(|r| {
            let s = |b: Bytes| String::from_utf8(b.to_vec()).unwrap();
            (s(r.key.unwrap()), r.offset, r.value.map(s))
        })
        .collect()
}

#[test]
fn compaction_keeps_the_latest_value_per_key_at_its_offset() {
    let dir = TempDir::new().unwrap();
    let mut log = open(&dir);
    let latest = fill_keyed(&mut log, 12, NOW);
    // The active segment is never cleaned: what it holds stays as written.
    let active_base = *log.segment_base_offsets().last().unwrap();
    let end = log.log_end_offset();
    let before = log.segment_count();
    let stats = log.compact(&ALWAYS, NOW, end).unwrap().expect("cleaned");
    assert!(stats.records_removed > 0);
    assert!(stats.bytes_after < stats.bytes_before);
    assert_eq!(log.segment_count(), before);
    assert_eq!(log.log_end_offset(), end);
    let records = keyed_records(&log);
    let cleaned: Vec<_> = records.iter().filter(|r| r.1 < active_base).collect();
    // Below the active segment, each key at most once and only at its latest offset there.
    let mut seen = std::collections::HashSet::new();
    for (k, offset, _) in &cleaned {
        assert!(seen.insert(k.clone()), "{k} twice");
        let later_in_active = records.iter().any(|r| &r.0 == k && r.1 >= active_base);
        assert!(later_in_active || latest[k].0 == *offset, "{k}@{offset}");
    }
    // Every key's latest record is readable with its value (the tombstone of k1 was
    // overwritten in later rounds).
    for (k, (offset, value)) in &latest {
        assert!(
            records
                .iter()
                .any(|r| &r.0 == k && r.1 == *offset && &r.2 == value),
            "{k}@{offset} missing"
        );
    }
    // Offsets only grow; fetches from inside a gap start at the next record.
    assert!(records.windows(2).all(|w| w[0].1 < w[1].1));
    let first_kept = records[0].1;
    let from_zero = log.read(0, usize::MAX, true).unwrap().records;
    assert_eq!(
        batch::headers(&from_zero).next().unwrap().1.base_offset,
        first_kept
    );
    // Nothing new is dirty: no second clean.
    assert!(log.compact(&ALWAYS, NOW, end).unwrap().is_none());
    // The same after a reopen (a crash: no close).
    drop(log);
    let log = open(&dir);
    assert_eq!(keyed_records(&log), records);
    assert_eq!(log.log_end_offset(), end);
}

#[test]
fn tombstones_go_after_delete_retention_and_keyless_records_go() {
    let mut log = PartitionLog::open(Backing::Memory, small_segments()).unwrap();
    let old = NOW - 10 * 86_400_000;
    fill_keyed(&mut log, 4, old); // round 3 ends with k1's tombstone
                                  // Push everything out of the active segment with other keys.
    for i in 0..10 {
        let first = log.log_end_offset();
        let key = format!("x{i}");
        log.append(
            keyed(first, &[(&key, Some("x"))], NOW, Compression::None),
            NOW,
        )
        .unwrap();
    }
    let end = log.log_end_offset();
    log.compact(&ALWAYS, NOW, end).unwrap().expect("cleaned");
    let records = keyed_records(&log);
    assert!(!records.iter().any(|r| r.0 == "k1"), "{records:?}");
    assert_eq!(records.iter().filter(|r| r.0 == "k0").count(), 1);

    // A fresh tombstone stays.
    let mut log = PartitionLog::open(Backing::Memory, small_segments()).unwrap();
    fill_keyed(&mut log, 4, NOW);
    for i in 0..10 {
        let first = log.log_end_offset();
        let key = format!("x{i}");
        log.append(
            keyed(first, &[(&key, Some("x"))], NOW, Compression::None),
            NOW,
        )
        .unwrap();
    }
    let end = log.log_end_offset();
    log.compact(&ALWAYS, NOW, end).unwrap().expect("cleaned");
    let k1: Vec<_> = keyed_records(&log)
        .into_iter()
        .filter(|r| r.0 == "k1")
        .collect();
    assert_eq!(k1.len(), 1);
    assert_eq!(k1[0].2, None);
}

#[test]
fn dirty_ratio_and_compaction_lag_hold_the_cleaner_back() {
    let mut log = PartitionLog::open(Backing::Memory, small_segments()).unwrap();
    fill_keyed(&mut log, 12, NOW);
    let end = log.log_end_offset();
    let lagged = Compaction {
        min_compaction_lag_ms: 60_000,
        ..ALWAYS
    };
    assert!(log.compact(&lagged, NOW, end).unwrap().is_none());
    assert!(
        log.compact(&ALWAYS, NOW, 0).unwrap().is_none(),
        "high watermark"
    );
    log.compact(&ALWAYS, NOW, end).unwrap().expect("cleaned");
    // A little new data is not dirty enough for the default ratio.
    fill_keyed(&mut log, 2, NOW);
    let end = log.log_end_offset();
    let strict = Compaction {
        min_cleanable_dirty_ratio: 0.99,
        ..ALWAYS
    };
    assert!(log.compact(&strict, NOW, end).unwrap().is_none());
    let overdue = Compaction {
        max_compaction_lag_ms: 0,
        ..strict
    };
    assert!(log.compact(&overdue, NOW + 1, end).unwrap().is_some());
}

type Keyed = Vec<(String, i64, Option<String>)>;

fn crash_and_recover(at: CrashPoint) -> (Keyed, Keyed) {
    let dir = TempDir::new().unwrap();
    let mut log = open(&dir);
    fill_keyed(&mut log, 12, NOW);
    let end = log.log_end_offset();
    let original = keyed_records(&log);
    // The expected result, from a clean of an identical log.
    let twin = TempDir::new().unwrap();
    let mut other = open(&twin);
    fill_keyed(&mut other, 12, NOW);
    other.compact(&ALWAYS, NOW, end).unwrap().unwrap();
    let compacted = keyed_records(&other);

    CRASH_AT.with(|c| c.set(Some(at)));
    let crashed = log.compact(&ALWAYS, NOW, end);
    CRASH_AT.with(|c| c.set(None));
    assert!(crashed.is_err());
    drop(log);
    let log = open(&dir);
    assert_eq!(log.log_end_offset(), end);
    let names: Vec<String> = fs::read_dir(dir.path().join("t-0"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.starts_with("cleaner")), "{names:?}");
    (original, compacted_or(keyed_records(&log), compacted))
}

/// (what the reopened log holds, what a finished clean gives).
fn compacted_or(
    got: Vec<(String, i64, Option<String>)>,
    compacted: Vec<(String, i64, Option<String>)>,
) -> Vec<(String, i64, Option<String>)> {
    assert!(!got.is_empty());
    if got.len() == compacted.len() {
        assert_eq!(got, compacted);
    }
    got
}

#[test]
fn a_crash_before_the_swap_commits_keeps_the_old_segments() {
    let (original, after) = crash_and_recover(CrashPoint::BeforeCommit);
    assert_eq!(after, original);
}

#[test]
fn a_crash_after_the_swap_commits_finishes_it_at_start_up() {
    let (original, after) = crash_and_recover(CrashPoint::AfterCommit);
    assert!(after.len() < original.len());
}

#[test]
fn an_idempotent_producers_last_batch_is_kept_whole() {
    let mut log = PartitionLog::open(Backing::Memory, small_segments()).unwrap();
    let entries = [("a", Some("1")), ("b", Some("1"))];
    log.append(keyed_by(5, 0, &entries, NOW, Compression::None), NOW)
        .unwrap();
    // Both keys are overwritten by someone else.
    fill_keyed(&mut log, 1, NOW);
    let newer = [("a", Some("2")), ("b", Some("2"))];
    for _ in 0..12 {
        let first = log.log_end_offset();
        log.append(keyed(first, &newer, NOW, Compression::Gzip), NOW)
            .unwrap();
    }
    let end = log.log_end_offset();
    log.compact(&ALWAYS, NOW, end).unwrap().expect("cleaned");
    let bytes = log.read(0, usize::MAX, true).unwrap().records;
    let (_, first) = batch::headers(&bytes).next().unwrap();
    assert_eq!(
        (first.producer_id, first.base_offset, first.records_count),
        (5, 0, 2)
    );
}
