//! Leases on the database: a broker's membership (`broker/<node id>`: live while renewed;
//! when it expires — `broker.session.timeout.ms` without a heartbeat: the broker died or lost
//! the database — its partitions move to live brokers, see `placement`) and the coordinator's
//! (`coordinator`: the one broker that serves every group and transactional id).
//!
//! Time is the database's (`now()`), so brokers' clocks need not agree. A broker that cannot
//! renew a lease before it would expire stops: another broker may hold what it held by then.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use uuid::Uuid;

use super::postgres::types::ToSql;
use super::Db;

/// This broker's hold on one lease.
pub struct Lease {
    db: Db,
    name: String,
    node_id: i32,
    incarnation: Uuid,
    session: Duration,
    /// Given up (clean shutdown): no longer renewed, and not missed.
    released: AtomicBool,
}

/// One incarnation's claim on a lease, to fence a write by it in the write's own transaction.
#[derive(Debug, Clone)]
pub struct Holder {
    name: String,
    node_id: i32,
    incarnation: Uuid,
}

impl Holder {
    /// Whether this incarnation holds the lease, live; the row is locked `FOR SHARE` until
    /// `tx` ends, so a takeover (which updates it) waits for the fenced write, and a write
    /// that begins after a takeover finds the lease gone.
    pub fn holds(&self, tx: &mut super::postgres::Transaction<'_>) -> anyhow::Result<bool> {
        let held = tx.query_opt(
            "SELECT 1 FROM gregor_leases
             WHERE name = $1 AND node_id = $2 AND incarnation = $3 AND expires > now()
             FOR SHARE",
            &[&self.name, &self.node_id, &self.incarnation],
        )?;
        Ok(held.is_some())
    }
}

/// Who holds the lease when this broker could not take it.
#[derive(Debug, PartialEq)]
pub enum Taken {
    Acquired,
    HeldBy { node_id: i32, expires_in_ms: i64 },
}

impl Lease {
    /// Broker `node_id`'s membership lease.
    pub fn broker(db: Db, node_id: i32, session: Duration) -> Self {
        Self::new(db, format!("broker/{node_id}"), node_id, session)
    }

    /// The coordinator's lease, as broker `node_id` would hold it.
    pub fn coordinator(db: Db, node_id: i32, session: Duration) -> Self {
        Self::new(db, "coordinator".into(), node_id, session)
    }

    fn new(db: Db, name: String, node_id: i32, session: Duration) -> Self {
        Self {
            db,
            name,
            node_id,
            incarnation: Uuid::new_v4(),
            session,
            released: AtomicBool::new(false),
        }
    }

    /// This incarnation's claim, for writes only the lease's holder may make.
    pub fn holder(&self) -> Holder {
        Holder {
            name: self.name.clone(),
            node_id: self.node_id,
            incarnation: self.incarnation,
        }
    }

    fn session_ms(&self) -> i64 {
        self.session.as_millis() as i64
    }

    /// Take the lease if it is free, expired, or held by an earlier run of this node id (a
    /// broker restarted after kill -9 does not wait out its own lease).
    pub fn try_acquire(&self) -> anyhow::Result<Taken> {
        let mut conn = self.db.conn()?;
        let mut tx = conn.transaction()?;
        let held = tx.query_opt(
            "SELECT node_id, incarnation, (extract(epoch FROM expires - now()) * 1000)::bigint
             FROM gregor_leases WHERE name = $1 FOR UPDATE",
            &[&self.name],
        )?;
        let existed = held.is_some();
        if let Some(row) = held {
            let (node_id, incarnation, expires_in_ms): (i32, Uuid, i64) =
                (row.get(0), row.get(1), row.get(2));
            if expires_in_ms > 0 && node_id != self.node_id && incarnation != self.incarnation {
                return Ok(Taken::HeldBy {
                    node_id,
                    expires_in_ms,
                });
            }
        }
        // A row we locked above is ours to overwrite. Without one there was nothing to lock:
        // a broker racing us may insert first, and then it holds the lease (overwriting its
        // row would leave two brokers each thinking it holds the lease until the first renewal).
        let params: [&(dyn ToSql + Sync); 4] = [
            &self.name,
            &self.node_id,
            &self.incarnation,
            &(self.session_ms() as f64),
        ];
        let written = if existed {
            tx.execute(
                "UPDATE gregor_leases SET node_id = $2, incarnation = $3,
                 expires = now() + $4::float8 * interval '1 millisecond' WHERE name = $1",
                &params,
            )?
        } else {
            tx.execute(
                "INSERT INTO gregor_leases (name, node_id, incarnation, expires)
                 VALUES ($1, $2, $3, now() + $4::float8 * interval '1 millisecond')
                 ON CONFLICT (name) DO NOTHING",
                &params,
            )?
        };
        tx.commit()?;
        if written == 0 {
            let node_id = conn
                .query_opt(
                    "SELECT node_id FROM gregor_leases WHERE name = $1",
                    &[&self.name],
                )?
                .map_or(-1, |r| r.get(0));
            return Ok(Taken::HeldBy {
                node_id,
                expires_in_ms: self.session_ms(),
            });
        }
        Ok(Taken::Acquired)
    }

    /// Extend the lease; false if another broker holds it now.
    pub fn renew(&self) -> anyhow::Result<bool> {
        let renewed = self
            .db
            .conn()?
            .execute(
                "UPDATE gregor_leases SET expires = now() + $3::float8 * interval '1 millisecond'
                 WHERE name = $1 AND incarnation = $2",
                &[&self.name, &self.incarnation, &(self.session_ms() as f64)],
            )
            .context("renewing the lease")?;
        Ok(renewed == 1)
    }

