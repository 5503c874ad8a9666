//! The PostgreSQL medium (cluster mode): a partition's segments are rows of the cluster's
//! database — one row per appended record batch (`gregor_batches`, keyed by segment and
//! position, with its base offset), each segment's indexes and the log's checkpoints beside
//! them — and the database is the only copy that counts.
//!
//! A broker that opens a partition first takes its leadership: the partition's leader epoch
//! is bumped and this broker named leader (`gregor_logs`). It then copies the rows into a
//! local cache (a [`DiskStorage`] under the data directory), from which reads are served, by
//! sendfile like the disk medium. Appends go to the cache at once and are queued; the queue
//! reaches the database when the partition's group commit calls [`SegmentData::sync`]: one
//! transaction that first checks, under a lock on the partition's row, that this broker still
//! leads at its epoch — so a broker that was replaced (its lease expired, another broker took
//! the partition) can never commit, let alone acknowledge, another record there. Until that
//! commit nothing is acknowledged (acks=all) or shown to consumers.
//!
//! Nothing may wait on the database on an async worker: calls that would (a roll seals the
//! old segment, the first append removes the clean-shutdown marker) only queue their change
//! there, and the next group commit, on the blocking pool, carries it.
//!
//! A transaction whose outcome is unknown (the connection dropped during COMMIT, the
//! primary failed over) is retried whole by the next sync: rows already there are kept
//! (`ON CONFLICT DO NOTHING`; the same position holds the same batch, since only the leader at
//! the checked epoch writes).

use std::collections::HashMap;
use std::io;
use std::os::fd::BorrowedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;

use crate::blocking::on_async_worker;
use crate::pg::postgres::Transaction;
use crate::pg::Db;

use super::disk::DiskStorage;

mod group_commit;
mod logs;
use super::{Interrupted, LogStorage, SegmentData};
use group_commit::GroupCommit;
pub use logs::PgLogs;

use crate::pg::fence::Fence;
pub use crate::pg::fence::Fenced;

fn db_error(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("postgresql: {e}"))
}

/// A change made in the cache, not yet in the database.
#[derive(Clone)]
enum Change {
    Segment(i64),
    Batch {
        segment: i64,
        pos: i64,
        data: Bytes,
    },
    Truncate {
        segment: i64,
        len: i64,
    },
    Indexes {
        segment: i64,
        index: Bytes,
        time: Bytes,
    },
    RemoveSegment(i64),
    Checkpoint {
        name: String,
        value: Option<Bytes>,
    },
}

/// What a partition's storage and its segments share.
struct Shared {
    db: Db,
    log: String,
    /// This broker's leadership at its epoch, through this opening of the log.
    fence: Fence,
    queue: Mutex<Vec<Change>>,
    /// One flush at a time, so changes reach the database in the order they were made.
    flushing: Mutex<()>,
    /// The broker's group commit, which syncs join.
    commits: Arc<GroupCommit>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn push(&self, change: Change) {
        lock(&self.queue).push(change);
    }

    /// Commit the queued changes, unless this is an async worker (then the next flush from
    /// a thread that may block carries them).
    fn flush_if_may_block(self: &Arc<Self>) -> io::Result<()> {
        if on_async_worker() {
            return Ok(());
        }
        self.commits.commit(self)
    }

    /// Commit the queued changes and then `more`, in one transaction of their own that holds
    /// this broker's leadership at its epoch (other changes go through [`GroupCommit`]).
    fn flush_with(&self, more: impl FnOnce(&mut Transaction) -> io::Result<()>) -> io::Result<()> {
        let _turn = lock(&self.flushing);
        let changes: Vec<Change> = lock(&self.queue).clone();
        let mut conn = self.db.conn().map_err(db_error)?;
        let mut tx = conn.transaction().map_err(db_error)?;
        self.check_leader(&mut tx)?;
        self.apply(&mut tx, &changes)?;
        more(&mut tx)?;
        tx.commit().map_err(db_error)?;
        lock(&self.queue).drain(..changes.len());
        Ok(())
    }

