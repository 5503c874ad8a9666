//! Damaged sealed segments: what start-up recovery and the scrub find, and that reads serve the
//! batches before the damage, answer the damaged offsets with an error, and go on after it.

use std::fs;
use std::path::PathBuf;

use proptest::prelude::*;
use tempfile::TempDir;

use super::batch::{self, BatchHeader};
use super::damage::{Damage, Defect};
use super::scrub::{scrub, ScrubTarget};
use super::storage::disk::{stem, with_ext};
use super::testutil::batch;
use super::*;

const NOW: i64 = 1_700_000_000_000;

fn config(compacted: bool) -> LogConfig {
    LogConfig {
        segment_bytes: 300,
        index_interval_bytes: 100,
        compacted,
        ..LogConfig::default()
    }
}

fn dir_of(dir: &TempDir) -> PathBuf {
    dir.path().join("t-0")
}

fn open(dir: &TempDir, compacted: bool) -> PartitionLog {
    PartitionLog::open(Backing::Disk(dir_of(dir)), config(compacted)).unwrap()
}

/// A log of several segments of 3-record batches (offsets 0..36).
fn sealed_log(dir: &TempDir) -> PartitionLog {
    let mut log = open(dir, false);
    for _ in 0..12 {
        log.append(batch(0, 3), NOW).unwrap();
    }
    assert!(log.segment_count() >= 3, "{}", log.segment_count());
    log
}

fn log_path(dir: &TempDir, base: i64) -> PathBuf {
    with_ext(&stem(&dir_of(dir), base), ".log")
}

/// (position, header) of every batch in the segment file.
fn batches_of(dir: &TempDir, base: i64) -> Vec<(usize, BatchHeader)> {
    let bytes = fs::read(log_path(dir, base)).unwrap();
    batch::headers(&bytes).collect()
}

fn truncate(path: &PathBuf, len: u64) {
    let f = fs::OpenOptions::new().write(true).open(path).unwrap();
    f.set_len(len).unwrap();
}

fn flip(path: &PathBuf, at: usize) {
    let mut bytes = fs::read(path).unwrap();
    bytes[at] ^= 0x10;
    fs::write(path, bytes).unwrap();
}

fn read_bases(log: &PartitionLog, offset: i64) -> Result<Vec<i64>, LogError> {
    let records = log.read(offset, usize::MAX, true)?.records;
    Ok(batch::headers(&records)
        .map(|(_, h)| h.base_offset)
        .collect())
}

fn region_bytes(log: &PartitionLog, offset: i64) -> Result<u64, LogError> {
    let regions = log.read_regions(offset, usize::MAX, true, i64::MAX)?;
    Ok(regions.unwrap().0.iter().map(|r| r.len()).sum())
}

fn scrub_all(log: &mut PartitionLog) -> Vec<Damage> {
    let mut new = Vec::new();
    for target in log.scrub_targets() {
        let found = scrub(&target, &mut |_| true).unwrap().unwrap();
        new.extend(log.add_damage(&target, found));
    }
    new
}

#[test]
fn a_truncated_sealed_segment_is_reported_and_its_tail_not_served() {
    let dir = TempDir::new().unwrap();
    let log = sealed_log(&dir);
    let bases = log.segment_base_offsets();
    let end = log.log_end_offset();
    drop(log);
    let first = batches_of(&dir, bases[0]);
    assert!(first.len() >= 3);
    // Cut in the middle of the second batch.
    truncate(&log_path(&dir, bases[0]), first[1].0 as u64 + 30);

    for _ in 0..2 {
        let mut log = open(&dir, false);
        let errors = log.take_recovery_errors();
        assert_eq!(errors.len(), 1, "{errors:?}");
        let d = &errors[0].0;
        assert!(matches!(d.defect, Defect::ShortHeader { left: 30 }), "{d}");
        assert_eq!((d.first_offset, d.end_offset), (3, bases[1]));
        // Nothing deleted, nothing lost after the damage.
        assert_eq!(log.segment_base_offsets(), bases);
        assert_eq!(log.log_end_offset(), end);
        // The batch before the damage is served, and the read stops there.
        assert_eq!(read_bases(&log, 0).unwrap(), vec![0]);
        assert_eq!(
            region_bytes(&log, 0).unwrap(),
            first[0].1.total_size() as u64
        );
        for offset in [3, 4, bases[1] - 1] {
            assert!(matches!(
                read_bases(&log, offset),
                Err(LogError::Damaged { first_offset: 3, end_offset }) if end_offset == bases[1]
            ));
            assert!(region_bytes(&log, offset).is_err());
        }
        assert_eq!(read_bases(&log, bases[1]).unwrap()[0], bases[1]);
        // The scrub finds the same damage: nothing new to report.
        assert!(scrub_all(&mut log).is_empty());
    }
}

