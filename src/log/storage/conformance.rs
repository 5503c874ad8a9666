//! The conformance suite every [`LogStorage`] runs: one set of tests, generic over a
//! [`Medium`] (how to make a storage and open it again), instantiated for each medium at the
//! bottom. A new medium adds an instantiation; behaviour that legitimately differs is asked of
//! the storage (`durable()`, `fd()`), never skipped.
//!
//! Two levels: the trait's own contract (segment data, indexes, checkpoints, listing,
//! replacement, reopening), and the partition log on top of it (append and read back,
//! offsets, watermarks, segment roll, torn-tail recovery, index rebuild, regions).

use std::sync::Arc;

use bytes::Bytes;
use tempfile::TempDir;

use super::disk::DiskStorage;
use super::memory::MemoryStorage;
use super::LogStorage;
use crate::log::batch;
use crate::log::damage::Defect;
use crate::log::testutil::batch;
use crate::log::{LogConfig, PartitionLog};

const NOW: i64 = 1_700_000_000_000;

/// How a test gets a storage of one medium.
trait Medium {
    /// The storage, empty the first time.
    fn open(&self) -> Arc<dyn LogStorage>;
}

struct Disk(TempDir);

impl Medium for Disk {
    fn open(&self) -> Arc<dyn LogStorage> {
        Arc::new(DiskStorage::open(self.0.path().join("t-0")).unwrap())
    }
}

struct Memory;

impl Medium for Memory {
    fn open(&self) -> Arc<dyn LogStorage> {
        Arc::new(MemoryStorage::default())
    }
}

/// The cluster-mode medium on a test database of its own (a real PostgreSQL server).
struct Postgres {
    logs: super::postgres::PgLogs,
    _cache: TempDir,
}

impl Postgres {
    fn new() -> Self {
        let pg = crate::pg::testing::database();
        let db = crate::pg::Db::open(&pg.url, std::time::Duration::from_secs(9)).unwrap();
        let cache = TempDir::new().unwrap();
        let logs = super::postgres::PgLogs::new(db, 1, cache.path().join("cache")).unwrap();
        Self {
            logs,
            _cache: cache,
        }
    }
}

impl Medium for Postgres {
    fn open(&self) -> Arc<dyn LogStorage> {
        self.logs.open("t-0").unwrap()
    }
}

fn config(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        index_interval_bytes: 64,
        ..LogConfig::default()
    }
}

fn open_log(storage: &Arc<dyn LogStorage>, segment_bytes: u64) -> PartitionLog {
    PartitionLog::open_storage(storage.clone(), config(segment_bytes)).unwrap()
}

/// Append `n` batches of 1 to 3 records; returns every batch as stored.
fn fill(log: &mut PartitionLog, n: usize) -> Vec<Bytes> {
    let before = log.log_end_offset();
    for i in 0..n {
        log.append(batch(0, i % 3 + 1), NOW).unwrap();
    }
    let all = log.read(before, usize::MAX, true).unwrap().records;
    batch::headers(&all)
        .map(|(p, h)| all.slice(p..p + h.total_size()))
        .collect()
}

fn read_all(log: &PartitionLog) -> Bytes {
    let start = log.log_start_offset();
    log.read(start, usize::MAX, true).unwrap().records
}

// ---- the storage contract ----

fn segment_data<M: Medium>(m: &M) {
    let s = m.open();
    let data = s.create_segment(0).unwrap();
    assert_eq!(data.size().unwrap(), 0);
    data.write_at(0, &[b"hello "]).unwrap();
    // Parts are written one after the other (empty ones are nothing).
    data.write_at(6, &[b"wo", b"", b"r", b"ld"]).unwrap();
    data.sync().unwrap();
    assert_eq!(data.size().unwrap(), 11);
    let mut buf = [0; 5];
    data.read_exact_at(6, &mut buf).unwrap();
    assert_eq!(&buf, b"world");
    let mut past = [0; 4];
    let err = data.read_exact_at(9, &mut past).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    data.truncate(5).unwrap();
    assert_eq!(data.size().unwrap(), 5);
    // A write at the end of the whole batches replaces what lay beyond.
    data.write_at(5, &[b"!"]).unwrap();
    let mut all = [0; 6];
    data.read_exact_at(0, &mut all).unwrap();
    assert_eq!(&all, b"hello!");
    // Another handle to the same segment sees the same bytes.
    let again = s.open_segment(0).unwrap();
    assert_eq!(again.size().unwrap(), 6);
    // Creating a segment again starts it empty.
    assert_eq!(s.create_segment(0).unwrap().size().unwrap(), 0);
    assert!(s.open_segment(99).is_err());
}

