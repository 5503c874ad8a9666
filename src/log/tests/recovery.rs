//! Recovery of a log after a crash: torn tails, CRC mismatches, damaged indexes, stray files.

use super::*;

pub(super) fn two_segments(dir: &TempDir) -> (PartitionLog, Vec<(u64, i64)>) {
    let mut cfg = config(1 << 20, 100);
    cfg.segment_ms = 1_000;
    let mut log = PartitionLog::open(disk(dir), cfg).unwrap();
    // Rolled by age: the next appends are much later.
    log.append(batch_with(0, 40, |i| i as i64, Compression::None), 0)
        .unwrap();
    let mut active = vec![];
    let mut pos = 0;
    for n in 1..=5 {
        let b = batch(0, n);
        let len = b.len() as u64;
        let first = log.append(b, NOW).unwrap().first_offset;
        active.push((pos, first));
        pos += len;
    }
    active.push((pos, log.log_end_offset()));
    assert_eq!(log.segment_count(), 2);
    assert_eq!(log.segments[1].meta.base_offset, 40);
    (log, active)
}

/// Damage the active segment of a closed-uncleanly log, reopen, check it was truncated at
/// batch `keep` (the batches before it kept), and that appends continue from there.
fn check_truncated(dir: &TempDir, damage: impl FnOnce(&Path, &[(u64, i64)]), keep: usize) {
    let (log, active) = two_segments(dir);
    let good = log.read(0, usize::MAX, true).unwrap().records;
    drop(log);
    let path = seg_path(dir, 40, ".log");
    damage(&path, &active);

    let mut log = PartitionLog::open(disk(dir), config(2_000, 100)).unwrap();
    let (end_pos, end_offset) = active[keep];
    assert_eq!(file_len(&path), end_pos);
    assert_eq!(log.log_end_offset(), end_offset);
    assert_eq!(log.size_bytes(), log.segments[0].meta.size + end_pos);
    let kept = read_all(&log);
    assert_eq!(kept, good.slice(..kept.len()));
    assert_eq!(
        log.append(batch(0, 3), NOW).unwrap().first_offset,
        end_offset
    );
    let recs = records(&read_all(&log));
    assert_eq!(recs.len() as i64, end_offset + 3);
    assert!(recs.iter().enumerate().all(|(i, r)| r.0 == i as i64));
    drop(log);
    // And that state survives another (unclean) reopen.
    let log = PartitionLog::open(disk(dir), config(2_000, 100)).unwrap();
    assert_eq!(log.log_end_offset(), end_offset + 3);
}