    /// Check, under a lock on the partition's row, that this broker leads it still through
    /// this opening of it (`pg::fence::check`).
    fn check_leader(&self, tx: &mut Transaction) -> io::Result<()> {
        crate::pg::fence::check(tx, &self.fence)
    }

    fn apply(&self, tx: &mut Transaction, changes: &[Change]) -> io::Result<()> {
        let log = &self.log;
        let mut batches: Vec<&Change> = Vec::new();
        for change in changes {
            if let Change::Batch { .. } = change {
                batches.push(change);
                continue;
            }
            insert_batches(tx, log, &std::mem::take(&mut batches))?;
            match change {
                // A segment made again at the same base starts empty.
                Change::Segment(base) => tx
                    .execute(
                        "DELETE FROM gregor_segments WHERE log = $1 AND base_offset = $2",
                        &[log, base],
                    )
                    .and_then(|_| {
                        tx.execute(
                            "INSERT INTO gregor_segments (log, base_offset) VALUES ($1, $2)",
                            &[log, base],
                        )
                    }),
                Change::Truncate { segment, len } => tx
                    .execute(
                        "DELETE FROM gregor_batches WHERE log = $1 AND segment = $2 AND pos >= $3",
                        &[log, segment, len],
                    )
                    .and_then(|_| {
                        tx.execute(
                            "UPDATE gregor_batches SET data = substring(data FROM 1 FOR ($3 - pos)::int)
                             WHERE log = $1 AND segment = $2 AND pos < $3
                               AND pos + length(data) > $3",
                            &[log, segment, len],
                        )
                    }),
                Change::Indexes {
                    segment,
                    index,
                    time,
                } => tx.execute(
                    "UPDATE gregor_segments SET offset_index = $3, time_index = $4
                     WHERE log = $1 AND base_offset = $2",
                    &[log, segment, &index.as_ref(), &time.as_ref()],
                ),
                Change::RemoveSegment(base) => tx.execute(
                    "DELETE FROM gregor_segments WHERE log = $1 AND base_offset = $2",
                    &[log, base],
                ),
                Change::Checkpoint { name, value: Some(v) } => tx.execute(
                    "INSERT INTO gregor_checkpoints (log, name, value) VALUES ($1, $2, $3)
                     ON CONFLICT (log, name) DO UPDATE SET value = EXCLUDED.value",
                    &[log, name, &v.as_ref()],
                ),
                Change::Checkpoint { name, value: None } => tx.execute(
                    "DELETE FROM gregor_checkpoints WHERE log = $1 AND name = $2",
                    &[log, name],
                ),
                Change::Batch { .. } => unreachable!("batches are gathered above"),
            }
            .map_err(db_error)?;
        }
        insert_batches(tx, log, &batches)
    }
}

/// Insert consecutive batches in one statement (arrays unnested server-side).
fn insert_batches(tx: &mut Transaction, log: &str, batches: &[&Change]) -> io::Result<()> {
    if batches.is_empty() {
        return Ok(());
    }
    let (mut segments, mut positions, mut bases, mut data) = (vec![], vec![], vec![], vec![]);
    for change in batches {
        if let Change::Batch {
            segment,
            pos,
            data: bytes,
        } = change
        {
            segments.push(*segment);
            positions.push(*pos);
            bases.push(base_offset_of(bytes));
            data.push(bytes.as_ref());
        }
    }
    tx.execute(
        "INSERT INTO gregor_batches (log, segment, pos, base_offset, data)
         SELECT $1, * FROM unnest($2::bigint[], $3::bigint[], $4::bigint[], $5::bytea[])
         ON CONFLICT (log, segment, pos) DO NOTHING",
        &[&log, &segments, &positions, &bases, &data],
    )
    .map_err(db_error)?;
    Ok(())
}

/// The base offset a record batch starts with (-1 for fewer than 8 bytes).
fn base_offset_of(bytes: &[u8]) -> i64 {
    bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map_or(-1, i64::from_be_bytes)
}