#[test]
fn a_sealed_segment_short_of_the_next_base_offset_is_reported_unless_compacted() {
    let dir = TempDir::new().unwrap();
    let log = sealed_log(&dir);
    let bases = log.segment_base_offsets();
    drop(log);
    let first = batches_of(&dir, bases[0]);
    // Cut exactly after the first batch: whole batches, but offsets 3.. are missing. Even a
    // compacted log (whose segments may end early) sees it: its indexes name later batches.
    truncate(&log_path(&dir, bases[0]), first[1].0 as u64);
    let mut log = open(&dir, true);
    assert_eq!(log.take_recovery_errors().len(), 1);
    drop(log);
    let mut log = open(&dir, false);
    let errors = log.take_recovery_errors();
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].0.defect,
        Defect::MissingTail {
            ends: 3,
            next: bases[1]
        }
    );
    assert_eq!(read_bases(&log, 0).unwrap(), vec![0]);
    assert!(read_bases(&log, 3).is_err());
    // A typed error that says what happened.
    let text = errors[0].to_string();
    assert!(
        text.contains("offsets 3..") && text.contains("tail is missing"),
        "{text}"
    );
}

#[test]
fn a_compacted_segment_may_end_before_the_next_base_offset() {
    let dir = TempDir::new().unwrap();
    let log = sealed_log(&dir);
    let bases = log.segment_base_offsets();
    drop(log);
    let first = batches_of(&dir, bases[0]);
    // What the cleaner leaves when it drops a segment's last batch: a shorter file with
    // indexes that match it.
    truncate(&log_path(&dir, bases[0]), first[first.len() - 1].0 as u64);
    for ext in [".index", ".timeindex"] {
        fs::remove_file(with_ext(&stem(&dir_of(&dir), bases[0]), ext)).unwrap();
    }
    let mut log = open(&dir, true);
    assert!(log.take_recovery_errors().is_empty());
    drop(log);
    // Reopened with the indexes just rebuilt: still nothing to report.
    let mut log = open(&dir, true);
    assert!(log.take_recovery_errors().is_empty());
    drop(log);
    let mut log = open(&dir, false);
    assert_eq!(log.take_recovery_errors().len(), 1);
}

#[test]
fn garbage_after_a_sealed_segment_is_damage_but_its_batches_are_served() {
    let dir = TempDir::new().unwrap();
    let log = sealed_log(&dir);
    let bases = log.segment_base_offsets();
    drop(log);
    let path = log_path(&dir, bases[0]);
    let mut bytes = fs::read(&path).unwrap();
    let len = bytes.len() as u64;
    bytes.extend_from_slice(&[0xee; 40]);
    fs::write(&path, bytes).unwrap();
    let mut log = open(&dir, false);
    let errors = log.take_recovery_errors();
    assert_eq!(errors.len(), 1);
    assert_eq!((errors[0].0.pos, errors[0].0.end_pos), (len, len + 40));
    let served = read_bases(&log, 0).unwrap();
    assert_eq!(served.len(), batches_of(&dir, bases[0]).len());
}

#[test]
fn the_scrub_finds_a_flipped_byte_and_reads_skip_only_that_batch() {
    let dir = TempDir::new().unwrap();
    let mut log = sealed_log(&dir);
    let bases = log.segment_base_offsets();
    let first = batches_of(&dir, bases[0]);
    // A record byte of the second batch: start-up does not look (that is the scrub's job).
    flip(&log_path(&dir, bases[0]), first[1].0 + 70);
    drop(log);
    log = open(&dir, false);
    assert!(log.take_recovery_errors().is_empty());
    assert_eq!(read_bases(&log, 3).unwrap()[0], 3);

    let found = scrub_all(&mut log);
    assert_eq!(found.len(), 1, "{found:?}");
    let d = &found[0];
    assert!(matches!(d.defect, Defect::Crc { .. }));
    assert_eq!((d.first_offset, d.end_offset), (3, 6));
    assert_eq!((d.pos, d.end_pos), (first[1].0 as u64, first[2].0 as u64));
    assert!(d
        .to_string()
        .contains(&log_path(&dir, bases[0]).display().to_string()));
    // Before it: served, stopping at it. It: an error. After it: served.
    assert_eq!(read_bases(&log, 0).unwrap(), vec![0]);
    assert_eq!(
        region_bytes(&log, 2).unwrap(),
        first[0].1.total_size() as u64
    );
    assert!(matches!(read_bases(&log, 4), Err(LogError::Damaged { .. })));
    assert_eq!(read_bases(&log, 6).unwrap()[0], 6);
    assert!(region_bytes(&log, 6).unwrap() > 0);
    // Found once; the compaction of a damaged log is refused rather than launder it.
    assert!(scrub_all(&mut log).is_empty());
    let c = cleaner::Compaction {
        min_cleanable_dirty_ratio: 0.0,
        ..Default::default()
    };
    assert!(log.compact(&c, NOW, i64::MAX).unwrap().is_none());
}

