//! Segment recovery under random damage, as one entry point for cargo-fuzz and the property
//! tests: build a small log, damage its files as the input says, reopen and scrub it, and
//! check that reads never return a batch with a wrong CRC and keep every batch that lies
//! wholly before the first damaged byte of its file. Panics when a check fails.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::BytesMut;

use super::batch::{self, HEADER_LEN};
use super::scrub::scrub;
use super::{Backing, LogConfig, LogError, PartitionLog};

const NOW: i64 = 1_700_000_000_000;
static RUN: AtomicU64 = AtomicU64::new(0);

/// A temporary directory removed on drop (tempfile is only a dev-dependency).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// One stored batch: its file, where it lies, and its bytes.
struct Stored {
    file: PathBuf,
    pos: u64,
    bytes: Vec<u8>,
}

/// Build a log from `data`'s first bytes, damage it with the rest (6 bytes an operation:
/// what, which file, where, with what), reopen it, scrub it, read it all, and check it.
/// Every input is valid; the function panics only if recovery misbehaves.
pub fn fuzz_recover(data: &[u8]) {
    let mut input = data.iter().copied();
    let mut next = move || input.next().unwrap_or(0);
    let run = RUN.fetch_add(1, Ordering::Relaxed);
    // tmpfs where there is one: the log fsyncs, which would dominate a fuzzer's time.
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let dir = TempDir(base.join(format!("gregor-fuzz-recover-{}-{run}", std::process::id())));
    let _ = fs::remove_dir_all(&dir.0);
    let log_dir = dir.0.join("t-0");
    let config = LogConfig {
        segment_bytes: 400,
        index_interval_bytes: 100,
        compacted: next() & 1 == 1,
        ..LogConfig::default()
    };
    let stored = match build(&log_dir, &config, &mut next) {
        Ok(stored) => stored,
        Err(e) => panic!("building the log failed: {e}"),
    };
    let files = list_files(&log_dir);
    if files.is_empty() {
        return;
    }
    // The first damaged byte of each data file (u64::MAX: untouched).
    let mut first_damage: BTreeMap<PathBuf, u64> = BTreeMap::new();
    for _ in 0..(next() % 8) {
        let (op, which) = (next(), next());
        let pos = u32::from_be_bytes([0, next(), next(), next()]);
        let Some(file) = files.get(usize::from(which) % files.len()) else {
            continue;
        };
        let len = fs::metadata(file).map_or(0, |m| m.len());
        let at = if len == 0 { 0 } else { u64::from(pos) % len };
        let damaged_from = match op % 4 {
            0 if len > 0 => flip(file, at, op | 1),
            1 => truncate(file, at),
            2 => append(file, len, &[op; 7][..usize::from(which % 7) + 1]),
            3 => remove(file),
            _ => None,
        };
        if let Some(from) = damaged_from {
            if file.extension().is_some_and(|e| e == "log") {
                let slot = first_damage.entry(file.clone()).or_insert(u64::MAX);
                *slot = (*slot).min(from);
            }
            // Damaged indexes are rebuilt or bypassed: they must cost no data.
        }
    }
    let Ok(mut log) = PartitionLog::open(Backing::Disk(log_dir), config) else {
        return; // an I/O error is an answer too; a panic is not
    };
    for target in log.scrub_targets() {
        if let Ok(Some(found)) = scrub(&target, &mut |_| true) {
            log.add_damage(&target, found);
        }
    }
    check_reads(&log, &stored, &first_damage);
}

/// Append batches of 1 to 4 offsets with bodies of 0 to 63 bytes, closing the log cleanly
/// or not; returns every batch as stored.
fn build(
    dir: &Path,
    config: &LogConfig,
    next: &mut impl FnMut() -> u8,
) -> Result<Vec<Stored>, LogError> {
    let mut log = PartitionLog::open(Backing::Disk(dir.to_path_buf()), config.clone())?;
    for _ in 0..(next() % 24 + 1) {
        let shape = next();
        log.append(synthetic_batch(shape % 4, usize::from(shape >> 2)), NOW)?;
    }
    if next() & 1 == 1 {
        log.close()?;
    }
    let mut stored = Vec::new();
    for target in log.scrub_targets() {
        let mut pos = 0u64;
        while pos < target.size {
            let mut header = [0u8; HEADER_LEN];
            target.data.read_exact_at(pos, &mut header)?;
            let Some(h) = batch::BatchHeader::parse(&header) else {
                break;
            };
            let mut bytes = vec![0u8; h.total_size()];
            target.data.read_exact_at(pos, &mut bytes)?;
            stored.push(Stored {
                file: target.path.clone(),
                pos,
                bytes,
            });
            pos += h.total_size() as u64;
        }
    }
    Ok(stored)
}

