//! [`PgLogs`]: the partition logs of one broker in cluster mode — which it opens (at the
//! epoch placement gave it), where their cache lives, and their removal.

use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::pg::postgres::fallible_iterator::FallibleIterator;
use crate::pg::postgres::types::ToSql;
use crate::pg::Db;

use super::super::disk::DiskStorage;
use super::super::LogStorage;
use super::{db_error, Fence, Fenced, GroupCommit, PgLogStorage, Shared};

/// Where the partition logs of a broker in cluster mode live.
#[derive(Debug)]
pub struct PgLogs {
    db: Db,
    node_id: i32,
    cache: PathBuf,
    /// The group commit every log opened here joins.
    commits: Arc<GroupCommit>,
}

impl PgLogs {
    /// The logs of broker `node_id`, cached under `cache` (emptied now: the database is the
    /// truth, and a cache left by an earlier run may hold what was never committed).
    pub fn new(db: Db, node_id: i32, cache: PathBuf) -> io::Result<Self> {
        remove_dir_if_present(&cache)?;
        std::fs::create_dir_all(&cache)?;
        Ok(Self {
            db,
            node_id,
            cache,
            commits: Arc::default(),
        })
    }

    /// This broker's node id.
    pub fn node_id(&self) -> i32 {
        self.node_id
    }

    /// The cluster's database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Take the leadership of log `name` (a new epoch) and open it (a lone broker, tests).
    pub fn open(&self, name: &str) -> io::Result<Arc<PgLogStorage>> {
        let epoch: i32 = self
            .db
            .conn()
            .map_err(db_error)?
            .query_one(
                "INSERT INTO gregor_logs (log, leader, leader_epoch, preferred)
                 VALUES ($1, $2, nextval('gregor_leader_epochs'), $2)
                 ON CONFLICT (log) DO UPDATE
                 SET leader = $2, leader_epoch = nextval('gregor_leader_epochs')
                 RETURNING leader_epoch",
                &[&name, &self.node_id],
            )
            .map_err(db_error)?
            .get(0);
        self.open_led(name, epoch)
    }

    /// Open log `name`, which placement gave this broker at `epoch`: claim it for this
    /// opening (which fences any earlier one: its commits wait for this claim, then fail),
    /// then copy its rows into the cache. Refused (`Fenced`) if it has moved on since.
    pub fn open_led(&self, name: &str, epoch: i32) -> io::Result<Arc<PgLogStorage>> {
        let mut conn = self.db.conn().map_err(db_error)?;
        let opened = uuid::Uuid::new_v4();
        let claimed = conn
            .execute(
                "UPDATE gregor_logs SET opened = $4
                 WHERE log = $1 AND leader = $2 AND leader_epoch = $3",
                &[&name, &self.node_id, &epoch, &opened],
            )
            .map_err(db_error)?;
        if claimed == 0 {
            let (leader, now): (i32, i32) = conn
                .query_opt(
                    "SELECT leader, leader_epoch FROM gregor_logs WHERE log = $1",
                    &[&name],
                )
                .map_err(db_error)?
                .map_or((-1, -1), |r| (r.get(0), r.get(1)));
            return Err(io::Error::other(Fenced {
                log: name.to_string(),
                leader,
                epoch: now,
            }));
        }
        let dir = self.cache.join(name);
        remove_dir_if_present(&dir)?;
        let cache = DiskStorage::open(dir)?;
        let segments = conn
            .query(
                "SELECT base_offset, offset_index, time_index FROM gregor_segments
                 WHERE log = $1 ORDER BY base_offset",
                &[&name],
            )
            .map_err(db_error)?;
        for row in segments {
            let base: i64 = row.get(0);
            let data = cache.create_segment(base)?;
            // Streamed row by row: a segment may be larger than memory should hold.
            let params: [&(dyn ToSql + Sync); 2] = [&name, &base];
            let mut batches = conn
                .query_raw(
                    "SELECT pos, data FROM gregor_batches WHERE log = $1 AND segment = $2
                     ORDER BY pos",
                    params,
                )
                .map_err(db_error)?;
            while let Some(batch) = batches.next().map_err(db_error)? {
                let (pos, bytes): (i64, &[u8]) = (batch.get(0), batch.get(1));
                data.write_at(pos as u64, &[bytes])?;
            }
            let (index, time): (Option<Vec<u8>>, Option<Vec<u8>>) = (row.get(1), row.get(2));
            if let (Some(index), Some(time)) = (index, time) {
                cache.write_indexes(base, &index, &time)?;
            }
        }
        let checkpoints = conn
            .query(
                "SELECT name, value FROM gregor_checkpoints WHERE log = $1",
                &[&name],
            )
            .map_err(db_error)?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        Ok(Arc::new(PgLogStorage {
            shared: Arc::new(Shared {
                db: self.db.clone(),
                log: name.to_string(),
                fence: Fence {
                    log: name.to_string(),
                    node_id: self.node_id,
                    epoch,
                    opened,
                },
                queue: Mutex::new(Vec::new()),
                flushing: Mutex::new(()),
                commits: self.commits.clone(),
            }),
            cache,
            checkpoints: Mutex::new(checkpoints),
        }))
    }

    /// Forget the cached copy of log `name` (led elsewhere now, or its topic deleted).
    pub fn drop_cache(&self, name: &str) -> io::Result<()> {
        remove_dir_if_present(&self.cache.join(name))
    }

    /// Remove log `name` from the database and the cache (a deleted topic).
    pub fn delete(&self, name: &str) -> io::Result<()> {
        self.db
            .conn()
            .map_err(db_error)?
            .execute("DELETE FROM gregor_logs WHERE log = $1", &[&name])
            .map_err(db_error)?;
        remove_dir_if_present(&self.cache.join(name))
    }
}

fn remove_dir_if_present(dir: &std::path::Path) -> io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