fn truncate(path: &Path, len: u64) {
    fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

fn flip(path: &Path, at: u64) {
    let mut bytes = fs::read(path).unwrap();
    bytes[at as usize] ^= 0x40;
    fs::write(path, bytes).unwrap();
}

#[test]
fn recovery_truncates_a_torn_tail() {
    // Mid-header, and one byte short of the end.
    let dir = TempDir::new().unwrap();
    check_truncated(&dir, |p, active| truncate(p, active[4].0 + 30), 4);
    let dir = TempDir::new().unwrap();
    check_truncated(&dir, |p, _| truncate(p, file_len(p) - 1), 4);
    // Garbage after the last batch.
    let dir = TempDir::new().unwrap();
    let garbage = |p: &Path, _: &[(u64, i64)]| {
        let mut b = fs::read(p).unwrap();
        b.extend_from_slice(&[0xff; 100]);
        fs::write(p, b).unwrap();
    };
    check_truncated(&dir, garbage, 5);
}

#[test]
fn recovery_truncates_at_a_crc_mismatch() {
    let dir = TempDir::new().unwrap();
    check_truncated(&dir, |p, _| flip(p, file_len(p) - 1), 4);
    // A bad batch in the middle drops everything from it on.
    let dir = TempDir::new().unwrap();
    check_truncated(&dir, |p, active| flip(p, active[2].0 + 70), 2);
    // The whole active segment: it ends up empty, at its base offset.
    let dir = TempDir::new().unwrap();
    check_truncated(&dir, |p, _| flip(p, 65), 0);
}

#[test]
fn recovery_after_a_clean_close_trusts_crcs() {
    // With the marker, only lengths are walked: a flipped record byte is not noticed.
    let dir = TempDir::new().unwrap();
    let (mut log, _) = two_segments(&dir);
    let leo = log.log_end_offset();
    log.close().unwrap();
    drop(log);
    let path = seg_path(&dir, 40, ".log");
    flip(&path, file_len(&path) - 1);
    let log = PartitionLog::open(disk(&dir), config(2_000, 100)).unwrap();
    assert_eq!(log.log_end_offset(), leo);
    // But a torn tail is still cut, even with the marker.
    let mut log = log;
    log.close().unwrap();
    drop(log);
    truncate(&path, file_len(&path) - 1);
    let log = PartitionLog::open(disk(&dir), config(2_000, 100)).unwrap();
    assert_eq!(log.log_end_offset(), leo - 5);
}

#[test]
fn damaged_indexes_are_rebuilt() {
    let dir = TempDir::new().unwrap();
    let mut log = PartitionLog::open(disk(&dir), config(500, 100)).unwrap();
    fill(&mut log, 40);
    let before = state(&log);
    let bases: Vec<i64> = before.iter().map(|s| s.0).collect();
    assert!(bases.len() >= 5);
    log.close().unwrap();
    drop(log);
    let index0 = fs::read(seg_path(&dir, bases[0], ".index")).unwrap();
    assert!(!index0.is_empty());

    fs::remove_file(seg_path(&dir, bases[0], ".index")).unwrap();
    fs::write(seg_path(&dir, bases[1], ".timeindex"), b"garbage").unwrap();
    // Right size, wrong order.
    let bad: Vec<u8> = [9u32, 100, 3, 200]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    fs::write(seg_path(&dir, bases[2], ".index"), bad).unwrap();
    // Plausible but its last entry points at the wrong batch.
    let mut shifted = fs::read(seg_path(&dir, bases[3], ".index")).unwrap();
    let last_rel = shifted.len() - 5;
    shifted[last_rel] += 1;
    fs::write(seg_path(&dir, bases[3], ".index"), shifted).unwrap();
    // Active segment: with its index gone, recovery checks every batch instead.
    fs::remove_file(seg_path(&dir, *bases.last().unwrap(), ".timeindex")).unwrap();

    let log = PartitionLog::open(disk(&dir), config(500, 100)).unwrap();
    assert_eq!(state(&log), before);
    assert_eq!(
        fs::read(seg_path(&dir, bases[0], ".index")).unwrap(),
        index0
    );
    assert_eq!(records(&read_all(&log)).len() as i64, log.log_end_offset());
}

#[test]
fn a_wrong_index_entry_does_not_skip_data() {
    let dir = TempDir::new().unwrap();
    let mut log = PartitionLog::open(disk(&dir), config(1 << 20, 100)).unwrap();
    fill(&mut log, 20);
    let leo = log.log_end_offset();
    log.close().unwrap();
    drop(log);
    // Only the last entry is checked at open: claim the first entry's batch starts earlier.
    let path = seg_path(&dir, 0, ".index");
    let mut index = fs::read(&path).unwrap();
    assert!(index.len() >= 16);
    index[3] -= 1;
    fs::write(&path, index).unwrap();
    let log = PartitionLog::open(disk(&dir), config(1 << 20, 100)).unwrap();
    for offset in 0..leo {
        let hs = headers(&log.read(offset, usize::MAX, false).unwrap().records);
        assert!(hs[0].base_offset <= offset && offset <= hs[0].last_offset());
    }
}

#[test]
fn stray_files_are_ignored_and_an_empty_dir_starts_at_zero() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("topic-0");
    fs::create_dir_all(&path).unwrap();
    fs::write(path.join("notes.log"), b"x").unwrap();
    fs::write(path.join("00000000000000000123.index"), b"x").unwrap();
    let mut log = PartitionLog::open(disk(&dir), LogConfig::default()).unwrap();
    assert!(seg_path(&dir, 0, ".log").exists());
    assert_eq!(
        (
            log.log_start_offset(),
            log.log_end_offset(),
            log.size_bytes()
        ),
        (0, 0, 0)
    );
    assert!(read_all(&log).is_empty());
    assert_eq!(log.offset_for_timestamp(0).unwrap(), None);
    assert_eq!(log.max_timestamp().unwrap(), None);
    log.append(batch(0, 1), NOW).unwrap();
    assert_eq!(log.log_end_offset(), 1);
}