fn layout_indexes_checkpoints<M: Medium>(m: &M) {
    let s = m.open();
    for base in [20, 0, 10] {
        s.create_segment(base).unwrap();
    }
    s.sync_layout().unwrap();
    assert_eq!(s.list_segments().unwrap(), vec![0, 10, 20]);
    assert_eq!(s.read_indexes(10), None);
    s.write_indexes(10, b"12345678", b"").unwrap();
    assert_eq!(s.read_indexes(10), Some((b"12345678".to_vec(), Vec::new())));
    s.remove_segment(10).unwrap();
    s.remove_segment(10).unwrap(); // removing twice is fine
    assert_eq!(s.list_segments().unwrap(), vec![0, 20]);
    assert_eq!(s.read_indexes(10), None);

    assert_eq!(s.read_checkpoint("c").unwrap(), None);
    s.write_checkpoint("c", b"42").unwrap();
    s.write_checkpoint("c", b"43").unwrap();
    assert_eq!(s.read_checkpoint("c").unwrap(), Some(b"43".to_vec()));
    s.remove_checkpoint("c").unwrap();
    s.remove_checkpoint("c").unwrap();
    assert_eq!(s.read_checkpoint("c").unwrap(), None);
    assert_eq!(s.recover().unwrap(), None);
    assert_ne!(s.segment_path(0), s.segment_path(20));
}

fn replace<M: Medium>(m: &M) {
    let s = m.open();
    for base in [0, 5, 9, 14] {
        s.create_segment(base)
            .unwrap()
            .write_at(0, &[b"old"])
            .unwrap();
    }
    s.replace_segments(5, 14, b"new data", b"", b"").unwrap();
    assert_eq!(s.list_segments().unwrap(), vec![0, 5, 14]);
    let data = s.open_segment(5).unwrap();
    let mut buf = [0; 8];
    data.read_exact_at(0, &mut buf).unwrap();
    assert_eq!(&buf, b"new data");
    assert_eq!(s.read_indexes(5), Some((Vec::new(), Vec::new())));
    assert_eq!(s.recover().unwrap(), None);
}

/// What survives opening the storage again is what `durable()` says.
fn reopen<M: Medium>(m: &M) {
    let s = m.open();
    let mut log = open_log(&s, 1 << 20);
    let stored = fill(&mut log, 5);
    log.close().unwrap();
    let durable = s.durable();
    drop((log, s));
    let mut again = open_log(&m.open(), 1 << 20);
    let report = again.take_recovery_report();
    if durable {
        assert_eq!(read_all(&again), Bytes::from(stored.concat()));
        assert!(report.clean_shutdown);
        assert!(!report.repaired(), "{report:?}");
    } else {
        assert_eq!(again.log_end_offset(), 0);
        assert!(read_all(&again).is_empty());
    }
}

/// Batches are stamped with the epoch the storage is led at; the epochs that wrote a log, and
/// where each ended, are kept across reopening (cluster mode: a new leader, a new epoch).
fn leader_epochs<M: Medium>(m: &M) {
    let epoch_of = |b: &Bytes| batch::BatchHeader::parse(b).unwrap().partition_leader_epoch;
    let s = m.open();
    let first = s.leader_epoch();
    let mut log = open_log(&s, 1 << 20);
    let older = fill(&mut log, 3);
    assert!(older.iter().all(|b| epoch_of(b) == first));
    let end = log.log_end_offset();
    assert_eq!(log.leader_epoch(), first);
    assert_eq!(log.epochs().end_offset_for(first, end), Some((first, end)));
    assert_eq!(log.epochs().end_offset_for(first + 1, end), None);
    log.close().unwrap();
    let durable = s.durable();
    drop((log, s));
    if !durable {
        return;
    }
    let s = m.open();
    let second = s.leader_epoch();
    let mut log = open_log(&s, 1 << 20);
    let newer = fill(&mut log, 2);
    assert!(newer.iter().all(|b| epoch_of(b) == second));
    let now = log.log_end_offset();
    let epochs = log.epochs();
    assert_eq!(epochs.end_offset_for(second, now), Some((second, now)));
    if second == first {
        assert_eq!(epochs.epoch_for_offset(0), Some(first));
    } else {
        // The first leader's epoch ended where the second took over.
        assert!(second > first, "{first} then {second}");
        assert_eq!(epochs.end_offset_for(first, now), Some((first, end)));
        assert_eq!(epochs.epoch_for_offset(end - 1), Some(first));
        assert_eq!(epochs.epoch_for_offset(end), Some(second));
        let all = read_all(&log);
        let stamped: Vec<i32> = batch::headers(&all)
            .map(|(_, h)| h.partition_leader_epoch)
            .collect();
        assert_eq!(stamped, [vec![first; 3], vec![second; 2]].concat());
    }
}