#[test]
fn a_flipped_offset_is_damage_too() {
    let dir = TempDir::new().unwrap();
    let mut log = sealed_log(&dir);
    let bases = log.segment_base_offsets();
    let first = batches_of(&dir, bases[0]);
    // The base offset is not covered by the CRC: the offsets check catches it.
    flip(&log_path(&dir, bases[0]), first[1].0 + 3);
    let found = scrub_all(&mut log);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(matches!(found[0].defect, Defect::Offsets { .. }));
    assert_eq!(found[0].first_offset, 3);
}

#[test]
fn findings_for_a_segment_that_is_gone_are_dropped() {
    let dir = TempDir::new().unwrap();
    let mut log = sealed_log(&dir);
    let bases = log.segment_base_offsets();
    let targets: Vec<ScrubTarget> = log.scrub_targets();
    let damage = Damage {
        segment: targets[0].path.clone(),
        pos: 0,
        end_pos: 10,
        first_offset: 0,
        end_offset: 3,
        defect: Defect::TooLarge,
    };
    // Retention took the segment while it was being scrubbed.
    log.delete_records_before(bases[1]).unwrap();
    assert!(log.add_damage(&targets[0], vec![damage.clone()]).is_empty());
    // A segment of the same base offset but another file (a cleaner swap) is not it either.
    let mut other = targets[1].clone();
    other.data = std::sync::Arc::new(fs::File::open(&targets[1].path).unwrap());
    assert!(log.add_damage(&other, vec![damage]).is_empty());
    assert!(log.damage().next().is_none());
}

#[test]
fn the_scrub_stops_when_told_and_reads_in_bounded_chunks() {
    let dir = TempDir::new().unwrap();
    let log = sealed_log(&dir);
    let target = &log.scrub_targets()[0];
    assert!(scrub(target, &mut |_| false).unwrap().is_none());
    let mut total = 0;
    let mut largest = 0;
    let found = scrub(target, &mut |n| {
        total += n;
        largest = largest.max(n);
        true
    });
    assert!(found.unwrap().unwrap().is_empty());
    // Every byte was read once, a chunk at a time.
    assert_eq!(total, target.size);
    assert!(largest <= 64 * 1024);
}

/// Found by the property below: a flipped record, a damaged index and a truncated tail in one
/// segment. The scrub's finding (the bad batch through the tail) runs into the tail damage
/// start-up found and must extend it, not be dropped as known.
#[test]
fn scrub_damage_running_into_known_damage_extends_it() {
    fuzz_recover(&[
        0, 246, 92, 28, 48, 188, 20, 0, 0, 152, 19, 32, 149, 129, 114, 0, 0, 0, 0, 0, 0, 89, 149,
        74, 25,
    ]);
}

#[test]
fn recovery_fuzz_seeds() {
    // [compacted, batches - 1, one shape a batch.., closed cleanly, operations, then 5 bytes an
    // operation: flip / truncate / append garbage / remove, which file, position].
    fuzz_recover(&[]);
    let shapes = [60, 61, 62, 63, 200, 201, 202, 203];
    for closed in 0..2u8 {
        for op in 0..4u8 {
            for which in 0..10u8 {
                let mut input = vec![0, 7];
                input.extend_from_slice(&shapes);
                input.extend_from_slice(&[closed, 1, op, which, 0, 0, 150]);
                fuzz_recover(&input);
                input.extend_from_slice(&[op + 1, which + 3, 0, 1, 7]);
                input[11] = 2;
                fuzz_recover(&input);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]
    #[test]
    fn recovery_never_serves_damage_nor_loses_intact_batches(
        data in proptest::collection::vec(any::<u8>(), 0..96)
    ) {
        fuzz_recover(&data);
    }
}
