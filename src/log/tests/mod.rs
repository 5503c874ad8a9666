use std::fs;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{Compression, RecordBatchDecoder};
use tempfile::TempDir;

use super::batch::{self, BatchHeader};
use super::index::{IndexEntry, TimeEntry};
use super::storage::disk::{stem, with_ext};
use super::testutil::{batch, batch_with, ALL_CODECS};
use super::*;

mod recovery;
use recovery::two_segments;

const NOW: i64 = 1_700_000_000_000;

fn config(segment_bytes: u64, index_interval_bytes: u32) -> LogConfig {
    LogConfig {
        segment_bytes,
        index_interval_bytes,
        ..LogConfig::default()
    }
}

/// A deterministic, non-monotonic timestamp with ties.
fn ts_for(offset: i64) -> i64 {
    1_000 + (offset * 37) % 101
}

/// Append `n` batches of 1 to 4 records, cycling codecs; values are `v<offset>`.
/// Returns (first offset, last offset, size) of each batch.
fn fill(log: &mut PartitionLog, n: usize) -> Vec<(i64, i64, usize)> {
    (0..n)
        .map(|b| {
            let first = log.log_end_offset();
            let count = b % 4 + 1;
            let data = batch_with(
                first,
                count,
                |i| ts_for(first + i as i64),
                ALL_CODECS[b % 5],
            );
            let size = data.len();
            let info = log.append(data, NOW).unwrap();
            let last = first + count as i64 - 1;
            let expected = AppendInfo {
                first_offset: first,
                last_offset: last,
                log_append_time: -1,
            };
            assert_eq!(info, expected);
            (first, last, size)
        })
        .collect()
}

/// (offset, timestamp, value) of every record in `bytes`, which must be whole valid batches.
fn records(bytes: &Bytes) -> Vec<(i64, i64, Bytes)> {
    let sets = RecordBatchDecoder::decode_all(&mut bytes.clone()).unwrap();
    sets.into_iter()
        .flat_map(|s| s.records)
        .map(|r| (r.offset, r.timestamp, r.value.unwrap()))
        .collect()
}

fn headers(bytes: &[u8]) -> Vec<BatchHeader> {
    let hs = batch::validate(bytes, usize::MAX).unwrap();
    assert_eq!(
        hs.iter().map(|h| h.total_size()).sum::<usize>(),
        bytes.len()
    );
    hs
}

fn read_all(log: &PartitionLog) -> Bytes {
    log.read(log.log_start_offset(), usize::MAX, true)
        .unwrap()
        .records
}

/// What must survive a reopen, per segment.
type SegmentState = (
    i64,
    i64,
    u64,
    Vec<IndexEntry>,
    Vec<TimeEntry>,
    Option<(i64, i64)>,
);

fn state(log: &PartitionLog) -> Vec<SegmentState> {
    log.segments
        .iter()
        .map(|s| {
            let m = &s.meta;
            let time = m.time_index.clone();
            (
                m.base_offset,
                m.next_offset,
                m.size,
                m.index.clone(),
                time,
                m.max_ts,
            )
        })
        .collect()
}

fn disk(dir: &TempDir) -> Backing {
    Backing::Disk(dir.path().join("topic-0"))
}

fn seg_path(dir: &TempDir, base: i64, ext: &str) -> PathBuf {
    with_ext(&stem(&dir.path().join("topic-0"), base), ext)
}

fn file_len(path: &Path) -> u64 {
    fs::metadata(path).unwrap().len()
}

fn round_trip(backing: Backing) {
    let mut log = PartitionLog::open(backing, config(400, 100)).unwrap();
    let batches = fill(&mut log, 60);
    let leo = batches.last().unwrap().1 + 1;
    assert_eq!(leo, 150); // 15 rounds of 1+2+3+4 records
    assert_eq!(log.log_end_offset(), leo);
    assert_eq!(log.log_start_offset(), 0);
    assert!(log.segment_count() > 5, "{} segments", log.segment_count());
    let total: usize = batches.iter().map(|b| b.2).sum();
    assert_eq!(log.size_bytes(), total as u64);

    let all = read_all(&log);
    assert_eq!(all.len(), total);
    let recs = records(&all);
    assert_eq!(recs.len() as i64, leo);
    for (i, (offset, ts, value)) in recs.iter().enumerate() {
        assert_eq!(*offset, i as i64);
        assert_eq!(*ts, ts_for(i as i64));
        assert_eq!(value, &Bytes::from(format!("v{i}")));
    }
    // From any offset: whole batches from the one holding it to the log end.
    for (first, last, _) in &batches {
        for offset in *first..=*last {
            let hs = headers(&log.read(offset, usize::MAX, false).unwrap().records);
            assert_eq!(hs[0].base_offset, *first);
            assert_eq!(hs.last().unwrap().last_offset(), leo - 1);
            assert!(hs.iter().all(|h| h.partition_leader_epoch == 0));
        }
    }
    assert!(log.read(leo, usize::MAX, true).unwrap().records.is_empty());
}