/// Whole record batches in `data`, as (position, bytes) (a torn tail is left out).
fn split_batches(data: &[u8]) -> Vec<(i64, Bytes)> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while let Some(len) = data
        .get(pos + 8..pos + 12)
        .and_then(|b| b.try_into().ok())
        .map(i32::from_be_bytes)
    {
        let end = pos + 12 + len.max(0) as usize;
        let Some(batch) = data.get(pos..end) else {
            break;
        };
        out.push((pos as i64, Bytes::copy_from_slice(batch)));
        pos = end;
    }
    out
}

/// One partition's storage in cluster mode.
pub struct PgLogStorage {
    shared: Arc<Shared>,
    cache: DiskStorage,
    checkpoints: Mutex<HashMap<String, Vec<u8>>>,
}

impl std::fmt::Debug for PgLogStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PgLogStorage({}, epoch {})",
            self.shared.log, self.shared.fence.epoch
        )
    }
}

impl PgLogStorage {
    fn segment(&self, base: i64, cache: Arc<dyn SegmentData>) -> io::Result<Arc<dyn SegmentData>> {
        Ok(Arc::new(PgSegment {
            shared: self.shared.clone(),
            base,
            end: AtomicU64::new(cache.size()?),
            cache,
        }))
    }
}

impl LogStorage for PgLogStorage {
    /// The epoch this broker took the partition at.
    fn leader_epoch(&self) -> i32 {
        self.shared.fence.epoch
    }

    fn fence(&self) -> Option<Fence> {
        Some(self.shared.fence.clone())
    }

    fn durable(&self) -> bool {
        true
    }

    fn segment_path(&self, base_offset: i64) -> PathBuf {
        self.cache.segment_path(base_offset)
    }

    fn list_segments(&self) -> io::Result<Vec<i64>> {
        self.cache.list_segments()
    }

    fn create_segment(&self, base_offset: i64) -> io::Result<Arc<dyn SegmentData>> {
        let data = self.cache.create_segment(base_offset)?;
        self.shared.push(Change::Segment(base_offset));
        self.segment(base_offset, data)
    }

    fn open_segment(&self, base_offset: i64) -> io::Result<Arc<dyn SegmentData>> {
        let data = self.cache.open_segment(base_offset)?;
        self.segment(base_offset, data)
    }

    fn read_indexes(&self, base_offset: i64) -> Option<(Vec<u8>, Vec<u8>)> {
        self.cache.read_indexes(base_offset)
    }

    fn write_indexes(&self, base_offset: i64, index: &[u8], time_index: &[u8]) -> io::Result<()> {
        self.cache.write_indexes(base_offset, index, time_index)?;
        self.shared.push(Change::Indexes {
            segment: base_offset,
            index: Bytes::copy_from_slice(index),
            time: Bytes::copy_from_slice(time_index),
        });
        Ok(())
    }

    fn remove_segment(&self, base_offset: i64) -> io::Result<()> {
        self.shared.push(Change::RemoveSegment(base_offset));
        self.shared.flush_if_may_block()?;
        self.cache.remove_segment(base_offset)
    }

    fn replace_segments(
        &self,
        base_offset: i64,
        end_offset: i64,
        data: &[u8],
        index: &[u8],
        time_index: &[u8],
    ) -> io::Result<()> {
        let log = self.shared.log.clone();
        self.shared.flush_with(|tx| {
            tx.execute(
                "DELETE FROM gregor_segments WHERE log = $1 AND base_offset >= $2 AND base_offset < $3",
                &[&log, &base_offset, &end_offset],
            )
            .and_then(|_| {
                tx.execute(
                    "INSERT INTO gregor_segments (log, base_offset, offset_index, time_index)
                     VALUES ($1, $2, $3, $4)",
                    &[&log, &base_offset, &index, &time_index],
                )
            })
            .map_err(db_error)?;
            let batches: Vec<Change> = split_batches(data)
                .into_iter()
                .map(|(pos, data)| Change::Batch {
                    segment: base_offset,
                    pos,
                    data,
                })
                .collect();
            insert_batches(tx, &log, &batches.iter().collect::<Vec<_>>())
        })?;
        self.cache
            .replace_segments(base_offset, end_offset, data, index, time_index)
    }