/// A v2 batch of `delta + 1` offsets and one opaque body of `body` bytes, with a valid CRC
/// (recovery never decodes records, so they need not be well-formed).
fn synthetic_batch(delta: u8, body: usize) -> BytesMut {
    let mut b = BytesMut::zeroed(HEADER_LEN + body);
    let length = (b.len() - batch::LOG_OVERHEAD) as i32;
    b[8..12].copy_from_slice(&length.to_be_bytes());
    b[16] = 2;
    b[23..27].copy_from_slice(&i32::from(delta).to_be_bytes());
    b[27..35].copy_from_slice(&NOW.to_be_bytes());
    b[35..43].copy_from_slice(&NOW.to_be_bytes());
    b[43..51].copy_from_slice(&(-1i64).to_be_bytes());
    b[57..61].copy_from_slice(&(i32::from(delta) + 1).to_be_bytes());
    for (i, byte) in b[HEADER_LEN..].iter_mut().enumerate() {
        *byte = i as u8;
    }
    let crc = batch::compute_crc(&b);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

/// Read every offset (skipping damaged ones) both ways and check what comes back.
fn check_reads(log: &PartitionLog, stored: &[Stored], first_damage: &BTreeMap<PathBuf, u64>) {
    let mut returned: Vec<Vec<u8>> = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let records = match log.read(offset, 1 << 16, true) {
            Ok(r) => r.records,
            Err(LogError::Damaged { end_offset, .. }) if end_offset > offset => {
                offset = end_offset;
                continue;
            }
            Err(e) => panic!("read of offset {offset} failed: {e}"),
        };
        let regions = match log.read_regions(offset, 1 << 16, true, i64::MAX) {
            Ok(Some((regions, _))) => regions,
            other => panic!("read_regions of offset {offset}: {other:?}"),
        };
        let mut from_files = Vec::new();
        for r in regions {
            let mut buf = vec![0u8; r.len() as usize];
            if let Err(e) = r.read_exact_at(0, &mut buf) {
                panic!("region {}+{} cannot be read: {e}", r.pos(), r.len());
            }
            from_files.extend_from_slice(&buf);
        }
        assert_eq!(records.as_ref(), from_files, "read and read_regions differ");
        let mut last = None;
        let mut pos = 0;
        while pos < records.len() {
            match batch::check_batch(&records[pos..], usize::MAX) {
                Ok(h) => {
                    returned.push(records[pos..pos + h.total_size()].to_vec());
                    last = Some(h.last_offset());
                    pos += h.total_size();
                }
                Err(e) => panic!("a read at offset {offset} returned a bad batch: {e}"),
            }
        }
        match last {
            Some(l) if l >= offset => offset = l + 1,
            _ => break,
        }
    }
    for s in stored {
        let intact = first_damage
            .get(&s.file)
            .is_none_or(|&d| s.pos + s.bytes.len() as u64 <= d);
        if intact {
            assert!(
                returned.contains(&s.bytes),
                "an intact batch at {} of {} was lost",
                s.pos,
                s.file.display()
            );
        }
    }
}

fn list_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| {
        p.extension()
            .is_some_and(|e| e == "log" || e == "index" || e == "timeindex")
    });
    files.sort();
    files
}

fn flip(file: &Path, at: u64, mask: u8) -> Option<u64> {
    let f = OpenOptions::new().read(true).write(true).open(file).ok()?;
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at).ok()?;
    f.write_all_at(&[b[0] ^ mask], at).ok()?;
    Some(at)
}

fn truncate(file: &Path, len: u64) -> Option<u64> {
    let f = OpenOptions::new().write(true).open(file).ok()?;
    f.set_len(len).ok()?;
    Some(len)
}

fn append(file: &Path, len: u64, bytes: &[u8]) -> Option<u64> {
    let mut f = OpenOptions::new().append(true).open(file).ok()?;
    f.write_all(bytes).ok()?;
    Some(len)
}

fn remove(file: &Path) -> Option<u64> {
    fs::remove_file(file).ok()?;
    Some(0)
}