// ---- the partition log on the medium ----

fn append_read_offsets_roll<M: Medium>(m: &M) {
    let s = m.open();
    let mut log = open_log(&s, 300);
    let stored = fill(&mut log, 30);
    assert_eq!(log.log_start_offset(), 0);
    assert_eq!(log.log_end_offset(), 60); // 10 batches each of 1, 2 and 3 records
    assert!(log.segment_count() > 3, "{}", log.segment_count());
    assert_eq!(s.list_segments().unwrap(), log.segment_base_offsets());
    assert_eq!(read_all(&log), Bytes::from(stored.concat()));
    // A read from the middle of a batch starts with that batch.
    let from_4 = log.read(4, usize::MAX, true).unwrap().records;
    let (_, h) = batch::headers(&from_4).next().unwrap();
    assert!(h.base_offset <= 4 && h.last_offset() >= 4);
    assert!(log.read(60, usize::MAX, true).unwrap().records.is_empty());
    let target = log.sync_target();
    assert_eq!(target.end_offset, 60);
    target.sync().unwrap();
}

fn watermarks_survive_reopening_the_log<M: Medium>(m: &M) {
    let s = m.open();
    let mut log = open_log(&s, 300);
    fill(&mut log, 30);
    assert_eq!(log.delete_records_before(25).unwrap(), 25);
    let bases = log.segment_base_offsets();
    assert!(
        bases[0] <= 25 && bases.get(1).is_none_or(|&b| b > 25),
        "{bases:?}"
    );
    drop(log);
    let log = open_log(&s, 300);
    assert_eq!(log.log_start_offset(), 25);
    assert_eq!(log.log_end_offset(), 60);
}

/// Garbage after the last whole batch (a torn write) is cut off, typed, and counted.
fn torn_tail<M: Medium>(m: &M) {
    let s = m.open();
    let mut log = open_log(&s, 1 << 20);
    let stored = fill(&mut log, 6);
    drop(log); // no clean close
    let data = s.open_segment(0).unwrap();
    let len = data.size().unwrap();
    data.write_at(len, &[&[0xab; 40]]).unwrap();
    let mut log = open_log(&s, 1 << 20);
    let report = log.take_recovery_report();
    assert!(!report.clean_shutdown);
    assert_eq!(report.bytes_truncated(), 40);
    let t = &report.truncations[0];
    assert_eq!((t.pos, t.dropped_bytes), (len, 40));
    assert!(
        matches!(
            t.defect,
            Defect::ShortHeader { .. } | Defect::Length { .. } | Defect::Magic(_)
        ),
        "{t:?}"
    );
    assert!(report.repaired());
    assert_eq!(data.size().unwrap(), len);
    assert_eq!(read_all(&log), Bytes::from(stored.concat()));
    // The log goes on from where the good data ended.
    let end = log.log_end_offset();
    assert_eq!(log.append(batch(0, 2), NOW).unwrap().first_offset, end);
}

/// A flipped byte in the last batch fails its CRC: that batch is cut, typed as such.
fn crc_mismatch<M: Medium>(m: &M) {
    let s = m.open();
    let mut log = open_log(&s, 1 << 20);
    let stored = fill(&mut log, 4);
    drop(log);
    let data = s.open_segment(0).unwrap();
    let len = data.size().unwrap();
    let last = stored.last().unwrap().len() as u64;
    let mut byte = [0];
    data.read_exact_at(len - 1, &mut byte).unwrap();
    data.truncate(len - 1).unwrap();
    data.write_at(len - 1, &[&[byte[0] ^ 0xff]]).unwrap();
    let mut log = open_log(&s, 1 << 20);
    let report = log.take_recovery_report();
    assert_eq!(report.bytes_truncated(), last);
    assert!(matches!(report.truncations[0].defect, Defect::Crc { .. }));
    assert_eq!(read_all(&log), Bytes::from(stored[..3].concat()));
}