    fn recover(&self) -> io::Result<Option<Interrupted>> {
        // A replacement commits in one database transaction: nothing is ever half done.
        Ok(None)
    }

    fn read_checkpoint(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
        Ok(lock(&self.checkpoints).get(name).cloned())
    }

    fn write_checkpoint(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        lock(&self.checkpoints).insert(name.to_string(), bytes.to_vec());
        self.shared.push(Change::Checkpoint {
            name: name.to_string(),
            value: Some(Bytes::copy_from_slice(bytes)),
        });
        self.shared.flush_if_may_block()
    }

    fn remove_checkpoint(&self, name: &str) -> io::Result<()> {
        lock(&self.checkpoints).remove(name);
        self.shared.push(Change::Checkpoint {
            name: name.to_string(),
            value: None,
        });
        self.shared.flush_if_may_block()
    }

    fn sync_layout(&self) -> io::Result<()> {
        self.shared.flush_if_may_block()
    }

    fn destroy(&self) -> io::Result<()> {
        self.shared
            .db
            .conn()
            .map_err(db_error)?
            .execute(
                "DELETE FROM gregor_logs WHERE log = $1",
                &[&self.shared.log],
            )
            .map_err(db_error)?;
        lock(&self.shared.queue).clear();
        self.cache.destroy()
    }
}

/// A segment: its bytes in the cache, its changes queued for the database.
struct PgSegment {
    shared: Arc<Shared>,
    base: i64,
    /// The cache's size, kept here so an append needs no file-size call.
    end: AtomicU64,
    cache: Arc<dyn SegmentData>,
}

impl SegmentData for PgSegment {
    fn size(&self) -> io::Result<u64> {
        self.cache.size()
    }

    fn read_exact_at(&self, pos: u64, buf: &mut [u8]) -> io::Result<()> {
        self.cache.read_exact_at(pos, buf)
    }

    fn write_at(&self, pos: u64, parts: &[&[u8]]) -> io::Result<()> {
        // The row is one value: the parts joined (the batch's only copy on this medium).
        let bytes = Bytes::from(parts.concat());
        // Appends write at the end; a write before it replaces what lay beyond (recovery).
        if pos < self.end.load(Ordering::Acquire) {
            self.shared.push(Change::Truncate {
                segment: self.base,
                len: pos as i64,
            });
        }
        self.cache.write_at(pos, &[&bytes])?;
        self.end.store(pos + bytes.len() as u64, Ordering::Release);
        self.shared.push(Change::Batch {
            segment: self.base,
            pos: pos as i64,
            data: bytes,
        });
        Ok(())
    }

    fn truncate(&self, len: u64) -> io::Result<()> {
        self.cache.truncate(len)?;
        self.end.fetch_min(len, Ordering::AcqRel);
        self.shared.push(Change::Truncate {
            segment: self.base,
            len: len as i64,
        });
        Ok(())
    }

    /// The partition's group commit: every queued change of the partition, in one
    /// transaction fenced by the leader epoch (shared with the other partitions syncing at
    /// the same time: [`GroupCommit`]). The cache needs no fsync: it is rebuilt from the
    /// database whenever the partition is opened.
    fn sync(&self) -> io::Result<()> {
        // An acknowledgement waits on this: it must never return without committing.
        if on_async_worker() {
            return Err(io::Error::other(
                "a partition's commit was called on an async worker",
            ));
        }
        self.shared.commits.commit(&self.shared)
    }

    /// A roll on an async worker (the append path) only queues: the log's queue is one per
    /// partition, so the next sync of the new active segment, which every acknowledgement
    /// waits on, commits the sealed segment's writes first.
    fn sync_sealed(&self) -> io::Result<()> {
        self.shared.flush_if_may_block()
    }

    fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.cache.fd()
    }
}

#[cfg(test)]
mod tests;
