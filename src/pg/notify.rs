//! Change notices between the brokers of a cluster (PostgreSQL's LISTEN/NOTIFY): a broker that
//! changes the shared catalog announces it, and the others run their tick at once instead of
//! up to a second later; a broker that queues transaction markers or dead letters wakes the
//! brokers that write them; the group coordinator tells share-partition leaders of members
//! gone and states reset. Only hints: the listeners read the tables whether or not a notice
//! came, and a notice lost to a reconnection costs at most one wait's delay (for a share
//! group's member gone, one lock duration).

use std::time::Duration;

use super::postgres::fallible_iterator::FallibleIterator;
use super::postgres::GenericClient;
use super::{Conn, Db};

/// The channel for topic creations, deletions and alterations, and leadership moves.
pub const CATALOG: &str = "gregor_catalog";

/// The channel for transaction markers (`pg::markers`) and share groups' dead letters
/// (`pg::dead_letters`) queued for other brokers' partitions.
pub const MARKERS: &str = "gregor_markers";

/// The channel for transactions v2's adds (`pg::txn_adds`): a partition leader asks the
/// transaction coordinator to add partitions to a transaction.
pub const TXN_ADDS: &str = "gregor_txn_adds";

/// The channel for share groups' news from the group coordinator to the share-partitions'
/// leaders (a member left, a group's state was reset or deleted), with a payload.
pub const SHARES: &str = "gregor_share";

/// The longest payload PostgreSQL takes (8000 bytes, less a margin).
pub const MAX_PAYLOAD: usize = 7_900;

/// Announce a change on `channel` (blocks on the database).
pub fn announce(db: &Db, channel: &str) -> anyhow::Result<()> {
    announce_on_commit(&mut *db.conn()?, channel)
}

/// Announce on `channel` when `client`'s transaction commits (at once outside one): the
/// listeners look only once the change is there.
pub fn announce_on_commit(client: &mut impl GenericClient, channel: &str) -> anyhow::Result<()> {
    client.batch_execute(&format!("NOTIFY {channel}"))?;
    Ok(())
}

/// Announce `payload` on `channel` (blocks on the database; at most [`MAX_PAYLOAD`] bytes).
pub fn send(db: &Db, channel: &str, payload: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        payload.len() <= MAX_PAYLOAD,
        "a notice of {} bytes",
        payload.len()
    );
    db.conn()?
        .execute("SELECT pg_notify($1, $2)", &[&channel, &payload])?;
    Ok(())
}

/// A connection that listens on one channel.
pub struct Listener {
    db: Db,
    channel: &'static str,
    conn: Option<Conn>,
}

impl Listener {
    pub fn new(db: Db, channel: &'static str) -> Self {
        Self {
            db,
            channel,
            conn: None,
        }
    }

    /// Wait up to `timeout` for a notice on the channel (true if one came; every notice
    /// already queued is taken with it). Without a connection (the database moved, or not
    /// reachable) it sleeps the timeout out and listens again next time.
    pub fn wait(&mut self, timeout: Duration) -> bool {
        !self.take(timeout).is_empty()
    }

    /// Wait up to `timeout` for notices on the channel and take their payloads (every notice
    /// already queued with the first). Empty after the timeout, and without a connection (it
    /// sleeps the timeout out and listens again next time: notices sent meanwhile are lost).
    pub fn take(&mut self, timeout: Duration) -> Vec<String> {
        if self.conn.is_none() {
            match self.listen() {
                Ok(conn) => self.conn = Some(conn),
                Err(e) => {
                    tracing::debug!(error = %format!("{e:#}"), channel = self.channel, "cannot listen");
                    std::thread::sleep(timeout);
                    return Vec::new();
                }
            }
        }
        let Some(conn) = self.conn.as_mut() else {
            return Vec::new();
        };
        let mut payloads = Vec::new();
        let taken = {
            let mut notices = conn.notifications();
            let first = notices.timeout_iter(timeout).next();
            first.and_then(|n| {
                payloads.extend(n.map(|n| n.payload().to_string()));
                while let Some(n) = notices.iter().next()? {
                    payloads.push(n.payload().to_string());
                }
                Ok(())
            })
        };
        if let Err(e) = taken {
            tracing::debug!(error = %e, channel = self.channel, "listening connection lost");
            self.conn = None;
        }
        payloads
    }

    fn listen(&self) -> anyhow::Result<Conn> {
        let mut conn = self.db.conn()?;
        conn.batch_execute(&format!("LISTEN {}", self.channel))?;
        Ok(conn)
    }
}