#[test]
fn round_trip_on_disk() {
    let dir = TempDir::new().unwrap();
    round_trip(disk(&dir));
    // Segment files are named by base offset.
    assert!(seg_path(&dir, 0, ".log").exists());
}

#[test]
fn round_trip_in_memory() {
    round_trip(Backing::Memory);
}

#[test]
fn offsets_are_assigned_and_multi_batch_appends_work() {
    for backing in [Backing::Memory, disk(&TempDir::new().unwrap())] {
        let mut log = PartitionLog::open(backing, LogConfig::default()).unwrap();
        // Producers send base offset 0; the log rewrites it.
        let mut data = batch(0, 2);
        data.extend_from_slice(&batch(0, 3));
        let info = log.append(data, NOW).unwrap();
        assert_eq!((info.first_offset, info.last_offset), (0, 4));
        let info = log.append(batch(0, 1), NOW).unwrap();
        assert_eq!((info.first_offset, info.last_offset), (5, 5));
        let hs = headers(&read_all(&log));
        let bases: Vec<i64> = hs.iter().map(|h| h.base_offset).collect();
        assert_eq!(bases, [0, 2, 5]);
        let offsets: Vec<i64> = records(&read_all(&log)).iter().map(|r| r.0).collect();
        assert_eq!(offsets, [0, 1, 2, 3, 4, 5]);
    }
}

#[test]
fn append_rejects_partial_batches() {
    let mut log = PartitionLog::open(Backing::Memory, LogConfig::default()).unwrap();
    let b = batch(0, 2);
    for bad in [&b[..0], &b[..b.len() - 1], b"garbage garbage garbage"] {
        let err = log.append(BytesMut::from(bad), NOW).unwrap_err();
        assert!(matches!(err, LogError::Corrupt(_)), "{err}");
    }
    let mut trailing = b.clone();
    trailing.extend_from_slice(&[0; 3]);
    assert!(log.append(trailing, NOW).is_err());
    assert_eq!((log.log_end_offset(), log.size_bytes()), (0, 0));
}

#[test]
fn read_inside_a_batch_returns_that_batch() {
    let mut log = PartitionLog::open(Backing::Memory, LogConfig::default()).unwrap();
    log.append(batch(0, 5), NOW).unwrap();
    log.append(batch(0, 3), NOW).unwrap();
    let starts = |offset| -> Vec<i64> {
        let r = log.read(offset, usize::MAX, true).unwrap().records;
        headers(&r).iter().map(|h| h.base_offset).collect()
    };
    assert_eq!(starts(0), [0, 5]);
    assert_eq!(starts(4), [0, 5]);
    assert_eq!(starts(5), [5]);
    assert_eq!(starts(7), [5]);
    assert!(log.read(8, 100, true).unwrap().records.is_empty());
    assert!(log.read(9, 100, true).unwrap().records.is_empty());
    assert!(log.read(-1, 100, true).unwrap().records.is_empty());
}

fn max_bytes_behaviour(segment_bytes: u64) {
    let mut log = PartitionLog::open(Backing::Memory, config(segment_bytes, 4096)).unwrap();
    let sizes: Vec<usize> = [3, 1, 2]
        .iter()
        .map(|&n| {
            let b = batch(0, n);
            let len = b.len();
            log.append(b, NOW).unwrap();
            len
        })
        .collect();
    let all = read_all(&log);
    let (s0, s1) = (sizes[0], sizes[1]);
    let read = |max, min_one| log.read(0, max, min_one).unwrap().records;

    assert_eq!(read(s0 + s1, false), all.slice(..s0 + s1));
    assert_eq!(read(s0 + s1 + sizes[2] - 1, true), all.slice(..s0 + s1));
    assert_eq!(read(s0 + s1 - 1, false), all.slice(..s0));
    assert_eq!(read(usize::MAX, false), all);
    // A first batch bigger than max_bytes: whole if min_one_batch, else nothing (Kafka's log
    // cuts it, and its fetch answers no records for a cut batch).
    assert_eq!(read(s0 - 1, true), all.slice(..s0));
    assert!(read(s0 - 1, false).is_empty());
    assert_eq!(read(0, true), all.slice(..s0));
    assert!(read(0, false).is_empty());
    // From the second batch.
    assert_eq!(
        log.read(3, s1, false).unwrap().records,
        all.slice(s0..s0 + s1)
    );
    assert_eq!(
        log.read(3, 1, true).unwrap().records,
        all.slice(s0..s0 + s1)
    );
}