    /// Give the lease up (clean shutdown): another broker takes over at once.
    pub fn release(&self) {
        self.released.store(true, Ordering::Release);
        let released = self.db.conn().and_then(|mut c| {
            c.execute(
                "DELETE FROM gregor_leases WHERE name = $1 AND incarnation = $2",
                &[&self.name, &self.incarnation],
            )
            .map_err(Into::into)
        });
        if let Err(e) = released {
            tracing::warn!(error = %format!("{e:#}"), "could not release the lease");
        }
    }

    /// Renew the lease every third of the session from a thread of its own; `lost` runs (once)
    /// when another broker took it, or when no renewal has succeeded for a whole session —
    /// also when a renewal hangs (a database cut off without the connection closing: each
    /// renewal runs on a thread of its own and is waited for a third of the session at most).
    pub fn keep(self: std::sync::Arc<Self>, lost: impl FnOnce(String) + Send + 'static) {
        std::thread::Builder::new()
            .name(format!("gregor-lease-{}", self.name.replace('/', "-")))
            .spawn(move || {
                let step = self.session / 3;
                // Measured from before the renewal that succeeded was sent, so the lease
                // surely ran out on the database's clock too once a session has passed.
                let mut renewed_at = Instant::now();
                loop {
                    std::thread::sleep(step);
                    if self.released.load(Ordering::Acquire) {
                        return;
                    }
                    let sent = Instant::now();
                    let (tx, rx) = std::sync::mpsc::channel();
                    let lease = self.clone();
                    let spawned = std::thread::Builder::new()
                        .name("gregor-lease-renew".into())
                        .spawn(move || {
                            let _ = tx.send(lease.renew());
                        });
                    let outcome = match spawned {
                        Ok(_) => rx.recv_timeout(step).map_err(|_| "timed out".to_string()),
                        Err(e) => Err(e.to_string()),
                    };
                    if self.released.load(Ordering::Acquire) {
                        return;
                    }
                    match outcome {
                        Ok(Ok(true)) => renewed_at = sent,
                        Ok(Ok(false)) => return lost("another broker holds the lease".into()),
                        Ok(Err(e)) => {
                            tracing::warn!(error = %format!("{e:#}"), "could not renew the lease")
                        }
                        Err(e) => tracing::warn!(error = %e, "could not renew the lease"),
                    }
                    if renewed_at.elapsed() + step >= self.session {
                        return lost("not renewed within the session".into());
                    }
                }
            })
            .expect("spawn the lease thread");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pg::testing;
    use std::sync::Arc;

    #[test]
    fn one_broker_holds_the_lease_until_it_expires_or_is_released() {
        let pg = testing::database();
        let db = Db::open(&pg.url, std::time::Duration::from_secs(9)).unwrap();
        let session = Duration::from_millis(600);
        let a = Lease::coordinator(db.clone(), 1, session);
        let b = Lease::coordinator(db.clone(), 2, session);
        assert_eq!(a.try_acquire().unwrap(), Taken::Acquired);
        assert!(matches!(
            b.try_acquire().unwrap(),
            Taken::HeldBy { node_id: 1, expires_in_ms } if expires_in_ms > 0
        ));
        assert!(a.renew().unwrap());
        // An earlier run of node 1 (kill -9, restart) does not wait out its own lease.
        let a_again = Lease::coordinator(db.clone(), 1, session);
        assert_eq!(a_again.try_acquire().unwrap(), Taken::Acquired);
        assert!(!a.renew().unwrap(), "the old incarnation lost it");
        // Expiry hands it over.
        std::thread::sleep(session + Duration::from_millis(200));
        assert_eq!(b.try_acquire().unwrap(), Taken::Acquired);
        assert!(!a_again.renew().unwrap());
        // Release hands it over at once.
        b.release();
        assert_eq!(a.try_acquire().unwrap(), Taken::Acquired);
    }

    /// Brokers starting together all find no lease row: exactly one gets the lease, and every
    /// other one is told who holds it (before, the last insert won while the first believed
    /// it held the lease, and stopped at its first renewal).
    #[test]
    fn racing_for_a_new_lease_has_one_winner() {
        let pg = testing::database();
        let db = Db::open(&pg.url, std::time::Duration::from_secs(9)).unwrap();
        for round in 0..5 {
            let name_db = db.clone();
            let leases: Vec<Arc<Lease>> = (1..=4)
                .map(|node| {
                    Arc::new(Lease::coordinator(
                        name_db.clone(),
                        node,
                        Duration::from_secs(9),
                    ))
                })
                .collect();
            let start = Arc::new(std::sync::Barrier::new(leases.len()));
            let outcomes: Vec<Taken> = std::thread::scope(|s| {
                let runs: Vec<_> = leases
                    .iter()
                    .map(|l| {
                        let start = start.clone();
                        s.spawn(move || {
                            start.wait();
                            l.try_acquire().unwrap()
                        })
                    })
                    .collect();
                runs.into_iter().map(|r| r.join().unwrap()).collect()
            });
            let winners: Vec<usize> = (0..outcomes.len())
                .filter(|&i| outcomes[i] == Taken::Acquired)
                .collect();
            assert_eq!(winners.len(), 1, "round {round}: {outcomes:?}");
            let holder = winners[0] as i32 + 1;
            for (i, o) in outcomes.iter().enumerate() {
                if i != winners[0] {
                    assert!(
                        matches!(o, Taken::HeldBy { node_id, .. } if *node_id == holder),
                        "{o:?}"
                    );
                }
            }
            assert!(leases[winners[0]].renew().unwrap());
            leases[winners[0]].release();
        }
    }
}
