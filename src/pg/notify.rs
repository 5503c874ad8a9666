//! Change notices between the brokers of a cluster (PostgreSQL's LISTEN/NOTIFY): a broker that
//! changes the shared catalog announces it, and the others run their tick at once instead of
//! up to a second later; a coordinator that queues transaction markers wakes the brokers that
//! write them. Only a hint: the listeners read the tables whether or not a notice came, and a
//! notice lost to a reconnection costs at most one wait's delay.

use std::time::Duration;

use super::postgres::fallible_iterator::FallibleIterator;
use super::{Conn, Db};

/// The channel for topic creations, deletions and alterations, and leadership moves.
pub const CATALOG: &str = "gregor_catalog";

/// The channel for transaction markers queued for other brokers' partitions (`pg::markers`).
pub const MARKERS: &str = "gregor_markers";

/// Announce a change on `channel` (blocks on the database).
pub fn announce(db: &Db, channel: &str) -> anyhow::Result<()> {
    db.conn()?.batch_execute(&format!("NOTIFY {channel}"))?;
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
        if self.conn.is_none() {
            match self.listen() {
                Ok(conn) => self.conn = Some(conn),
                Err(e) => {
                    tracing::debug!(error = %format!("{e:#}"), channel = self.channel, "cannot listen");
                    std::thread::sleep(timeout);
                    return false;
                }
            }
        }
        let Some(conn) = self.conn.as_mut() else {
            return false;
        };
        let came = {
            let mut notices = conn.notifications();
            let came = notices.timeout_iter(timeout).next().map(|n| n.is_some());
            // Several notices at once call for one tick.
            while let Ok(Some(_)) = notices.iter().next() {}
            came
        };
        match came {
            Ok(came) => came,
            Err(e) => {
                tracing::debug!(error = %e, channel = self.channel, "listening connection lost");
                self.conn = None;
                false
            }
        }
    }

    fn listen(&self) -> anyhow::Result<Conn> {
        let mut conn = self.db.conn()?;
        conn.batch_execute(&format!("LISTEN {}", self.channel))?;
        Ok(conn)
    }
}