#[test]
fn max_bytes_and_min_one_batch() {
    max_bytes_behaviour(1 << 20);
}

#[test]
fn max_bytes_and_min_one_batch_across_segments() {
    // Every batch in its own segment: reads continue into the next segments.
    max_bytes_behaviour(1);
}

#[test]
fn sparse_index_entries_and_lookups() {
    let interval = 200;
    let mut log = PartitionLog::open(Backing::Memory, config(1 << 20, interval)).unwrap();
    let mut positions = vec![];
    let mut pos = 0;
    for i in 0..100 {
        let b = batch_with(0, 1, |_| 5_000 + (i * 7) % 50, Compression::None);
        positions.push(pos);
        pos += b.len() as u32;
        log.append(b, NOW).unwrap();
    }
    let meta = &log.segments[0].meta;
    // Each entry is the first batch after more than `interval` bytes since the last one.
    let mut expected = vec![];
    let mut since = 0;
    for (offset, &p) in positions.iter().enumerate() {
        if since > interval {
            expected.push(IndexEntry {
                rel: offset as u32,
                pos: p,
            });
            since = 0;
        }
        since += positions.get(offset + 1).unwrap_or(&pos) - p;
    }
    assert!(expected.len() > 10);
    assert_eq!(meta.index, expected);
    // Time entries: at index points where the max timestamp so far grew, that max and the
    // first batch reaching it.
    let ts = |o: u32| 5_000 + (i64::from(o) * 7) % 50;
    let mut expected_time: Vec<TimeEntry> = vec![];
    for e in &expected {
        let max = (0..=e.rel).map(ts).max().unwrap();
        let rel = (0..=e.rel).find(|&o| ts(o) == max).unwrap();
        if expected_time.last().is_none_or(|t| max > t.ts) {
            expected_time.push(TimeEntry { ts: max, rel });
        }
    }
    assert!(expected_time.len() > 2);
    assert_eq!(meta.time_index, expected_time);
    for offset in 0..100 {
        let (p, h) = log.segments[0].find_batch(offset).unwrap().unwrap();
        assert_eq!(
            (p, h.base_offset),
            (u64::from(positions[offset as usize]), offset)
        );
    }
    assert!(log.segments[0].find_batch(100).unwrap().is_none());
}

#[test]
fn reopen_after_close_keeps_everything() {
    let dir = TempDir::new().unwrap();
    let mut log = PartitionLog::open(disk(&dir), config(500, 100)).unwrap();
    fill(&mut log, 40);
    let (before, data, leo) = (state(&log), read_all(&log), log.log_end_offset());
    log.close().unwrap();
    let marker = dir.path().join("topic-0").join(CLEAN_MARKER);
    assert!(marker.exists());
    drop(log);

    let mut log = PartitionLog::open(disk(&dir), config(500, 100)).unwrap();
    assert!(!marker.exists());
    assert_eq!(state(&log), before);
    assert_eq!((log.log_end_offset(), log.log_start_offset()), (leo, 0));
    assert_eq!(read_all(&log), data);
    assert_eq!(log.append(batch(0, 2), NOW).unwrap().first_offset, leo);
    assert_eq!(log.log_end_offset(), leo + 2);
}

#[test]
fn append_after_close_removes_the_marker() {
    let dir = TempDir::new().unwrap();
    let mut log = PartitionLog::open(disk(&dir), LogConfig::default()).unwrap();
    log.append(batch(0, 1), NOW).unwrap();
    log.close().unwrap();
    let marker = dir.path().join("topic-0").join(CLEAN_MARKER);
    assert!(marker.exists());
    log.append(batch(0, 1), NOW).unwrap();
    assert!(!marker.exists());
}

#[test]
fn reopen_without_close_rebuilds_the_same_state() {
    let dir = TempDir::new().unwrap();
    let mut log = PartitionLog::open(disk(&dir), config(500, 100)).unwrap();
    fill(&mut log, 40);
    let (before, data) = (state(&log), read_all(&log));
    drop(log);
    let log = PartitionLog::open(disk(&dir), config(500, 100)).unwrap();
    assert_eq!(state(&log), before);
    assert_eq!(read_all(&log), data);
}