/// Indexes that do not match a sealed segment are rebuilt, and the report says so.
fn index_rebuild<M: Medium>(m: &M) {
    let s = m.open();
    let mut log = open_log(&s, 300);
    let stored = fill(&mut log, 20);
    log.close().unwrap();
    let first = log.segment_base_offsets()[0];
    drop(log);
    s.write_indexes(first, b"garbage", b"").unwrap();
    let mut log = open_log(&s, 300);
    let report = log.take_recovery_report();
    assert_eq!(report.indexes_rebuilt, vec![s.segment_path(first)]);
    assert!(report.segments_scanned >= 2);
    assert!(report.truncations.is_empty() && report.damaged.is_empty());
    assert_eq!(read_all(&log), Bytes::from(stored.concat()));
}

/// Regions where the medium can send them, bytes otherwise; the same bytes either way.
fn regions<M: Medium>(m: &M) {
    let s = m.open();
    let mut log = open_log(&s, 300);
    fill(&mut log, 20);
    let end = log.log_end_offset();
    let first = log.segment_base_offsets()[0];
    let sendable = s.open_segment(first).unwrap().fd().is_some();
    let regions = log.read_regions(3, 500, true, end).unwrap().map(|(r, _)| r);
    assert_eq!(regions.is_some(), sendable);
    if let Some(regions) = regions {
        let mut got = Vec::new();
        for r in &regions {
            let mut buf = vec![0; r.len() as usize];
            r.read_exact_at(0, &mut buf).unwrap();
            got.extend_from_slice(&buf);
        }
        assert_eq!(got, log.read(3, 500, true).unwrap().records.to_vec());
    }
}

/// A budget below the first batch: that batch whole with `min_one_batch`, nothing without;
/// a budget between one batch and two: the first alone. At every budget, as a read that finds
/// no whole batch in its budget reads the rest of the first one.
fn budget_below_a_batch<M: Medium>(m: &M) {
    let s = m.open();
    let mut log = open_log(&s, 1 << 20);
    let stored = fill(&mut log, 3);
    let (one, two) = (stored[0].len(), stored[0].len() + stored[1].len());
    for budget in 0..two {
        let read = log.read(0, budget, true).unwrap().records;
        assert_eq!(read, stored[0], "budget {budget}");
        let cut = log.read(0, budget, false).unwrap().records;
        assert_eq!(
            cut.len(),
            if budget < one { 0 } else { one },
            "budget {budget}"
        );
    }
}

macro_rules! conformance {
    ($module:ident, $medium:expr) => {
        mod $module {
            use super::*;

            #[test]
            fn segment_data() {
                super::segment_data(&$medium);
            }
            #[test]
            fn layout_indexes_checkpoints() {
                super::layout_indexes_checkpoints(&$medium);
            }
            #[test]
            fn replace() {
                super::replace(&$medium);
            }
            #[test]
            fn reopen() {
                super::reopen(&$medium);
            }
            #[test]
            fn leader_epochs() {
                super::leader_epochs(&$medium);
            }
            #[test]
            fn append_read_offsets_roll() {
                super::append_read_offsets_roll(&$medium);
            }
            #[test]
            fn watermarks_survive_reopening_the_log() {
                super::watermarks_survive_reopening_the_log(&$medium);
            }
            #[test]
            fn torn_tail() {
                super::torn_tail(&$medium);
            }
            #[test]
            fn crc_mismatch() {
                super::crc_mismatch(&$medium);
            }
            #[test]
            fn index_rebuild() {
                super::index_rebuild(&$medium);
            }
            #[test]
            fn regions() {
                super::regions(&$medium);
            }
            #[test]
            fn budget_below_a_batch() {
                super::budget_below_a_batch(&$medium);
            }
        }
    };
}

conformance!(disk, Disk(TempDir::new().unwrap()));
conformance!(memory, Memory);
conformance!(postgres, Postgres::new());