/// A log of two segments; returns it with the (position, first offset) of each batch of the
/// active one, then (its size, the log end offset).
/// (offset, timestamp) of a record.
type Found = Option<(i64, i64)>;

/// Brute force over every record: (first offset with ts >= target, first with the max ts).
fn expected_timestamps(log: &PartitionLog, target: i64) -> (Found, Found) {
    let recs = records(&read_all(log));
    let first = recs.iter().find(|r| r.1 >= target).map(|r| (r.0, r.1));
    let max = recs.iter().map(|r| r.1).max();
    let max = max.and_then(|m| recs.iter().find(|r| r.1 == m).map(|r| (r.0, r.1)));
    (first, max)
}

fn timestamps(backing: Backing) {
    let mut log = PartitionLog::open(backing, config(600, 150)).unwrap();
    fill(&mut log, 50);
    assert!(log.segment_count() > 3);
    for target in 990..1_110 {
        let (first, max) = expected_timestamps(&log, target);
        assert_eq!(
            log.offset_for_timestamp(target).unwrap(),
            first,
            "target {target}"
        );
        assert_eq!(log.max_timestamp().unwrap(), max);
    }
    assert_eq!(
        log.offset_for_timestamp(i64::MIN).unwrap(),
        Some((0, ts_for(0)))
    );
    assert_eq!(log.offset_for_timestamp(i64::MAX).unwrap(), None);
    // Max is 1_100 (offset 30 % 101 * 37 ... the first record reaching it).
    let max = log.max_timestamp().unwrap().unwrap();
    assert_eq!(max.1, 1_100);
    assert_eq!(max.0, (0..).find(|&o| ts_for(o) == 1_100).unwrap());
}

#[test]
fn timestamps_on_disk_including_compressed_batches() {
    let dir = TempDir::new().unwrap();
    timestamps(disk(&dir));
    // The same answers after reopening (indexes loaded from disk, then rebuilt).
    let mut log = PartitionLog::open(disk(&dir), config(600, 150)).unwrap();
    let expected: Vec<_> = (990..1_110)
        .map(|t| log.offset_for_timestamp(t).unwrap())
        .collect();
    log.close().unwrap();
    drop(log);
    let log = PartitionLog::open(disk(&dir), config(600, 150)).unwrap();
    let again: Vec<_> = (990..1_110)
        .map(|t| log.offset_for_timestamp(t).unwrap())
        .collect();
    assert_eq!(again, expected);
}

#[test]
fn timestamps_in_memory() {
    timestamps(Backing::Memory);
}

#[test]
fn max_timestamp_ties_go_to_the_earliest_record() {
    let mut log = PartitionLog::open(Backing::Memory, config(1, 0)).unwrap();
    for codec in ALL_CODECS {
        log.append(batch_with(0, 3, |i| [10, 50, 50][i], codec), NOW)
            .unwrap();
    }
    assert_eq!(log.segment_count(), 5);
    assert_eq!(log.max_timestamp().unwrap(), Some((1, 50)));
    assert_eq!(log.offset_for_timestamp(11).unwrap(), Some((1, 50)));
    assert_eq!(log.offset_for_timestamp(10).unwrap(), Some((0, 10)));
}

#[test]
fn log_append_time() {
    let mut cfg = config(1 << 20, 0);
    cfg.log_append_time = true;
    let mut log = PartitionLog::open(Backing::Memory, cfg).unwrap();
    let info = log
        .append(batch_with(0, 3, |i| i as i64, Compression::Zstd), 5_000)
        .unwrap();
    assert_eq!(info.log_append_time, 5_000);
    let info = log.append(batch(0, 2), 6_000).unwrap();
    assert_eq!((info.first_offset, info.log_append_time), (3, 6_000));
    let all = read_all(&log);
    // Rewritten batches are still valid (CRC recomputed) and carry the broker's time.
    let hs = headers(&all);
    assert!(hs.iter().all(|h| h.is_log_append_time()));
    assert_eq!(
        hs.iter().map(|h| h.max_timestamp).collect::<Vec<_>>(),
        [5_000, 6_000]
    );
    assert_eq!(records(&all).len(), 5);
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((0, 5_000)));
    assert_eq!(log.offset_for_timestamp(5_001).unwrap(), Some((3, 6_000)));
    assert_eq!(log.max_timestamp().unwrap(), Some((3, 6_000)));
}

#[test]
fn rolls_on_size_and_age() {
    let mut cfg = config(1 << 20, 4096);
    cfg.segment_ms = 1_000;
    let mut log = PartitionLog::open(Backing::Memory, cfg).unwrap();
    log.append(batch(0, 1), 0).unwrap();
    log.append(batch(0, 1), 1_000).unwrap();
    assert_eq!(log.segment_count(), 1);
    log.append(batch(0, 1), 1_001).unwrap();
    assert_eq!(log.segment_count(), 2);
    assert_eq!(log.segments[1].meta.base_offset, 2);

    let size = batch(0, 1).len() as u64;
    log.set_config(config(3 * size, 4096));
    log.append(batch(0, 1), 1_002).unwrap();
    log.append(batch(0, 1), 1_003).unwrap();
    assert_eq!(log.segment_count(), 2);
    log.append(batch(0, 1), 1_004).unwrap();
    assert_eq!(log.segment_count(), 3);
    assert_eq!(log.segments[2].meta.base_offset, 5);
}

#[test]
fn rolling_seals_the_old_segment_on_disk() {
    let dir = TempDir::new().unwrap();
    let (log, _) = two_segments(&dir);
    // The sealed segment's indexes are on disk; its time index ends with its max timestamp.
    let time = fs::read(seg_path(&dir, 0, ".timeindex")).unwrap();
    assert_eq!(
        time[time.len() - 12..],
        [0, 0, 0, 0, 0, 0, 0, 39, 0, 0, 0, 0]
    );
    assert!(seg_path(&dir, 0, ".index").exists());
    assert_eq!(log.segments[0].meta.max_ts, Some((39, 0)));
}

#[test]
fn log_and_sync_target_can_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<PartitionLog>();
    send_sync::<SyncTarget>();
}

#[test]
fn sync_target_and_delete() {
    let dir = TempDir::new().unwrap();
    let mut log = PartitionLog::open(disk(&dir), LogConfig::default()).unwrap();
    log.append(batch(0, 4), NOW).unwrap();
    let target = log.sync_target();
    assert_eq!(target.end_offset, 4);
    assert!(target.file.is_some());
    target.sync().unwrap();
    log.delete().unwrap();
    assert!(!dir.path().join("topic-0").exists());
    // Syncing after the log is gone is harmless.
    target.sync().unwrap();

    let mut log = PartitionLog::open(Backing::Memory, LogConfig::default()).unwrap();
    log.append(batch(0, 2), NOW).unwrap();
    let target = log.sync_target();
    assert_eq!(target.end_offset, 2);
    assert!(target.file.is_none());
    target.sync().unwrap();
    log.close().unwrap();
    log.delete().unwrap();
}

/// Bytes of file regions, as sendfile would send them.
fn region_bytes(regions: &[Region]) -> Bytes {
    let mut out = Vec::new();
    for r in regions {
        let mut buf = vec![0; r.len() as usize];
        r.read_exact_at(0, &mut buf).unwrap();
        out.extend_from_slice(&buf);
    }
    out.into()
}

#[test]
fn read_regions_match_reads_and_stop_at_the_end_offset() {
    for segment_bytes in [1, 300, 1 << 20] {
        let dir = TempDir::new().unwrap();
        let backing = Backing::Disk(dir.path().to_path_buf());
        let mut log = PartitionLog::open(backing, config(segment_bytes, 64)).unwrap();
        let batches = fill(&mut log, 20);
        let end = log.log_end_offset();
        for offset in [0, 1, 5, 17, end - 1, end] {
            for max in [0, 1, 100, 250, 700, usize::MAX] {
                for min_one in [true, false] {
                    let read = log.read(offset, max, min_one).unwrap().records;
                    let (regions, next) = log
                        .read_regions(offset, max, min_one, end)
                        .unwrap()
                        .unwrap();
                    assert_eq!(
                        region_bytes(&regions),
                        read,
                        "{segment_bytes} {offset} {max} {min_one}"
                    );
                    let after_whole = batch::headers(&read)
                        .last()
                        .map_or(offset, |(_, h)| h.last_offset() + 1);
                    assert_eq!(
                        next, after_whole,
                        "{segment_bytes} {offset} {max} {min_one}"
                    );
                }
            }
        }
        // Stopping before the batch that starts at a high watermark.
        let (cut, _, _) = batches[12];
        let (regions, next) = log.read_regions(0, usize::MAX, true, cut).unwrap().unwrap();
        let got = headers(&region_bytes(&regions));
        assert_eq!(got.last().unwrap().last_offset(), cut - 1);
        assert_eq!(next, cut);
    }
    let mut memory = PartitionLog::open(Backing::Memory, config(1 << 20, 64)).unwrap();
    fill(&mut memory, 2);
    assert!(memory.read_regions(0, 100, true, 1).unwrap().is_none());
}
